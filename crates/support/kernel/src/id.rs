//! Business IDs (E5): 32 decimal digits that say when, by whom, of what kind and where.
//!
//! Layout, in order: `yyyyMMdd`(8) · data version(1) · system version(1) · system code(3) ·
//! business type(2) · region(2) · database shard(2) · table shard(2) · environment(1) ·
//! reserved(2) · sequence(8).
//!
//! The shard digits come from the shard key, so an ID tells where its row lives. The sequence is
//! unique per (date, business type): numbers come in blocks from a persisted [`SequenceSource`],
//! so several threads, processes and restarts never hand out the same one.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::str::FromStr;
use std::sync::{Arc, Mutex, MutexGuard};

use serde::{Deserialize, Serialize};
use time::{Date, Month, UtcOffset};

use crate::clock::Clock;

/// Number of digits in a business ID.
pub const ID_LEN: usize = 32;
/// Largest sequence number that fits the 8-digit field.
pub const MAX_SEQUENCE: u32 = 99_999_999;
/// First number a fresh (date, business type) hands out.
pub const FIRST_SEQUENCE: u64 = 1;
/// Numbers reserved from the source per round trip unless told otherwise.
pub const DEFAULT_BLOCK_SIZE: u32 = 1000;

// Field positions (start, width) within the 32 digits.
const DATE: (usize, usize) = (0, 8);
const DATA_VERSION: (usize, usize) = (8, 1);
const SYSTEM_VERSION: (usize, usize) = (9, 1);
const SYSTEM_CODE: (usize, usize) = (10, 3);
const BIZ_TYPE: (usize, usize) = (13, 2);
const REGION: (usize, usize) = (15, 2);
const DB_SHARD: (usize, usize) = (17, 2);
const TABLE_SHARD: (usize, usize) = (19, 2);
const ENVIRONMENT: (usize, usize) = (21, 1);
const RESERVED: (usize, usize) = (22, 2);
const SEQUENCE: (usize, usize) = (24, 8);

/// Longest piece of caller input echoed back in an error.
const ECHO_MAX: usize = 40;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("malformed business id: {0}")]
    Malformed(String),
    #[error("invalid id layout: {0}")]
    InvalidLayout(String),
    #[error("sequence exhausted for the day")]
    SequenceExhausted,
    #[error("sequence source failed: {0}")]
    Source(String),
}

fn malformed(input: &str, why: &str) -> IdError {
    let shown: String = input.chars().take(ECHO_MAX).collect();
    IdError::Malformed(format!("{shown:?}: {why}"))
}

// ---------------------------------------------------------------------------------------------
// Layout
// ---------------------------------------------------------------------------------------------

/// The per-deployment fields of an ID. Each must fit its digit width.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct IdLayout {
    /// 0-9
    pub data_version: u8,
    /// 0-9
    pub system_version: u8,
    /// 0-999
    pub system_code: u16,
    /// 0-99
    pub region: u8,
    /// 0-9
    pub environment: u8,
    /// 0-99
    pub reserved: u8,
}

impl Default for IdLayout {
    fn default() -> Self {
        IdLayout {
            data_version: 1,
            system_version: 1,
            system_code: 101,
            region: 86,
            environment: 1,
            reserved: 0,
        }
    }
}

