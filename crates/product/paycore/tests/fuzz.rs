//! Schemathesis (PyPI; the test script installs it) fuzzes a live server against the OpenAPI
//! document it serves: every operation, with the examples, boundary values, generated and
//! deliberately invalid inputs, and stateful sequences it derives from the document. The hook
//! `clients/fuzz_hooks.py` signs the /v1 requests and gives /admin requests the operator's
//! token. The run fails on any 5xx, any answer that disagrees with its documented schema,
//! status, content type or headers, any invalid request accepted, and any request accepted
//! without (or with forged) credentials. Afterwards the books must still verify and balance.
//!
//! The time budget is `PAYCORE_FUZZ_SECONDS` (default 100). Two operations are left out:
//! a sandbox channel's behaviour and the operator's channel switch can make every channel
//! refuse, and then `503 CHANNEL_UNAVAILABLE` is the documented, correct answer, not a fault.

use std::time::Duration;

use paycore::testing::{Options, TestServer, ADMIN_TOKEN};
use paycore_merchant::Kyb;

const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,\
response_headers_conformance,response_schema_conformance,negative_data_rejection,\
missing_required_header,ignored_auth,unsupported_method";

/// Left out: what would change the fuzz run's own footing (channel behaviour and switches,
/// disabling or rotating operators — the admin token the fuzzer uses among them — and the
/// member's logout, which would end the login the member calls use).
const EXCLUDED: &str = r"^/sandbox/channels/\{channel\}/behaviour$|^/admin/v1/channels/\{channel\}$|^/admin/v1/operators/\{operator_id\}/|^/v1/members/logout$";

const ST: &str =
    "import sys; from schemathesis.cli import schemathesis; sys.exit(schemathesis(prog_name='st'))";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_fault() {
    // The fuzzer sends bad operator tokens on purpose: the per-address throttle (tested in
    // operator_access.rs) would answer 429 instead of the 401 the schema promises.
    let s = TestServer::start_with(Options::without_auth_throttle())
        .await
        .unwrap();
    let creds = paycore::demo::ensure(&s.platform, &s.db.dir).await.unwrap();
    // State-changing operator calls the fuzzer aims at the signing merchant go to this one
    // instead, so that it cannot revoke the key it signs with (see the hooks).
    let decoy = s
        .platform
        .merchants
        .create("Decoy Shop", &Kyb::default(), "fuzz")
        .await
        .unwrap();
    s.platform
        .members
        .register("13700137000", "fuzzing2026")
        .await
        .unwrap();
    let member = s
        .platform
        .members
        .login("13700137000", "fuzzing2026")
        .await
        .unwrap();
    let budget = std::env::var("PAYCORE_FUZZ_SECONDS").unwrap_or_else(|_| "100".into());
    let clients = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients");
    // Schemathesis keeps its example database and reports where it runs: in the test's
    // scratch directory, not in the source tree.
    let report = s.db.dir.join("fuzz");
    std::fs::create_dir_all(&report).unwrap();
    // `st`, run through the interpreter it was installed for (its script may not be on PATH).
    let run = tokio::process::Command::new("python3")
        .args(["-c", ST])
        .arg("--config-file")
        .arg(format!("{clients}/schemathesis.toml"))
        .args(["run", &format!("{}/openapi.json", s.base_url)])
        .args(["-H", "Authorization: sign-me", "--max-time", &budget])
        .args(["--checks", CHECKS, "--exclude-path-regex", EXCLUDED])
        // One worker: Hypothesis parses its own sources with `ast`, which on CPython 3.11 is not
        // safe from two threads at once ("AST constructor recursion depth mismatch").
        .args(["--workers", "1", "--no-color", "--report-dir"])
        .arg(&report)
        .env("SCHEMATHESIS_HOOKS", "fuzz_hooks")
        .env("PYTHONPATH", clients)
        .env("PAYCORE_FUZZ_MERCHANT", &creds.merchant_id)
        .env("PAYCORE_FUZZ_KEY", &creds.key_id)
        .env("PAYCORE_FUZZ_SECRET", &creds.secret)
        .env("PAYCORE_FUZZ_DECOY", &decoy.merchant_id)
        .env("PAYCORE_FUZZ_ADMIN", ADMIN_TOKEN)
        .env("PAYCORE_FUZZ_MEMBER_TOKEN", &member.token)
        .current_dir(&report)
        .kill_on_drop(true)
        .output();
    let limit = Duration::from_secs(budget.parse::<u64>().unwrap_or(100) + 240);
    let out = tokio::time::timeout(limit, run)
        .await
        .expect("schemathesis overran its budget")
        .expect("python3 is needed, with schemathesis (the test script installs it with pip)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "schemathesis found faults:\n{stdout}\n{stderr}"
    );
    // The run reached the merchant API: signed calls were accepted, not only refused.
    assert!(
        !stdout.contains("Authentication failed"),
        "the signed calls were refused:\n{stdout}"
    );

    let ledger = s.state.acquiring.ledger();
    let verify = ledger.verify().await.unwrap();
    assert!(verify.ok(), "ledger verify: {:?}", verify.problems);
    assert!(ledger.trial_balance(None).await.unwrap().balanced());
}
