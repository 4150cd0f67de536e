#![allow(dead_code)]
//! Test set-up: a migrated database (SQLite, or PostgreSQL with PAYCORE_TEST_DATABASE_URL) and
//! a ledger on a manual clock.

use std::sync::Arc;

use paycore_kernel::{Currency, ManualClock, Money};
use paycore_ledger::model::subjects as s;
use paycore_ledger::{Ledger, NewAccount};
use paycore_store::testing::TestDb;
use time::macros::datetime;

pub struct Env {
    pub t: TestDb,
    pub clock: ManualClock,
    pub ledger: Ledger,
}

pub async fn env() -> Env {
    let t = paycore_store::testing::migrated_with(&[&paycore_ledger::SCHEMA])
        .await
        .expect("test database");
    let clock = ManualClock::new(datetime!(2026-11-22 10:00 UTC));
    let ledger = Ledger::new(t.db.clone(), Arc::new(clock.clone()));
    ledger.ready().await.expect("ledger ready");
    Env { t, clock, ledger }
}

pub fn cny(minor: i64) -> Money {
    Money::from_minor(minor, Currency::CNY)
}

/// The internal and customer accounts of the article's examples (CMB channel, merchant M1,
/// member U1, bank CMB).
pub async fn article_accounts(l: &Ledger) {
    let c = Currency::CNY;
    l.open_accounts(&[
        NewAccount::internal(s::CHANNEL_RECEIVABLE, "CMB", c),
        NewAccount::internal(s::CHANNEL_CLEARED, "CMB", c),
        NewAccount::internal(s::BANK_POSITION, "CMB", c),
        NewAccount::internal(s::GATEWAY_TRANSIT, "", c),
        NewAccount::internal(s::WITHDRAWAL_TRANSIT, "", c),
        NewAccount::internal(s::FEE_INCOME_CONSUMPTION, "", c),
        NewAccount::customer(s::MERCHANT_PENDING, "M1", c),
        NewAccount::customer(s::MERCHANT_BALANCE, "M1", c),
        NewAccount::customer(s::MEMBER_BALANCE, "U1", c),
    ])
    .await
    .expect("open accounts");
}

pub async fn bal(l: &Ledger, no: &str) -> i64 {
    l.balance(no).await.expect("balance").posted.minor()
}

pub async fn count(l: &Ledger, table: &str) -> i64 {
    use paycore_store::Row;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT COUNT(*) AS n FROM {table}"
    )))
    .fetch_one(l.db().writer())
    .await
    .expect("count")
    .try_get("n")
    .expect("n")
}
