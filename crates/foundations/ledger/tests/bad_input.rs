//! Bad input: each refused with a typed error, nothing written; idempotency by voucher id.

mod common;

use common::*;
use paycore_kernel::{Currency, Money};
use paycore_ledger::{AccountEvent, HoldRequest, Ledger, Leg, PostError, Voucher};

const A: &str = "224103:U1:CNY"; // member balance, no overdraft
const B: &str = "224103:U2:CNY";
const RECV: &str = "112201:CMB:CNY";

async fn setup() -> Env {
    let e = env().await;
    article_accounts(&e.ledger).await;
    e.ledger
        .open_account(&paycore_ledger::NewAccount::customer(
            "224103",
            "U2",
            Currency::CNY,
        ))
        .await
        .unwrap();
    // U1 gets 100.00.
    let r = e
        .ledger
        .post(vec![Voucher::new(
            "fund",
            "TOPUP",
            "t",
            vec![Leg::debit(RECV, cny(10_000)), Leg::credit(A, cny(10_000))],
        )])
        .await
        .unwrap();
    assert!(r[0].is_ok());
    e
}

async fn refused(l: &Ledger, v: Voucher) -> PostError {
    let entries = count(l, "ledger_entries").await;
    let (a, b) = (bal(l, A).await, bal(l, B).await);
    let r = l.post(vec![v]).await.unwrap();
    let err = r.into_iter().next().unwrap().unwrap_err();
    assert_eq!(
        count(l, "ledger_entries").await,
        entries,
        "entries written for {err:?}"
    );
    assert_eq!(
        (bal(l, A).await, bal(l, B).await),
        (a, b),
        "balances moved for {err:?}"
    );
    err
}

fn transfer(no: &str, amount: i64) -> Voucher {
    Voucher::new(
        no,
        "TRANSFER",
        "x",
        vec![Leg::debit(A, cny(amount)), Leg::credit(B, cny(amount))],
    )
}

#[tokio::test]
async fn refusals_are_typed_and_write_nothing() {
    let e = setup().await;
    let l = &e.ledger;
    let unbalanced = Voucher::new(
        "u",
        "X",
        "x",
        vec![Leg::debit(A, cny(100)), Leg::credit(B, cny(99))],
    );
    assert!(matches!(
        refused(l, unbalanced).await,
        PostError::Unbalanced {
            debits: 100,
            credits: 99,
            ..
        }
    ));
    let unknown = Voucher::new(
        "k",
        "X",
        "x",
        vec![Leg::debit(A, cny(1)), Leg::credit("nope", cny(1))],
    );
    assert!(matches!(
        refused(l, unknown).await,
        PostError::UnknownAccount { leg: 1, .. }
    ));
    let usd = Money::from_minor(1, Currency::USD);
    let mismatch = Voucher::new("m", "X", "x", vec![Leg::debit(A, usd), Leg::credit(B, usd)]);
    assert!(matches!(
        refused(l, mismatch).await,
        PostError::CurrencyMismatch { leg: 0, .. }
    ));
    assert!(matches!(
        refused(l, transfer("o", 10_001)).await,
        PostError::Overdraft {
            available: 10_000,
            ..
        }
    ));
    let zero = Voucher::new(
        "z",
        "X",
        "x",
        vec![Leg::debit(A, cny(0)), Leg::credit(B, cny(0))],
    );
    assert!(matches!(
        refused(l, zero).await,
        PostError::NonPositiveAmount { leg: 0 }
    ));
    let one = Voucher::new("one", "X", "x", vec![Leg::debit(A, cny(1))]);
    assert!(matches!(
        refused(l, one).await,
        PostError::LegCount { got: 1, .. }
    ));
    // Ordered checks: unknown account is reported before the imbalance.
    let both = Voucher::new(
        "b",
        "X",
        "x",
        vec![Leg::debit(A, cny(2)), Leg::credit("nope", cny(1))],
    );
    assert!(matches!(
        refused(l, both).await,
        PostError::UnknownAccount { .. }
    ));
    // Unknown transaction code through the rules.
    let ev = paycore_ledger::BusinessEvent::new("r1", "NO_SUCH_CODE", "x", cny(1));
    assert!(matches!(
        l.post_events(&[ev]).await.unwrap()[0],
        Err(PostError::UnknownTxCode { .. })
    ));
}

#[tokio::test]
async fn frozen_and_closed_accounts() {
    let e = setup().await;
    let l = &e.ledger;
    l.set_account_status(A, AccountEvent::Freeze).await.unwrap();
    assert!(matches!(
        refused(l, transfer("f1", 1)).await,
        PostError::AccountFrozen { .. }
    ));
    // Credits still reach a frozen account.
    let r = l
        .post(vec![Voucher::new(
            "f2",
            "X",
            "x",
            vec![Leg::debit(RECV, cny(5)), Leg::credit(A, cny(5))],
        )])
        .await
        .unwrap();
    assert!(r[0].is_ok(), "{r:?}");
    l.set_account_status(A, AccountEvent::Unfreeze)
        .await
        .unwrap();
    // B has nothing: it can be closed; then nothing can be posted to it.
    l.set_account_status(B, AccountEvent::Close).await.unwrap();
    let e1 = refused(l, transfer("c1", 1)).await;
    assert!(matches!(e1, PostError::AccountClosed { .. }), "{e1:?}");
    // A holds money: closing is refused.
    assert!(l.set_account_status(A, AccountEvent::Close).await.is_err());
    // Closed is final.
    assert!(l
        .set_account_status(B, AccountEvent::Unfreeze)
        .await
        .is_err());
}

