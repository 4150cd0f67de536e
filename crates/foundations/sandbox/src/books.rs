//! The sandbox channels' own books: keys, orders, refunds and the charge lines that settlement
//! files are made of. Only the sandbox reads these tables.

use std::sync::Arc;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use paycore_kernel::crypto::{random_token, PlatformSigner, Vault};
use paycore_kernel::state::{apply, Named, StateMachine};
use paycore_kernel::{Clock, Currency, Money, Rounding, Secret};
use paycore_store::sealed::{Encoding, SealedColumn};
use paycore_store::state::{Stored, Table, Transition, TransitionError};
use paycore_store::{Db, Row, StoreError};
use sqlx::any::AnyRow;
use time::{Date, OffsetDateTime};

use super::behaviour::Behaviour;
use super::kind::Kind;
use super::wire::ChannelKeys;

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("stored sandbox data is invalid: {0}")]
    Corrupt(String),
    #[error("{0}")]
    Crypto(String),
    #[error("illegal order transition: {0}")]
    Illegal(String),
}

impl From<sqlx::Error> for SandboxError {
    fn from(e: sqlx::Error) -> Self {
        SandboxError::Store(StoreError::Sqlx(e))
    }
}

type Result<T> = std::result::Result<T, SandboxError>;

// ---------------------------------------------------------------------------------------------
// Order state machine
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderState {
    Pending,
    Paid,
    Declined,
    Closed,
    Canceled,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderEvent {
    Pay,
    Decline,
    Close,
    Cancel,
}

impl StateMachine for OrderState {
    type Event = OrderEvent;
    const INITIAL: &'static [Self] = &[OrderState::Pending];
    const TRANSITIONS: &'static [(Self, OrderEvent, Self)] = &[
        (OrderState::Pending, OrderEvent::Pay, OrderState::Paid),
        (
            OrderState::Pending,
            OrderEvent::Decline,
            OrderState::Declined,
        ),
        (OrderState::Pending, OrderEvent::Close, OrderState::Closed),
        (OrderState::Paid, OrderEvent::Cancel, OrderState::Canceled),
    ];
}

paycore_kernel::named!(OrderState { Pending => "pending", Paid => "paid", Declined => "declined",
    Closed => "closed", Canceled => "canceled" });
paycore_kernel::named!(OrderEvent { Pay => "pay", Decline => "decline", Close => "close",
    Cancel => "cancel" });

impl Stored for OrderState {
    const TABLE: Table = Table {
        machine: "sandbox order",
        table: "sandbox_orders",
        key: "id",
        status: "status",
        updated_at: Some("updated_at"),
        history: "sandbox_order_history",
        history_key: "order_id",
    };
}

/// A refund at the sandbox channel is final when it is recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefundState {
    Succeeded,
}
paycore_kernel::named!(RefundState { Succeeded => "succeeded" });

// ---------------------------------------------------------------------------------------------
// Keys and behaviour
// ---------------------------------------------------------------------------------------------

/// How a sealed key is marked in its column (older databases hold them in clear).
const SEALED_MARK: &str = paycore_store::sealed::SEALED_PREFIX;

fn shared_context(channel: &str) -> String {
    format!("sandbox-key:{channel}:shared")
}

fn signing_context(channel: &str) -> String {
    format!("sandbox-key:{channel}:signing")
}

/// A shared secret an older database holds in clear: its text.
fn clear_shared(t: &str) -> Option<Vec<u8>> {
    Some(t.as_bytes().to_vec())
}

/// A signing key an older database holds in clear: PKCS#8 in base64.
fn clear_signing(t: &str) -> Option<Vec<u8>> {
    B64.decode(t).ok()
}

/// The channels' sealed keys, for `paycore keys` to count and re-seal (clear values of older
/// databases are sealed by the first pass that writes).
pub const SEALED: [SealedColumn; 2] = [
    SealedColumn {
        table: "sandbox_keys",
        key: "channel",
        column: "shared_secret",
        encoding: Encoding::Text {
            clear: clear_shared,
        },
        context: shared_context,
    },
    SealedColumn {
        table: "sandbox_keys",
        key: "channel",
        column: "signing_pkcs8",
        encoding: Encoding::Text {
            clear: clear_signing,
        },
        context: signing_context,
    },
];

