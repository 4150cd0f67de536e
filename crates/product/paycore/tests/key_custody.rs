//! Key custody (issue 9, §5): sealed values carry the master key version they are sealed under,
//! `paycore keys rotate-master` re-seals them all under a new one — beside a running node — and
//! an old version is retired only when no value needs it.

mod common;

use common::{add_key, merchant, ok, paycore, send, Merchant};
use paycore::testing::TestServer;
use paycore_store::testing::TestDb;
use serde_json::Value;

fn keys(db: &TestDb, args: &[&str]) -> Value {
    let mut all = vec!["keys"];
    all.extend_from_slice(args);
    serde_json::from_str(&ok(&paycore(db, &all))).unwrap()
}

/// Sealed values under `version`, as `paycore keys master` counts them.
fn under(report: &Value, version: u64) -> u64 {
    report["versions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["version"] == version)
        .map_or(0, |v| v["values"].as_u64().unwrap())
}

async fn signs(s: &TestServer, m: &Merchant) {
    let r = send(s, m, "GET", "/v1/merchant", b"").await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
}

#[tokio::test]
async fn rotating_the_master_key_reseals_every_value_and_the_old_version_retires() {
    let s = TestServer::start().await.unwrap();
    let m = merchant(&s, "HMAC-SHA256").await;
    signs(&s, &m).await;
    let before = keys(&s.db, &["master"]);
    assert_eq!(before["current"], 1, "{before}");
    // The merchant's HMAC secret, the platform's signing key, the sandbox channels' keys.
    let sealed = under(&before, 1);
    assert!(sealed >= 3, "{before}");

    // Rotated while the server runs.
    let rotated = keys(&s.db, &["rotate-master"]);
    assert_eq!(rotated["current"], 2, "{rotated}");
    assert_eq!(rotated["resealed"], sealed, "{rotated}");
    assert_eq!((under(&rotated, 1), under(&rotated, 2)), (0, sealed));
    // The running node seals what it creates now under the new version.
    let (key_id, signer) = add_key(&s, &m.merchant_id, "HMAC-SHA256").await;
    let fresh = Merchant {
        merchant_id: m.merchant_id.clone(),
        key_id,
        signer,
    };
    signs(&s, &fresh).await;
    let now = keys(&s.db, &["master"]);
    assert_eq!((under(&now, 1), under(&now, 2)), (0, sealed + 1), "{now}");

    // Version 1 goes; the sealing key cannot.
    keys(&s.db, &["retire-master", "--version", "1"]);
    let file = std::fs::read_to_string(s.db.dir.join("master.key")).unwrap();
    assert!(
        file.starts_with("2:") && file.lines().count() == 1,
        "one key left"
    );
    let out = paycore(&s.db, &["keys", "retire-master", "--version", "2"]);
    assert!(!out.status.success(), "the sealing key stays");

    // A node started on the retired keyring opens everything: both keys sign.
    let db = s.stop().await;
    let s = TestServer::start_on(db, Default::default()).await.unwrap();
    signs(&s, &m).await;
    signs(&s, &fresh).await;
    let audit = ok(&paycore(&s.db, &["audit", "list"]));
    assert!(
        audit.contains("keys rotate-master") && audit.contains("keys retire-master"),
        "{audit}"
    );
    s.stop().await;
}

/// The keyring of several nodes lives in `PAYCORE_MASTER_KEY`: the command line cannot write
/// it, so a version is added there, `reseal` moves the values, and `retire-master` says when the
/// old one may go.
#[tokio::test]
async fn a_keyring_in_the_environment_is_resealed_and_retired_by_its_operator() {
    let db = paycore_store::testing::empty().await.unwrap();
    let (v1, v2) = (
        format!("1:{}", b64(&[1u8; 32])),
        format!("2:{}", b64(&[2u8; 32])),
    );
    let with = |keyring: &str, args: &[&str]| {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_paycore"));
        c.args(args).arg("--data-dir").arg(&db.dir);
        if let Some(url) = &db.url {
            c.arg("--database-url").arg(url);
        }
        c.env_remove("PAYCORE_DATABASE_URL")
            .env_remove("PAYCORE_MODE")
            .env("PAYCORE_MASTER_KEY", keyring)
            .env("RUST_LOG", "warn")
            .output()
            .unwrap()
    };
    let m: Value =
        serde_json::from_str(&ok(&with(&v1, &["merchant", "create", "--name", "Shop"]))).unwrap();
    let id = m["merchant_id"].as_str().unwrap();
    ok(&with(
        &v1,
        &["merchant", "key-add", id, "--algorithm", "HMAC-SHA256"],
    ));
    assert!(
        !db.dir.join("master.key").exists(),
        "no key file beside the environment's keyring"
    );
    let both = format!("{v1},{v2}");
    let out = with(&both, &["keys", "rotate-master"]);
    assert!(!out.status.success(), "the environment is not written");
    let out = with(&both, &["keys", "retire-master", "--version", "1"]);
    assert!(!out.status.success(), "version 1 still seals the secret");
    assert!(String::from_utf8_lossy(&out.stderr).contains("reseal"));
    let done: Value = serde_json::from_str(&ok(&with(&both, &["keys", "reseal"]))).unwrap();
    assert_eq!(done["resealed"], 1, "{done}");
    let retired: Value = serde_json::from_str(&ok(&with(
        &both,
        &["keys", "retire-master", "--version", "1"],
    )))
    .unwrap();
    assert!(retired["next"]
        .as_str()
        .unwrap()
        .contains("PAYCORE_MASTER_KEY"));
    // Without version 1 every value still opens (the census opens each one).
    let left: Value = serde_json::from_str(&ok(&with(&v2, &["keys", "master"]))).unwrap();
    assert_eq!(
        (left["current"].clone(), under(&left, 2)),
        (2.into(), 1),
        "{left}"
    );
    let out = with(&v1, &["keys", "master"]);
    assert!(!out.status.success(), "version 1 alone opens nothing now");
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
