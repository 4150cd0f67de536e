//! Units of work on the engine of the test run: they commit together yet fail alone.

use std::sync::Arc;

use paycore_store::unit::{Conn, UnitFuture};
use paycore_store::{testing, Db, StoreError, Value};

async fn table(db: &Db) {
    sqlx::raw_sql("CREATE TABLE unit_rows (k TEXT PRIMARY KEY, n BIGINT NOT NULL)")
        .execute(db.writer())
        .await
        .unwrap();
}

fn insert(
    k: String,
    n: i64,
) -> impl for<'c> FnOnce(&'c mut dyn Conn) -> UnitFuture<'c, Result<i64, StoreError>> {
    move |c| {
        Box::pin(async move {
            c.execute(
                "INSERT INTO unit_rows (k, n) VALUES ($1, $2)",
                &[Value::from(k.as_str()), n.into()],
            )
            .await?;
            let row = c
                .fetch_one("SELECT n + 1 AS m FROM unit_rows WHERE k = $1", &[k.into()])
                .await?;
            row.int("m")
        })
    }
}

async fn insert_a(c: &mut dyn Conn) -> Result<u64, StoreError> {
    c.execute(
        "INSERT INTO unit_rows (k, n) VALUES ($1, $2)",
        &["a".into(), 1.into()],
    )
    .await
}

async fn count(db: &Db) -> i64 {
    sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM unit_rows")
        .fetch_one(db.reader())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_units_all_commit_and_a_failing_one_leaves_the_others_whole() {
    let t = testing::empty().await.unwrap();
    table(&t).await;
    let db = Arc::new(t.db.clone());
    let mut set = tokio::task::JoinSet::new();
    for i in 0..400i64 {
        let db = db.clone();
        // Every tenth unit repeats an earlier key: it fails on the unique key, alone.
        let k = if i % 10 == 9 {
            format!("k{}", i - 1)
        } else {
            format!("k{i}")
        };
        set.spawn(async move { (i, db.unit(insert(k, i)).await) });
    }
    let (mut ok, mut refused) = (0, 0);
    while let Some(r) = set.join_next().await {
        let (i, r) = r.unwrap();
        match r {
            Ok(m) => {
                assert_eq!(m, i + 1, "a unit reads its own writes");
                ok += 1;
            }
            Err(e) => {
                // One of each pair that shares a key loses, whichever ran second.
                assert!(e.is_unique_violation(), "{e}");
                assert!(i % 10 >= 8, "unit {i} had a key of its own");
                refused += 1;
            }
        }
    }
    assert_eq!((ok, refused), (360, 40));
    // What was answered is there, and nothing of the failed units is.
    assert_eq!(count(&t).await, 360);
}

#[tokio::test]
async fn a_unit_error_keeps_nothing_of_it() {
    let t = testing::empty().await.unwrap();
    table(&t).await;
    let r: Result<(), StoreError> = t
        .unit(|c| {
            Box::pin(async move {
                insert_a(c).await?;
                Err(StoreError::Corrupt("changed its mind".into()))
            })
        })
        .await;
    assert!(matches!(r, Err(StoreError::Corrupt(_))));
    assert_eq!(count(&t).await, 0);
    // Parameters: numbered ones may repeat and come in any order; NULL binds.
    let row = t
        .unit(|c| {
            Box::pin(async move {
                c.fetch_one(
                    "SELECT $2 AS b, $1 AS a, $1 + $2 AS s, $3 AS z",
                    &[2.into(), 40.into(), Value::NullInt],
                )
                .await
            })
        })
        .await
        .unwrap();
    assert_eq!(
        (
            row.int("a").unwrap(),
            row.int("b").unwrap(),
            row.int("s").unwrap()
        ),
        (2, 40, 42)
    );
    assert_eq!(row.opt_int("z").unwrap(), None);
}

#[tokio::test]
async fn a_unit_that_waits_for_something_else_is_refused_on_the_embedded_writer() {
    let t = testing::empty().await.unwrap();
    if t.engine() != paycore_store::Engine::Sqlite {
        return;
    }
    table(&t).await;
    let r: Result<(), StoreError> = t
        .unit(|c| {
            Box::pin(async move {
                insert_a(c).await?;
                tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                Ok(())
            })
        })
        .await;
    assert!(
        matches!(r, Err(StoreError::UnitAbandoned)),
        "a unit awaiting a timer must be refused: {r:?}"
    );
    // A unit that panics is refused too, and the writer goes on serving the next ones.
    let r: Result<(), StoreError> = t
        .unit(|c| {
            Box::pin(async move {
                insert_a(c).await?;
                panic!("a bug in a unit")
            })
        })
        .await;
    assert!(matches!(r, Err(StoreError::UnitAbandoned)), "{r:?}");
    // Neither left its row.
    assert_eq!(count(&t).await, 0);
    assert_eq!(t.unit(insert("b".into(), 1)).await.unwrap(), 2);
    assert_eq!(count(&t).await, 1);
}

/// Units answered at their commit share the writer with durable ones: both kinds, mixed,
/// all commit, and one that fails keeps nothing of itself while the others stand.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn units_answered_at_commit_mix_with_durable_ones() {
    let t = testing::empty().await.unwrap();
    table(&t).await;
    let db = Arc::new(t.db.clone());
    let mut set = tokio::task::JoinSet::new();
    for i in 0..200i64 {
        let db = db.clone();
        set.spawn(async move {
            let k = format!("c{i}");
            if i % 2 == 0 {
                db.unit_committed(insert(k, i)).await
            } else {
                db.unit(insert(k, i)).await
            }
        });
    }
    let mut ok = 0;
    while let Some(r) = set.join_next().await {
        r.unwrap().unwrap();
        ok += 1;
    }
    assert_eq!(ok, 200);
    // A repeated key fails on its own, answered at commit too.
    let again = db.unit_committed(insert("c0".into(), 9)).await;
    assert!(
        again.as_ref().is_err_and(|e| e.is_unique_violation()),
        "{again:?}"
    );
    assert_eq!(count(&t).await, 200);
}