#[tokio::test]
async fn same_id_posts_once_and_a_failed_id_stays_failed() {
    let e = setup().await;
    let l = &e.ledger;
    let first = l
        .post(vec![transfer("t1", 1_000)])
        .await
        .unwrap()
        .remove(0)
        .unwrap();
    assert!(!first.replayed);
    let again = l
        .post(vec![transfer("t1", 1_000), transfer("t1", 1_000)])
        .await
        .unwrap();
    for r in again {
        let r = r.unwrap();
        assert!(r.replayed);
        assert_eq!(r.voucher_id, first.voucher_id);
    }
    assert_eq!(bal(l, B).await, 1_000);
    // Within one batch the second occurrence gets the first's result.
    let dup = l
        .post(vec![transfer("t2", 10), transfer("t2", 10)])
        .await
        .unwrap();
    assert!(!dup[0].as_ref().unwrap().replayed && dup[1].as_ref().unwrap().replayed);
    assert_eq!(bal(l, B).await, 1_010);
    // Fails for lack of funds; after a top-up the same id still fails with the same error.
    let err = l
        .post(vec![transfer("t3", 50_000)])
        .await
        .unwrap()
        .remove(0)
        .unwrap_err();
    l.post(vec![Voucher::new(
        "fund2",
        "TOPUP",
        "t",
        vec![Leg::debit(RECV, cny(100_000)), Leg::credit(A, cny(100_000))],
    )])
    .await
    .unwrap();
    let again = l
        .post(vec![transfer("t3", 50_000)])
        .await
        .unwrap()
        .remove(0)
        .unwrap_err();
    assert_eq!(err, again);
    assert_eq!(bal(l, B).await, 1_010);
}

#[tokio::test]
async fn posting_to_a_closed_day_is_refused() {
    let e = setup().await;
    let l = &e.ledger;
    let today = l.current_day().await.unwrap();
    e.clock.advance(time::Duration::days(1));
    assert!(l.day_end().await.unwrap().ok());
    let mut v = transfer("late", 1);
    v.day = Some(today);
    assert!(matches!(refused(l, v).await, PostError::DayClosed { .. }));
    let mut v = transfer("early", 1);
    v.day = Some(29991231);
    assert!(matches!(refused(l, v).await, PostError::DayNotOpen { .. }));
}

#[tokio::test]
async fn holds_capture_void_expire() {
    let e = setup().await;
    let l = &e.ledger;
    let now = paycore_kernel::Clock::unix_millis(&e.clock);
    let req = |no: &str, amount: i64| HoldRequest {
        hold_no: no.into(),
        debit: A.into(),
        credit: B.into(),
        amount: cny(amount),
        expires_at: now + 60_000,
        biz_ref: "preauth".into(),
    };
    l.hold(&req("h1", 6_000)).await.unwrap();
    let b = l.balance(A).await.unwrap();
    assert_eq!(
        (b.posted.minor(), b.pending.minor(), b.available.minor()),
        (10_000, 6_000, 4_000)
    );
    // Available counts the hold: a transfer above it and a second large hold are refused.
    assert!(matches!(
        refused(l, transfer("x1", 4_001)).await,
        PostError::Overdraft { .. }
    ));
    assert!(matches!(
        l.hold(&req("h2", 4_001)).await.unwrap_err().refusal(),
        Some(PostError::Overdraft { .. })
    ));
    // Capture above the hold is refused; a partial capture releases the rest.
    let over = l
        .capture("h1", cny(6_001), "cap1", "PREAUTH_CAPTURE")
        .await
        .unwrap_err();
    assert!(matches!(
        over.refusal(),
        Some(PostError::CaptureExceedsHold {
            requested: 6_001,
            held: 6_000
        })
    ));
    l.capture("h1", cny(2_500), "cap1", "PREAUTH_CAPTURE")
        .await
        .unwrap();
    let again = l
        .capture("h1", cny(2_500), "cap1", "PREAUTH_CAPTURE")
        .await
        .unwrap();
    assert!(again.replayed);
    let b = l.balance(A).await.unwrap();
    assert_eq!(
        (b.posted.minor(), b.pending.minor(), b.available.minor()),
        (7_500, 0, 7_500)
    );
    assert_eq!(bal(l, B).await, 2_500);
    // Void, and void again.
    l.hold(&req("h3", 1_000)).await.unwrap();
    l.void("h3").await.unwrap();
    assert!(matches!(
        l.void("h3").await.unwrap_err().refusal(),
        Some(PostError::HoldNotPending { .. })
    ));
    assert_eq!(l.balance(A).await.unwrap().available.minor(), 7_500);
    // Expiry by the ledger clock.
    l.hold(&req("h4", 1_000)).await.unwrap();
    assert_eq!(l.expire_holds().await.unwrap(), 0);
    e.clock.advance(time::Duration::minutes(2));
    assert_eq!(l.expire_holds().await.unwrap(), 1);
    assert_eq!(l.balance(A).await.unwrap().available.minor(), 7_500);
    assert!(matches!(
        l.capture("h4", cny(1), "cap4", "PREAUTH_CAPTURE")
            .await
            .unwrap_err()
            .refusal(),
        Some(PostError::HoldNotPending { .. })
    ));
    assert!(matches!(
        l.void("nope").await.unwrap_err().refusal(),
        Some(PostError::HoldNotFound { .. })
    ));
}