impl IdLayout {
    pub fn validate(&self) -> Result<(), IdError> {
        let checks: [(&str, u32, u32); 6] = [
            ("data_version", self.data_version.into(), 9),
            ("system_version", self.system_version.into(), 9),
            ("system_code", self.system_code.into(), 999),
            ("region", self.region.into(), 99),
            ("environment", self.environment.into(), 9),
            ("reserved", self.reserved.into(), 99),
        ];
        match checks.iter().find(|(_, value, max)| value > max) {
            Some((name, value, max)) => Err(IdError::InvalidLayout(format!(
                "{name} = {value} exceeds {max}"
            ))),
            None => Ok(()),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Business types
// ---------------------------------------------------------------------------------------------

macro_rules! biz_types {
    ($($name:ident = $code:literal),+ $(,)?) => {
        /// What an ID identifies. The codes are stored in every ID: never renumber one.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[repr(u8)]
        pub enum BizType {
            $($name = $code),+
        }

        impl BizType {
            pub const ALL: &'static [BizType] = &[$(BizType::$name),+];

            pub fn from_code(code: u8) -> Option<BizType> {
                match code {
                    $($code => Some(BizType::$name),)+
                    _ => None,
                }
            }
        }
    };
}

/// A client's own number for an object (`out_trade_no`, `out_refund_no`, a member's
/// `request_no`, …): 1 to 64 of `[A-Za-z0-9._-]`, so that it is safe in any id, key or log.
pub fn valid_own_number(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

biz_types! {
    Merchant = 10,
    MerchantKey = 11,
    Contract = 12,
    Member = 15,
    Card = 16,
    Payment = 20,
    ChannelAttempt = 21,
    Refund = 22,
    Preauth = 23,
    Completion = 24,
    Agreement = 25,
    Payout = 26,
    Fund = 27,
    Coupon = 28,
    Quota = 29,
    Voucher = 30,
    Account = 31,
    Hold = 32,
    Plan = 33,
    RiskRule = 34,
    Notification = 40,
    Event = 41,
    Job = 42,
    Settlement = 50,
    Reconciliation = 51,
    ErrorCase = 52,
    Chargeback = 53,
}

impl BizType {
    /// The stable two-digit code.
    pub const fn code(self) -> u8 {
        self as u8
    }

    pub fn all() -> &'static [BizType] {
        Self::ALL
    }
}

// ---------------------------------------------------------------------------------------------
// BizId
// ---------------------------------------------------------------------------------------------

/// A validated 32-digit business ID. Date and business type are decoded once at construction;
/// the digits are the identity (ordering is by digits, i.e. by date first).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BizId {
    digits: [u8; ID_LEN],
    date: Date,
    biz: BizType,
}

/// Reads a decimal field. Uses iterators rather than slicing so a wrong constant cannot panic.
fn read_field(digits: &[u8; ID_LEN], (start, width): (usize, usize)) -> u32 {
    digits
        .iter()
        .skip(start)
        .take(width)
        .fold(0u32, |acc, d| acc * 10 + u32::from(d.wrapping_sub(b'0')))
}

/// Writes `value` zero-padded into a field; the caller has checked that it fits.
fn write_field(digits: &mut [u8; ID_LEN], (start, width): (usize, usize), value: u32) {
    let mut rest = value;
    for slot in digits.iter_mut().skip(start).take(width).rev() {
        // `rest % 10` is below 10, so the cast cannot truncate.
        *slot = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
    debug_assert_eq!(rest, 0, "value {value} wider than its field");
}

impl BizId {
    /// Builds an ID from its parts, checking every field against its width.
    pub fn compose(
        layout: IdLayout,
        date: Date,
        biz: BizType,
        db_shard: u8,
        table_shard: u8,
        sequence: u32,
    ) -> Result<BizId, IdError> {
        layout.validate()?;
        if db_shard > 99 || table_shard > 99 {
            return Err(IdError::InvalidLayout(format!(
                "shards ({db_shard}, {table_shard}) must be below 100"
            )));
        }
        if sequence > MAX_SEQUENCE {
            return Err(IdError::SequenceExhausted);
        }
        let year = u32::try_from(date.year())
            .ok()
            .filter(|y| *y <= 9999)
            .ok_or_else(|| IdError::InvalidLayout(format!("year {} not 4 digits", date.year())))?;

        let mut digits = [b'0'; ID_LEN];
        let yyyymmdd =
            year * 10_000 + u32::from(u8::from(date.month())) * 100 + u32::from(date.day());
        write_field(&mut digits, DATE, yyyymmdd);
        write_field(&mut digits, DATA_VERSION, layout.data_version.into());
        write_field(&mut digits, SYSTEM_VERSION, layout.system_version.into());
        write_field(&mut digits, SYSTEM_CODE, layout.system_code.into());
        write_field(&mut digits, BIZ_TYPE, biz.code().into());
        write_field(&mut digits, REGION, layout.region.into());
        write_field(&mut digits, DB_SHARD, db_shard.into());
        write_field(&mut digits, TABLE_SHARD, table_shard.into());
        write_field(&mut digits, ENVIRONMENT, layout.environment.into());
        write_field(&mut digits, RESERVED, layout.reserved.into());
        write_field(&mut digits, SEQUENCE, sequence);
        Ok(BizId { digits, date, biz })
    }

    pub fn as_str(&self) -> &str {
        // Every constructor stores ASCII digits only, so this cannot fail.
        std::str::from_utf8(&self.digits).unwrap_or_default()
    }

    pub fn date(&self) -> Date {
        self.date
    }

    pub fn data_version(&self) -> u8 {
        self.small_field(DATA_VERSION)
    }

    pub fn system_version(&self) -> u8 {
        self.small_field(SYSTEM_VERSION)
    }

    pub fn system_code(&self) -> u16 {
        // Three digits: at most 999.
        read_field(&self.digits, SYSTEM_CODE) as u16
    }

    pub fn biz_type(&self) -> BizType {
        self.biz
    }

    pub fn region(&self) -> u8 {
        self.small_field(REGION)
    }

    pub fn db_shard(&self) -> u8 {
        self.small_field(DB_SHARD)
    }

    pub fn table_shard(&self) -> u8 {
        self.small_field(TABLE_SHARD)
    }

    pub fn environment(&self) -> u8 {
        self.small_field(ENVIRONMENT)
    }

    pub fn reserved(&self) -> u8 {
        self.small_field(RESERVED)
    }

    pub fn sequence(&self) -> u32 {
        read_field(&self.digits, SEQUENCE)
    }

    /// One- or two-digit fields: at most 99, so the cast cannot truncate.
    fn small_field(&self, field: (usize, usize)) -> u8 {
        debug_assert!(field.1 <= 2);
        read_field(&self.digits, field) as u8
    }
}

impl FromStr for BizId {
    type Err = IdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let digits: [u8; ID_LEN] = s
            .as_bytes()
            .try_into()
            .map_err(|_| malformed(s, "expected exactly 32 digits"))?;
        if !digits.iter().all(u8::is_ascii_digit) {
            return Err(malformed(s, "expected only ASCII digits"));
        }
        let ymd = read_field(&digits, DATE);
        let month = u8::try_from(ymd / 100 % 100)
            .ok()
            .and_then(|m| Month::try_from(m).ok());
        let date = month
            .and_then(|m| {
                // Four digits and two digits: both fit their types.
                Date::from_calendar_date((ymd / 10_000) as i32, m, (ymd % 100) as u8).ok()
            })
            .ok_or_else(|| malformed(s, "invalid date"))?;
        let biz = u8::try_from(read_field(&digits, BIZ_TYPE))
            .ok()
            .and_then(BizType::from_code)
            .ok_or_else(|| malformed(s, "unknown business type"))?;
        Ok(BizId { digits, date, biz })
    }
}

impl fmt::Display for BizId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for BizId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BizId({})", self.as_str())
    }
}