fn seal(vault: &Vault, context: &str, plain: &[u8]) -> Result<String> {
    let sealed = vault
        .seal(context, plain)
        .map_err(|e| SandboxError::Crypto(e.to_string()))?;
    Ok(format!("{SEALED_MARK}{}", B64.encode(sealed)))
}

/// A key column's bytes: opened when sealed; a clear value of an older database as it is
/// (`clear` decodes it).
fn unseal(
    vault: &Vault,
    context: &str,
    stored: &str,
    clear: impl FnOnce(&str) -> Option<Vec<u8>>,
) -> Result<Secret<Vec<u8>>> {
    let corrupt = || SandboxError::Corrupt(format!("sandbox key {context}"));
    match stored.strip_prefix(SEALED_MARK) {
        Some(b64) => {
            let sealed = B64.decode(b64).map_err(|_| corrupt())?;
            vault.open(context, &sealed).map_err(|_| corrupt())
        }
        None => clear(stored).map(Secret::new).ok_or_else(corrupt),
    }
}

/// The channel's keys, created on first use, sealed under the master key like merchants'
/// secrets (bound to the channel and the key's use).
pub async fn ensure_keys(
    db: &Db,
    clock: &dyn Clock,
    vault: &Vault,
    kind: Kind,
) -> Result<ChannelKeys> {
    let crypto = |e: paycore_kernel::crypto::CryptoError| SandboxError::Crypto(e.to_string());
    let (shared_ctx, signing_ctx) = (shared_context(kind.code()), signing_context(kind.code()));
    let secret = random_token(40).map_err(crypto)?;
    let signing = if kind == Kind::Alipay {
        let s = PlatformSigner::generate().map_err(crypto)?;
        Some(seal(vault, &signing_ctx, s.pkcs8().expose())?)
    } else {
        None
    };
    sqlx::query(
        "INSERT INTO sandbox_keys (channel, shared_secret, signing_pkcs8, created_at)
         VALUES ($1, $2, $3, $4) ON CONFLICT (channel) DO NOTHING",
    )
    .bind(kind.code())
    .bind(seal(vault, &shared_ctx, secret.as_bytes())?)
    .bind(signing)
    .bind(clock.unix_millis())
    .execute(db.writer())
    .await?;
    let row =
        sqlx::query("SELECT shared_secret, signing_pkcs8 FROM sandbox_keys WHERE channel = $1")
            .bind(kind.code())
            .fetch_one(db.writer())
            .await?;
    let shared: String = row.try_get("shared_secret")?;
    let shared = unseal(vault, &shared_ctx, &shared, clear_shared)?;
    let signing: Option<String> = row.try_get("signing_pkcs8")?;
    let signer = match signing {
        Some(stored) => {
            let der = unseal(vault, &signing_ctx, &stored, clear_signing)?;
            Some(Arc::new(
                PlatformSigner::from_pkcs8(der.expose()).map_err(crypto)?,
            ))
        }
        None => None,
    };
    Ok(ChannelKeys {
        shared,
        signer,
        verifier: None,
    })
}

pub async fn load_behaviour(db: &Db, kind: Kind) -> Result<Behaviour> {
    let row = sqlx::query("SELECT settings FROM sandbox_behaviour WHERE channel = $1")
        .bind(kind.code())
        .fetch_optional(db.writer())
        .await?;
    match row {
        Some(r) => {
            let s: String = r.try_get("settings")?;
            serde_json::from_str(&s).map_err(|e| SandboxError::Corrupt(e.to_string()))
        }
        None => Ok(Behaviour::default()),
    }
}

