//! One conformance suite, run unchanged against every artifact backend: a local folder (always),
//! Azure Blob on Azurite (`SLUICE_TEST_AZURITE`, its blob endpoint) and S3 on `SeaweedFS`
//! (`SLUICE_TEST_S3`, its endpoint). `.ci/services/azurite.sh` and `.ci/services/seaweedfs.sh`
//! start those (`tests/run.sh` does it for CI); without them those two say they are skipped.
//!
//! Every run works under a prefix of its own, so one service instance serves every test.

use std::io;

use bytes::Bytes;
use futures::StreamExt;
use sluice_artifacts::store::{
    Artifacts, AzureLocation, Credentials, Entry, Location, S3Location, StoreError,
};

/// Azurite's published development account key (not a secret).
const AZURITE_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

fn unique(prefix: &str) -> String {
    format!("{prefix}-{:016x}", fastrand::u64(..))
}

fn azurite(endpoint: &str, prefix: &str) -> Artifacts {
    let location = Location::Azure(AzureLocation {
        account: "devstoreaccount1".into(),
        container: "artifacts".into(),
        prefix: prefix.into(),
        endpoint: Some(endpoint.into()),
    });
    let creds = Credentials {
        azure_account_key: Some(AZURITE_KEY.into()),
        ..Credentials::default()
    };
    Artifacts::connect(&location, &creds).expect("azurite store")
}

fn seaweedfs(endpoint: &str, prefix: &str) -> Artifacts {
    let location = Location::S3(S3Location {
        bucket: "artifacts".into(),
        prefix: prefix.into(),
        endpoint: Some(endpoint.into()),
    });
    let creds = Credentials {
        access_key_id: Some("sluice".into()),
        secret_access_key: Some("sluice-test-secret".into()),
        ..Credentials::default()
    };
    Artifacts::connect(&location, &creds).expect("s3 store")
}

#[expect(clippy::print_stderr, reason = "a skipped test says why")]
fn service(var: &str) -> Option<String> {
    let v = std::env::var(var).ok().filter(|v| !v.is_empty());
    if v.is_none() {
        eprintln!(
            "skipped: {var} is unset (start the service with .ci/services/*.sh, as tests/run.sh does)"
        );
    }
    v
}

/// Bytes that differ at every offset, so a misplaced part shows.
fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u64).wrapping_mul(2_654_435_761).to_le_bytes()[1] ^ seed)
        .collect()
}

/// `data` as a stream of uneven chunks.
fn chunked(data: Vec<u8>, chunk: usize) -> impl futures::Stream<Item = io::Result<Bytes>> {
    let data = Bytes::from(data);
    let mut parts = Vec::new();
    let mut at = 0;
    let mut n = 0;
    while at < data.len() {
        let len = (chunk + n * 7919) % (2 * chunk) + 1;
        let end = (at + len).min(data.len());
        parts.push(Ok(data.slice(at..end)));
        at = end;
        n += 1;
    }
    futures::stream::iter(parts)
}

async fn round_trip_and_overwrite(s: &Artifacts) {
    s.put_bytes("a/b.txt", Bytes::from_static(b"hello"))
        .await
        .unwrap();
    assert_eq!(s.get_bytes("a/b.txt").await.unwrap(), b"hello");
    assert_eq!(s.size("a/b.txt").await.unwrap(), Some(5));
    s.put_bytes("./a//b.txt", Bytes::from_static(b"bye"))
        .await
        .unwrap();
    assert_eq!(s.get_bytes("a/b.txt").await.unwrap(), b"bye", "overwritten");
    s.put_bytes("empty", Bytes::new()).await.unwrap();
    assert_eq!(s.get_bytes("empty").await.unwrap(), b"");
    assert_eq!(s.size("empty").await.unwrap(), Some(0));
    assert_eq!(s.size("nothing/here").await.unwrap(), None);
    assert!(matches!(
        s.get("nothing/here").await,
        Err(StoreError::NotFound(_))
    ));
}

async fn large_streams_arrive_whole(s: &Artifacts) {
    // Over two multipart parts, in chunks that never line up with them.
    let data = pattern(21 * 1024 * 1024 + 17, 3);
    let n = s
        .put_stream("big/model.bin", chunked(data.clone(), 700_001))
        .await
        .unwrap();
    assert_eq!(n, data.len() as u64);
    let d = s.get("big/model.bin").await.unwrap();
    assert_eq!(d.size, data.len() as u64);
    let mut got = Vec::new();
    let mut body = d.body;
    while let Some(chunk) = body.next().await {
        got.extend_from_slice(&chunk.unwrap());
    }
    assert!(got == data, "the bytes read back differ from those written");
}