impl Serialize for BizId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for BizId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct IdVisitor;

        impl serde::de::Visitor<'_> for IdVisitor {
            type Value = BizId;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a 32-digit business id")
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<BizId, E> {
                v.parse().map_err(E::custom)
            }
        }

        deserializer.deserialize_str(IdVisitor)
    }
}

// ---------------------------------------------------------------------------------------------
// Sharding
// ---------------------------------------------------------------------------------------------

/// FNV-1a, 64 bit. Shard placement is persisted, so the hash must never change between builds
/// or processes (std's `DefaultHasher` is randomly seeded and unspecified).
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    bytes
        .iter()
        .fold(OFFSET, |h, &b| (h ^ u64::from(b)).wrapping_mul(PRIME))
}

/// (database shard, table shard), each in 0..100, for a shard key.
///
/// A key that is itself a business ID keeps that ID's shards, so the rows keyed by a merchant
/// (or a payment) live with it. Other keys are hashed.
pub fn shard_of(key: &str) -> (u8, u8) {
    if let Ok(id) = key.parse::<BizId>() {
        return (id.db_shard(), id.table_shard());
    }
    let h = fnv1a64(key.as_bytes());
    // Both remainders are below 100.
    ((h % 100) as u8, (h / 100 % 100) as u8)
}

// ---------------------------------------------------------------------------------------------
// Sequence sources
// ---------------------------------------------------------------------------------------------

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

pub trait SequenceSource: Send + Sync + 'static {
    /// Reserve `count` consecutive sequence numbers for (day, biz); returns the first. Numbers
    /// are never handed out twice, even across restarts.
    fn reserve<'a>(
        &'a self,
        day: Date,
        biz: BizType,
        count: u32,
    ) -> BoxFuture<'a, Result<u64, IdError>>;
}

