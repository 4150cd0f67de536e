//! Virtual coins (P7) are a ledger asset like any currency: issued against the platform's coin
//! issuance, held on members' coin accounts, never overdrawn, never mixed with money.

mod common;

use common::*;
use paycore_kernel::{Currency, Money};
use paycore_ledger::model::subjects as s;
use paycore_ledger::{Leg, NewAccount, Voucher};

fn coins(n: i64) -> Money {
    Money::from_minor(n, Currency::XPC)
}

#[tokio::test]
async fn coins_are_issued_held_and_never_overdrawn() {
    let e = env().await;
    let l = &e.ledger;
    let xpc = Currency::XPC;
    l.open_accounts(&[
        NewAccount::internal(s::COIN_ISSUANCE, "", xpc),
        NewAccount::customer(s::MEMBER_COINS, "U1", xpc),
        NewAccount::customer(s::MEMBER_COINS, "U2", xpc),
        NewAccount::customer(s::MEMBER_BALANCE, "U1", Currency::CNY),
    ])
    .await
    .unwrap();
    let issuance = format!("{}::XPC", s::COIN_ISSUANCE);
    let u1 = format!("{}:U1:XPC", s::MEMBER_COINS);
    let u2 = format!("{}:U2:XPC", s::MEMBER_COINS);
    let issue = Voucher::new(
        "COIN-1",
        "COIN_ISSUE",
        "promo",
        vec![
            Leg::debit(issuance.as_str(), coins(100)),
            Leg::credit(u1.as_str(), coins(100)),
        ],
    );
    l.post_one(issue).await.unwrap();
    assert_eq!(l.balance(&u1).await.unwrap().posted, coins(100));
    // Spending more than held is refused and writes nothing.
    let too_much = Voucher::new(
        "COIN-2",
        "COIN_TRANSFER",
        "gift",
        vec![
            Leg::debit(u1.as_str(), coins(150)),
            Leg::credit(u2.as_str(), coins(150)),
        ],
    );
    assert!(l.post_one(too_much).await.is_err());
    assert_eq!(l.balance(&u1).await.unwrap().posted, coins(100));
    // Coins and money do not balance against each other.
    let u1_cny = format!("{}:U1:CNY", s::MEMBER_BALANCE);
    let mixed = Voucher::new(
        "COIN-3",
        "COIN_TRANSFER",
        "swap",
        vec![
            Leg::debit(u1.as_str(), coins(10)),
            Leg::credit(u1_cny.as_str(), cny(10)),
        ],
    );
    assert!(l.post_one(mixed).await.is_err());
    let ok = Voucher::new(
        "COIN-4",
        "COIN_TRANSFER",
        "gift",
        vec![
            Leg::debit(u1.as_str(), coins(40)),
            Leg::credit(u2.as_str(), coins(40)),
        ],
    );
    l.post_one(ok).await.unwrap();
    assert_eq!(l.balance(&u2).await.unwrap().posted, coins(40));
    assert!(l.verify().await.unwrap().ok());
}