async fn listings(s: &Artifacts) {
    for (path, body) in [
        ("run/metrics.json", "{}"),
        ("run/model/MLmodel", "flavors: {}"),
        ("run/model/data/w.bin", "0123456789"),
        ("run/notes.txt", "n"),
    ] {
        s.put_bytes(path, Bytes::from(body)).await.unwrap();
    }
    let entries = s.list("run").await.unwrap();
    let want = vec![
        Entry {
            name: "metrics.json".into(),
            is_dir: false,
            size: 2,
        },
        Entry {
            name: "model".into(),
            is_dir: true,
            size: 0,
        },
        Entry {
            name: "notes.txt".into(),
            is_dir: false,
            size: 1,
        },
    ];
    assert_eq!(entries, want);
    assert_eq!(
        s.list("run/").await.unwrap(),
        want,
        "a trailing slash is the same folder"
    );
    assert!(
        s.list("run/notes.txt").await.unwrap().is_empty(),
        "a file lists nothing"
    );
    assert!(s.list("no-such-folder").await.unwrap().is_empty());
    let files: Vec<(String, u64)> = s
        .list_files("run/model")
        .await
        .unwrap()
        .into_iter()
        .map(|f| (f.path, f.size))
        .collect();
    assert_eq!(
        files,
        vec![("MLmodel".to_owned(), 11), ("data/w.bin".to_owned(), 10)]
    );
    // A version that changes when the object does.
    let before = s.head("run/notes.txt").await.unwrap().unwrap();
    assert!(before.version.is_some());
    s.put_bytes("run/notes.txt", Bytes::from_static(b"changed"))
        .await
        .unwrap();
    let after = s.head("run/notes.txt").await.unwrap().unwrap();
    assert_ne!(before.version, after.version, "rewritten: a new version");
    assert_eq!(after.size, 7);
    assert_eq!(s.head("run").await.unwrap(), None, "a folder is no object");
    let root: Vec<String> = s
        .list("")
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert!(root.contains(&"run".to_owned()), "{root:?}");
}

async fn deletes(s: &Artifacts) {
    s.put_bytes("del/one.txt", Bytes::from_static(b"1"))
        .await
        .unwrap();
    s.put_bytes("del/sub/two.txt", Bytes::from_static(b"2"))
        .await
        .unwrap();
    s.put_bytes("delete-me-not.txt", Bytes::from_static(b"3"))
        .await
        .unwrap();
    assert!(s.delete("del/one.txt").await.unwrap());
    assert!(matches!(
        s.get("del/one.txt").await,
        Err(StoreError::NotFound(_))
    ));
    assert!(s.delete("del").await.unwrap(), "a folder goes whole");
    assert!(s.list_files("del").await.unwrap().is_empty());
    assert!(!s.delete("del").await.unwrap(), "nothing left to delete");
    assert_eq!(
        s.get_bytes("delete-me-not.txt").await.unwrap(),
        b"3",
        "a sibling whose name starts alike stays"
    );
    assert!(matches!(
        s.delete("").await,
        Err(StoreError::InvalidPath { .. })
    ));
}

async fn paths_are_checked_and_names_kept(s: &Artifacts) {
    for bad in ["../x", "a/../../x", "/etc/passwd", "a\\b", "a/\0", "a/\nb"] {
        assert!(
            matches!(
                s.put_bytes(bad, Bytes::from_static(b"x")).await,
                Err(StoreError::InvalidPath { .. })
            ),
            "{bad:?} must be refused"
        );
        assert!(matches!(
            s.get(bad).await,
            Err(StoreError::InvalidPath { .. })
        ));
    }
    let names = [
        "with space.txt",
        "ünïcödé.csv",
        "br[a]ck#et%25.bin",
        "plus+sign~.txt",
    ];
    for name in names {
        s.put_bytes(&format!("names/{name}"), Bytes::from(name))
            .await
            .unwrap();
    }
    for name in names {
        assert_eq!(
            s.get_bytes(&format!("names/{name}")).await.unwrap(),
            name.as_bytes()
        );
    }
    let mut listed: Vec<String> = s
        .list("names")
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .collect();
    let mut want: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    listed.sort();
    want.sort();
    assert_eq!(listed, want, "names come back as they were given");
}

