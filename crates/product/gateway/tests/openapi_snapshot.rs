//! The OpenAPI document is the merchant contract in machine form: a change of it must show in
//! review. The document the server generates is compared with the one in `docs/openapi.json`;
//! after an intended change, `PAYCORE_UPDATE_SNAPSHOTS=1 cargo test -p paycore-gateway --test
//! openapi_snapshot` writes the new one, to be committed with the change.

use std::path::PathBuf;

fn snapshot_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../docs/openapi.json")
}

#[test]
fn the_openapi_document_matches_its_snapshot() {
    let doc = paycore_gateway::openapi::document(true);
    let text = serde_json::to_string_pretty(&doc).expect("JSON") + "\n";
    let path = snapshot_path();
    if std::env::var("PAYCORE_UPDATE_SNAPSHOTS").is_ok_and(|v| v == "1") {
        std::fs::write(&path, &text).expect("write the snapshot");
        return;
    }
    let stored = std::fs::read_to_string(&path).unwrap_or_default();
    if stored != text {
        let first = stored
            .lines()
            .zip(text.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(stored.lines().count().min(text.lines().count()));
        panic!(
            "the OpenAPI document changed (first difference at line {}): review it, then run \
             PAYCORE_UPDATE_SNAPSHOTS=1 cargo test -p paycore-gateway --test openapi_snapshot \
             and commit docs/openapi.json\n  stored:    {}\n  generated: {}",
            first + 1,
            stored.lines().nth(first).unwrap_or("<end>"),
            text.lines().nth(first).unwrap_or("<end>")
        );
    }
}

/// What the document must say about the payment body, whatever else changes.
#[test]
fn the_document_says_what_the_server_enforces() {
    let doc = paycore_gateway::openapi::document(true);
    let schemas = &doc["components"]["schemas"];
    let create = &schemas["CreatePayment"];
    let required: Vec<&str> = create["required"]
        .as_array()
        .expect("required")
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert!(required.contains(&"amount") && required.contains(&"out_trade_no"));
    assert!(
        !required.contains(&"payer") && !required.contains(&"metadata"),
        "{required:?}"
    );
    let amount = &schemas["Amount"];
    assert_eq!(amount["minimum"], 1);
    assert_eq!(amount["maximum"], 1_000_000_000_000_000i64);
    let currencies = schemas["Currency"]["enum"].as_array().unwrap();
    for c in ["CNY", "USD", "JPY", "BHD"] {
        assert!(currencies.iter().any(|v| v == c), "{c}");
    }
    assert_eq!(schemas["Product"]["enum"].as_array().unwrap().len(), 11);
    assert!(create["properties"]["out_trade_no"]["pattern"].is_string());
    let mut bare = Vec::new();
    bare_objects(&doc, String::new(), &mut bare);
    assert!(bare.is_empty(), "bodies without their fields: {bare:?}");
    assert!(doc["paths"]["/sandbox/wallets/{wallet}/pay"].is_object());
    assert!(doc["paths"]["/healthz"].is_object());
}

/// Objects of the document that say nothing of their fields.
fn bare_objects(v: &serde_json::Value, at: String, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(m) => {
            let described = [
                "properties",
                "additionalProperties",
                "$ref",
                "oneOf",
                "allOf",
                "anyOf",
            ]
            .iter()
            .any(|k| m.contains_key(*k));
            if m.get("type").is_some_and(|t| t == "object") && !described {
                out.push(at.clone());
            }
            for (k, x) in m {
                bare_objects(x, format!("{at}/{k}"), out);
            }
        }
        serde_json::Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                bare_objects(x, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}
