//! The vault's own keys, sealed under the master key: the data key cards are sealed under, and
//! the fingerprint key. Created on first use (the first node to insert wins), then held in
//! memory.

use paycore_kernel::crypto::{hmac_sha256, random_bytes, Vault};
use paycore_kernel::Secret;
use paycore_store::sealed::{Encoding, SealedColumn};
use paycore_store::{Db, Row};
use tokio::sync::OnceCell;

use crate::CardError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Purpose {
    Data,
    Fingerprint,
}
paycore_kernel::named!(Purpose { Data => "data", Fingerprint => "fingerprint" });

/// The data key cards are sealed under now.
pub(crate) const DATA_KEY: &str = "dk-1";
const FINGERPRINT_KEY: &str = "fp-1";

fn context(key_id: &str) -> String {
    format!("card_key:{key_id}")
}

/// The card vault's sealed keys, for `paycore keys` to count and re-seal.
pub const SEALED: SealedColumn = SealedColumn {
    table: "card_keys",
    key: "key_id",
    column: "sealed",
    encoding: Encoding::Blob,
    context,
};

pub(crate) struct Keys {
    db: Db,
    master: Vault,
    data: OnceCell<Vault>,
    fingerprint: OnceCell<Secret<Vec<u8>>>,
}

impl Keys {
    pub(crate) fn new(db: Db, master: Vault) -> Self {
        Self {
            db,
            master,
            data: OnceCell::new(),
            fingerprint: OnceCell::new(),
        }
    }

    /// AES-256-GCM under the data key (the kernel's vault over that one key).
    pub(crate) async fn data(&self) -> Result<&Vault, CardError> {
        self.data
            .get_or_try_init(|| async {
                let raw = self.load(DATA_KEY, Purpose::Data).await?;
                let key: [u8; 32] = raw
                    .expose()
                    .as_slice()
                    .try_into()
                    .map_err(|_| CardError::Corrupt("the data key".into()))?;
                Ok::<_, CardError>(Vault::new(&Secret::new(key))?)
            })
            .await
    }

    /// The card's fingerprint: an HMAC of its number, hex.
    pub(crate) async fn fingerprint(&self, pan: &Secret<String>) -> Result<String, CardError> {
        let key = self
            .fingerprint
            .get_or_try_init(|| self.load(FINGERPRINT_KEY, Purpose::Fingerprint))
            .await?;
        let tag = hmac_sha256(key.expose(), pan.expose().as_bytes());
        Ok(tag.iter().map(|b| format!("{b:02x}")).collect())
    }

    async fn load(&self, key_id: &str, purpose: Purpose) -> Result<Secret<Vec<u8>>, CardError> {
        let fresh = self.master.seal(&context(key_id), &random_bytes::<32>()?)?;
        let insert = sqlx::query(
            "INSERT INTO card_keys (key_id, purpose, sealed, created_at) VALUES ($1, $2, $3, 0)
             ON CONFLICT (key_id) DO NOTHING",
        )
        .bind(key_id)
        .bind(purpose.as_str())
        .bind(fresh);
        self.db.execute(insert).await?;
        let row = sqlx::query("SELECT sealed FROM card_keys WHERE key_id = $1")
            .bind(key_id)
            .fetch_one(self.db.writer())
            .await?;
        let sealed: Vec<u8> = row.try_get("sealed")?;
        Ok(self.master.open(&context(key_id), &sealed)?)
    }
}
