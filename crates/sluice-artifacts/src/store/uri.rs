//! Where artifacts live ([`Location`], parsed from the URIs MLflow's server takes) and how to
//! sign requests there ([`Credentials`], from a datastore's definition or from the environment
//! variables and files MLflow's clients and the cloud CLIs read).

use std::fmt;
use std::path::PathBuf;

use super::StoreError;

/// Azurite's published development account and key (not secrets), for
/// `UseDevelopmentStorage=true` connection strings.
const DEV_ACCOUNT: &str = "devstoreaccount1";
const DEV_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// A place artifacts live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Local(PathBuf),
    S3(S3Location),
    Azure(AzureLocation),
}

/// An S3 bucket, under a prefix; `endpoint` for S3-compatible stores (else the environment's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Location {
    pub bucket: String,
    pub prefix: String,
    pub endpoint: Option<String>,
}

/// An Azure Blob container of an account, under a prefix. `endpoint` is either a DNS suffix
/// (`core.windows.net`, as Azure's datastores take it) or a full URL
/// (`http://127.0.0.1:10000/devstoreaccount1` for Azurite or a private endpoint).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AzureLocation {
    pub account: String,
    pub container: String,
    pub prefix: String,
    pub endpoint: Option<String>,
}

impl AzureLocation {
    /// The account's blob service URL: a full-URL endpoint as given (the location's, else the
    /// credentials', as a connection string's `BlobEndpoint`), else `https://ACCOUNT.blob.SUFFIX`.
    #[must_use]
    pub fn endpoint_url(&self, credentials: &Credentials) -> String {
        let full = |e: &Option<String>| e.clone().filter(|e| e.contains("://"));
        let given = full(&self.endpoint)
            .or_else(|| full(&credentials.azure_endpoint))
            .or_else(|| self.endpoint.clone());
        match given.as_deref() {
            Some(e) if e.contains("://") => e.trim_end_matches('/').to_owned(),
            Some(suffix) => format!(
                "https://{}.blob.{}",
                self.account,
                suffix.trim_matches('.').trim_end_matches('/')
            ),
            None => format!("https://{}.blob.core.windows.net", self.account),
        }
    }
}

impl fmt::Display for AzureLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let suffix = match self.endpoint.as_deref() {
            Some(e) if !e.contains("://") => e.trim_matches('.'),
            _ => "core.windows.net",
        };
        write!(
            f,
            "wasbs://{}@{}.blob.{suffix}/{}",
            self.container, self.account, self.prefix
        )
    }
}

fn config(uri: &str, why: impl Into<String>) -> StoreError {
    StoreError::Config {
        uri: uri.to_owned(),
        why: why.into(),
    }
}

impl Location {
    /// Parses an artifact destination: a local path or `file://` URI; `s3://BUCKET/PREFIX`;
    /// `wasbs://CONTAINER@ACCOUNT.blob.core.windows.net/PREFIX` (also `wasb://`, and
    /// `abfss://`/`abfs://` with `.dfs.`); `https://ACCOUNT.blob.core.windows.net/CONTAINER/PREFIX`;
    /// `az://CONTAINER/PREFIX` with the account from the environment.
    ///
    /// # Errors
    /// An unknown scheme, or a URI without its bucket, container or account.
    pub fn parse(uri: &str) -> Result<Self, StoreError> {
        let Some((scheme, rest)) = uri.split_once("://") else {
            if uri.is_empty() {
                return Err(config(uri, "the destination is empty"));
            }
            return Ok(Self::Local(PathBuf::from(uri)));
        };
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let prefix = path.trim_matches('/').to_owned();
        match scheme.to_ascii_lowercase().as_str() {
            "file" => Ok(Self::Local(PathBuf::from(format!("/{path}")))),
            "s3" | "s3a" => {
                if authority.is_empty() {
                    return Err(config(
                        uri,
                        "an S3 URI names its bucket: s3://BUCKET/PREFIX",
                    ));
                }
                Ok(Self::S3(S3Location {
                    bucket: authority.to_owned(),
                    prefix,
                    endpoint: None,
                }))
            }
            "wasbs" | "wasb" | "abfss" | "abfs" => {
                let Some((container, host)) = authority.split_once('@') else {
                    return Err(config(
                        uri,
                        "an Azure URI names its container and account: \
                         wasbs://CONTAINER@ACCOUNT.blob.core.windows.net/PREFIX",
                    ));
                };
                let (account, suffix) = account_and_suffix(uri, host)?;
                Ok(Self::Azure(AzureLocation {
                    account,
                    container: container.to_owned(),
                    prefix,
                    endpoint: suffix,
                }))
            }
            "https" | "http" if authority.contains(".blob.") => {
                let (account, suffix) = account_and_suffix(uri, authority)?;
                let (container, prefix) = prefix.split_once('/').unwrap_or((&prefix, ""));
                if container.is_empty() {
                    return Err(config(uri, "the URL names no container"));
                }
                Ok(Self::Azure(AzureLocation {
                    account,
                    container: container.to_owned(),
                    prefix: prefix.to_owned(),
                    endpoint: suffix,
                }))
            }
            "az" | "azure" => {
                let creds = Credentials::from_env();
                let account = creds.azure_account.ok_or_else(|| {
                    config(
                        uri,
                        "az:// URIs take the account from AZURE_STORAGE_ACCOUNT or \
                         AZURE_STORAGE_CONNECTION_STRING; neither is set",
                    )
                })?;
                Ok(Self::Azure(AzureLocation {
                    account,
                    container: authority.to_owned(),
                    prefix,
                    endpoint: None,
                }))
            }
            other => Err(config(
                uri,
                format!(
                    "'{other}://' is not supported; use a local path, s3://BUCKET/PREFIX or \
                     wasbs://CONTAINER@ACCOUNT.blob.core.windows.net/PREFIX"
                ),
            )),
        }
    }
}

