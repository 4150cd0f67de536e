//! Property: after any random sequence of vouchers, holds, captures, voids, refusals, summarizer
//! runs, crashes (mid-batch, mid-summary, restarts) and day-ends, the books hold: Σ debits =
//! Σ credits per currency, every balance equals its entries, no balance breaks its overdraft
//! policy, a replayed id returns its first result, and day-end passes.

mod common;

use std::collections::HashMap;
use std::sync::Arc;

use common::*;
use paycore_kernel::{Clock, Currency, Money};
use paycore_ledger::{HoldRequest, Ledger, Leg, NewAccount, Overdraft, PostResult, Voucher};
use paycore_store::Row;
use proptest::prelude::*;

const RECV: &str = "112201:CMB:CNY";
const RECV_USD: &str = "112201:CMB:USD";
const FEE: &str = "600101::CNY"; // internal, buffered
const MERCHANT: &str = "224101:M9:CNY"; // customer with overdraft limit, buffered
const USD_MEMBER: &str = "224103:U0:USD";

fn member(i: usize) -> String {
    format!("224103:U{}:CNY", i % 5)
}

#[derive(Debug, Clone)]
enum Op {
    TopUp(usize, i64),
    Transfer(usize, usize, i64),
    Pay(usize, i64, i64),
    MerchantOut(i64),
    Usd(i64, bool),
    Batch(Vec<(usize, usize, i64)>),
    Unbalanced(usize),
    Unknown(usize),
    Replay(usize),
    Hold(usize, usize, i64),
    Capture(usize, u8),
    Void(usize),
    Expire,
    Summarize(i64),
    SummarizeCrash(i64),
    CrashedBatch(usize, i64),
    Restart,
    DayEnd,
}

fn op() -> impl Strategy<Value = Op> {
    let amt = 1i64..20_000;
    prop_oneof![
        3 => (0usize..5, amt.clone()).prop_map(|(m, a)| Op::TopUp(m, a)),
        4 => (0usize..5, 0usize..5, amt.clone()).prop_map(|(a, b, x)| Op::Transfer(a, b, x)),
        3 => (0usize..5, amt.clone(), 0i64..500).prop_map(|(m, a, f)| Op::Pay(m, a, f)),
        1 => amt.clone().prop_map(Op::MerchantOut),
        1 => (amt.clone(), any::<bool>()).prop_map(|(a, d)| Op::Usd(a, d)),
        2 => proptest::collection::vec((0usize..5, 0usize..5, amt.clone()), 1..12).prop_map(Op::Batch),
        1 => (0usize..5).prop_map(Op::Unbalanced),
        1 => (0usize..5).prop_map(Op::Unknown),
        2 => (0usize..64).prop_map(Op::Replay),
        2 => (0usize..5, 0usize..5, amt.clone()).prop_map(|(a, b, x)| Op::Hold(a, b, x)),
        2 => (0usize..16, 0u8..=110).prop_map(|(k, f)| Op::Capture(k, f)),
        1 => (0usize..16).prop_map(Op::Void),
        1 => Just(Op::Expire),
        2 => (1i64..5).prop_map(Op::Summarize),
        1 => (1i64..50).prop_map(Op::SummarizeCrash),
        1 => (0usize..5, amt.clone()).prop_map(|(m, a)| Op::CrashedBatch(m, a)),
        1 => Just(Op::Restart),
        1 => Just(Op::DayEnd),
    ]
}

struct World {
    e: Env,
    ledger: Ledger,
    n: usize,
    /// First result of every voucher id posted, and what was posted under it.
    seen: Vec<(Voucher, PostResult)>,
    holds: Vec<String>,
}

impl World {
    fn id(&mut self) -> String {
        self.n += 1;
        format!("v{}", self.n)
    }

    async fn post(&mut self, vs: Vec<Voucher>) {
        let r = self.ledger.post(vs.clone()).await.expect("post");
        let mut first: HashMap<String, PostResult> = HashMap::new();
        for (v, r) in vs.into_iter().zip(r) {
            if let Some(f) = first.get(&v.voucher_no) {
                assert_eq!(
                    f.as_ref().map(|p| p.voucher_id).map_err(Clone::clone),
                    r.as_ref().map(|p| p.voucher_id).map_err(Clone::clone)
                );
                continue;
            }
            first.insert(v.voucher_no.clone(), r.clone());
            self.seen.push((v, r));
        }
    }

    fn transfer(&mut self, a: &str, b: &str, x: i64) -> Voucher {
        let id = self.id();
        Voucher::new(
            &id,
            "TRANSFER",
            "prop",
            vec![Leg::debit(a, cny(x)), Leg::credit(b, cny(x))],
        )
    }

