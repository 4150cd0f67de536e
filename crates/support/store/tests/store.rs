//! The store on the engine of the test run (SQLite, or PostgreSQL with PAYCORE_TEST_DATABASE_URL).

use std::collections::HashSet;
use std::sync::Arc;

use paycore_kernel::id::SequenceSource;
use paycore_kernel::BizType;
use paycore_store::jobs::{self, JobStatus};
use paycore_store::outbox::{self, NewEvent};
use paycore_store::sequence::DbSequenceSource;
use paycore_store::{migrate, testing, Db};

#[tokio::test]
async fn migrations_apply_once() {
    let t = testing::empty().await.unwrap();
    let first = migrate::run(&t, &[&migrate::SCHEMA]).await.unwrap();
    assert_eq!(first.len(), migrate::SCHEMA.migrations.len());
    assert!(migrate::run(&t, &[&migrate::SCHEMA])
        .await
        .unwrap()
        .is_empty());
}

/// A database made when one global list of migrations was kept: its versions are adopted as
/// the components' versions they became, nothing is applied twice, and what is new is applied.
#[tokio::test]
async fn a_database_of_the_legacy_layout_is_adopted() {
    let t = testing::empty().await.unwrap();
    let v1 = migrate::Schema {
        component: "store",
        migrations: &migrate::SCHEMA.migrations[..1],
    };
    migrate::run(&t, &[&v1]).await.unwrap();
    sqlx::raw_sql(
        "DROP TABLE schema_components;
         CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL,
            applied_at BIGINT NOT NULL);
         INSERT INTO schema_migrations VALUES (1, 'store', 5);",
    )
    .execute(t.writer())
    .await
    .unwrap();
    let applied = migrate::run(&t, &[&migrate::SCHEMA]).await.unwrap();
    let versions: Vec<i64> = applied.iter().map(|(_, v)| *v).collect();
    assert_eq!(versions, (2..=migrate::SCHEMA.newest()).collect::<Vec<_>>());
    assert!(migrate::run(&t, &[&migrate::SCHEMA])
        .await
        .unwrap()
        .is_empty());
    // A newer version than this build knows is refused.
    let older = migrate::Schema {
        component: "store",
        migrations: &migrate::SCHEMA.migrations[..1],
    };
    assert!(matches!(
        migrate::run(&t, &[&older]).await,
        Err(paycore_store::StoreError::NewerSchema(_))
    ));
}

paycore_store::machine_properties!(job_machine_moves_only_as_declared, JobStatus);

#[tokio::test]
async fn sequence_blocks_never_overlap_even_concurrently() {
    let t = testing::migrated().await.unwrap();
    let day = time::macros::date!(2026 - 11 - 22);
    let sources: Vec<Arc<DbSequenceSource>> = (0..4)
        .map(|_| Arc::new(DbSequenceSource::new(t.db.clone())))
        .collect();
    let mut tasks = Vec::new();
    for src in sources {
        tasks.push(tokio::spawn(async move {
            let mut starts = Vec::new();
            for _ in 0..25 {
                starts.push(src.reserve(day, BizType::Payment, 100).await.unwrap());
            }
            starts
        }));
    }
    let mut numbers = HashSet::new();
    for t in tasks {
        for start in t.await.unwrap() {
            for n in start..start + 100 {
                assert!(numbers.insert(n), "{n} handed out twice");
            }
        }
    }
    assert_eq!(numbers.len(), 10_000);
    assert_eq!(*numbers.iter().min().unwrap(), 1);
    // Another day and another business type have sequences of their own.
    let src = DbSequenceSource::new(t.db.clone());
    assert_eq!(src.reserve(day, BizType::Refund, 10).await.unwrap(), 1);
    assert_eq!(
        src.reserve(day.next_day().unwrap(), BizType::Payment, 10)
            .await
            .unwrap(),
        1
    );
}

