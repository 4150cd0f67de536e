//! Hot accounts (buffered flows, summarizer, crash safety, split accounts) and group commit.

mod common;

use std::sync::Arc;

use common::*;
use paycore_kernel::Currency;
use paycore_ledger::{Ledger, LedgerError, Leg, NewAccount, Voucher};

const RECV: &str = "112201:CMB:CNY";
const FEE: &str = "600101::CNY";

fn fee_voucher(no: &str, x: i64) -> Voucher {
    Voucher::new(
        no,
        "FEE",
        "b",
        vec![Leg::debit(RECV, cny(x)), Leg::credit(FEE, cny(x))],
    )
}

#[tokio::test]
async fn buffered_increases_wait_for_the_summarizer_and_apply_exactly_once() {
    let e = env().await;
    let l = &e.ledger;
    article_accounts(l).await;
    l.set_buffered(FEE, true).await.unwrap();
    let vs: Vec<Voucher> = (0..10)
        .map(|i| fee_voucher(&format!("f{i}"), 100))
        .collect();
    assert!(l.post(vs).await.unwrap().iter().all(|r| r.is_ok()));
    let b = l.balance(FEE).await.unwrap();
    assert_eq!((b.posted.minor(), b.unapplied.minor()), (0, 1_000));
    // The lag is shown.
    e.clock.advance(time::Duration::seconds(5));
    let lag = l.buffer_lag().await.unwrap();
    assert_eq!((lag.flows, lag.oldest_ms), (10, 5_000));
    // A crash in the middle of a summary applies nothing.
    l.summarize_then_crash(4).await.unwrap();
    assert_eq!(l.balance(FEE).await.unwrap().posted.minor(), 0);
    // A restart (new ledger over the same database) loses nothing.
    let l2 = Ledger::new(e.t.db.clone(), Arc::new(e.clock.clone()));
    let run = l2.summarize(4).await.unwrap();
    assert_eq!((run.flows, run.accounts), (4, 1));
    assert_eq!(l2.balance(FEE).await.unwrap().posted.minor(), 400);
    assert_eq!(l2.summarize_all().await.unwrap(), 6);
    let b = l2.balance(FEE).await.unwrap();
    assert_eq!((b.posted.minor(), b.unapplied.minor()), (1_000, 0));
    assert_eq!(l2.summarize(100).await.unwrap().flows, 0);
    assert!(l2.verify().await.unwrap().ok());
    // Decreases of a buffered account are real-time.
    let out = Voucher::new(
        "out",
        "X",
        "b",
        vec![Leg::debit(FEE, cny(300)), Leg::credit(RECV, cny(300))],
    );
    l2.post(vec![out]).await.unwrap().remove(0).unwrap();
    assert_eq!(l2.balance(FEE).await.unwrap().posted.minor(), 700);
}

#[tokio::test]
async fn only_internal_or_overdraft_accounts_may_be_buffered() {
    let e = env().await;
    let l = &e.ledger;
    article_accounts(l).await;
    let err = l.set_buffered("224103:U1:CNY", true).await.unwrap_err();
    assert!(matches!(err, LedgerError::AccountPolicy { .. }), "{err}");
    let mut m = NewAccount::customer("224101", "BIG", Currency::CNY);
    m.overdraft = paycore_ledger::Overdraft::Limit(0);
    l.open_account(&m).await.unwrap();
    l.set_buffered("224101:BIG:CNY", true).await.unwrap();
}

#[tokio::test]
async fn a_split_account_spreads_legs_and_reports_the_sum() {
    let e = env().await;
    let l = &e.ledger;
    article_accounts(l).await;
    let subs = l.split_account(RECV, 4).await.unwrap();
    assert_eq!(subs.len(), 4);
    let vs: Vec<Voucher> = (0..40).map(|i| fee_voucher(&format!("s{i}"), 10)).collect();
    assert!(l.post(vs).await.unwrap().iter().all(|r| r.is_ok()));
    assert_eq!(l.balance(RECV).await.unwrap().posted.minor(), 400);
    let mut used = 0;
    for s in &subs {
        if l.balance(&s.account_no).await.unwrap().posted.minor() != 0 {
            used += 1;
        }
    }
    assert!(used >= 2, "legs were not spread");
    assert_eq!(l.statement(RECV, None, 0, 1000).await.unwrap().len(), 40);
    e.clock.advance(time::Duration::days(1));
    assert!(l.day_end().await.unwrap().ok());
}

