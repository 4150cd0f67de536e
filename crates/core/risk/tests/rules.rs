//! Risk rules over a real database (SQLite, or PostgreSQL by PAYCORE_TEST_DATABASE_URL): each
//! kind fires when it should and only then, the most severe action decides, bad rules are
//! refused, and every decision is stored with the rules that fired.

use std::sync::Arc;

use paycore_kernel::{Currency, IdGenerator, IdLayout, ManualClock, Money};
use paycore_risk::{Action, Facts, NewRule, Risk, RuleKind, Subject};
use paycore_store::sequence::DbSequenceSource;
use paycore_store::testing::{self, TestDb};

async fn env() -> (TestDb, Risk, Arc<ManualClock>) {
    let t = testing::migrated_with(&[&paycore_risk::SCHEMA])
        .await
        .unwrap();
    let clock = Arc::new(ManualClock::new(
        time::macros::datetime!(2027-01-15 03:00 UTC),
    ));
    let ids = Arc::new(IdGenerator::new(
        IdLayout::default(),
        Arc::new(DbSequenceSource::new(t.db.clone())),
        clock.clone(),
    ));
    let r = Risk::new(t.db.clone(), ids, clock.clone());
    (t, r, clock)
}

fn cny(minor: i64) -> Money {
    Money::from_minor(minor, Currency::CNY)
}

fn rule(kind: RuleKind, action: Action) -> NewRule {
    NewRule {
        name: format!("{} rule", kind.as_str()),
        kind,
        subject: None,
        threshold: None,
        window_seconds: None,
        max_count: None,
        values: Vec::new(),
        action,
        enabled: true,
    }
}

fn facts(n: u32, amount: i64, device: &str) -> Facts {
    Facts {
        reference: format!("P{n}"),
        member_id: "M1".into(),
        card_id: Some("C1".into()),
        device_id: Some(device.into()),
        client_ip: Some("203.0.113.7".into()),
        amount: cny(amount),
    }
}

#[tokio::test]
async fn each_kind_fires_when_it_should_and_the_most_severe_action_decides() {
    let (_t, r, _clock) = env().await;
    // Nothing configured: allowed, and recorded.
    let d = r.assess(&facts(0, 100, "D1")).await.unwrap();
    assert_eq!((d.action, d.fired.len()), (Action::Allow, 0));
    let big = r
        .add_rule(
            NewRule {
                threshold: Some(cny(100_000)),
                ..rule(RuleKind::Amount, Action::Challenge)
            },
            "op",
        )
        .await
        .unwrap();
    r.add_rule(
        NewRule {
            threshold: Some(cny(5_000_000)),
            ..rule(RuleKind::LargeAmount, Action::Allow)
        },
        "op",
    )
    .await
    .unwrap();
    r.add_rule(rule(RuleKind::NewDevice, Action::Challenge), "op")
        .await
        .unwrap();
    r.add_rule(
        NewRule {
            subject: Some(Subject::Card),
            values: vec!["C-STOLEN".into()],
            ..rule(RuleKind::Blacklist, Action::Block)
        },
        "op",
    )
    .await
    .unwrap();
    r.add_rule(
        NewRule {
            subject: Some(Subject::Member),
            window_seconds: Some(60),
            max_count: Some(5),
            ..rule(RuleKind::Velocity, Action::Block)
        },
        "op",
    )
    .await
    .unwrap();
    assert_eq!(
        r.assess(&facts(1, 99_999, "D1")).await.unwrap().action,
        Action::Allow
    );
    let d = r.assess(&facts(2, 100_000, "D1")).await.unwrap();
    assert_eq!(
        (d.action, d.fired[0].rule_id.as_str()),
        (Action::Challenge, big.rule_id.as_str())
    );
    let d = r.assess(&facts(3, 6_000_000, "D1")).await.unwrap();
    assert!(d.aml_review && d.action == Action::Challenge, "{d:?}");
    // A device this member has not paid from.
    assert_eq!(
        r.assess(&facts(4, 100, "D2")).await.unwrap().action,
        Action::Challenge
    );
    // The sixth payment within a minute: blocked (velocity beats the rest).
    let d = r.assess(&facts(5, 100, "D1")).await.unwrap();
    assert_eq!(d.action, Action::Block, "{d:?}");
    let mut stolen = facts(6, 100, "D1");
    stolen.member_id = "M2".into();
    stolen.card_id = Some("C-STOLEN".into());
    assert_eq!(r.assess(&stolen).await.unwrap().action, Action::Block);
    let stored = r.decisions_of("P2").await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].0, Action::Challenge);
    assert_eq!(stored[0].1[0].name, "AMOUNT rule");
    // Switched off, a rule fires no more.
    r.set_enabled(&big.rule_id, false, "op").await.unwrap();
    let mut later = facts(7, 200_000, "D1");
    later.member_id = "M3".into();
    assert_eq!(r.assess(&later).await.unwrap().action, Action::Allow);
}

#[tokio::test]
async fn velocity_counts_within_its_window_only() {
    let (_t, r, clock) = env().await;
    r.add_rule(
        NewRule {
            subject: Some(Subject::Ip),
            window_seconds: Some(60),
            max_count: Some(2),
            ..rule(RuleKind::Velocity, Action::Challenge)
        },
        "op",
    )
    .await
    .unwrap();
    assert_eq!(
        r.assess(&facts(1, 100, "D1")).await.unwrap().action,
        Action::Allow
    );
    assert_eq!(
        r.assess(&facts(2, 100, "D1")).await.unwrap().action,
        Action::Allow
    );
    assert_eq!(
        r.assess(&facts(3, 100, "D1")).await.unwrap().action,
        Action::Challenge
    );
    clock.advance(time::Duration::seconds(61));
    assert_eq!(
        r.assess(&facts(4, 100, "D1")).await.unwrap().action,
        Action::Allow
    );
}

#[tokio::test]
async fn rules_without_what_their_kind_needs_are_refused() {
    let (_t, r, _clock) = env().await;
    for bad in [
        rule(RuleKind::Amount, Action::Block),
        rule(RuleKind::Velocity, Action::Block),
        NewRule {
            subject: Some(Subject::Card),
            ..rule(RuleKind::Blacklist, Action::Block)
        },
        NewRule {
            name: " ".into(),
            threshold: Some(cny(1)),
            ..rule(RuleKind::Amount, Action::Block)
        },
    ] {
        assert!(r.add_rule(bad, "op").await.is_err());
    }
    assert!(r.rules().await.unwrap().is_empty());
}
