//! Verifiable books: beancount export checked by bean-check; `verify` catches tampering;
//! day-end reports what differs and resumes.

mod common;

use common::*;
use paycore_ledger::{BusinessEvent, Leg, Voucher};
use rand::{Rng, SeedableRng};

const MEMBERS: usize = 6;

fn member(i: usize) -> String {
    format!("224103:U{i}:CNY")
}

/// A random workload over a few days: payments through the rules, top-ups, transfers (some
/// refused), with a day-end after each day.
async fn workload(e: &Env, seed: u64) {
    let l = &e.ledger;
    article_accounts(l).await;
    let mut accounts = Vec::new();
    for i in 0..MEMBERS {
        accounts.push(paycore_ledger::NewAccount::customer(
            "224103",
            &format!("U{i}"),
            paycore_kernel::Currency::CNY,
        ));
    }
    l.open_accounts(&accounts).await.unwrap();
    l.set_buffered("600101::CNY", true).await.unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut n = 0;
    for _day in 0..3 {
        let mut batch = Vec::new();
        let mut events = Vec::new();
        for _ in 0..60 {
            n += 1;
            let amount = rng.random_range(1..50_000);
            match rng.random_range(0..3) {
                0 => events.push(
                    BusinessEvent::new(&format!("p{n}"), "PAY_BANK", "pay", cny(amount))
                        .fee(cny(amount / 100))
                        .party("channel", "CMB")
                        .party("merchant", "M1"),
                ),
                1 => batch.push(Voucher::new(
                    &format!("t{n}"),
                    "TOPUP",
                    "top",
                    vec![
                        Leg::debit("112201:CMB:CNY", cny(amount)),
                        Leg::credit(member(rng.random_range(0..MEMBERS)), cny(amount)),
                    ],
                )),
                _ => batch.push(Voucher::new(
                    &format!("x{n}"),
                    "TRANSFER",
                    "tr",
                    vec![
                        Leg::debit(member(rng.random_range(0..MEMBERS)), cny(amount)),
                        Leg::credit(member(rng.random_range(0..MEMBERS)), cny(amount)),
                    ],
                )),
            }
        }
        l.post_events(&events).await.unwrap();
        l.post(batch).await.unwrap();
        e.clock.advance(time::Duration::days(1));
        let r = l.day_end().await.unwrap();
        assert!(r.ok(), "{r:#?}");
    }
    // Some postings on the open day too.
    l.post_events(&[BusinessEvent::new("open1", "PAY_BANK", "pay", cny(777))
        .party("channel", "CMB")
        .party("merchant", "M1")])
        .await
        .unwrap();
}

#[tokio::test]
async fn bean_check_passes_on_the_export() {
    let e = env().await;
    workload(&e, 7).await;
    let mut out = Vec::new();
    e.ledger.export_beancount(&mut out).await.unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains(" balance "), "no balance assertions");
    assert!(
        text.contains("open Assets:Receivable:ChannelReceivable:"),
        "{}",
        &text[..text.len().min(2000)]
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("books.beancount");
    std::fs::write(&file, &text).unwrap();
    // bean-check is installed by the project's test command; missing it is a failure.
    let out = std::process::Command::new("bean-check")
        .arg(&file)
        .output()
        .expect("bean-check must be installed (pip install beancount)");
    assert!(
        out.status.success(),
        "bean-check failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // And it catches a wrong balance: break one assertion and it must fail.
    let broken = text.clone();
    let idx = broken.find(" balance ").unwrap();
    let line_end = broken[idx..].find('\n').unwrap() + idx;
    let line = &broken[idx..line_end];
    let mut parts: Vec<&str> = line.split(' ').collect();
    let n = parts.len();
    let bumped = match parts[n - 2].strip_prefix('-') {
        Some(rest) => format!("-9{rest}"),
        None => format!("9{}", parts[n - 2]),
    };
    parts[n - 2] = &bumped;
    let broken = format!(
        "{}{}{}",
        &broken[..idx],
        parts.join(" "),
        &broken[line_end..]
    );
    std::fs::write(&file, broken).unwrap();
    let out = std::process::Command::new("bean-check")
        .arg(&file)
        .output()
        .unwrap();
    assert!(!out.status.success(), "bean-check accepted a wrong balance");
}

#[tokio::test]
async fn verify_catches_a_tampered_or_deleted_voucher() {
    let e = env().await;
    workload(&e, 11).await;
    let l = &e.ledger;
    let v = l.verify().await.unwrap();
    assert!(v.ok(), "{v:#?}");
    assert!(v.vouchers > 100 && v.days_sealed == 3);
    // Change one entry's amount (and its account's totals, so the balances still agree).
    let db = l.db().writer();
    let row: (i64, i64, String) = {
        use paycore_store::Row;
        let r = sqlx::query(
            "SELECT id, account_id, side FROM ledger_entries ORDER BY id LIMIT 1 OFFSET 5",
        )
        .fetch_one(db)
        .await
        .unwrap();
        (
            r.try_get("id").unwrap(),
            r.try_get("account_id").unwrap(),
            r.try_get("side").unwrap(),
        )
    };
    sqlx::query("UPDATE ledger_entries SET amount = amount + 100 WHERE id = $1")
        .bind(row.0)
        .execute(db)
        .await
        .unwrap();
    let col = if row.2 == "D" { "debits" } else { "credits" };
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE ledger_accounts SET {col} = {col} + 100 WHERE id = $1"
    )))
    .bind(row.1)
    .execute(db)
    .await
    .unwrap();
    let v = l.verify().await.unwrap();
    assert!(
        v.problems.iter().any(|p| p.contains("hash does not match")),
        "{v:#?}"
    );

    // Deleting a whole voucher (and its entries) is caught too.
    let e2 = env().await;
    workload(&e2, 12).await;
    let db = e2.ledger.db().writer();
    sqlx::query("DELETE FROM ledger_entries WHERE voucher_id = (SELECT MIN(id) FROM ledger_vouchers WHERE status = 'posted')")
        .execute(db)
        .await
        .unwrap();
    sqlx::query("DELETE FROM ledger_vouchers WHERE id = (SELECT MIN(id) FROM ledger_vouchers WHERE status = 'posted')")
        .execute(db)
        .await
        .unwrap();
    let v = e2.ledger.verify().await.unwrap();
    assert!(!v.ok());
}

