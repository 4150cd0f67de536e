//! The merchant platform over a real database (SQLite, or PostgreSQL by PAYCORE_TEST_DATABASE_URL).

use std::sync::Arc;

use paycore_kernel::crypto::{Algorithm, PlatformSigner, Vault};
use paycore_kernel::{Currency, IdGenerator, IdLayout, Money, Secret, SystemClock};
use paycore_merchant::{
    ContractStatus, ContractTerms, CurrencyTerms, Kyb, MerchantError, MerchantEvent,
    MerchantStatus, Merchants, NewKey,
};
use paycore_product::Product;
use paycore_store::sequence::DbSequenceSource;
use paycore_store::testing::{self, TestDb};

async fn setup(initial: MerchantStatus) -> (TestDb, Merchants) {
    let t = testing::migrated_with(&[&paycore_merchant::SCHEMA])
        .await
        .unwrap();
    let clock = Arc::new(SystemClock);
    let ids = Arc::new(IdGenerator::new(
        IdLayout::default(),
        Arc::new(DbSequenceSource::new(t.db.clone())),
        clock.clone(),
    ));
    let vault = Vault::new(&Secret::new([9u8; 32])).unwrap();
    let m = Merchants::new(t.db.clone(), ids, vault, clock, initial);
    (t, m)
}

fn complete_kyb() -> Kyb {
    Kyb {
        legal_name: Some("Shop Ltd".into()),
        registration_number: Some("91310000".into()),
        country: Some("CN".into()),
        contact_email: Some("ops@shop.example".into()),
        ..Kyb::default()
    }
}

#[tokio::test]
async fn status_moves_only_along_the_table_and_keeps_history() {
    let (_t, m) = setup(MerchantStatus::Onboarding).await;
    let shop = m.create("Shop", &Kyb::default(), "test").await.unwrap();
    assert_eq!(shop.status, MerchantStatus::Onboarding);
    assert!(matches!(
        m.transition(&shop.merchant_id, MerchantEvent::Activate, "t", None)
            .await,
        Err(MerchantError::Invalid(_))
    ));
    m.update_kyb(&shop.merchant_id, &complete_kyb())
        .await
        .unwrap();
    let active = m
        .transition(&shop.merchant_id, MerchantEvent::Activate, "t", None)
        .await
        .unwrap();
    assert_eq!(active.status, MerchantStatus::Active);
    // Asking again for the state it is in is a no-op, not an error or a second history row.
    m.transition(&shop.merchant_id, MerchantEvent::Activate, "t", None)
        .await
        .unwrap();
    m.transition(
        &shop.merchant_id,
        MerchantEvent::Freeze,
        "t",
        Some("chargebacks"),
    )
    .await
    .unwrap();
    assert!(matches!(
        m.transition(&shop.merchant_id, MerchantEvent::Activate, "t", None)
            .await,
        Err(MerchantError::IllegalTransition(_))
    ));
    let h = m.status_history(&shop.merchant_id).await.unwrap();
    let to: Vec<&str> = h.iter().map(|r| r.1.as_str()).collect();
    assert_eq!(to, ["onboarding", "active", "frozen"]);
    assert!(matches!(m.get("nope").await, Err(MerchantError::NotFound)));
    assert!(m.create("  ", &Kyb::default(), "test").await.is_err());
}

#[tokio::test]
async fn keys_verify_and_are_cached_until_revoked() {
    let (_t, m) = setup(MerchantStatus::Active).await;
    let shop = m.create("Shop", &Kyb::default(), "test").await.unwrap();
    let signer = PlatformSigner::generate().unwrap();
    let (k, secret, created) = m
        .add_key(
            &shop.merchant_id,
            NewKey::PublicKey {
                algorithm: Algorithm::Ed25519,
                pem: &signer.public_key_pem(),
            },
        )
        .await
        .unwrap();
    assert!(created && secret.is_none());
    let auth = m.auth_key(&shop.merchant_id, &k.key_id).await.unwrap();
    assert!(auth.key.verify(b"x", &signer.sign(b"x")).is_ok());
    let (h, secret, _) = m.add_key(&shop.merchant_id, NewKey::Hmac).await.unwrap();
    let secret = secret.unwrap();
    let auth = m.auth_key(&shop.merchant_id, &h.key_id).await.unwrap();
    let tag = paycore_kernel::crypto::hmac_sha256(secret.expose().as_bytes(), b"msg");
    assert!(auth.key.verify(b"msg", &tag).is_ok());
    m.revoke_key(&shop.merchant_id, &h.key_id, "test")
        .await
        .unwrap();
    assert!(matches!(
        m.auth_key(&shop.merchant_id, &h.key_id).await,
        Err(MerchantError::KeyNotFound)
    ));
    assert!(matches!(
        m.auth_key("unknown", &k.key_id).await,
        Err(MerchantError::NotFound)
    ));
    // A key belongs to its merchant only.
    let other = m.create("Other", &Kyb::default(), "test").await.unwrap();
    assert!(matches!(
        m.auth_key(&other.merchant_id, &k.key_id).await,
        Err(MerchantError::KeyNotFound)
    ));
}

