//! Property checks of a state machine through the executor: a random start and a random
//! sequence of events, applied to a scratch table of the machine's shape, never reach a state
//! the machine does not declare, move exactly as the declared table says, write one history row
//! per move, and refuse a stale compare-and-set. Each machine's crate runs it with
//! [`machine_properties!`](crate::machine_properties).

use paycore_kernel::state::{Named, StateMachine};
use sqlx::Row;

use crate::db::Db;
use crate::state::{Stored, Table, Transition, TransitionError};

const SCRATCH: Table = Table {
    machine: "scratch",
    table: "sm_scratch",
    key: "id",
    status: "status",
    updated_at: Some("updated_at"),
    history: "sm_scratch_history",
    history_key: "object_id",
};

async fn scratch_tables(db: &Db) -> Result<(), String> {
    for sql in [
        "CREATE TABLE IF NOT EXISTS sm_scratch (id TEXT PRIMARY KEY, status TEXT NOT NULL,
            updated_at BIGINT NOT NULL)",
        "CREATE TABLE IF NOT EXISTS sm_scratch_history (object_id TEXT NOT NULL,
            from_status TEXT, to_status TEXT NOT NULL, event TEXT NOT NULL, actor TEXT NOT NULL,
            reason TEXT, at BIGINT NOT NULL)",
    ] {
        sqlx::raw_sql(sql)
            .execute(db.writer())
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

async fn stored_status<S: StateMachine>(db: &Db, key: &str) -> Result<S, String> {
    let row = sqlx::query("SELECT status FROM sm_scratch WHERE id = $1")
        .bind(key)
        .fetch_one(db.writer())
        .await
        .map_err(|e| e.to_string())?;
    let name: String = row.try_get("status").map_err(|e| e.to_string())?;
    S::parse(&name).ok_or_else(|| format!("undeclared state {name:?} stored"))
}

/// Applies `events` (indices into `S::Event::ALL`) from `S::ALL[start]` and checks every step
/// against the declared table. `key` must be unique per call on `db`.
pub async fn run_sequence<S: Stored>(
    db: &Db,
    key: &str,
    start: usize,
    events: &[usize],
) -> Result<(), String> {
    scratch_tables(db).await?;
    let mut state = *S::ALL
        .get(start % S::ALL.len())
        .ok_or("a machine without states")?;
    sqlx::query("INSERT INTO sm_scratch (id, status, updated_at) VALUES ($1, $2, 0)")
        .bind(key)
        .bind(state.as_str())
        .execute(db.writer())
        .await
        .map_err(|e| e.to_string())?;
    let mut moves = 0i64;
    for (step, &i) in events.iter().enumerate() {
        let event = S::Event::ALL[i % S::Event::ALL.len()];
        let mut tx = db.begin().await.map_err(|e| e.to_string())?;
        let result = Transition::new(state, event, step as i64)
            .on_table(SCRATCH)
            .apply(&mut tx, key)
            .await;
        tx.commit().await.map_err(|e| e.to_string())?;
        match (result, state.next(event)) {
            (Ok(to), Some(expected)) if to == expected => {
                moves += 1;
                let before = state;
                state = to;
                stale_move_is_refused(db, key, before, event).await?;
            }
            (Err(TransitionError::Illegal { .. }), None) => {}
            (got, expected) => {
                return Err(format!(
                    "{state:?} + {event:?}: executor gave {got:?}, the table says {expected:?}"
                ))
            }
        }
        let stored: S = stored_status(db, key).await?;
        if stored != state {
            return Err(format!("stored {stored:?}, expected {state:?}"));
        }
    }
    let n: i64 = sqlx::query("SELECT COUNT(*) AS n FROM sm_scratch_history WHERE object_id = $1")
        .bind(key)
        .fetch_one(db.writer())
        .await
        .and_then(|r| r.try_get("n"))
        .map_err(|e| e.to_string())?;
    if n != moves {
        return Err(format!("{n} history rows for {moves} moves"));
    }
    Ok(())
}

/// The same move again from the state the object has left must lose its compare-and-set and
/// change nothing.
async fn stale_move_is_refused<S: Stored>(
    db: &Db,
    key: &str,
    stale: S,
    event: S::Event,
) -> Result<(), String> {
    let now: S = stored_status(db, key).await?;
    if now == stale {
        return Ok(()); // a self-loop: the old state is still the current one
    }
    let mut tx = db.begin().await.map_err(|e| e.to_string())?;
    let again = Transition::new(stale, event, 0)
        .on_table(SCRATCH)
        .apply(&mut tx, key)
        .await;
    tx.rollback().await.map_err(|e| e.to_string())?;
    match again {
        Err(TransitionError::Lost { .. }) => Ok(()),
        other => Err(format!(
            "a stale {stale:?} + {event:?} was not refused: {other:?}"
        )),
    }
}

/// A test that checks a stored state machine: its declaration, then random event sequences
/// through the executor (see [`run_sequence`]). Needs `proptest` and `tokio` among the
/// crate's dev-dependencies.
#[macro_export]
macro_rules! machine_properties {
    ($name:ident, $machine:ty) => {
        #[test]
        fn $name() {
            use paycore_kernel::state::{Named, StateMachine};
            if let Err(e) = paycore_kernel::state::check_declaration::<$machine>() {
                panic!("{e}");
            }
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            let db = rt
                .block_on($crate::testing::empty())
                .expect("test database");
            let states = <$machine as Named>::ALL.len();
            let events = <<$machine as StateMachine>::Event as Named>::ALL.len();
            let counter = std::sync::atomic::AtomicU64::new(0);
            let mut runner = proptest::test_runner::TestRunner::new(
                proptest::test_runner::Config::with_cases(64),
            );
            let strategy = (0..states, proptest::collection::vec(0..events, 0..24));
            let outcome = runner.run(&strategy, |(start, seq)| {
                let n = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let key = format!("case-{n}");
                rt.block_on($crate::testing::run_sequence::<$machine>(
                    &db, &key, start, &seq,
                ))
                .map_err(proptest::test_runner::TestCaseError::fail)
            });
            if let Err(e) = outcome {
                panic!("{e}");
            }
        }
    };
}
