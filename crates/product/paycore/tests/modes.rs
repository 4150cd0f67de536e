//! One explicit mode (issue 9, §4): a database is set up in sandbox or production mode and keeps
//! it, and `serve` and every subcommand read it from there; what each mode refuses.

mod common;

use std::process::{Command, Output};

use common::{ok, paycore};
use paycore_store::testing::empty;
use serde_json::Value;

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[tokio::test]
async fn the_command_line_takes_the_mode_the_database_was_set_up_in() {
    let db = empty().await.unwrap();
    ok(&paycore(&db, &["--mode", "production", "migrate"]));
    // No flag: production, read from the database (before, the command line decided sandbox
    // from the embedded engine and made an active merchant with no KYB).
    let m: Value = serde_json::from_str(&ok(&paycore(
        &db,
        &["merchant", "create", "--name", "Shop"],
    )))
    .unwrap();
    assert_eq!(m["status"], "onboarding", "{m}");
    // Asking for the other mode is refused and changes nothing.
    let out = paycore(
        &db,
        &["--mode", "sandbox", "merchant", "create", "--name", "Other"],
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("production mode"), "{}", stderr(&out));
    let out = paycore(&db, &["merchant", "list"]);
    let list: Value = serde_json::from_str(&ok(&out)).unwrap();
    let names = list.to_string();
    assert!(
        names.contains("Shop") && !names.contains("Other"),
        "{names}"
    );
    // The environment twin says the same as the flag.
    let out = Command::new(env!("CARGO_BIN_EXE_paycore"))
        .args(["merchant", "list", "--data-dir"])
        .arg(&db.dir)
        .args(db.url.iter().flat_map(|u| ["--database-url", u.as_str()]))
        .env("PAYCORE_MODE", "sandbox")
        .env_remove("PAYCORE_DATABASE_URL")
        .output()
        .unwrap();
    assert!(!out.status.success(), "{}", stderr(&out));
}

#[tokio::test]
async fn production_refuses_the_demo_and_sandbox_refuses_public_addresses() {
    let prod = empty().await.unwrap();
    ok(&paycore(&prod, &["--mode", "production", "migrate"]));
    let out = paycore(&prod, &["serve", "--demo", "--listen", "127.0.0.1:0"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("--demo is for sandbox mode only"),
        "{}",
        stderr(&out)
    );
    assert!(!prod.dir.join("demo.json").exists());

    let fresh = empty().await.unwrap();
    let out = paycore(
        &fresh,
        &["--mode", "sandbox", "serve", "--listen", "0.0.0.0:0"],
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("loopback only"), "{}", stderr(&out));
    // The refused start recorded nothing: the database can still be set up in production.
    ok(&paycore(&fresh, &["--mode", "production", "migrate"]));

    let sandbox_dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_paycore"))
        .args(["sandbox", "--listen", "0.0.0.0:0", "--data-dir"])
        .arg(sandbox_dir.path())
        .env_remove("PAYCORE_DATABASE_URL")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(stderr(&out).contains("loopback only"), "{}", stderr(&out));
}