/// `ACCOUNT.blob.SUFFIX` (or `.dfs.`) as the account and a suffix other than the default.
fn account_and_suffix(uri: &str, host: &str) -> Result<(String, Option<String>), StoreError> {
    let host = host.split(':').next().unwrap_or(host);
    let (account, rest) = host
        .split_once('.')
        .ok_or_else(|| config(uri, "the host is not ACCOUNT.blob.core.windows.net"))?;
    let suffix = rest
        .strip_prefix("blob.")
        .or_else(|| rest.strip_prefix("dfs."))
        .ok_or_else(|| config(uri, "the host is not ACCOUNT.blob.core.windows.net"))?;
    if account.is_empty() {
        return Err(config(uri, "the URI names no account"));
    }
    let suffix = (suffix != "core.windows.net").then(|| suffix.to_owned());
    Ok((account.to_owned(), suffix))
}

/// How to sign requests to an object store. `Debug` never shows a secret.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    pub session_token: Option<String>,
    pub region: Option<String>,
    /// An S3-compatible store's URL.
    pub s3_endpoint: Option<String>,
    pub azure_account: Option<String>,
    pub azure_account_key: Option<String>,
    pub azure_sas_token: Option<String>,
    /// A service principal (Azure AD): tenant, client id and secret.
    pub azure_tenant_id: Option<String>,
    pub azure_client_id: Option<String>,
    pub azure_client_secret: Option<String>,
    /// A blob service URL or a DNS suffix.
    pub azure_endpoint: Option<String>,
    /// Unsigned requests (public containers and buckets).
    pub anonymous: bool,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let set = |o: &Option<String>| if o.is_some() { "<set>" } else { "<unset>" };
        f.debug_struct("Credentials")
            .field("access_key_id", &set(&self.access_key_id))
            .field("secret_access_key", &set(&self.secret_access_key))
            .field("region", &self.region)
            .field("s3_endpoint", &self.s3_endpoint)
            .field("azure_account", &self.azure_account)
            .field("azure_account_key", &set(&self.azure_account_key))
            .field("azure_sas_token", &set(&self.azure_sas_token))
            .field("azure_client_secret", &set(&self.azure_client_secret))
            .field("azure_endpoint", &self.azure_endpoint)
            .field("anonymous", &self.anonymous)
            .finish_non_exhaustive()
    }
}

fn env(names: &[&str]) -> Option<String> {
    names
        .iter()
        .find_map(|n| std::env::var(n).ok().filter(|v| !v.is_empty()))
}

