//! The command line's contract: `--data-dir`, `--database-url` and `--log-format` are taken
//! after the subcommand as well as before it, and a subcommand that writes a file takes
//! `--output PATH` (standard output by default). Run against the books of a real payment.

mod common;

use std::process::Command;

use common::*;
use paycore::testing::TestServer;
use paycore_store::testing::TestDb;
use serde_json::{json, Value};

/// A database whose books hold one paid payment of 19.99 CNY.
async fn books() -> TestDb {
    let s = TestServer::start().await.unwrap();
    let m = merchant(&s, "HMAC-SHA256").await;
    let (st, _) = admin(
        &s,
        "POST",
        &format!("/admin/v1/merchants/{}/products", m.merchant_id),
        Some(json!({"product": "ALIPAY", "fee_rate_bps": 100})),
    )
    .await;
    assert_eq!(st, 200);
    paid(&s, &m, "CLI-1", 1999).await;
    s.stop().await
}

#[tokio::test]
async fn data_flags_go_after_the_subcommand_and_files_are_written_with_output() {
    let db = books().await;

    let verify: Value = serde_json::from_str(&ok(&paycore(&db, &["ledger", "verify"]))).unwrap();
    assert_eq!(verify["problems"], json!([]), "{verify}");
    assert!(verify["vouchers"].as_u64().unwrap() >= 1, "{verify}");
    ok(&paycore(&db, &["ledger", "verify", "--log-format", "json"]));
    let mut before = Command::new(env!("CARGO_BIN_EXE_paycore"));
    before.arg("--data-dir").arg(&db.dir);
    if let Some(url) = &db.url {
        before.arg("--database-url").arg(url);
    }
    let tb = ok(&before
        .args(["ledger", "trial-balance", "--format", "json"])
        .env_remove("PAYCORE_DATABASE_URL")
        .output()
        .unwrap());
    assert!(tb.contains("\"rows\""), "{tb}");

    // --output writes the file (and nothing on standard output); without it, standard output.
    let file = db.dir.join("books.beancount");
    let file_arg = file.to_string_lossy().into_owned();
    let quiet = ok(&paycore(&db, &["ledger", "export", "--output", &file_arg]));
    assert!(quiet.is_empty(), "{quiet}");
    let written = std::fs::read_to_string(&file).unwrap();
    assert!(written.contains("19.99 CNY"), "{written}");
    let printed = ok(&paycore(&db, &["ledger", "export"]));
    assert_eq!(printed, written);
    let check = Command::new("bean-check").arg(&file).output().unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );

    // A flag the command does not take is refused, with a message.
    let bad = paycore(&db, &["ledger", "export", "--bogus"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--bogus"));
}

#[tokio::test]
async fn operators_are_managed_from_the_command_line_and_its_changes_audited() {
    let db = paycore_store::testing::empty().await.unwrap();
    ok(&paycore(&db, &["migrate"]));
    let added: Value = serde_json::from_str(&ok(&paycore(
        &db,
        &[
            "operator",
            "add",
            "--name",
            "fin",
            "--role",
            "finance",
            "--expires-in-days",
            "30",
        ],
    )))
    .unwrap();
    assert_eq!(added["role"], "finance", "{added}");
    assert_eq!(added["status"], "active");
    let id = added["operator_id"].as_str().unwrap().to_string();
    let token = added["token"].as_str().unwrap().to_string();
    let rotated: Value =
        serde_json::from_str(&ok(&paycore(&db, &["operator", "rotate", &id]))).unwrap();
    assert_ne!(rotated["token"].as_str().unwrap(), token);
    let disabled: Value =
        serde_json::from_str(&ok(&paycore(&db, &["operator", "disable", &id]))).unwrap();
    assert_eq!(disabled["status"], "disabled");
    let list = ok(&paycore(&db, &["operator", "list"]));
    assert!(list.contains(&id) && !list.contains(&token), "{list}");
    assert!(
        !paycore(&db, &["operator", "add", "--name", "x", "--role", "root"])
            .status
            .success()
    );
    ok(&paycore(
        &db,
        &["merchant", "create", "--name", "Audited Shop"],
    ));

    let ops = paycore_operators::Operators::new(db.db.clone());
    let audit = ops.audit_log(100).await.unwrap();
    let actions: Vec<(&str, &str)> = audit
        .iter()
        .map(|a| (a.action.as_str(), a.target.as_str()))
        .collect();
    for expected in [
        ("operator add", "fin"),
        ("operator rotate", id.as_str()),
        ("operator disable", id.as_str()),
        ("merchant create", "Audited Shop"),
    ] {
        assert!(actions.contains(&expected), "{expected:?} in {actions:?}");
    }
    assert!(audit.iter().all(|a| a.operator.starts_with("cli:")));
}

#[tokio::test]
async fn the_audit_trail_is_a_chain_that_verify_checks() {
    let db = paycore_store::testing::empty().await.unwrap();
    ok(&paycore(&db, &["migrate"]));
    for name in ["a", "b", "c"] {
        ok(&paycore(
            &db,
            &["operator", "add", "--name", name, "--role", "viewer"],
        ));
    }
    let check: Value = serde_json::from_str(&ok(&paycore(&db, &["audit", "verify"]))).unwrap();
    assert_eq!(check["problems"], json!([]), "{check}");
    assert_eq!(check["rows"], 3);
    // The database refuses to change or remove a row…
    let change =
        "UPDATE audit_log SET outcome = 'changed' WHERE id = (SELECT MIN(id) FROM audit_log)";
    let remove = "DELETE FROM audit_log WHERE id = (SELECT MAX(id) FROM audit_log)";
    for sql in [change, remove] {
        let e = sqlx::query(sql).execute(db.db.writer()).await.unwrap_err();
        assert!(e.to_string().contains("append-only"), "{e}");
    }
    // …and past someone who can drop its triggers, a row changed after the fact is found.
    drop_append_only(&db).await;
    sqlx::query(change).execute(db.db.writer()).await.unwrap();
    let out = paycore(&db, &["audit", "verify"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("do not match its hash"));
    // So is the newest row removed (the head remembers it).
    let db2 = paycore_store::testing::empty().await.unwrap();
    ok(&paycore(&db2, &["migrate"]));
    ok(&paycore(
        &db2,
        &["operator", "add", "--name", "a", "--role", "viewer"],
    ));
    ok(&paycore(
        &db2,
        &["operator", "add", "--name", "b", "--role", "viewer"],
    ));
    drop_append_only(&db2).await;
    sqlx::query(remove).execute(db2.db.writer()).await.unwrap();
    let out = paycore(&db2, &["audit", "verify"]);
    assert!(
        !out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// What only the database's owner can do: lift the audit trail's append-only triggers.
async fn drop_append_only(db: &paycore_store::testing::TestDb) {
    let sql = match db.db.engine() {
        paycore_store::Engine::Sqlite => {
            "DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete;"
        }
        paycore_store::Engine::Postgres => "DROP TRIGGER audit_log_no_change ON audit_log;",
    };
    sqlx::raw_sql(sql).execute(db.db.writer()).await.unwrap();
}
