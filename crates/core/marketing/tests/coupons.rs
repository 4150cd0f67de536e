//! Coupons over a real database (SQLite, or PostgreSQL by PAYCORE_TEST_DATABASE_URL): their
//! discounts, single use (also when two payments race for one), give-back and expiry.

use std::sync::Arc;

use paycore_kernel::{Currency, IdGenerator, IdLayout, ManualClock, Money};
use paycore_marketing::{
    CouponKind, CouponStatus, Marketing, MarketingError, NewTemplate, NotApplicable,
};
use paycore_store::sequence::DbSequenceSource;
use paycore_store::testing::{self, TestDb};

async fn env() -> (TestDb, Marketing, Arc<ManualClock>) {
    let t = testing::migrated_with(&[&paycore_marketing::SCHEMA])
        .await
        .unwrap();
    let clock = Arc::new(ManualClock::new(
        time::macros::datetime!(2027-01-15 10:00 UTC),
    ));
    let ids = Arc::new(IdGenerator::new(
        IdLayout::default(),
        Arc::new(DbSequenceSource::new(t.db.clone())),
        clock.clone(),
    ));
    let m = Marketing::new(t.db.clone(), ids, clock.clone());
    (t, m, clock)
}

fn cny(minor: i64) -> Money {
    Money::from_minor(minor, Currency::CNY)
}

fn template(kind: CouponKind, value: i64) -> NewTemplate {
    NewTemplate {
        kind,
        value,
        cap: None,
        threshold: None,
        currency: Currency::CNY,
        valid_days: 7,
        merchant_id: None,
    }
}

#[tokio::test]
async fn discounts_follow_the_templates_terms() {
    let (_t, m, clock) = env().await;
    let now = || paycore_kernel::Clock::unix_millis(clock.as_ref());
    let fixed = NewTemplate {
        threshold: Some(10_000),
        ..template(CouponKind::Fixed, 1_500)
    };
    let t = m.create_template(&fixed, "ops").await.unwrap();
    let c = m.issue(&t.template_id, "member-1", "ops").await.unwrap();
    assert_eq!(c.discount(cny(10_000), "shop", now()), Ok(cny(1_500)));
    assert_eq!(
        c.discount(cny(9_999), "shop", now()),
        Err(NotApplicable::BelowThreshold(10_000))
    );
    assert!(matches!(
        c.discount(Money::from_minor(20_000, Currency::USD), "shop", now()),
        Err(NotApplicable::Currency(_))
    ));
    let pct = NewTemplate {
        cap: Some(2_000),
        merchant_id: Some("shop".into()),
        ..template(CouponKind::Percent, 15)
    };
    let t = m.create_template(&pct, "ops").await.unwrap();
    let c = m.issue(&t.template_id, "member-1", "ops").await.unwrap();
    // 15 % of 99.99 is 14.9985: rounded down to 14.99; of 200.00 it is 30.00, capped at 20.00.
    assert_eq!(c.discount(cny(9_999), "shop", now()), Ok(cny(1_499)));
    assert_eq!(c.discount(cny(20_000), "shop", now()), Ok(cny(2_000)));
    assert_eq!(
        c.discount(cny(20_000), "other", now()),
        Err(NotApplicable::OtherMerchant)
    );
    let big = m
        .create_template(&template(CouponKind::Fixed, 5_000), "ops")
        .await
        .unwrap();
    let c = m.issue(&big.template_id, "member-1", "ops").await.unwrap();
    assert_eq!(
        c.discount(cny(3_000), "shop", now()),
        Ok(cny(3_000)),
        "never more than the payment"
    );
    clock.advance(time::Duration::days(7));
    assert_eq!(
        c.discount(cny(3_000), "shop", now()),
        Err(NotApplicable::OutsideValidity)
    );
    for bad in [
        template(CouponKind::Percent, 100),
        template(CouponKind::Fixed, 0),
        NewTemplate {
            cap: Some(10),
            ..template(CouponKind::Fixed, 100)
        },
        NewTemplate {
            valid_days: 0,
            ..template(CouponKind::Fixed, 100)
        },
    ] {
        assert!(
            matches!(
                m.create_template(&bad, "ops").await,
                Err(MarketingError::Invalid(_))
            ),
            "{bad:?}"
        );
    }
}

#[tokio::test]
async fn a_coupon_is_used_once_given_back_and_expired() {
    let (t, m, clock) = env().await;
    let tpl = m
        .create_template(&template(CouponKind::Fixed, 500), "ops")
        .await
        .unwrap();
    let c = m.issue(&tpl.template_id, "member-1", "ops").await.unwrap();
    // Two payments race for one coupon: one wins.
    let mut set = tokio::task::JoinSet::new();
    for p in ["pay-1", "pay-2"] {
        let (m, db, id) = (m.clone(), t.db.clone(), c.coupon_id.clone());
        set.spawn(async move {
            db.unit(move |conn| Box::pin(async move { m.use_in(conn, &id, "member-1", p).await }))
                .await
        });
    }
    let mut won = 0;
    while let Some(r) = set.join_next().await {
        match r.unwrap() {
            Ok(()) => won += 1,
            Err(MarketingError::InvalidState(_)) => {}
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(won, 1);
    let used = m.coupon("member-1", &c.coupon_id).await.unwrap();
    assert_eq!(used.status, CouponStatus::Used);
    let payment = used.payment_id.clone().unwrap();
    // Another member cannot use it, nor can the wrong payment give it back.
    let (m2, id) = (m.clone(), c.coupon_id.clone());
    let wrong =
        t.db.unit(move |conn| Box::pin(async move { m2.give_back_in(conn, &id, "pay-x").await }))
            .await;
    assert!(wrong.is_err());
    let (m2, id, p) = (m.clone(), c.coupon_id.clone(), payment.clone());
    t.db.unit(move |conn| Box::pin(async move { m2.give_back_in(conn, &id, &p).await }))
        .await
        .unwrap();
    assert_eq!(
        m.coupon("member-1", &c.coupon_id).await.unwrap().status,
        CouponStatus::Available
    );
    assert_eq!(m.expire_due().await.unwrap(), 0);
    clock.advance(time::Duration::days(7));
    let (m2, id) = (m.clone(), c.coupon_id.clone());
    let due = t
        .db
        .unit(move |conn| Box::pin(async move { m2.use_in(conn, &id, "member-1", "pay-4").await }))
        .await;
    assert!(due.is_err(), "past its time, before the job: refused");
    assert_eq!(m.expire_due().await.unwrap(), 1);
    let expired = m.coupon("member-1", &c.coupon_id).await.unwrap();
    assert_eq!(expired.status, CouponStatus::Expired);
    let (m2, id) = (m.clone(), c.coupon_id.clone());
    let late = t
        .db
        .unit(move |conn| Box::pin(async move { m2.use_in(conn, &id, "member-1", "pay-3").await }))
        .await;
    assert!(late.is_err(), "an expired coupon is not used");
    assert_eq!(m.coupons_of("member-1").await.unwrap().len(), 1);
    assert!(m.coupons_of("member-2").await.unwrap().is_empty());
}