pub async fn save_behaviour(db: &Db, clock: &dyn Clock, kind: Kind, b: &Behaviour) -> Result<()> {
    let json = serde_json::to_string(b).map_err(|e| SandboxError::Corrupt(e.to_string()))?;
    sqlx::query(
        "INSERT INTO sandbox_behaviour (channel, settings, updated_at) VALUES ($1, $2, $3)
         ON CONFLICT (channel) DO UPDATE SET settings = excluded.settings,
             updated_at = excluded.updated_at",
    )
    .bind(kind.code())
    .bind(json)
    .bind(clock.unix_millis())
    .execute(db.writer())
    .await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Orders
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
pub struct Order {
    pub id: i64,
    pub kind: Kind,
    pub attempt_id: String,
    pub channel_txn_id: String,
    pub merchant_id: String,
    pub amount: Money,
    pub subject: String,
    pub payer_phone: Option<String>,
    pub status: OrderState,
    pub token: String,
    pub return_url: Option<String>,
    pub notify_url: Option<String>,
    pub refunded: Money,
    pub fail_code: Option<String>,
    pub paid_at: Option<i64>,
    /// Unix millis after which the payer can no longer pay.
    pub expire_at: Option<i64>,
}

const ORDER_COLUMNS: &str = "id, channel, attempt_id, channel_txn_id, merchant_id, amount, \
    currency, subject, payer_phone, status, token, return_url, notify_url, refunded, fail_code, \
    paid_at, expire_at";

fn corrupt(what: &str) -> SandboxError {
    SandboxError::Corrupt(what.to_string())
}

fn order_from_row(r: &AnyRow) -> Result<Order> {
    let channel: String = r.try_get("channel")?;
    let currency: String = r.try_get("currency")?;
    let currency = Currency::from_code(&currency).map_err(|_| corrupt("currency"))?;
    let status: String = r.try_get("status")?;
    Ok(Order {
        id: r.try_get("id")?,
        kind: Kind::from_code(&channel).ok_or_else(|| corrupt("channel"))?,
        attempt_id: r.try_get("attempt_id")?,
        channel_txn_id: r.try_get("channel_txn_id")?,
        merchant_id: r.try_get("merchant_id")?,
        amount: Money::from_minor(r.try_get("amount")?, currency),
        subject: r.try_get("subject")?,
        payer_phone: r.try_get("payer_phone")?,
        status: OrderState::parse(&status).ok_or_else(|| corrupt("status"))?,
        token: r.try_get("token")?,
        return_url: r.try_get("return_url")?,
        notify_url: r.try_get("notify_url")?,
        refunded: Money::from_minor(r.try_get("refunded")?, currency),
        fail_code: r.try_get("fail_code")?,
        paid_at: r.try_get("paid_at")?,
        expire_at: r.try_get("expire_at")?,
    })
}

pub async fn order_by_attempt(db: &Db, kind: Kind, attempt_id: &str) -> Result<Option<Order>> {
    let sql = format!(
        "SELECT {ORDER_COLUMNS} FROM sandbox_orders WHERE channel = $1 AND attempt_id = $2"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(kind.code())
        .bind(attempt_id)
        .fetch_optional(db.writer())
        .await?;
    row.as_ref().map(order_from_row).transpose()
}

pub async fn order_by_token(db: &Db, token: &str) -> Result<Option<Order>> {
    let sql = format!("SELECT {ORDER_COLUMNS} FROM sandbox_orders WHERE token = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(token)
        .fetch_optional(db.writer())
        .await?;
    row.as_ref().map(order_from_row).transpose()
}

pub struct NewOrder<'a> {
    pub kind: Kind,
    pub attempt_id: &'a str,
    pub merchant_id: &'a str,
    pub amount: Money,
    pub subject: &'a str,
    pub payer_phone: Option<&'a str>,
    pub return_url: Option<&'a str>,
    pub notify_url: Option<&'a str>,
    pub expire_at: Option<i64>,
}

fn new_id(prefix: &str, clock: &dyn Clock) -> Result<String> {
    let day = day_number(clock.now().date());
    let tail = random_token(12).map_err(|e| SandboxError::Crypto(e.to_string()))?;
    Ok(format!("{prefix}{day}{tail}"))
}

/// Creates the order, or returns the one this attempt already has (idempotency by attempt id).
pub async fn insert_order(db: &Db, clock: &dyn Clock, o: &NewOrder<'_>) -> Result<(Order, bool)> {
    if let Some(existing) = order_by_attempt(db, o.kind, o.attempt_id).await? {
        return Ok((existing, false));
    }
    let now = clock.unix_millis();
    let txn_id = new_id(&o.kind.slug()[..2].to_uppercase(), clock)?;
    let token = random_token(32).map_err(|e| SandboxError::Crypto(e.to_string()))?;
    let res = sqlx::query(
        "INSERT INTO sandbox_orders (channel, attempt_id, channel_txn_id, merchant_id, amount,
             currency, subject, payer_phone, status, token, return_url, notify_url, refunded,
             expire_at, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 0, $13, $14, $14)",
    )
    .bind(o.kind.code())
    .bind(o.attempt_id)
    .bind(&txn_id)
    .bind(o.merchant_id)
    .bind(o.amount.minor())
    .bind(o.amount.currency().code())
    .bind(o.subject)
    .bind(o.payer_phone)
    .bind(OrderState::Pending.as_str())
    .bind(&token)
    .bind(o.return_url)
    .bind(o.notify_url)
    .bind(o.expire_at)
    .bind(now)
    .execute(db.writer())
    .await;
    let created = match res {
        Ok(_) => true,
        Err(e) => {
            let e = StoreError::Sqlx(e);
            // Two calls raced with the same attempt id: the other one's order stands.
            if !e.is_unique_violation() {
                return Err(e.into());
            }
            false
        }
    };
    let order = order_by_attempt(db, o.kind, o.attempt_id)
        .await?
        .ok_or_else(|| corrupt("order vanished"))?;
    Ok((order, created))
}

pub fn day_number(d: Date) -> i64 {
    i64::from(d.year()) * 10_000 + i64::from(u8::from(d.month())) * 100 + i64::from(d.day())
}

fn fee_of(kind: Kind, amount: Money) -> Result<Money> {
    amount
        .percent_bps(kind.fee_bps(), Rounding::HalfUp)
        .map_err(|e| SandboxError::Corrupt(e.to_string()))
}

/// Moves the order by `event` (compare-and-set), writes the history row and, for money moves,
/// the charge line, all in one transaction. Returns the order as it is afterwards.
pub async fn transition(
    db: &Db,
    clock: &dyn Clock,
    order: &Order,
    event: OrderEvent,
    fail_code: Option<&str>,
) -> Result<Order> {
    let to = apply(order.status, event).map_err(|e| SandboxError::Illegal(e.to_string()))?;
    let now = clock.unix_millis();
    let mut tx = db.begin().await?;
    let paid_at = if to == OrderState::Paid {
        Some(now)
    } else {
        order.paid_at
    };
    let mut t = Transition::new(order.status, event, now)
        .by(order.kind.code())
        .set("paid_at", paid_at)
        .set("fail_code", fail_code);
    if event == OrderEvent::Cancel {
        // A refunded payment cannot also be canceled, even by a refund racing the cancel.
        t = t.guard("refunded", 0);
    }
    let moved = t.apply(&mut tx, order.id).await;
    let lost = matches!(moved, Err(TransitionError::Lost { .. }));
    if !lost {
        moved.map_err(|e| match e {
            TransitionError::Store(s) => SandboxError::Store(s),
            other => SandboxError::Illegal(other.to_string()),
        })?;
        let charge = match event {
            OrderEvent::Pay => Some(("pay", order.amount, fee_of(order.kind, order.amount)?)),
            // A cancel reverses the payment and its fee.
            OrderEvent::Cancel => Some(("cancel", order.amount, fee_of(order.kind, order.amount)?)),
            _ => None,
        };
        if let Some((kind, amount, fee)) = charge {
            insert_charge(
                &mut tx,
                clock,
                order.kind,
                kind,
                &order.attempt_id,
                &order.channel_txn_id,
                &order.attempt_id,
                amount,
                fee,
            )
            .await?;
        }
        tx.commit().await?;
    } else {
        // Someone else moved it first; the caller gets the state as it is now.
        tx.rollback().await?;
    }
    order_by_attempt(db, order.kind, &order.attempt_id)
        .await?
        .ok_or_else(|| corrupt("order vanished"))
}

#[allow(clippy::too_many_arguments)]
async fn insert_charge(
    tx: &mut paycore_store::Tx,
    clock: &dyn Clock,
    kind: Kind,
    charge_kind: &str,
    ref_id: &str,
    channel_txn_id: &str,
    attempt_id: &str,
    amount: Money,
    fee: Money,
) -> Result<()> {
    let now = clock.now();
    sqlx::query(
        "INSERT INTO sandbox_charges (channel, kind, ref_id, channel_txn_id, attempt_id, amount,
             currency, fee, day, at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(kind.code())
    .bind(charge_kind)
    .bind(ref_id)
    .bind(channel_txn_id)
    .bind(attempt_id)
    .bind(amount.minor())
    .bind(amount.currency().code())
    .bind(fee.minor())
    .bind(day_number(now.date()))
    .bind(clock.unix_millis())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Refunds
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
pub struct RefundRow {
    pub refund_id: String,
    pub attempt_id: String,
    pub channel_refund_id: String,
    pub amount: Money,
    /// True when this call made the refund (false when it existed already).
    pub created: bool,
}

pub async fn refund_by_id(db: &Db, kind: Kind, refund_id: &str) -> Result<Option<RefundRow>> {
    let row = sqlx::query(
        "SELECT refund_id, attempt_id, channel_refund_id, amount, currency FROM sandbox_refunds
         WHERE channel = $1 AND refund_id = $2",
    )
    .bind(kind.code())
    .bind(refund_id)
    .fetch_optional(db.writer())
    .await?;
    match row {
        None => Ok(None),
        Some(r) => {
            let cur: String = r.try_get("currency")?;
            let cur = Currency::from_code(&cur).map_err(|_| corrupt("currency"))?;
            Ok(Some(RefundRow {
                refund_id: r.try_get("refund_id")?,
                attempt_id: r.try_get("attempt_id")?,
                channel_refund_id: r.try_get("channel_refund_id")?,
                amount: Money::from_minor(r.try_get("amount")?, cur),
                created: false,
            }))
        }
    }
}

/// Why a refund is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefundRefusal {
    NotPaid,
    ExceedsRefundable,
    Mismatch,
}

/// Refunds `amount` of a paid order; idempotent by `refund_id`.
pub async fn refund(
    db: &Db,
    clock: &dyn Clock,
    order: &Order,
    refund_id: &str,
    amount: Money,
) -> Result<std::result::Result<RefundRow, RefundRefusal>> {
    if let Some(r) = refund_by_id(db, order.kind, refund_id).await? {
        if r.amount != amount || r.attempt_id != order.attempt_id {
            return Ok(Err(RefundRefusal::Mismatch));
        }
        return Ok(Ok(r));
    }
    if order.status != OrderState::Paid {
        return Ok(Err(RefundRefusal::NotPaid));
    }
    if amount.currency() != order.amount.currency() || !amount.is_positive() {
        return Ok(Err(RefundRefusal::Mismatch));
    }
    let channel_refund_id = new_id("RF", clock)?;
    let mut tx = db.begin().await?;
    // Compare-and-add: the refundable amount cannot be exceeded by concurrent refunds.
    let done = sqlx::query(
        "UPDATE sandbox_orders SET refunded = refunded + $1, updated_at = $2
         WHERE id = $3 AND status = $4 AND refunded + $1 <= amount",
    )
    .bind(amount.minor())
    .bind(clock.unix_millis())
    .bind(order.id)
    .bind(OrderState::Paid.as_str())
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() != 1 {
        tx.rollback().await?;
        return Ok(Err(RefundRefusal::ExceedsRefundable));
    }
    sqlx::query(
        "INSERT INTO sandbox_refunds (channel, refund_id, attempt_id, channel_refund_id, amount,
             currency, status, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $8, $7)",
    )
    .bind(order.kind.code())
    .bind(refund_id)
    .bind(&order.attempt_id)
    .bind(&channel_refund_id)
    .bind(amount.minor())
    .bind(amount.currency().code())
    .bind(clock.unix_millis())
    .bind(RefundState::Succeeded.as_str())
    .execute(&mut *tx)
    .await?;
    // The channel gives back its fee in proportion (real channels differ; this one is kind).
    let fee = fee_of(order.kind, amount)?;
    insert_charge(
        &mut tx,
        clock,
        order.kind,
        "refund",
        refund_id,
        &channel_refund_id,
        &order.attempt_id,
        amount,
        fee,
    )
    .await?;
    tx.commit().await?;
    Ok(Ok(RefundRow {
        refund_id: refund_id.to_string(),
        attempt_id: order.attempt_id.clone(),
        channel_refund_id,
        amount,
        created: true,
    }))
}

// ---------------------------------------------------------------------------------------------
// Charges, balance, carrier usage
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Charge {
    pub kind: String,
    pub channel_txn_id: String,
    pub attempt_id: String,
    pub amount: Money,
    pub fee: Money,
    pub at: OffsetDateTime,
}

pub async fn charges_of_day(db: &Db, kind: Kind, day: Date) -> Result<Vec<Charge>> {
    let rows = sqlx::query(
        "SELECT kind, channel_txn_id, attempt_id, amount, currency, fee, at FROM sandbox_charges
         WHERE channel = $1 AND day = $2 ORDER BY at, id",
    )
    .bind(kind.code())
    .bind(day_number(day))
    .fetch_all(db.writer())
    .await?;
    rows.iter()
        .map(|r| {
            let cur: String = r.try_get("currency")?;
            let cur = Currency::from_code(&cur).map_err(|_| corrupt("currency"))?;
            let at: i64 = r.try_get("at")?;
            Ok(Charge {
                kind: r.try_get("kind")?,
                channel_txn_id: r.try_get("channel_txn_id")?,
                attempt_id: r.try_get("attempt_id")?,
                amount: Money::from_minor(r.try_get("amount")?, cur),
                fee: Money::from_minor(r.try_get("fee")?, cur),
                at: OffsetDateTime::from_unix_timestamp_nanos(i128::from(at) * 1_000_000)
                    .map_err(|_| corrupt("time"))?,
            })
        })
        .collect()
}

/// What the platform holds at the channel: payments less refunds, cancels and fees.
pub async fn balance(db: &Db, kind: Kind, currency: Currency) -> Result<Money> {
    let row = sqlx::query(
        "SELECT CAST(COALESCE(SUM(CASE WHEN kind = $3 THEN amount - fee
                                ELSE fee - amount END), 0) AS BIGINT) AS total
         FROM sandbox_charges WHERE channel = $1 AND currency = $2",
    )
    .bind(kind.code())
    .bind(currency.code())
    .bind("pay")
    .fetch_one(db.writer())
    .await?;
    Ok(Money::from_minor(row.try_get("total")?, currency))
}

