//! The object stores the integration tests use: Azurite (`SLUICE_TEST_AZURITE`, its blob
//! endpoint) and `SeaweedFS` (`SLUICE_TEST_S3`, its S3 endpoint), as `.ci/services/*.sh` start
//! them, with their (published, test-only) keys. Included by the test binaries that need them.

use std::io::Write;

use sluice_artifacts::store::{Artifacts, AzureLocation, Credentials, Location, S3Location};

/// Azurite's published development account key (not a secret).
pub(crate) const AZURITE_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
/// The S3 identity `.ci/services/seaweedfs.sh` gives its server.
pub(crate) const S3_KEY: &str = "sluice";
pub(crate) const S3_SECRET: &str = "sluice-test-secret";

/// The service's endpoint from `var`, or `None` after saying on stderr that `test` is skipped.
pub(crate) fn service(var: &str, test: &str) -> Option<String> {
    let v = std::env::var(var).ok().filter(|v| !v.is_empty());
    if v.is_none() {
        let _ = writeln!(
            std::io::stderr(),
            "skipped: {var} is unset, so {test} did not run (tests/run.sh starts the service)"
        );
    }
    v
}

/// A prefix no other test uses.
pub(crate) fn unique(what: &str) -> String {
    format!("{what}-{:016x}", fastrand::u64(..))
}

/// The container `artifacts` on Azurite, under `prefix`.
pub(crate) fn azurite(endpoint: &str, prefix: &str) -> Artifacts {
    Artifacts::connect(
        &Location::Azure(AzureLocation {
            account: "devstoreaccount1".into(),
            container: "artifacts".into(),
            prefix: prefix.into(),
            endpoint: Some(endpoint.into()),
        }),
        &Credentials {
            azure_account_key: Some(AZURITE_KEY.into()),
            ..Credentials::default()
        },
    )
    .expect("azurite store")
}

/// The bucket `artifacts` on `SeaweedFS`, under `prefix`.
pub(crate) fn seaweedfs(endpoint: &str, prefix: &str) -> Artifacts {
    Artifacts::connect(
        &Location::S3(S3Location {
            bucket: "artifacts".into(),
            prefix: prefix.into(),
            endpoint: Some(endpoint.into()),
        }),
        &Credentials {
            access_key_id: Some(S3_KEY.into()),
            secret_access_key: Some(S3_SECRET.into()),
            ..Credentials::default()
        },
    )
    .expect("s3 store")
}
