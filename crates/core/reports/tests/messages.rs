//! Outbox subscribers: in order, from a persisted offset, each event applied once even when it
//! is handed over again (a crash between the effect and the offset).

use std::sync::Arc;

use paycore_kernel::SystemClock;
use paycore_reports::PaymentStats;
use paycore_store::bus::Bus;
use paycore_store::outbox::{self, NewEvent};
use paycore_store::testing;

async fn emit(db: &paycore_store::Db, id: &str, topic: &str, data: serde_json::Value) {
    let mut tx = db.begin().await.unwrap();
    let payload = serde_json::json!({"id": id, "type": topic, "data": data}).to_string();
    outbox::append(
        &mut tx,
        &NewEvent {
            event_id: id,
            topic,
            aggregate_id: "P1",
            shard_key: "M1",
            payload: &payload,
            created_at: 1_795_000_000_000,
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
}

#[tokio::test]
async fn each_event_counts_once_even_when_handed_over_again() {
    let t = testing::migrated_with(&[&paycore_reports::SCHEMA])
        .await
        .unwrap();
    let bus = Bus::new(
        t.db.clone(),
        Arc::new(SystemClock),
        vec![Arc::new(PaymentStats)],
    );
    let paid = serde_json::json!({"product": "ALIPAY", "channel": "sandbox-alipay", "currency": "CNY", "amount": 1000, "fee": 6});
    emit(&t, "E1", "payment.succeeded", paid.clone()).await;
    emit(&t, "E2", "payment.succeeded", paid.clone()).await;
    emit(&t, "E3", "payment.failed", paid.clone()).await;
    emit(&t, "E4", "merchant.misc", serde_json::json!({})).await;
    assert_eq!(bus.run_once().await.unwrap(), 4);
    assert_eq!(bus.run_once().await.unwrap(), 0, "offset moved past them");
    // A crash after the effects but before the offset moved: the events come again.
    sqlx::query("UPDATE outbox_offsets SET last_id = 0")
        .execute(t.db.writer())
        .await
        .unwrap();
    assert_eq!(
        bus.run_once().await.unwrap(),
        0,
        "receipts make the second handling a no-op"
    );
    let day = time::OffsetDateTime::from_unix_timestamp(1_795_000_000)
        .unwrap()
        .date()
        .to_string();
    let rows = PaymentStats::day(&t, &day).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (
            rows[0].succeeded_count,
            rows[0].succeeded_amount,
            rows[0].fee_amount,
            rows[0].failed_count
        ),
        (2, 2000, 12, 1)
    );
    // A malformed event stops the subscriber at that event (nothing skipped silently).
    emit(
        &t,
        "E5",
        "payment.succeeded",
        serde_json::json!({"currency": "CNY"}),
    )
    .await;
    assert!(bus.run_once().await.is_err());
    assert_eq!(
        PaymentStats::day(&t, &day).await.unwrap()[0].succeeded_count,
        2
    );
}