    async fn apply(&mut self, op: Op) {
        let l = self.ledger.clone();
        match op {
            Op::TopUp(m, x) => {
                let v = self.transfer(RECV, &member(m), x);
                self.post(vec![v]).await;
            }
            Op::Transfer(a, b, x) => {
                let v = self.transfer(&member(a), &member(b), x);
                self.post(vec![v]).await;
            }
            Op::Pay(m, x, f) => {
                let id = self.id();
                let fee = f.min(x - 1).max(0);
                let mut legs = vec![
                    Leg::debit(member(m), cny(x)),
                    Leg::credit(MERCHANT, cny(x - fee)),
                ];
                if fee > 0 {
                    legs.push(Leg::credit(FEE, cny(fee)));
                }
                self.post(vec![Voucher::new(&id, "BALANCE_PAY", "prop", legs)])
                    .await;
            }
            Op::MerchantOut(x) => {
                let v = self.transfer(MERCHANT, RECV, x);
                self.post(vec![v]).await;
            }
            Op::Usd(x, deposit) => {
                let id = self.id();
                let m = Money::from_minor(x, Currency::USD);
                let (d, c) = if deposit {
                    (RECV_USD, USD_MEMBER)
                } else {
                    (USD_MEMBER, RECV_USD)
                };
                self.post(vec![Voucher::new(
                    &id,
                    "USD",
                    "prop",
                    vec![Leg::debit(d, m), Leg::credit(c, m)],
                )])
                .await;
            }
            Op::Batch(items) => {
                let mut vs = Vec::new();
                for (a, b, x) in items {
                    vs.push(self.transfer(&member(a), &member(b), x));
                }
                // A repeated id inside the batch.
                if let Some(v) = vs.first().cloned() {
                    vs.push(v);
                }
                self.post(vs).await;
            }
            Op::Unbalanced(m) => {
                let id = self.id();
                let v = Voucher::new(
                    &id,
                    "BAD",
                    "prop",
                    vec![Leg::debit(RECV, cny(2)), Leg::credit(member(m), cny(1))],
                );
                self.post(vec![v]).await;
                assert!(self.seen.last().map(|s| s.1.is_err()).unwrap_or(false));
            }
            Op::Unknown(m) => {
                let v = self.transfer(&member(m), "224103:NOBODY:CNY", 1);
                self.post(vec![v]).await;
                assert!(self.seen.last().map(|s| s.1.is_err()).unwrap_or(false));
            }
            Op::Replay(k) => {
                if self.seen.is_empty() {
                    return;
                }
                let (v, first) = self.seen[k % self.seen.len()].clone();
                // Same id, different content: the first result comes back, nothing is posted.
                let mut changed = v.clone();
                if let Some(l0) = changed.legs.first_mut() {
                    l0.amount = cny(1);
                }
                let r = l.post(vec![changed]).await.expect("replay").remove(0);
                match (&first, &r) {
                    (Ok(a), Ok(b)) => {
                        assert_eq!(a.voucher_id, b.voucher_id);
                        assert!(b.replayed);
                    }
                    (Err(a), Err(b)) => assert_eq!(a, b),
                    _ => panic!(
                        "replay of {} changed its result: {first:?} then {r:?}",
                        v.voucher_no
                    ),
                }
            }
            Op::Hold(a, b, x) => {
                let id = self.id();
                let now = self.e.clock.unix_millis();
                let req = HoldRequest {
                    hold_no: id.clone(),
                    debit: member(a).into(),
                    credit: member(b).into(),
                    amount: cny(x),
                    expires_at: now + 3_600_000,
                    biz_ref: "prop".into(),
                };
                if l.hold(&req).await.is_ok() {
                    self.holds.push(id);
                }
            }
            Op::Capture(k, frac) => {
                if self.holds.is_empty() {
                    return;
                }
                let no = self.holds[k % self.holds.len()].clone();
                let h = l.get_hold(&no).await.expect("hold");
                let amount = (h.amount.minor() * i64::from(frac) / 100).max(1);
                let id = self.id();
                let r = l.capture(&no, cny(amount), &id, "CAPTURE").await;
                if frac > 100
                    && h.status == paycore_ledger::HoldStatus::Pending
                    && amount > h.amount.minor()
                {
                    assert!(r.is_err());
                }
            }
            Op::Void(k) => {
                if self.holds.is_empty() {
                    return;
                }
                let no = self.holds[k % self.holds.len()].clone();
                let before = l.get_hold(&no).await.expect("hold").status;
                let r = l.void(&no).await;
                assert_eq!(r.is_ok(), before == paycore_ledger::HoldStatus::Pending);
            }
            Op::Expire => {
                self.e.clock.advance(time::Duration::minutes(30));
                l.expire_holds().await.expect("expire");
            }
            Op::Summarize(n) => {
                l.summarize(n).await.expect("summarize");
            }
            Op::SummarizeCrash(n) => {
                let before = count(&l, "ledger_flows").await;
                l.summarize_then_crash(n).await.expect("summarize");
                assert_eq!(count(&l, "ledger_flows").await, before);
            }
            Op::CrashedBatch(m, x) => {
                // The process dies before the commit: nothing of the batch may remain, and the
                // same ids post normally afterwards.
                let v = self.transfer(RECV, &member(m), x);
                let mut tx = l.db().begin().await.expect("begin");
                let r = l.post_in(&mut tx, vec![v.clone()]).await.expect("post_in");
                assert!(r[0].is_ok());
                drop(tx);
                self.post(vec![v]).await;
                assert!(!self
                    .seen
                    .last()
                    .map(|s| s.1.as_ref().map(|p| p.replayed).unwrap_or(true))
                    .unwrap_or(true));
            }
            Op::Restart => {
                self.ledger = Ledger::new(self.e.t.db.clone(), Arc::new(self.e.clock.clone()));
            }
            Op::DayEnd => {
                self.e.clock.advance(time::Duration::days(1));
                let r = l.day_end().await.expect("day-end");
                assert!(r.ok(), "{r:#?}");
            }
        }
    }

