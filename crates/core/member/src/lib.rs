//! Member platform (S8): the payers. Registration with a phone and a login password, bearer
//! tokens with expiry and revocation, one-time SMS codes, the real-name check, the pay password
//! and the password-free limit. Wallet accounts, cards and instruments build on a member here.

mod error;
mod identity;
mod login;
mod model;
mod otp;
mod pay_password;
mod pepper;
mod status;

pub use error::MemberError;
pub use identity::{check_id_number, IdentityCheck, IdentityService, SEALED_IDENTITY};
pub use login::{LoginToken, MemberSession};
pub use model::{mask_phone, Member, MemberEvent, MemberStatus};
pub use otp::{SmsGateway, SmsPurpose};

use std::sync::Arc;
use std::time::Duration;

use paycore_kernel::cache::TtlCache;
use paycore_kernel::crypto::Vault;
use paycore_kernel::{Clock, IdGenerator};
use paycore_store::migrate::{Migration, Schema};
use paycore_store::Db;

/// The member platform's tables.
pub const SCHEMA: Schema = Schema {
    component: "member",
    migrations: &[Migration {
        version: 1,
        name: "member",
        sql: include_str!("../migrations/0001_member.sql"),
    }],
};

pub use pepper::SEALED as SEALED_PEPPER;

/// The member platform's rules; the defaults are what a payer meets in production.
#[derive(Debug, Clone)]
pub struct MemberConfig {
    /// How long a login token lasts.
    pub token_ttl: Duration,
    /// Wrong login passwords in a row before the login is locked, and for how long.
    pub login_failures: i64,
    pub login_lock: Duration,
    /// Wrong pay passwords in a row before the pay password is locked, and for how long.
    pub pay_password_failures: i64,
    pub pay_password_lock: Duration,
    /// One-time codes: lifetime, tries, and how often a phone may be sent one.
    pub sms_ttl: Duration,
    pub sms_attempts: i64,
    pub sms_interval: Duration,
    pub sms_per_day: i64,
    /// The highest password-free limit a member may set, in minor units of CNY.
    pub max_password_free: i64,
    /// The argon2id cost of login passwords (memory KiB, passes).
    pub argon2_memory_kib: u32,
    pub argon2_passes: u32,
}

impl Default for MemberConfig {
    fn default() -> Self {
        Self {
            token_ttl: Duration::from_secs(2 * 3600),
            login_failures: 5,
            login_lock: Duration::from_secs(15 * 60),
            pay_password_failures: 5,
            pay_password_lock: Duration::from_secs(3 * 3600),
            sms_ttl: Duration::from_secs(5 * 60),
            sms_attempts: 3,
            sms_interval: Duration::from_secs(60),
            sms_per_day: 10,
            max_password_free: 200_000,
            argon2_memory_kib: 19 * 1024,
            argon2_passes: 2,
        }
    }
}

/// The member platform over one database. Cheap to clone.
#[derive(Clone)]
pub struct Members {
    db: Db,
    ids: Arc<IdGenerator>,
    clock: Arc<dyn Clock>,
    vault: Vault,
    pepper: Arc<pepper::Pepper>,
    sms: Arc<dyn SmsGateway>,
    identity: Arc<dyn IdentityService>,
    /// Tokens by their hash, briefly: a revoked token stops at once on this node and within
    /// the TTL on others; unknown tokens are cached too, so a flood of them costs no queries.
    sessions: Arc<TtlCache<String, Option<MemberSession>>>,
    config: MemberConfig,
}

/// How long a node trusts what it read of a token.
const SESSION_TTL: Duration = Duration::from_secs(2);

impl Members {
    pub fn new(
        db: Db,
        ids: Arc<IdGenerator>,
        vault: Vault,
        clock: Arc<dyn Clock>,
        sms: Arc<dyn SmsGateway>,
        identity: Arc<dyn IdentityService>,
        config: MemberConfig,
    ) -> Self {
        Self {
            pepper: Arc::new(pepper::Pepper::new(db.clone(), vault.clone())),
            vault,
            db,
            ids,
            clock,
            sms,
            identity,
            sessions: Arc::new(TtlCache::new(SESSION_TTL)),
            config,
        }
    }

    pub fn config(&self) -> &MemberConfig {
        &self.config
    }

    fn now(&self) -> i64 {
        self.clock.unix_millis()
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Whole minutes, rounded up, of a positive span of milliseconds.
fn minutes(ms: i64) -> i64 {
    (ms.max(0) + 59_999) / 60_000
}
