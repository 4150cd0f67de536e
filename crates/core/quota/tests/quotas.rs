//! Limits over a real database (SQLite, or PostgreSQL by PAYCORE_TEST_DATABASE_URL): consumed
//! atomically, never passed by parallel movements, released once, reset by their window.

use std::sync::Arc;

use paycore_kernel::{Currency, IdGenerator, IdLayout, ManualClock, Money};
use paycore_quota::{Period, QuotaError, Quotas, Scope};
use paycore_store::sequence::DbSequenceSource;
use paycore_store::testing::{self, TestDb};

async fn env() -> (TestDb, Quotas, Arc<ManualClock>) {
    let t = testing::migrated_with(&[&paycore_quota::SCHEMA])
        .await
        .unwrap();
    // 23:30 in China: the day's window ends in half an hour.
    let clock = Arc::new(ManualClock::new(
        time::macros::datetime!(2027-01-15 15:30 UTC),
    ));
    let ids = Arc::new(IdGenerator::new(
        IdLayout::default(),
        Arc::new(DbSequenceSource::new(t.db.clone())),
        clock.clone(),
    ));
    let q = Quotas::new(t.db.clone(), ids, clock.clone(), time::macros::offset!(+8));
    (t, q, clock)
}

fn cny(minor: i64) -> Money {
    Money::from_minor(minor, Currency::CNY)
}

async fn consume(t: &TestDb, q: &Quotas, r: &str, amount: i64) -> Result<(), QuotaError> {
    let (q, r) = (q.clone(), r.to_string());
    t.db.unit(move |c| {
        Box::pin(async move {
            q.consume_in(
                c,
                &r,
                &[(Scope::Member, "m1"), (Scope::Card, "c1")],
                cny(amount),
            )
            .await
        })
    })
    .await
}

#[tokio::test]
async fn parallel_movements_cannot_pass_a_limit_and_releases_give_it_back() {
    let (t, q, clock) = env().await;
    q.set(Scope::Member, "m1", Period::Day, cny(10_000), "ops")
        .await
        .unwrap();
    q.set(Scope::Card, "c1", Period::Single, cny(5_000), "ops")
        .await
        .unwrap();
    assert!(matches!(
        consume(&t, &q, "big", 5_001).await,
        Err(QuotaError::LimitExceeded(_))
    ));
    let mut set = tokio::task::JoinSet::new();
    for i in 0..10 {
        let (t2, q2) = (t.db.clone(), q.clone());
        set.spawn(async move {
            let r = format!("pay-{i}");
            t2.unit(move |c| {
                Box::pin(async move {
                    q2.consume_in(c, &r, &[(Scope::Member, "m1")], cny(3_000))
                        .await
                })
            })
            .await
        });
    }
    let mut ok = 0;
    while let Some(r) = set.join_next().await {
        match r.unwrap() {
            Ok(()) => ok += 1,
            Err(QuotaError::LimitExceeded(_)) => {}
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(ok, 3, "3 × 30.00 fit in 100.00, a fourth does not");
    assert!(consume(&t, &q, "x", 1_001).await.is_err());
    // A refund releases what its payment consumed, once (a payment that consumed nothing
    // releases nothing): releasing every attempt twice frees exactly the three that passed.
    for _ in 0..2 {
        for i in 0..10 {
            let q2 = q.clone();
            let r = format!("pay-{i}");
            t.db.unit(move |c| Box::pin(async move { q2.release_in(c, &r).await }))
                .await
                .unwrap();
        }
    }
    consume(&t, &q, "refill-1", 3_000).await.unwrap();
    consume(&t, &q, "refill-2", 3_000).await.unwrap();
    consume(&t, &q, "after-release", 3_000).await.unwrap();
    assert!(consume(&t, &q, "no-room", 1_001).await.is_err());
    // Midnight in the platform's time zone starts a new day.
    clock.advance(time::Duration::minutes(31));
    consume(&t, &q, "next-day", 5_000).await.unwrap();
    // A new amount for the same rule.
    let r = q
        .set(Scope::Member, "m1", Period::Day, cny(5_000), "ops")
        .await
        .unwrap();
    assert_eq!(r.limit, cny(5_000));
    assert_eq!(q.rules().await.unwrap().len(), 2);
    assert!(
        consume(&t, &q, "over", 1).await.is_err(),
        "5,000 used of the new 5,000"
    );
    assert!(q
        .set(Scope::Member, "", Period::Day, cny(1), "ops")
        .await
        .is_err());
    assert!(q
        .set(Scope::Member, "m2", Period::Day, cny(0), "ops")
        .await
        .is_err());
}