    async fn check(&self) {
        let l = &self.ledger;
        let v = l.verify().await.expect("verify");
        assert!(v.ok(), "{v:#?}");
        let rows = sqlx::query(
            "SELECT a.currency, e.side, CAST(SUM(e.amount) AS BIGINT) AS s FROM ledger_entries e
             JOIN ledger_accounts a ON a.id = e.account_id GROUP BY a.currency, e.side",
        )
        .fetch_all(l.db().writer())
        .await
        .unwrap();
        let mut t: HashMap<(String, String), i64> = HashMap::new();
        for r in rows {
            t.insert(
                (r.try_get("currency").unwrap(), r.try_get("side").unwrap()),
                r.try_get("s").unwrap(),
            );
        }
        for cur in ["CNY", "USD"] {
            let d = t.get(&(cur.into(), "D".into())).copied().unwrap_or(0);
            let c = t.get(&(cur.into(), "C".into())).copied().unwrap_or(0);
            assert_eq!(d, c, "{cur} debits vs credits");
        }
        for no in (0..5)
            .map(member)
            .chain([MERCHANT.to_owned(), USD_MEMBER.to_owned()])
        {
            let a = l.account(&no).await.unwrap();
            assert!(
                a.overdraft.allows(a.available_minor()),
                "{no} breaks its policy: {a:?}"
            );
        }
    }
}

async fn run(ops: Vec<Op>) {
    let e = env().await;
    let l = e.ledger.clone();
    let c = Currency::CNY;
    let mut limited = NewAccount::customer("224103", "U4", c);
    limited.overdraft = Overdraft::Limit(5_000);
    let mut merchant = NewAccount::customer("224101", "M9", c);
    merchant.overdraft = Overdraft::Limit(1_000);
    l.open_accounts(&[
        NewAccount::internal("112201", "CMB", c),
        NewAccount::internal("112201", "CMB", Currency::USD),
        NewAccount::internal("600101", "", c),
        NewAccount::customer("224103", "U0", c),
        NewAccount::customer("224103", "U1", c),
        NewAccount::customer("224103", "U2", c),
        NewAccount::customer("224103", "U3", c),
        NewAccount::customer("224103", "U0", Currency::USD),
        limited,
        merchant,
    ])
    .await
    .unwrap();
    l.set_buffered(FEE, true).await.unwrap();
    l.set_buffered(MERCHANT, true).await.unwrap();
    let mut w = World {
        e,
        ledger: l,
        n: 0,
        seen: Vec::new(),
        holds: Vec::new(),
    };
    for op in ops {
        w.apply(op).await;
        w.check().await;
    }
    w.apply(Op::DayEnd).await;
    w.check().await;
    assert_eq!(w.ledger.buffer_lag().await.unwrap().flows, 0);
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("LEDGER_PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(12),
        .. ProptestConfig::default()
    })]
    #[test]
    fn books_always_balance(ops in proptest::collection::vec(op(), 1..40)) {
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap().block_on(run(ops));
    }
}