/// In-memory source for tests and benchmarks. Not persisted: a restarted process would reuse
/// numbers, so production uses the database's implementation.
#[derive(Debug, Default)]
pub struct MemorySequenceSource {
    next: Mutex<HashMap<(Date, BizType), u64>>,
}

impl MemorySequenceSource {
    pub fn new() -> Self {
        Self::default()
    }

    fn reserve_now(&self, day: Date, biz: BizType, count: u32) -> Result<u64, IdError> {
        if count == 0 {
            return Err(IdError::Source("reserve count must be positive".into()));
        }
        let mut map = lock(&self.next);
        let next = map.entry((day, biz)).or_insert(FIRST_SEQUENCE);
        let first = *next;
        *next = first
            .checked_add(u64::from(count))
            .ok_or(IdError::SequenceExhausted)?;
        Ok(first)
    }
}

impl SequenceSource for MemorySequenceSource {
    fn reserve<'a>(
        &'a self,
        day: Date,
        biz: BizType,
        count: u32,
    ) -> BoxFuture<'a, Result<u64, IdError>> {
        // Done before the future is built, so the lock is never held across an await.
        let result = self.reserve_now(day, biz, count);
        Box::pin(std::future::ready(result))
    }
}

/// A poisoned lock only means another thread panicked mid-update; the counters it guards are
/// still monotonic, so carry on rather than spread the panic.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

// ---------------------------------------------------------------------------------------------
// Generator
// ---------------------------------------------------------------------------------------------

/// Numbers `next..end` of `day`, reserved from the source and not yet handed out.
#[derive(Debug, Clone, Copy)]
struct Block {
    day: Date,
    next: u64,
    end: u64,
}

#[derive(Debug, Default)]
struct Slot {
    /// Fast path: held only to bump `next`, never across an await.
    block: Mutex<Option<Block>>,
    /// Serializes refills, so concurrent callers share one new block instead of each reserving
    /// (and mostly wasting) their own.
    refill: tokio::sync::Mutex<()>,
}

impl Slot {
    fn take(&self, day: Date) -> Option<u64> {
        let mut guard = lock(&self.block);
        let block = guard.as_mut().filter(|b| b.day == day && b.next < b.end)?;
        let seq = block.next;
        block.next += 1;
        Some(seq)
    }
}

/// Business types have two-digit codes, so one slot per possible code.
const SLOTS: usize = 100;

pub struct IdGenerator {
    layout: IdLayout,
    source: Arc<dyn SequenceSource>,
    clock: Arc<dyn Clock>,
    block_size: u32,
    slots: Box<[Slot]>,
}

impl fmt::Debug for IdGenerator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdGenerator")
            .field("layout", &self.layout)
            .field("block_size", &self.block_size)
            .finish_non_exhaustive()
    }
}

impl IdGenerator {
    pub fn new(layout: IdLayout, source: Arc<dyn SequenceSource>, clock: Arc<dyn Clock>) -> Self {
        IdGenerator {
            layout,
            source,
            clock,
            block_size: DEFAULT_BLOCK_SIZE,
            slots: (0..SLOTS).map(|_| Slot::default()).collect(),
        }
    }

    /// Numbers reserved per round trip to the source, clamped to 1..=100_000_000. Larger blocks
    /// mean fewer round trips but more numbers skipped when a process stops mid-block.
    pub fn with_block_size(mut self, block_size: u32) -> Self {
        self.block_size = block_size.clamp(1, MAX_SEQUENCE + 1);
        self
    }

    pub fn layout(&self) -> IdLayout {
        self.layout
    }

    /// A new ID of type `biz` for today (UTC), placed on the shards of `shard_key`.
    pub async fn next(&self, biz: BizType, shard_key: &str) -> Result<BizId, IdError> {
        // Checked first so that a bad layout does not burn sequence numbers.
        self.layout.validate()?;
        let day = self.clock.now().to_offset(UtcOffset::UTC).date();
        let (db_shard, table_shard) = shard_of(shard_key);
        let sequence = self.next_sequence(day, biz).await?;
        BizId::compose(self.layout, day, biz, db_shard, table_shard, sequence)
    }