/// The carrier's spend of `phone` in the calendar month of `now` (paid, less refunds).
pub async fn carrier_month_usage(
    db: &Db,
    phone: &str,
    now: OffsetDateTime,
    currency: Currency,
) -> Result<Money> {
    let first = now.date().replace_day(1).map_err(|_| corrupt("date"))?;
    let start = first.midnight().assume_utc().unix_timestamp() * 1000;
    let row = sqlx::query(
        "SELECT CAST(COALESCE(SUM(amount - refunded), 0) AS BIGINT) AS total FROM sandbox_orders
         WHERE channel = $1 AND payer_phone = $2 AND status = $5 AND currency = $3
           AND paid_at >= $4",
    )
    .bind(Kind::Carrier.code())
    .bind(phone)
    .bind(currency.code())
    .bind(start)
    .bind(OrderState::Paid.as_str())
    .fetch_one(db.writer())
    .await?;
    Ok(Money::from_minor(row.try_get("total")?, currency))
}

/// `YYYY-MM-DD`.
pub fn day_iso(d: Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_sealed_and_older_clear_ones_still_read() {
        let vault = Vault::new(&Secret::new([3u8; 32])).unwrap();
        let stored = seal(&vault, "sandbox-key:x:shared", b"s3cret").unwrap();
        assert!(stored.starts_with(SEALED_MARK) && !stored.contains("s3cret"));
        let back = unseal(&vault, "sandbox-key:x:shared", &stored, |_| None).unwrap();
        assert_eq!(back.expose(), b"s3cret");
        // Bound to its channel and use: moved to another row, it does not open.
        assert!(unseal(&vault, "sandbox-key:y:shared", &stored, |_| None).is_err());
        // A database from before sealing keeps working.
        let clear = unseal(&vault, "sandbox-key:x:shared", "plain", |t| {
            Some(t.as_bytes().to_vec())
        })
        .unwrap();
        assert_eq!(clear.expose(), b"plain");
    }
}