async fn a_broken_upload_leaves_nothing_visible(s: &Artifacts) {
    s.put_bytes("broken/keep.bin", Bytes::from_static(b"old"))
        .await
        .unwrap();
    for (name, before) in [
        ("broken/keep.bin", 3 * 1024 * 1024),
        ("broken/new.bin", 12 * 1024 * 1024),
    ] {
        let good = futures::stream::iter([Ok(Bytes::from(pattern(before, 9)))]);
        let bad = futures::stream::iter([Err(io::Error::other("client went away"))]);
        let err = s.put_stream(name, good.chain(bad)).await.unwrap_err();
        assert!(matches!(err, StoreError::Body { .. }), "{err}");
        assert!(err.to_string().contains("client went away"), "{err}");
    }
    assert_eq!(
        s.get_bytes("broken/keep.bin").await.unwrap(),
        b"old",
        "a failed overwrite keeps the old object"
    );
    assert!(matches!(
        s.get("broken/new.bin").await,
        Err(StoreError::NotFound(_))
    ));
    let listed: Vec<String> = s
        .list("broken")
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert_eq!(listed, ["keep.bin"], "no partial upload is listed");
}

async fn local_files_and_folders(s: &Artifacts) {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("model");
    std::fs::create_dir_all(src.join("data")).unwrap();
    std::fs::write(src.join("MLmodel"), "flavors: {}\n").unwrap();
    let weights = pattern(9 * 1024 * 1024 + 5, 1);
    std::fs::write(src.join("data/weights.bin"), &weights).unwrap();
    let written = s.put_dir("files/model", &src).await.unwrap();
    assert_eq!(written, 12 + weights.len() as u64);
    let dest = dir.path().join("back");
    let (count, bytes) = s.get_dir("files/model", &dest).await.unwrap();
    assert_eq!((count, bytes), (2, written));
    assert_eq!(
        std::fs::read(dest.join("data/weights.bin")).unwrap(),
        weights
    );
    assert_eq!(
        std::fs::read_to_string(dest.join("MLmodel")).unwrap(),
        "flavors: {}\n"
    );
    let one = dir.path().join("one.txt");
    assert_eq!(s.get_file("files/model/MLmodel", &one).await.unwrap(), 12);
    assert!(matches!(
        s.get_file("files/none", &dir.path().join("none")).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(
        !dir.path().join("none").exists(),
        "a failed download leaves no file"
    );
}

async fn concurrent_writers(s: &Artifacts) {
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let s = s.clone();
            tokio::spawn(async move {
                s.put_bytes(&format!("many/{i:02}.txt"), Bytes::from(format!("{i}")))
                    .await
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let files = s.list_files("many").await.unwrap();
    assert_eq!(files.len(), 16);
    assert_eq!(s.get_bytes("many/07.txt").await.unwrap(), b"7");
}

/// The suite: every behaviour callers rely on, in one place.
async fn conformance(s: &Artifacts) {
    round_trip_and_overwrite(s).await;
    large_streams_arrive_whole(s).await;
    listings(s).await;
    deletes(s).await;
    paths_are_checked_and_names_kept(s).await;
    a_broken_upload_leaves_nothing_visible(s).await;
    local_files_and_folders(s).await;
    concurrent_writers(s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_folder() {
    let dir = tempfile::tempdir().unwrap();
    let s = Artifacts::local(dir.path().join("artifacts"));
    conformance(&s).await;
    // What a local store lists is what is on disk.
    assert!(dir.path().join("artifacts/run/model/MLmodel").is_file());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_blob_on_azurite() {
    let Some(endpoint) = service("SLUICE_TEST_AZURITE") else {
        return;
    };
    conformance(&azurite(&endpoint, &unique("conformance"))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_on_seaweedfs() {
    let Some(endpoint) = service("SLUICE_TEST_S3") else {
        return;
    };
    conformance(&seaweedfs(&endpoint, &unique("conformance"))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_does_not_answer_fails_clearly_and_quickly() {
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let endpoint = format!("http://127.0.0.1:{port}");
    for s in [
        seaweedfs(&endpoint, "p"),
        azurite(&format!("{endpoint}/devstoreaccount1"), "p"),
    ] {
        let started = std::time::Instant::now();
        let err = s
            .put_bytes("x.txt", Bytes::from_static(b"x"))
            .await
            .unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, StoreError::Backend { .. }), "{msg}");
        assert!(msg.contains(s.describe()), "names the store: {msg}");
        assert!(
            !msg.contains("sluice-test-secret") && !msg.contains(AZURITE_KEY),
            "{msg}"
        );
        assert!(
            started.elapsed() < std::time::Duration::from_mins(1),
            "gave up after {:?}",
            started.elapsed()
        );
    }
}

#[test]
fn uris_name_the_backends_mlflow_takes() {
    assert!(matches!(
        Artifacts::open("/tmp/some/folder").unwrap().local_root(),
        Some(p) if p == std::path::Path::new("/tmp/some/folder")
    ));
    let err = Artifacts::open("gs://bucket/p").unwrap_err().to_string();
    assert!(err.contains("gs://") && err.contains("s3://"), "{err}");
}