#[tokio::test]
async fn concurrent_single_vouchers_share_commits() {
    let e = env().await;
    let l = &e.ledger;
    article_accounts(l).await;
    let mut tasks = Vec::new();
    for i in 0..64 {
        let l = l.clone();
        tasks.push(tokio::spawn(async move {
            // Every voucher twice, concurrently: each posts once.
            let a = l.post_one(fee_voucher(&format!("g{i}"), 1));
            let b = l.post_one(fee_voucher(&format!("g{i}"), 1));
            let (a, b) = tokio::join!(a, b);
            let (a, b) = (a.unwrap(), b.unwrap());
            assert_eq!(a.voucher_id, b.voucher_id);
            assert!(a.replayed != b.replayed);
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(bal(l, FEE).await, 64);
    use paycore_store::Row;
    let batches: i64 = sqlx::query("SELECT COUNT(*) AS n FROM ledger_batches")
        .fetch_one(l.db().writer())
        .await
        .unwrap()
        .try_get("n")
        .unwrap();
    assert!(batches < 128, "{batches} commits for 128 submissions");
    let st = l
        .statement(FEE, Some(l.current_day().await.unwrap()), 0, 10)
        .await
        .unwrap();
    assert_eq!(st.len(), 10);
    let next = l.statement(FEE, None, st[9].entry_id, 100).await.unwrap();
    assert_eq!(next.len(), 54);
}

#[tokio::test]
async fn concurrent_batches_on_shared_accounts_stay_consistent() {
    let e = env().await;
    let l = &e.ledger;
    let mut accounts = Vec::new();
    for i in 0..10 {
        accounts.push(NewAccount::internal(
            "220203",
            &format!("S{i}"),
            Currency::CNY,
        ));
    }
    let ids: Vec<i64> = l
        .open_accounts(&accounts)
        .await
        .unwrap()
        .iter()
        .map(|a| a.id)
        .collect();
    let mut tasks = Vec::new();
    for t in 0..8usize {
        let l = l.clone();
        let ids = ids.clone();
        tasks.push(tokio::spawn(async move {
            for b in 0..5usize {
                let vs: Vec<Voucher> = (0..50usize)
                    .map(|i| {
                        // Ids overlap between tasks: each id posts once whoever wins.
                        let no = format!("c{}-{}", b, (i + t * 7) % 60);
                        let (x, y) = (ids[(i + b) % 10], ids[(i * 3 + t + 1) % 10]);
                        let (x, y) = if x == y {
                            (x, ids[(i + 5) % 10])
                        } else {
                            (x, y)
                        };
                        Voucher::new(
                            &no,
                            "X",
                            "c",
                            vec![Leg::debit(x, cny(1)), Leg::credit(y, cny(1))],
                        )
                    })
                    .collect();
                let r = l.post(vs).await.unwrap();
                assert!(r.iter().all(|r| r.is_ok()));
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let v = l.verify().await.unwrap();
    assert!(v.ok(), "{v:#?}");
    use paycore_store::Row;
    let n: i64 = sqlx::query("SELECT COUNT(*) AS n FROM ledger_vouchers")
        .fetch_one(l.db().writer())
        .await
        .unwrap()
        .try_get("n")
        .unwrap();
    assert_eq!(n, 5 * 60);
}

#[tokio::test]
async fn a_second_process_changing_accounts_is_never_missed() {
    let e = env().await;
    let l1 = &e.ledger;
    article_accounts(l1).await;
    // Another process on the same database.
    let l2 = Ledger::new(e.t.db.clone(), Arc::new(e.clock.clone()));
    const U1: &str = "224103:U1:CNY";
    const RECV: &str = "112201:CMB:CNY";
    let t = |no: &str, from: &str, to: &str, x: i64| {
        Voucher::new(
            no,
            "X",
            "b",
            vec![Leg::debit(from, cny(x)), Leg::credit(to, cny(x))],
        )
    };
    // l1 caches U1 while funding it.
    assert!(l1.post(vec![t("a1", RECV, U1, 1_000)]).await.unwrap()[0].is_ok());
    // l2 moves money out and freezes U1; l1 must see both.
    assert!(l2.post(vec![t("b1", U1, RECV, 600)]).await.unwrap()[0].is_ok());
    let r = l1
        .post(vec![t("a2", U1, RECV, 500)])
        .await
        .unwrap()
        .remove(0);
    assert!(
        matches!(
            r,
            Err(paycore_ledger::PostError::Overdraft { available: 400, .. })
        ),
        "{r:?}"
    );
    l2.set_account_status(U1, paycore_ledger::AccountEvent::Freeze)
        .await
        .unwrap();
    let r = l1
        .post(vec![t("a3", U1, RECV, 100)])
        .await
        .unwrap()
        .remove(0);
    assert!(
        matches!(r, Err(paycore_ledger::PostError::AccountFrozen { .. })),
        "{r:?}"
    );
    l2.set_account_status(U1, paycore_ledger::AccountEvent::Unfreeze)
        .await
        .unwrap();
    assert!(l1.post(vec![t("a4", U1, RECV, 400)]).await.unwrap()[0].is_ok());
    assert_eq!(bal(l1, U1).await, 0);
    assert!(l1.verify().await.unwrap().ok());
}