#[tokio::test]
async fn day_end_stops_on_a_difference_and_resumes_once_fixed() {
    let e = env().await;
    let l = &e.ledger;
    article_accounts(l).await;
    l.post_events(&[BusinessEvent::new("p1", "PAY_BANK", "pay", cny(50_000))
        .fee(cny(1_000))
        .party("channel", "CMB")
        .party("merchant", "M1")])
        .await
        .unwrap();
    // Someone edits a balance behind the ledger's back.
    sqlx::query(
        "UPDATE ledger_accounts SET credits = credits + 5 WHERE account_no = '224101:M1:CNY'",
    )
    .execute(l.db().writer())
    .await
    .unwrap();
    e.clock.advance(time::Duration::days(1));
    let r = l.day_end().await.unwrap();
    assert_eq!(r.failed, Some(20261122));
    let bad: Vec<_> = r.checks.iter().filter(|c| !c.ok).collect();
    assert!(
        bad.iter()
            .any(|c| c.name == "opening_plus_movement_equals_closing"),
        "{r:#?}"
    );
    assert!(bad.iter().any(|c| c.name == "trial_balance"), "{r:#?}");
    // The day was switched: new vouchers go to the next day meanwhile.
    assert_eq!(l.current_day().await.unwrap(), 20261123);
    sqlx::query(
        "UPDATE ledger_accounts SET credits = credits - 5 WHERE account_no = '224101:M1:CNY'",
    )
    .execute(l.db().writer())
    .await
    .unwrap();
    let r = l.day_end().await.unwrap();
    assert!(r.ok(), "{r:#?}");
    assert_eq!(r.closed, vec![20261122]);
    // Idempotent: nothing more to close today.
    let r = l.day_end().await.unwrap();
    assert!(r.ok() && r.closed.is_empty());
    // The closed day's trial balance, from its summaries.
    let tb = l.trial_balance(Some(20261122)).await.unwrap();
    assert!(tb.closed && tb.balanced(), "{}", tb.to_text());
    let recv = tb.rows.iter().find(|r| r.subject == "112201").unwrap();
    assert_eq!(recv.closing, cny(50_000));
    let custody = tb.rows.iter().find(|r| r.subject == "2241").unwrap();
    assert_eq!(custody.closing, cny(49_000));
    assert!(tb.to_text().contains("balanced"));
    serde_json::to_string(&tb).unwrap();
    // Month summary exists.
    use paycore_store::Row;
    let m: i64 = sqlx::query("SELECT closing FROM ledger_subject_summaries WHERE period = 'M' AND period_key = 202611 AND subject_code = '1'")
        .fetch_one(l.db().writer()).await.unwrap().try_get("closing").unwrap();
    assert_eq!(m, 50_000);
}

#[tokio::test]
async fn day_end_catches_up_after_downtime() {
    let e = env().await;
    let l = &e.ledger;
    article_accounts(l).await;
    e.clock.advance(time::Duration::days(3));
    let r = l.day_end().await.unwrap();
    assert_eq!(r.closed, vec![20261122, 20261123, 20261124]);
    assert_eq!(l.current_day().await.unwrap(), 20261125);
}
