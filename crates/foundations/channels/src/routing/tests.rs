//! Routing against a real database (SQLite, or PostgreSQL with `PAYCORE_TEST_DATABASE_URL`).

use std::sync::Arc;
use std::time::Duration;

use paycore_kernel::product::Product;
use paycore_kernel::{Currency, ManualClock, Money};
use paycore_store::testing::TestDb;
use time::macros::datetime;

use super::*;

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

fn channel(name: &str, rate_bps: u32) -> ChannelConfig {
    ChannelConfig {
        channel: name.into(),
        enabled: true,
        products: vec![Product::QuickPay],
        currencies: vec![Currency::CNY],
        amount_limits: vec![AmountRange {
            min: cny(1),
            max: cny(10_000_000),
        }],
        fee: FeeSchedule {
            rate_bps,
            fixed_fee: cny(0),
            tiers: Vec::new(),
        },
        weight: 100,
        priority: 0,
        merchants: Vec::new(),
    }
}

async fn setup() -> (TestDb, ManualClock, Router) {
    let db = paycore_store::testing::migrated_with(&[&crate::SCHEMA])
        .await
        .unwrap();
    let clock = ManualClock::new(datetime!(2026-11-22 10:00 UTC));
    let router = Router::new(db.db.clone(), Arc::new(clock.clone()));
    (db, clock, router)
}

async fn two_channels(router: &Router, a_bps: u32, b_bps: u32) {
    router.upsert_channel(&channel("a", a_bps)).await.unwrap();
    router.upsert_channel(&channel("b", b_bps)).await.unwrap();
}

fn no_channel_reasons(r: Result<RouteDecision, RoutingError>) -> String {
    match r {
        Err(RoutingError::NoChannel { reasons }) => reasons.join("; "),
        other => panic!("expected NoChannel, got {other:?}"),
    }
}

#[tokio::test]
async fn cheaper_wins_and_priority_comes_first() {
    let (_db, _clock, router) = setup().await;
    two_channels(&router, 30, 60).await;
    let d = router
        .choose(&ctx(Product::QuickPay, cny(10_000)))
        .await
        .unwrap();
    assert_eq!(d.channel, "a");
    assert_eq!(d.fee, cny(30));
    router.set_priority("b", 1).await.unwrap();
    let d = router
        .choose(&ctx(Product::QuickPay, cny(10_000)))
        .await
        .unwrap();
    assert_eq!(d.channel, "b");
    let a = d.candidates.iter().find(|c| c.channel == "a").unwrap();
    assert!(a.detail.contains("priority 0 below 1"));
}

#[tokio::test]
async fn equal_channels_share_traffic_by_weight() {
    let (_db, _clock, router) = setup().await;
    two_channels(&router, 50, 50).await;
    router.set_weight("a", 3).await.unwrap();
    router.set_weight("b", 1).await.unwrap();
    let mut a = 0;
    for _ in 0..8 {
        if router
            .choose(&ctx(Product::QuickPay, cny(100)))
            .await
            .unwrap()
            .channel
            == "a"
        {
            a += 1;
        }
    }
    assert_eq!(a, 6);
    router.set_weight("a", 0).await.unwrap();
    for _ in 0..3 {
        assert_eq!(
            router
                .choose(&ctx(Product::QuickPay, cny(100)))
                .await
                .unwrap()
                .channel,
            "b"
        );
    }
}

#[tokio::test]
async fn a_low_success_rate_moves_traffic_away() {
    let (_db, _clock, router) = setup().await;
    two_channels(&router, 30, 40).await;
    assert_eq!(
        router
            .choose(&ctx(Product::QuickPay, cny(10_000)))
            .await
            .unwrap()
            .channel,
        "a"
    );
    for _ in 0..20 {
        router.record_outcome("a", Outcome::Declined, Duration::from_millis(10));
    }
    let d = router
        .choose(&ctx(Product::QuickPay, cny(10_000)))
        .await
        .unwrap();
    assert_eq!(d.channel, "b", "{:?}", d.candidates);
}

#[tokio::test]
async fn circuit_breaker_excludes_then_probes_then_closes() {
    let (_db, clock, router) = setup().await;
    two_channels(&router, 30, 60).await;
    router.set_enabled("b", false).await.unwrap();
    let c = ctx(Product::QuickPay, cny(100));
    for _ in 0..5 {
        router.record_outcome("a", Outcome::Timeout, Duration::from_secs(10));
    }
    assert!(no_channel_reasons(router.choose(&c).await).contains("a: circuit breaker open"));
    let views = router.list_channels().await.unwrap();
    assert_eq!(views[0].health, BreakerState::Open);

    clock.advance(time::Duration::seconds(30));
    let d = router.choose(&c).await.unwrap();
    assert_eq!(d.channel, "a");
    assert!(d.probe);
    // One probe at a time.
    assert!(router.choose(&c).await.is_err());
    router.record_outcome("a", Outcome::Success, Duration::from_millis(20));
    let d = router.choose(&c).await.unwrap();
    assert!(!d.probe);
    assert_eq!(
        router.list_channels().await.unwrap()[0].health,
        BreakerState::Closed
    );
}

#[tokio::test]
async fn the_payer_sticks_to_the_channel_that_worked_across_restarts() {
    let (db, clock, router) = setup().await;
    two_channels(&router, 50, 60).await;
    let mut c = ctx(Product::QuickPay, cny(10_000));
    c.payer_key = Some("member-1".into());
    assert_eq!(router.choose(&c).await.unwrap().channel, "a");
    router
        .record_success("b", Some("member-1"), cny(10_000))
        .await
        .unwrap();
    let restarted = Router::new(db.db.clone(), Arc::new(clock.clone()));
    let d = restarted.choose(&c).await.unwrap();
    assert_eq!(d.channel, "b");
    assert!(d.reasons.iter().any(|r| r.contains("payer's last channel")));
    c.payer_key = Some("member-2".into());
    assert_eq!(restarted.choose(&c).await.unwrap().channel, "a");
}

#[tokio::test]
async fn volume_tiers_change_the_cheapest_channel() {
    let (_db, _clock, router) = setup().await;
    let mut a = channel("a", 60);
    a.fee.tiers = vec![FeeTier {
        from_volume: cny(100_000),
        rate_bps: 20,
    }];
    router.upsert_channel(&a).await.unwrap();
    router.upsert_channel(&channel("b", 40)).await.unwrap();
    assert_eq!(
        router
            .choose(&ctx(Product::QuickPay, cny(10_000)))
            .await
            .unwrap()
            .channel,
        "b"
    );
    router
        .record_success("a", None, cny(100_000))
        .await
        .unwrap();
    let d = router
        .choose(&ctx(Product::QuickPay, cny(10_000)))
        .await
        .unwrap();
    assert_eq!(d.channel, "a");
    assert_eq!(d.fee, cny(20));
}
