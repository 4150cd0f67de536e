//! The sandbox channels' routing configuration, against a real database (SQLite, or PostgreSQL
//! with `PAYCORE_TEST_DATABASE_URL`).

use std::sync::Arc;

use paycore_channels::routing::{
    BreakerState, Refusal, RouteContext, RouteDecision, Router, RoutingError,
};
use paycore_kernel::product::Product;
use paycore_kernel::{Currency, ManualClock, Money};
use paycore_store::testing::{self, TestDb};
use time::macros::datetime;

fn cny(minor: i64) -> Money {
    Money::from_minor(minor, Currency::CNY)
}

fn ctx(product: Product, amount: Money) -> RouteContext {
    RouteContext {
        merchant_id: "m1".into(),
        product,
        amount,
        payer_key: None,
        exclude: Vec::new(),
    }
}

async fn setup() -> (TestDb, ManualClock, Router) {
    let db = testing::migrated_with(&[&paycore_channels::SCHEMA, &paycore_sandbox::SCHEMA])
        .await
        .unwrap();
    let clock = ManualClock::new(datetime!(2026-11-22 10:00 UTC));
    let router = Router::new(db.db.clone(), Arc::new(clock.clone()));
    (db, clock, router)
}

fn no_channel_reasons(r: Result<RouteDecision, RoutingError>) -> String {
    match r {
        Err(RoutingError::NoChannel { reasons }) => reasons.join("; "),
        other => panic!("expected NoChannel, got {other:?}"),
    }
}

#[tokio::test]
async fn eligibility_of_the_sandbox_channels() {
    let (db, clock, router) = setup().await;
    paycore_sandbox::install_routing(&db, &clock).await.unwrap();
    paycore_sandbox::install_routing(&db, &clock).await.unwrap(); // idempotent

    let d = router
        .choose(&ctx(Product::NetBank, cny(10_000)))
        .await
        .unwrap();
    assert_eq!(d.channel, "sandbox-netbank");
    assert!(
        d.reasons.iter().any(|r| r.contains("score")),
        "{:?}",
        d.reasons
    );
    let alipay = d
        .candidates
        .iter()
        .find(|c| c.channel == "sandbox-alipay")
        .unwrap();
    assert!(!alipay.eligible);
    assert!(alipay.detail.contains("does not offer NET_BANK"));

    // What no configured channel ever takes is a permanent refusal naming what is offered.
    let usd = Money::from_minor(100, Currency::USD);
    match router.choose(&ctx(Product::NetBank, usd)).await {
        Err(RoutingError::NotOffered(r @ Refusal::Currency { .. })) => {
            assert_eq!(
                r.to_string(),
                "NET_BANK is not offered in USD; it takes CNY"
            )
        }
        other => panic!("{other:?}"),
    }
    // The carrier takes at most 500.00 per payment.
    match router.choose(&ctx(Product::PhoneBill, cny(50_001))).await {
        Err(RoutingError::NotOffered(r @ Refusal::Amount { .. })) => {
            assert!(r.to_string().contains("1 to 50000"), "{r}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        router
            .choose(&ctx(Product::PhoneBill, cny(50_000)))
            .await
            .unwrap()
            .channel,
        "sandbox-carrier"
    );

    router.set_enabled("sandbox-netbank", false).await.unwrap();
    assert!(
        no_channel_reasons(router.choose(&ctx(Product::NetBank, cny(100))).await)
            .contains("sandbox-netbank: switched off")
    );
    router.set_enabled("sandbox-netbank", true).await.unwrap();
    let mut c = ctx(Product::NetBank, cny(100));
    c.exclude = vec!["sandbox-netbank".into()];
    assert!(no_channel_reasons(router.choose(&c).await).contains("excluded by caller"));
    assert!(matches!(
        router.set_enabled("nope", true).await,
        Err(RoutingError::UnknownChannel(_))
    ));

    let views = router.list_channels().await.unwrap();
    assert_eq!(views.len(), 5);
    assert!(views
        .iter()
        .all(|v| v.health == BreakerState::Closed && v.config.enabled));
    let json = serde_json::to_value(&views).unwrap();
    assert_eq!(json[0]["channel"], "sandbox-alipay");
}