async fn append(db: &Db, id: &str) -> bool {
    let mut tx = db.begin().await.unwrap();
    let added = outbox::append(
        &mut tx,
        &NewEvent {
            event_id: id,
            topic: "payment.succeeded",
            aggregate_id: "P1",
            shard_key: "M1",
            payload: "{}",
            created_at: 1,
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    added
}

#[tokio::test]
async fn outbox_is_idempotent_and_subscribers_keep_offsets() {
    let t = testing::migrated().await.unwrap();
    assert!(append(&t, "E1").await);
    assert!(!append(&t, "E1").await, "same event id twice is one event");
    assert!(append(&t, "E2").await);
    // An event written in a rolled-back transaction never existed.
    let mut tx = t.begin().await.unwrap();
    outbox::append(
        &mut tx,
        &NewEvent {
            event_id: "E3",
            topic: "x",
            aggregate_id: "P1",
            shard_key: "M1",
            payload: "{}",
            created_at: 1,
        },
    )
    .await
    .unwrap();
    tx.rollback().await.unwrap();

    let seen = outbox::pending(&t, "risk", 10).await.unwrap();
    assert_eq!(
        seen.iter().map(|e| e.event_id.as_str()).collect::<Vec<_>>(),
        ["E1", "E2"]
    );
    outbox::acknowledge(&t, "risk", seen[0].seq, 5)
        .await
        .unwrap();
    let rest = outbox::pending(&t, "risk", 10).await.unwrap();
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0].event_id, "E2");
    // Offsets never move back; other subscribers are independent.
    outbox::acknowledge(&t, "risk", 0, 6).await.unwrap();
    assert_eq!(outbox::pending(&t, "risk", 10).await.unwrap().len(), 1);
    assert_eq!(outbox::pending(&t, "reports", 10).await.unwrap().len(), 2);
    assert_eq!(outbox::by_aggregate(&t, "P1").await.unwrap().len(), 2);
}

async fn enqueue(db: &Db, key: &str, run_at: i64) -> bool {
    let mut tx = db.begin().await.unwrap();
    let added = jobs::enqueue(&mut tx, "query-back", key, "{}", run_at)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    added
}

#[tokio::test]
async fn jobs_lease_retry_and_fence() {
    let t = testing::migrated().await.unwrap();
    assert!(enqueue(&t, "a", 100).await);
    assert!(!enqueue(&t, "a", 100).await, "idempotent by key");
    assert!(enqueue(&t, "b", 500).await);
    // Only due jobs are claimed.
    let got = jobs::claim(&t, "query-back", "w1", 200, 1000, 10)
        .await
        .unwrap();
    assert_eq!(
        got.iter().map(|j| j.key.as_str()).collect::<Vec<_>>(),
        ["a"]
    );
    assert_eq!(got[0].attempts, 1);
    // While leased, nobody else gets it; after the lease runs out, another worker does.
    assert!(jobs::claim(&t, "query-back", "w2", 300, 1000, 10)
        .await
        .unwrap()
        .is_empty());
    let taken = jobs::claim(&t, "query-back", "w2", 1300, 1000, 10)
        .await
        .unwrap();
    assert_eq!(
        taken.iter().map(|j| j.key.as_str()).collect::<Vec<_>>(),
        ["a", "b"]
    );
    // The first worker lost its lease: its late result is refused.
    assert!(
        !jobs::finish(&t, got[0].id, "w1", JobStatus::Done, None, 1400)
            .await
            .unwrap()
    );
    assert!(
        jobs::reschedule(&t, taken[0].id, "w2", 5000, Some("channel timeout"), 1400)
            .await
            .unwrap()
    );
    assert!(
        jobs::finish(&t, taken[1].id, "w2", JobStatus::Done, None, 1400)
            .await
            .unwrap()
    );
    let a = jobs::get(&t, "query-back", "a").await.unwrap().unwrap();
    assert_eq!(
        (a.status, a.run_at, a.attempts),
        (JobStatus::Pending, 5000, 2)
    );
    assert_eq!(a.last_error.as_deref(), Some("channel timeout"));
    assert_eq!(
        jobs::get(&t, "query-back", "b")
            .await
            .unwrap()
            .unwrap()
            .status,
        JobStatus::Done
    );
    assert!(jobs::claim(&t, "other-kind", "w3", 9999, 1000, 10)
        .await
        .unwrap()
        .is_empty());
}

/// Several claimers (separate pools, as separate processes would have) never get the same job.
#[tokio::test]
async fn concurrent_claimers_take_disjoint_jobs() {
    let t = testing::migrated().await.unwrap();
    for i in 0..200 {
        enqueue(&t, &format!("job-{i}"), 0).await;
    }
    let mut handles = Vec::new();
    for w in 0..4 {
        let db = Db::open(&t.dir, t.url.as_deref()).await.unwrap();
        handles.push(tokio::spawn(async move {
            let owner = format!("worker-{w}");
            let mut mine = Vec::new();
            loop {
                let got = jobs::claim(&db, "query-back", &owner, 10, 60_000, 7)
                    .await
                    .unwrap();
                if got.is_empty() {
                    break;
                }
                for j in got {
                    assert!(jobs::finish(&db, j.id, &owner, JobStatus::Done, None, 11)
                        .await
                        .unwrap());
                    mine.push(j.key);
                }
            }
            mine
        }));
    }
    let mut all = HashSet::new();
    for h in handles {
        for key in h.await.unwrap() {
            assert!(all.insert(key.clone()), "{key} claimed twice");
        }
    }
    assert_eq!(all.len(), 200);
}
