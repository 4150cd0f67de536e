//! `serve --demo`: a merchant and an HMAC key a newcomer can sign a request with at once.
//! Created once per data directory; the credentials are kept in `demo.json` there (owner-only),
//! since the platform itself shows an HMAC secret only once.

use std::path::Path;

use anyhow::Context;
use paycore_kernel::{Currency, Money};
use paycore_merchant::{ContractTerms, Kyb, NewKey};
use paycore_product::Product;
use serde::{Deserialize, Serialize};

use crate::Platform;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DemoCredentials {
    pub merchant_id: String,
    pub key_id: String,
    pub secret: String,
}

pub async fn ensure(p: &Platform, data_dir: &Path) -> anyhow::Result<DemoCredentials> {
    let path = data_dir.join("demo.json");
    if let Ok(text) = std::fs::read_to_string(&path) {
        let creds: DemoCredentials =
            serde_json::from_str(&text).with_context(|| format!("reading {}", path.display()))?;
        if p.merchants
            .key(&creds.merchant_id, &creds.key_id)
            .await
            .is_ok()
        {
            return Ok(creds);
        }
    }
    let kyb = Kyb {
        legal_name: Some("Demo Shop Ltd.".into()),
        registration_number: Some("DEMO-0001".into()),
        country: Some("CN".into()),
        contact_email: Some("dev@demo.example".into()),
        ..Kyb::default()
    };
    let m = p.merchants.create("Demo Shop", &kyb, "demo").await?;
    let (key, secret, _) = p.merchants.add_key(&m.merchant_id, NewKey::Hmac).await?;
    let secret = secret.context("an HMAC key comes with its secret")?;
    let cny = Currency::from_code("CNY")?;
    for product in [
        Product::NetBank,
        Product::Alipay,
        Product::Wechat,
        Product::QuickPay,
        Product::Cashier,
        Product::Balance,
    ] {
        let terms = ContractTerms::simple(60, Money::zero(cny));
        p.merchants
            .set_contract(&m.merchant_id, product, &terms)
            .await?;
    }
    let creds = DemoCredentials {
        merchant_id: m.merchant_id,
        key_id: key.key_id,
        secret: secret.into_inner(),
    };
    crate::write_private(&path, &serde_json::to_string_pretty(&creds)?)?;
    Ok(creds)
}

/// What `serve --demo` prints: the credentials and a request to copy and paste.
pub fn banner(c: &DemoCredentials, base_url: &str, data_dir: &std::path::Path) -> String {
    format!(
        r#"
Demo merchant ready (sandbox). Credentials are also in the data directory's demo.json.

  merchant_id  {mid}
  key_id       {kid}
  HMAC secret  {secret}

Send signed requests (bash, openssl, curl):

MID={mid}
KID={kid}
SECRET={secret}
sign() {{ TS=$(date +%s); NONCE=$(openssl rand -hex 16)
  SIG=$(printf '%s\n%s\n%s\n%s\n%s\n' "$1" "$2" "$TS" "$NONCE" "$3" | openssl dgst -sha256 -hmac "$SECRET" -binary | base64)
  echo "PAYCORE-HMAC-SHA256 merchant_id=\"$MID\",key_id=\"$KID\",timestamp=\"$TS\",nonce=\"$NONCE\",signature=\"$SIG\""; }}
curl -s {base_url}/v1/merchant -H "Authorization: $(sign GET /v1/merchant '')"
BODY='{{"out_trade_no":"ORDER-1","amount":1999,"currency":"CNY","subject":"Green tea","product":"ALIPAY"}}'
curl -s {base_url}/v1/payments -H 'content-type: application/json' \
  -H "Authorization: $(sign POST /v1/payments "$BODY")" -d "$BODY"

Request logs (interface and business digests) go to {log}; set RUST_LOG=info to see
them here instead. Stop with Ctrl-C.
"#,
        mid = c.merchant_id,
        kid = c.key_id,
        secret = c.secret,
        log = data_dir.join("digest.log").display(),
    )
}