/// Requests naming merchants that do not exist cost no query while their lookup is cached:
/// a row that appears behind the cache's back (as on another node) is not seen at once, while
/// a merchant created through this node is.
#[tokio::test]
async fn unknown_merchants_are_cached_briefly() {
    let (t, m) = setup(MerchantStatus::Active).await;
    let ghost = "99999999999999999999999999999999";
    assert!(matches!(
        m.auth_key(ghost, "k").await,
        Err(MerchantError::NotFound)
    ));
    sqlx::query(
        "INSERT INTO merchants (merchant_id, name, status, created_at, updated_at)
         VALUES ($1, 'Ghost', 'active', 0, 0)",
    )
    .bind(ghost)
    .execute(t.db.writer())
    .await
    .unwrap();
    assert!(
        matches!(m.auth_key(ghost, "k").await, Err(MerchantError::NotFound)),
        "answered from the cache, without a query"
    );
    let shop = m.create("Shop", &Kyb::default(), "test").await.unwrap();
    let (h, _, _) = m.add_key(&shop.merchant_id, NewKey::Hmac).await.unwrap();
    assert!(m.auth_key(&shop.merchant_id, &h.key_id).await.is_ok());
}

#[tokio::test]
async fn contracts_are_versioned_and_fees_follow_them() {
    let (_t, m) = setup(MerchantStatus::Active).await;
    let shop = m.create("Shop", &Kyb::default(), "test").await.unwrap();
    let cny = Currency::from_code("CNY").unwrap();
    let mut terms = ContractTerms {
        fee_rate_bps: 60,
        currencies: vec![CurrencyTerms {
            currency: cny,
            fixed_fee: 10,
            min_amount: Some(100),
            max_amount: Some(5_000_000),
        }],
        status: ContractStatus::Enabled,
    };
    let c1 = m
        .set_contract(&shop.merchant_id, Product::NetBank, &terms)
        .await
        .unwrap();
    assert_eq!(c1.version, 1);
    assert_eq!(
        c1.fee_plan(cny)
            .unwrap()
            .fee(Money::from_minor(50_000, cny))
            .unwrap()
            .minor(),
        310
    );
    assert_eq!(
        m.set_contract(&shop.merchant_id, Product::NetBank, &terms)
            .await
            .unwrap()
            .version,
        1
    );
    terms.fee_rate_bps = 30;
    let c2 = m
        .set_contract(&shop.merchant_id, Product::NetBank, &terms)
        .await
        .unwrap();
    assert_eq!(
        (c2.version, c2.contract_id.clone()),
        (2, c1.contract_id.clone())
    );
    assert_eq!(
        c2.fee_plan(cny)
            .unwrap()
            .fee(Money::from_minor(50_000, cny))
            .unwrap()
            .minor(),
        160
    );
    terms.fee_rate_bps = 20_000;
    assert!(m
        .set_contract(&shop.merchant_id, Product::NetBank, &terms)
        .await
        .is_err());
    assert_eq!(
        m.contract(&shop.merchant_id, Product::NetBank)
            .await
            .unwrap()
            .unwrap()
            .version,
        2
    );
    assert!(m
        .contract(&shop.merchant_id, Product::Alipay)
        .await
        .unwrap()
        .is_none());
    // A contract names its currencies: another currency has no fee plan, limits are its own.
    let usd = Currency::from_code("USD").unwrap();
    assert!(c2.fee_plan(usd).is_none());
    terms.fee_rate_bps = 30;
    terms.currencies.push(CurrencyTerms {
        currency: usd,
        fixed_fee: 0,
        min_amount: None,
        max_amount: Some(1_000),
    });
    let c3 = m
        .set_contract(&shop.merchant_id, Product::NetBank, &terms)
        .await
        .unwrap();
    assert_eq!(c3.version, 3);
    let usd_terms = c3.terms_for(usd).unwrap();
    assert!(usd_terms.admits(Money::from_minor(1_000, usd)).unwrap());
    assert!(!usd_terms.admits(Money::from_minor(1_001, usd)).unwrap());
    assert!(!c3
        .terms_for(cny)
        .unwrap()
        .admits(Money::from_minor(99, cny))
        .unwrap());
    assert_eq!(c3.currency_list(), "CNY, USD");
    // The same currency twice, or none, is refused.
    let mut twice = terms.clone();
    twice.currencies.push(twice.currencies[0]);
    assert!(m
        .set_contract(&shop.merchant_id, Product::NetBank, &twice)
        .await
        .is_err());
    let none = ContractTerms {
        currencies: Vec::new(),
        ..terms.clone()
    };
    assert!(m
        .set_contract(&shop.merchant_id, Product::NetBank, &none)
        .await
        .is_err());
    // Disabling moves the contract's status through its state machine.
    let off = ContractTerms {
        status: ContractStatus::Disabled,
        ..terms.clone()
    };
    let c4 = m
        .set_contract(&shop.merchant_id, Product::NetBank, &off)
        .await
        .unwrap();
    assert_eq!((c4.status, c4.version), (ContractStatus::Disabled, 4));
    assert!(m
        .set_contract("nope", Product::Alipay, &c1.terms())
        .await
        .is_err());
}

#[tokio::test]
async fn merchant_ids_carry_their_shards_and_their_rows_follow() {
    let (_t, m) = setup(MerchantStatus::Active).await;
    let shop = m.create("Shop", &Kyb::default(), "test").await.unwrap();
    let id: paycore_kernel::BizId = shop.merchant_id.parse().unwrap();
    assert_eq!(id.biz_type(), paycore_kernel::BizType::Merchant);
    let (k, _, _) = m.add_key(&shop.merchant_id, NewKey::Hmac).await.unwrap();
    let kid: paycore_kernel::BizId = k.key_id.parse().unwrap();
    assert_eq!(
        (kid.db_shard(), kid.table_shard()),
        (id.db_shard(), id.table_shard())
    );
}

paycore_store::machine_properties!(merchant_machine, paycore_merchant::MerchantStatus);
paycore_store::machine_properties!(key_machine, paycore_merchant::KeyStatus);
paycore_store::machine_properties!(contract_machine, paycore_merchant::ContractStatus);
