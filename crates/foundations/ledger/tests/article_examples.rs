//! The article's worked examples (001 3.11, 3.13, 3.21), posted through the posting rules,
//! with every account's balance checked afterwards.

mod common;

use common::*;
use paycore_ledger::BusinessEvent;

fn ev(no: &str, code: &str, amount: i64) -> BusinessEvent {
    BusinessEvent::new(no, code, "P1", cny(amount))
        .party("channel", "CMB")
        .party("bank", "CMB")
        .party("merchant", "M1")
        .party("member", "U1")
}

const RECV: &str = "112201:CMB:CNY";
const CLEARED: &str = "112202:CMB:CNY";
const POSITION: &str = "100201:CMB:CNY";
const TRANSIT: &str = "220201::CNY";
const WD_TRANSIT: &str = "220202::CNY";
const FEE: &str = "600101::CNY";
const PENDING: &str = "224101:M1:CNY";
const MBAL: &str = "224102:M1:CNY";
const MEMBER: &str = "224103:U1:CNY";

async fn balances(l: &paycore_ledger::Ledger) -> Vec<(&'static str, i64)> {
    let mut out = Vec::new();
    for no in [
        RECV, CLEARED, POSITION, TRANSIT, WD_TRANSIT, FEE, PENDING, MBAL, MEMBER,
    ] {
        out.push((no, bal(l, no).await));
    }
    out
}

#[tokio::test]
async fn payment_of_500_through_cmb_with_fee_10_in_four_steps() {
    let e = env().await;
    let l = &e.ledger;
    article_accounts(l).await;
    // Step 1: 500 from the channel into the gateway transit account.
    l.post_event(&ev("V1", "PAY_CHANNEL_IN", 50_000))
        .await
        .unwrap();
    assert_eq!(bal(l, RECV).await, 50_000);
    assert_eq!(bal(l, TRANSIT).await, 50_000);
    // Step 2: the 10 fee.
    l.post_event(&ev("V2", "PAY_FEE", 50_000).fee(cny(1_000)))
        .await
        .unwrap();
    // Step 3: 490 to the merchant's pending settlement.
    l.post_event(&ev("V3", "PAY_TO_PENDING", 50_000).fee(cny(1_000)))
        .await
        .unwrap();
    // Step 4: settled to the merchant's balance.
    l.post_event(&ev("V4", "SETTLE_TO_BALANCE", 49_000))
        .await
        .unwrap();
    assert_eq!(
        balances(l).await,
        vec![
            (RECV, 50_000),
            (CLEARED, 0),
            (POSITION, 0),
            (TRANSIT, 0),
            (WD_TRANSIT, 0),
            (FEE, 1_000),
            (PENDING, 0),
            (MBAL, 49_000),
            (MEMBER, 0),
        ]
    );
    // Assets (500 receivable) = liabilities (490) + income (10).
    let tb = l.trial_balance(None).await.unwrap();
    assert!(tb.balanced(), "{}", tb.to_text());
    e.clock.advance(time::Duration::days(1));
    let r = l.day_end().await.unwrap();
    assert!(r.ok(), "{r:?}");
    assert_eq!(r.closed, vec![20261122]);
}

#[tokio::test]
async fn one_voucher_rule_for_steps_one_to_three_gives_the_same_books() {
    let e = env().await;
    let l = &e.ledger;
    article_accounts(l).await;
    let p = l
        .post_events(&[ev("V1", "PAY_BANK", 50_000).fee(cny(1_000))])
        .await
        .unwrap();
    assert!(p[0].is_ok());
    assert_eq!(bal(l, RECV).await, 50_000);
    assert_eq!(bal(l, FEE).await, 1_000);
    assert_eq!(bal(l, PENDING).await, 49_000);
    assert_eq!(bal(l, TRANSIT).await, 0);
}

#[tokio::test]
async fn withdrawal_of_100() {
    let e = env().await;
    let l = &e.ledger;
    article_accounts(l).await;
    l.post_event(&ev("T1", "TOPUP", 30_000)).await.unwrap();
    l.post_event(&ev("C1", "CHANNEL_CLEARED", 30_000))
        .await
        .unwrap();
    l.post_event(&ev("C2", "CHANNEL_FUNDS_IN", 30_000))
        .await
        .unwrap();
    // 3.13: DR member balance 100 / CR withdrawal transit 100.
    l.post_event(&ev("W1", "WITHDRAW_APPLY", 10_000))
        .await
        .unwrap();
    assert_eq!(bal(l, MEMBER).await, 20_000);
    assert_eq!(bal(l, WD_TRANSIT).await, 10_000);
    l.post_event(&ev("W2", "WITHDRAW_PAID", 10_000))
        .await
        .unwrap();
    assert_eq!(
        balances(l).await,
        vec![
            (RECV, 0),
            (CLEARED, 0),
            (POSITION, 20_000),
            (TRANSIT, 0),
            (WD_TRANSIT, 0),
            (FEE, 0),
            (PENDING, 0),
            (MBAL, 0),
            (MEMBER, 20_000),
        ]
    );
    // The member cannot withdraw more than is left.
    let err = l
        .post_event(&ev("W3", "WITHDRAW_APPLY", 20_001))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err.refusal(),
            Some(paycore_ledger::PostError::Overdraft { .. })
        ),
        "{err}"
    );
}

#[tokio::test]
async fn merchant_settlement_to_card() {
    let e = env().await;
    let l = &e.ledger;
    article_accounts(l).await;
    l.post_event(&ev("V1", "PAY_BANK", 50_000).fee(cny(1_000)))
        .await
        .unwrap();
    // The channel clears and remits; the merchant is settled to its card.
    l.post_event(&ev("S1", "CHANNEL_CLEARED", 50_000))
        .await
        .unwrap();
    l.post_event(&ev("S2", "CHANNEL_FUNDS_IN", 50_000))
        .await
        .unwrap();
    l.post_event(&ev("S3", "SETTLE_CARD_APPLY", 49_000))
        .await
        .unwrap();
    assert_eq!(bal(l, TRANSIT).await, 49_000);
    l.post_event(&ev("S4", "SETTLE_CARD_PAID", 49_000))
        .await
        .unwrap();
    // What stays is the fee: 10 on the position, 10 of income.
    assert_eq!(
        balances(l).await,
        vec![
            (RECV, 0),
            (CLEARED, 0),
            (POSITION, 1_000),
            (TRANSIT, 0),
            (WD_TRANSIT, 0),
            (FEE, 1_000),
            (PENDING, 0),
            (MBAL, 0),
            (MEMBER, 0),
        ]
    );
    let v = l.verify().await.unwrap();
    assert!(v.ok(), "{v:?}");
}