/// The companion write joins the first transaction that commits in its task — a unit or a
/// `begin` — and rolls back with one that fails; outside its task nothing carries it.
#[tokio::test]
async fn a_companion_write_commits_and_rolls_back_with_the_first_transaction() {
    use paycore_store::unit::companion::{with_companion, CompanionWrite};
    let t = testing::empty().await.unwrap();
    table(&t).await;
    let db = t.db.clone();
    let companion = |k: &'static str| -> CompanionWrite {
        Arc::new(move |c: &mut dyn Conn| {
            Box::pin(async move {
                c.execute(
                    "INSERT INTO unit_rows (k, n) VALUES ($1, 0)",
                    &[Value::from(k)],
                )
                .await
                .map(|_| ())
            })
        })
    };
    let has = |k: &'static str| {
        let db = db.clone();
        async move {
            sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM unit_rows WHERE k = $1")
                .bind(k)
                .fetch_one(db.reader())
                .await
                .unwrap()
                == 1
        }
    };
    // A unit that fails takes its companion down with it, and hands it to the next one.
    let d = db.clone();
    let failed = with_companion(companion("audit-1"), async move {
        let failed = d
            .unit(|c| {
                Box::pin(async move {
                    insert_a(c).await?;
                    insert_a(c).await
                })
            })
            .await;
        let again = d.unit(insert("z".into(), 9)).await.unwrap();
        (failed, again)
    })
    .await;
    assert!(failed.0.is_err());
    assert!(has("audit-1").await && has("z").await && count(&db).await == 2);
    sqlx::query("DELETE FROM unit_rows")
        .execute(db.writer())
        .await
        .unwrap();
    // A unit that commits carries it; the next one does not.
    let d = db.clone();
    with_companion(companion("audit-2"), async move {
        d.unit(|c| Box::pin(insert_a(c))).await.unwrap();
        d.unit(insert("b".into(), 2)).await.unwrap();
    })
    .await;
    assert!(has("audit-2").await && count(&db).await == 3);
    // A transaction begun and rolled back loses it; one committed keeps it.
    let d = db.clone();
    with_companion(companion("audit-3"), async move {
        let tx = d.begin().await.unwrap();
        tx.rollback().await.unwrap();
    })
    .await;
    assert!(!has("audit-3").await);
    let d = db.clone();
    with_companion(companion("audit-4"), async move {
        let q = sqlx::query("INSERT INTO unit_rows (k, n) VALUES ('c', 3)");
        d.execute(q).await.unwrap();
    })
    .await;
    assert!(has("audit-4").await && count(&db).await == 5);
    // Without a companion a unit writes only itself.
    db.unit(insert("d".into(), 4)).await.unwrap();
    assert_eq!(count(&db).await, 6);
}
