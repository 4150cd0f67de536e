//! The member pepper: a random secret, sealed under the master key, that keys the MACs of pay
//! passwords and one-time codes. A 6-digit pay password has a million values: hashed alone,
//! slowly or not, a copy of the database gives them all away in minutes; keyed by a secret that
//! is not in the database, a copy gives away nothing, and checking one costs a microsecond, not
//! a payment's worth of time.

use paycore_kernel::crypto::{hmac_sha256, random_bytes, Vault};
use paycore_kernel::Secret;
use paycore_store::sealed::{Encoding, SealedColumn};
use paycore_store::{Db, Row};
use tokio::sync::OnceCell;

use crate::MemberError;

const NAME: &str = "pepper";

fn context(name: &str) -> String {
    format!("member_secret:{name}")
}

/// The member platform's sealed secrets, for `paycore keys` to count and re-seal.
pub const SEALED: SealedColumn = SealedColumn {
    table: "member_secrets",
    key: "name",
    column: "sealed",
    encoding: Encoding::Blob,
    context,
};

pub(crate) struct Pepper {
    db: Db,
    vault: Vault,
    key: OnceCell<Secret<Vec<u8>>>,
}

impl Pepper {
    pub(crate) fn new(db: Db, vault: Vault) -> Self {
        Self {
            db,
            vault,
            key: OnceCell::new(),
        }
    }

    /// HMAC-SHA256 under the pepper of `domain` and `parts`, hex: the domain keeps a code's MAC
    /// from ever equalling a password's.
    pub(crate) async fn mac(&self, domain: &str, parts: &[&str]) -> Result<String, MemberError> {
        let key = self.key.get_or_try_init(|| self.load()).await?;
        let mut msg = domain.as_bytes().to_vec();
        for p in parts {
            msg.push(0);
            msg.extend_from_slice(p.as_bytes());
        }
        let tag = hmac_sha256(key.expose(), &msg);
        Ok(tag.iter().map(|b| format!("{b:02x}")).collect())
    }

    /// Reads the pepper, creating it on a new database (the first node to insert wins).
    async fn load(&self) -> Result<Secret<Vec<u8>>, MemberError> {
        let fresh = self.vault.seal(&context(NAME), &random_bytes::<32>()?)?;
        let insert = sqlx::query(
            "INSERT INTO member_secrets (name, sealed, created_at) VALUES ($1, $2, 0)
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(NAME)
        .bind(fresh);
        self.db.execute(insert).await?;
        let row = sqlx::query("SELECT sealed FROM member_secrets WHERE name = $1")
            .bind(NAME)
            .fetch_one(self.db.writer())
            .await?;
        let sealed: Vec<u8> = row.try_get("sealed")?;
        Ok(self.vault.open(&context(NAME), &sealed)?)
    }
}

/// Compares two MACs in constant time.
pub(crate) fn same(a: &str, b: &str) -> bool {
    paycore_kernel::crypto::constant_time_eq(a.as_bytes(), b.as_bytes())
}