    async fn next_sequence(&self, day: Date, biz: BizType) -> Result<u32, IdError> {
        let slot = self
            .slots
            .get(usize::from(biz.code()))
            .ok_or_else(|| IdError::InvalidLayout(format!("biz code {} >= 100", biz.code())))?;
        if let Some(seq) = slot.take(day) {
            return to_sequence(seq);
        }

        let _refilling = slot.refill.lock().await;
        // Someone else may have refilled while we waited for the lock.
        if let Some(seq) = slot.take(day) {
            return to_sequence(seq);
        }
        let first = self.source.reserve(day, biz, self.block_size).await?;
        let seq = to_sequence(first)?;
        // Numbers past the field's range are unusable; cap the block there.
        let end = first
            .saturating_add(u64::from(self.block_size))
            .min(u64::from(MAX_SEQUENCE) + 1);
        // Replacing a block of another day (the clock crossed midnight) only skips numbers;
        // it never repeats one.
        *lock(&slot.block) = Some(Block {
            day,
            next: first + 1,
            end,
        });
        Ok(seq)
    }
}

fn to_sequence(n: u64) -> Result<u32, IdError> {
    u32::try_from(n)
        .ok()
        .filter(|&s| s <= MAX_SEQUENCE)
        .ok_or(IdError::SequenceExhausted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use proptest::prelude::*;
    use std::collections::HashSet;
    use std::sync::atomic::{AtomicU64, Ordering};
    use time::macros::{date, datetime};
    use time::Duration;

    fn generator(source: Arc<dyn SequenceSource>, clock: &ManualClock) -> IdGenerator {
        IdGenerator::new(IdLayout::default(), source, Arc::new(clock.clone()))
    }

    fn runtime() -> tokio::runtime::Runtime {
        match tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
        {
            Ok(rt) => rt,
            Err(e) => panic!("runtime: {e}"),
        }
    }

    #[test]
    fn biz_codes_are_stable_two_digit_and_unique() {
        assert_eq!(BizType::all().len(), 27);
        let mut seen = HashSet::new();
        for &b in BizType::all() {
            assert!(b.code() >= 10 && b.code() < 100, "{b:?}");
            assert!(seen.insert(b.code()), "duplicate code {}", b.code());
            assert_eq!(BizType::from_code(b.code()), Some(b));
        }
        assert_eq!(BizType::Payment.code(), 20);
        assert_eq!(BizType::Chargeback.code(), 53);
        assert_eq!(BizType::from_code(0), None);
        assert_eq!(BizType::from_code(99), None);
    }

    #[test]
    fn layout_validation() {
        assert_eq!(IdLayout::default().validate(), Ok(()));
        let bad = [
            IdLayout {
                data_version: 10,
                ..IdLayout::default()
            },
            IdLayout {
                system_version: 10,
                ..IdLayout::default()
            },
            IdLayout {
                system_code: 1000,
                ..IdLayout::default()
            },
            IdLayout {
                region: 100,
                ..IdLayout::default()
            },
            IdLayout {
                environment: 10,
                ..IdLayout::default()
            },
            IdLayout {
                reserved: 100,
                ..IdLayout::default()
            },
        ];
        for layout in bad {
            assert!(
                matches!(layout.validate(), Err(IdError::InvalidLayout(_))),
                "{layout:?}"
            );
        }
    }

    #[test]
    fn known_id_layout() {
        let id = BizId::compose(
            IdLayout::default(),
            date!(2024 - 03 - 15),
            BizType::Payment,
            7,
            42,
            123,
        )
        .unwrap();
        // date     dv sv sys biz rg db tb env rsv sequence
        // 20240315 1  1  101 20  86 07 42 1   00  00000123
        assert_eq!(id.as_str(), "20240315111012086074210000000123");
        assert_eq!(id.to_string(), id.as_str());
        assert_eq!(format!("{id:?}"), "BizId(20240315111012086074210000000123)");
        assert_eq!(id.as_str().parse::<BizId>(), Ok(id));
        assert_eq!(id.date(), date!(2024 - 03 - 15));
        assert_eq!(id.biz_type(), BizType::Payment);
        assert_eq!((id.db_shard(), id.table_shard()), (7, 42));
        assert_eq!(id.sequence(), 123);
    }

    #[test]
    fn compose_checks_widths() {
        let l = IdLayout::default();
        let d = date!(2024 - 03 - 15);
        let b = BizType::Refund;
        assert!(matches!(
            BizId::compose(l, d, b, 100, 0, 1),
            Err(IdError::InvalidLayout(_))
        ));
        assert!(matches!(
            BizId::compose(l, d, b, 0, 100, 1),
            Err(IdError::InvalidLayout(_))
        ));
        assert_eq!(
            BizId::compose(l, d, b, 0, 0, 100_000_000),
            Err(IdError::SequenceExhausted)
        );
        assert!(BizId::compose(l, d, b, 99, 99, MAX_SEQUENCE).is_ok());
        let bad_layout = IdLayout { region: 100, ..l };
        assert!(matches!(
            BizId::compose(bad_layout, d, b, 0, 0, 1),
            Err(IdError::InvalidLayout(_))
        ));
        let negative_year = date!(-0001 - 01 - 01);
        assert!(matches!(
            BizId::compose(l, negative_year, b, 0, 0, 1),
            Err(IdError::InvalidLayout(_))
        ));
    }

    #[test]
    fn malformed_ids_are_rejected() {
        let good = "20240315111012086074210000000123";
        assert!(good.parse::<BizId>().is_ok());
        let bad = [
            "",
            "2024031511101208607421000000012",   // 31
            "202403151110120860742100000001234", // 33
            "2024031511101208607421000000012a",
            "-0240315111012086074210000000123",
            "20240230111012086074210000000123", // February 30th
            "20241315111012086074210000000123", // month 13
            "20240300111012086074210000000123", // day 0
            "20240315111019986074210000000123", // biz type 99
            "2024031511101208607421000000012３",
        ];
        for s in bad {
            assert!(
                matches!(s.parse::<BizId>(), Err(IdError::Malformed(_))),
                "{s:?}"
            );
        }
    }

    #[test]
    fn serde_is_the_digit_string() {
        use serde::de::value::{Error as DeError, StrDeserializer};
        use serde::de::IntoDeserializer;

        let s = "20240315111012086074210000000123";
        let de: StrDeserializer<'_, DeError> = s.into_deserializer();
        assert_eq!(BizId::deserialize(de).unwrap().as_str(), s);
        let de: StrDeserializer<'_, DeError> = "123".into_deserializer();
        assert!(BizId::deserialize(de).is_err());
    }

    #[test]
    fn shard_hash_is_pinned() {
        // Published FNV-1a 64 test vectors.
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
        // Placement is persisted: these values must never change.
        assert_eq!(shard_of("foobar"), (68, 69));
        assert_eq!(shard_of("M20240101"), (40, 45));
        assert_eq!(shard_of(""), (37, 60));
    }

    #[test]
    fn shard_of_reuses_an_ids_own_shards() {
        let merchant = BizId::compose(
            IdLayout::default(),
            date!(2024 - 01 - 02),
            BizType::Merchant,
            13,
            77,
            5,
        )
        .unwrap();
        assert_eq!(shard_of(merchant.as_str()), (13, 77));

        let rt = runtime();
        let clock = ManualClock::new(datetime!(2024-05-01 10:00 UTC));
        let gen = generator(Arc::new(MemorySequenceSource::new()), &clock);
        let payment = rt
            .block_on(gen.next(BizType::Payment, merchant.as_str()))
            .unwrap();
        assert_eq!((payment.db_shard(), payment.table_shard()), (13, 77));
        let other = rt.block_on(gen.next(BizType::Payment, "foobar")).unwrap();
        assert_eq!((other.db_shard(), other.table_shard()), (68, 69));
    }

    #[test]
    fn a_new_date_starts_new_blocks() {
        let rt = runtime();
        let clock = ManualClock::new(datetime!(2024-03-15 23:59:59 UTC));
        let gen = generator(Arc::new(MemorySequenceSource::new()), &clock);
        let next = |biz| rt.block_on(gen.next(biz, "k")).unwrap();

        let a = next(BizType::Payment);
        let b = next(BizType::Payment);
        assert_eq!((a.date(), a.sequence()), (date!(2024 - 03 - 15), 1));
        assert_eq!(b.sequence(), 2);
        assert_eq!(b.environment(), 1);

        clock.advance(Duration::seconds(1));
        let c = next(BizType::Payment);
        assert_eq!((c.date(), c.sequence()), (date!(2024 - 03 - 16), 1));
        assert!(c.as_str().starts_with("20240316"));

        // Back to the old day (a clock step): its first block was dropped, never reused.
        clock.set(datetime!(2024-03-15 23:59:59 UTC));
        let d = next(BizType::Payment);
        assert_eq!((d.date(), d.sequence()), (date!(2024 - 03 - 15), 1001));

        // Types count independently; the wall clock's offset does not move the UTC date.
        assert_eq!(next(BizType::Refund).sequence(), 1);
        clock.set(datetime!(2024-03-16 07:00 +08:00));
        assert_eq!(next(BizType::Refund).date(), date!(2024 - 03 - 15));
    }

    #[test]
    fn restarted_generators_never_collide() {
        let rt = runtime();
        let clock = ManualClock::new(datetime!(2024-06-01 12:00 UTC));
        let source: Arc<dyn SequenceSource> = Arc::new(MemorySequenceSource::new());
        let mut seen = HashSet::new();

        // First process stops mid-block; its successor must skip the unused rest.
        let first = generator(source.clone(), &clock).with_block_size(50);
        for _ in 0..10 {
            assert!(seen.insert(rt.block_on(first.next(BizType::Voucher, "k")).unwrap()));
        }
        drop(first);

        // Two live processes over the same source, interleaved.
        let a = generator(source.clone(), &clock).with_block_size(7);
        let b = generator(source.clone(), &clock).with_block_size(3);
        for _ in 0..200 {
            assert!(seen.insert(rt.block_on(a.next(BizType::Voucher, "k")).unwrap()));
            assert!(seen.insert(rt.block_on(b.next(BizType::Voucher, "k")).unwrap()));
        }
        assert_eq!(seen.len(), 410);
        let min_after_restart = seen.iter().map(BizId::sequence).filter(|&s| s > 10).min();
        assert_eq!(min_after_restart, Some(51));
    }

    #[test]
    fn one_million_ids_from_eight_threads_are_unique() {
        const THREADS: usize = 8;
        const PER_THREAD: usize = 125_000;

        let rt = runtime();
        let clock = ManualClock::new(datetime!(2024-11-11 00:00 UTC));
        let gen = Arc::new(generator(Arc::new(MemorySequenceSource::new()), &clock));
        let workers: Vec<_> = (0..THREADS)
            .map(|t| {
                let gen = gen.clone();
                let handle = rt.handle().clone();
                std::thread::spawn(move || {
                    let key = format!("merchant-{t}");
                    handle.block_on(async {
                        let mut ids = Vec::with_capacity(PER_THREAD);
                        for _ in 0..PER_THREAD {
                            ids.push(gen.next(BizType::Payment, &key).await);
                        }
                        ids
                    })
                })
            })
            .collect();

        let mut seen = HashSet::with_capacity(THREADS * PER_THREAD);
        for w in workers {
            for id in w.join().unwrap() {
                let id = id.unwrap();
                assert!(seen.insert(id), "duplicate {id}");
            }
        }
        assert_eq!(seen.len(), THREADS * PER_THREAD);
        // Refills are serialized, so no block was wasted: exactly 1..=1_000_000.
        let max = seen.iter().map(BizId::sequence).max();
        assert_eq!(max, Some(1_000_000));
    }

    /// Hands out blocks from a given start, to reach the top of the sequence range quickly.
    struct FromSource(AtomicU64);

    impl SequenceSource for FromSource {
        fn reserve<'a>(
            &'a self,
            _: Date,
            _: BizType,
            count: u32,
        ) -> BoxFuture<'a, Result<u64, IdError>> {
            let first = self.0.fetch_add(u64::from(count), Ordering::SeqCst);
            Box::pin(std::future::ready(Ok(first)))
        }
    }

    struct FailingSource;

    impl SequenceSource for FailingSource {
        fn reserve<'a>(
            &'a self,
            _: Date,
            _: BizType,
            _: u32,
        ) -> BoxFuture<'a, Result<u64, IdError>> {
            Box::pin(std::future::ready(Err(IdError::Source("db down".into()))))
        }
    }

    #[test]
    fn sequence_exhaustion_and_source_errors_surface() {
        let rt = runtime();
        let clock = ManualClock::new(datetime!(2024-06-01 12:00 UTC));
        let source = Arc::new(FromSource(AtomicU64::new(u64::from(MAX_SEQUENCE) - 1)));
        let gen = generator(source, &clock);
        let next = || rt.block_on(gen.next(BizType::Job, "k"));
        assert_eq!(next().unwrap().sequence(), MAX_SEQUENCE - 1);
        assert_eq!(next().unwrap().sequence(), MAX_SEQUENCE);
        assert_eq!(next(), Err(IdError::SequenceExhausted));
        assert_eq!(next(), Err(IdError::SequenceExhausted));

        let failing = generator(Arc::new(FailingSource), &clock);
        assert_eq!(
            rt.block_on(failing.next(BizType::Job, "k")),
            Err(IdError::Source("db down".into()))
        );

        let bad = IdGenerator::new(
            IdLayout {
                environment: 10,
                ..IdLayout::default()
            },
            Arc::new(MemorySequenceSource::new()),
            Arc::new(clock.clone()),
        );
        assert!(matches!(
            rt.block_on(bad.next(BizType::Job, "k")),
            Err(IdError::InvalidLayout(_))
        ));
    }

    #[test]
    fn memory_source_hands_out_consecutive_blocks() {
        let rt = runtime();
        let src = MemorySequenceSource::new();
        let day = date!(2024 - 01 - 01);
        assert_eq!(rt.block_on(src.reserve(day, BizType::Payment, 10)), Ok(1));
        assert_eq!(rt.block_on(src.reserve(day, BizType::Payment, 5)), Ok(11));
        assert_eq!(rt.block_on(src.reserve(day, BizType::Refund, 5)), Ok(1));
        assert_eq!(
            rt.block_on(src.reserve(day.next_day().unwrap(), BizType::Payment, 5)),
            Ok(1)
        );
        assert!(matches!(
            rt.block_on(src.reserve(day, BizType::Payment, 0)),
            Err(IdError::Source(_))
        ));
    }

    #[test]
    fn next_is_send() {
        fn assert_send<T: Send>(_: &T) {}
        let clock = ManualClock::new(datetime!(2024-06-01 12:00 UTC));
        let gen = generator(Arc::new(MemorySequenceSource::new()), &clock);
        assert_send(&gen.next(BizType::Payment, "k"));
    }

    proptest! {
        #[test]
        fn parse_compose_round_trips(
            year in 0i32..=9999,
            ordinal in 1u16..=365,
            data_version in 0u8..=9,
            system_version in 0u8..=9,
            system_code in 0u16..=999,
            region in 0u8..=99,
            environment in 0u8..=9,
            reserved in 0u8..=99,
            biz in proptest::sample::select(BizType::ALL),
            db_shard in 0u8..=99,
            table_shard in 0u8..=99,
            sequence in 0u32..=MAX_SEQUENCE,
        ) {
            let date = Date::from_ordinal_date(year, ordinal).unwrap();
            let layout = IdLayout {
                data_version, system_version, system_code, region, environment, reserved,
            };
            let id = BizId::compose(layout, date, biz, db_shard, table_shard, sequence).unwrap();
            prop_assert_eq!(id.as_str().len(), ID_LEN);
            let back: BizId = id.as_str().parse().unwrap();
            prop_assert_eq!(back, id);
            prop_assert_eq!(back.date(), date);
            prop_assert_eq!(back.data_version(), data_version);
            prop_assert_eq!(back.system_version(), system_version);
            prop_assert_eq!(back.system_code(), system_code);
            prop_assert_eq!(back.biz_type(), biz);
            prop_assert_eq!(back.region(), region);
            prop_assert_eq!(back.db_shard(), db_shard);
            prop_assert_eq!(back.table_shard(), table_shard);
            prop_assert_eq!(back.environment(), environment);
            prop_assert_eq!(back.reserved(), reserved);
            prop_assert_eq!(back.sequence(), sequence);
            prop_assert_eq!(shard_of(id.as_str()), (db_shard, table_shard));
        }

        #[test]
        fn id_order_follows_date_then_digits(
            a in 0u32..=MAX_SEQUENCE, b in 0u32..=MAX_SEQUENCE, days in 0i64..1000,
        ) {
            let l = IdLayout::default();
            let d1 = date!(2024 - 01 - 01);
            let d2 = d1 + Duration::days(days);
            let x = BizId::compose(l, d1, BizType::Payment, 1, 1, a).unwrap();
            let y = BizId::compose(l, d2, BizType::Payment, 1, 1, b).unwrap();
            // IDs sort by date first, whatever the sequence.
            if days > 0 {
                prop_assert!(x < y);
            }
            prop_assert_eq!(x.cmp(&y), x.as_str().cmp(y.as_str()));
        }

        #[test]
        fn shard_of_any_key_is_in_range(key in ".{0,40}") {
            let (db, table) = shard_of(&key);
            prop_assert!(db < 100 && table < 100);
            prop_assert_eq!(shard_of(&key), (db, table));
        }
    }
}