impl Credentials {
    /// What the environment gives, as MLflow's clients, boto3 and the Azure CLI read it:
    /// `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`/`AWS_SESSION_TOKEN` (else the profile
    /// `AWS_PROFILE` or `default` of `AWS_SHARED_CREDENTIALS_FILE` or `~/.aws/credentials`),
    /// `AWS_REGION`/`AWS_DEFAULT_REGION`, the endpoint `MLFLOW_S3_ENDPOINT_URL`,
    /// `AWS_ENDPOINT_URL_S3` or `AWS_ENDPOINT_URL`; `AZURE_STORAGE_CONNECTION_STRING`, then
    /// `AZURE_STORAGE_ACCOUNT`, `AZURE_STORAGE_ACCESS_KEY`/`AZURE_STORAGE_KEY`,
    /// `AZURE_STORAGE_SAS_TOKEN` and `AZURE_STORAGE_ENDPOINT` over it.
    #[must_use]
    pub fn from_env() -> Self {
        let mut c = Self {
            access_key_id: env(&["AWS_ACCESS_KEY_ID"]),
            secret_access_key: env(&["AWS_SECRET_ACCESS_KEY"]),
            session_token: env(&["AWS_SESSION_TOKEN"]),
            region: env(&["AWS_REGION", "AWS_DEFAULT_REGION"]),
            s3_endpoint: env(&[
                "MLFLOW_S3_ENDPOINT_URL",
                "AWS_ENDPOINT_URL_S3",
                "AWS_ENDPOINT_URL",
                "AWS_ENDPOINT",
            ]),
            ..Self::default()
        };
        if c.access_key_id.is_none() {
            c.read_aws_profile();
        }
        if let Some(cs) = env(&["AZURE_STORAGE_CONNECTION_STRING"]) {
            c.apply_connection_string(&cs);
        }
        for (slot, names) in [
            (
                &mut c.azure_account,
                &["AZURE_STORAGE_ACCOUNT", "AZURE_STORAGE_ACCOUNT_NAME"][..],
            ),
            (
                &mut c.azure_account_key,
                &[
                    "AZURE_STORAGE_ACCESS_KEY",
                    "AZURE_STORAGE_KEY",
                    "AZURE_STORAGE_ACCOUNT_KEY",
                ][..],
            ),
            (&mut c.azure_sas_token, &["AZURE_STORAGE_SAS_TOKEN"][..]),
            (&mut c.azure_endpoint, &["AZURE_STORAGE_ENDPOINT"][..]),
        ] {
            if let Some(v) = env(names) {
                *slot = Some(v);
            }
        }
        c
    }

    /// Takes what an Azure connection string gives (`AccountName`, `AccountKey`,
    /// `SharedAccessSignature`, `BlobEndpoint`, `EndpointSuffix`, `UseDevelopmentStorage`).
    pub fn apply_connection_string(&mut self, cs: &str) {
        let mut protocol = "https".to_owned();
        let mut suffix = None;
        for part in cs.split(';') {
            let Some((k, v)) = part.split_once('=') else {
                continue;
            };
            let v = v.trim().to_owned();
            match k.trim().to_ascii_lowercase().as_str() {
                "accountname" => self.azure_account = Some(v),
                "accountkey" => self.azure_account_key = Some(v),
                "sharedaccesssignature" => self.azure_sas_token = Some(v),
                "blobendpoint" => self.azure_endpoint = Some(v),
                "endpointsuffix" => suffix = Some(v),
                "defaultendpointsprotocol" => protocol = v,
                "usedevelopmentstorage" if v.eq_ignore_ascii_case("true") => {
                    self.azure_account = Some(DEV_ACCOUNT.to_owned());
                    self.azure_account_key = Some(DEV_KEY.to_owned());
                    self.azure_endpoint = Some(format!("http://127.0.0.1:10000/{DEV_ACCOUNT}"));
                }
                _ => {}
            }
        }
        if let (None, Some(s), Some(a)) = (&self.azure_endpoint, suffix, &self.azure_account) {
            self.azure_endpoint = Some(format!("{protocol}://{a}.blob.{s}"));
        }
    }

    /// Reads the access keys of the profile `AWS_PROFILE` (or `default`) from the shared
    /// credentials file, as boto3 does.
    fn read_aws_profile(&mut self) {
        let file = env(&["AWS_SHARED_CREDENTIALS_FILE"])
            .map(PathBuf::from)
            .or_else(|| env(&["HOME"]).map(|h| PathBuf::from(h).join(".aws/credentials")));
        let Some(text) = file.and_then(|f| std::fs::read_to_string(f).ok()) else {
            return;
        };
        let profile = env(&["AWS_PROFILE"]).unwrap_or_else(|| "default".to_owned());
        let mut in_profile = false;
        for line in text.lines() {
            let line = line.trim();
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                in_profile = name.trim() == profile;
                continue;
            }
            let Some((k, v)) = line.split_once('=').filter(|_| in_profile) else {
                continue;
            };
            let v = Some(v.trim().to_owned());
            match k.trim() {
                "aws_access_key_id" => self.access_key_id = v,
                "aws_secret_access_key" => self.secret_access_key = v,
                "aws_session_token" => self.session_token = v,
                "region" if self.region.is_none() => self.region = v,
                _ => {}
            }
        }
    }
}

/// `msg` with the values of signatures, keys and tokens replaced, for logs and errors.
#[must_use]
pub fn redact(msg: &str) -> String {
    const MARKERS: &[&str] = &[
        "sig=",
        "accountkey=",
        "sharedaccesssignature=",
        "x-amz-signature=",
        "x-amz-credential=",
        "x-amz-security-token=",
        "signature=",
        "credential=",
    ];
    let lower = msg.to_ascii_lowercase();
    let mut out = String::with_capacity(msg.len());
    let mut i = 0;
    while i < msg.len() {
        let hit = MARKERS.iter().find(|m| {
            lower[i..].starts_with(*m)
                && (i == 0 || !lower.as_bytes()[i - 1].is_ascii_alphanumeric())
        });
        if let Some(m) = hit {
            out.push_str(&msg[i..i + m.len()]);
            out.push_str("REDACTED");
            i += m.len();
            while i < msg.len()
                && !matches!(
                    msg.as_bytes()[i],
                    b'&' | b';' | b',' | b' ' | b'"' | b'\'' | b'<' | b'>' | b'\n'
                )
            {
                i += 1;
            }
            continue;
        }
        let ch = msg[i..].chars().next().unwrap_or(' ');
        out.push(ch);
        i += ch.len_utf8();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_parse_as_mlflow_names_them() {
        assert_eq!(
            Location::parse("s3://bkt/some/prefix/").unwrap(),
            Location::S3(S3Location {
                bucket: "bkt".into(),
                prefix: "some/prefix".into(),
                endpoint: None
            })
        );
        let Location::Azure(az) =
            Location::parse("wasbs://models@acct.blob.core.windows.net/mlflow").unwrap()
        else {
            panic!("not azure")
        };
        assert_eq!(
            (az.account.as_str(), az.container.as_str()),
            ("acct", "models")
        );
        assert_eq!(az.prefix, "mlflow");
        assert_eq!(
            az.endpoint_url(&Credentials::default()),
            "https://acct.blob.core.windows.net"
        );
        let Location::Azure(cn) =
            Location::parse("abfss://c@acct.dfs.core.chinacloudapi.cn/p").unwrap()
        else {
            panic!("not azure")
        };
        assert_eq!(
            cn.endpoint_url(&Credentials::default()),
            "https://acct.blob.core.chinacloudapi.cn"
        );
        let Location::Azure(https) =
            Location::parse("https://acct.blob.core.windows.net/c/a/b").unwrap()
        else {
            panic!("not azure")
        };
        assert_eq!(
            (https.container.as_str(), https.prefix.as_str()),
            ("c", "a/b")
        );
        assert_eq!(
            Location::parse("/srv/artifacts").unwrap(),
            Location::Local("/srv/artifacts".into())
        );
        assert_eq!(
            Location::parse("file:///srv/a").unwrap(),
            Location::Local("/srv/a".into())
        );
        for bad in [
            "gs://b/p",
            "s3:///p",
            "wasbs://acct.blob.core.windows.net/p",
            "",
        ] {
            assert!(Location::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_full_url_endpoint_wins_over_the_uri_suffix() {
        let Location::Azure(az) =
            Location::parse("wasbs://c@devstoreaccount1.blob.core.windows.net/p").unwrap()
        else {
            panic!("not azure")
        };
        let mut creds = Credentials::default();
        creds.apply_connection_string(
            "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=k==;\
             BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;",
        );
        assert_eq!(
            az.endpoint_url(&creds),
            "http://127.0.0.1:10000/devstoreaccount1"
        );
        assert_eq!(creds.azure_account_key.as_deref(), Some("k=="));
        let mut dev = Credentials::default();
        dev.apply_connection_string("UseDevelopmentStorage=true");
        assert_eq!(dev.azure_account.as_deref(), Some(DEV_ACCOUNT));
        let suffix_only = Credentials {
            azure_endpoint: Some("core.usgovcloudapi.net".into()),
            ..Credentials::default()
        };
        assert_eq!(
            az.endpoint_url(&suffix_only),
            "https://devstoreaccount1.blob.core.windows.net"
        );
    }

    #[test]
    fn secrets_never_show() {
        let c = Credentials {
            secret_access_key: Some("hunter2".into()),
            azure_account_key: Some("key==".into()),
            ..Credentials::default()
        };
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("key=="),
            "{shown}"
        );
        let msg = redact(
            "GET http://h/c/b?sv=2021&sig=abc%2Fdef&se=x failed; AccountKey=zzz==;X-Amz-Signature=ff00",
        );
        assert!(
            !msg.contains("abc") && !msg.contains("zzz") && !msg.contains("ff00"),
            "{msg}"
        );
        assert!(msg.contains("sv=2021") && msg.contains("se=x"), "{msg}");
    }
}
