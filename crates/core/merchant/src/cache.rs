//! What every request reads about its merchant — the merchant, its verifying keys, its
//! contracts — cached briefly, so that a request costs no query for them. A change made on this
//! node clears the merchant's entries at once (every write of this crate calls
//! [`Caches::forget`] after its commit); other nodes sharing PostgreSQL see it within [`TTL`].

use std::time::Duration;

use paycore_kernel::cache::TtlCache;
use paycore_product::Product;

use crate::contract::Contract;
use crate::keys::AuthKey;
use crate::model::Merchant;

/// How long another node's change can go unseen.
pub const TTL: Duration = Duration::from_secs(5);

/// What a key lookup found missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Missing {
    Merchant,
    Key,
}

/// The merchant crate's caches.
pub(crate) struct Caches {
    pub merchants: TtlCache<String, Merchant>,
    /// Unknown merchants and keys are cached too, so that a flood of requests naming them costs
    /// no query.
    pub keys: TtlCache<(String, String), Result<AuthKey, Missing>>,
    pub contracts: TtlCache<(String, Product), Option<Contract>>,
}

impl Default for Caches {
    fn default() -> Self {
        Self {
            merchants: TtlCache::new(TTL),
            keys: TtlCache::new(TTL),
            contracts: TtlCache::new(TTL),
        }
    }
}

impl Caches {
    /// Drops everything cached about `merchant_id`.
    pub(crate) fn forget(&self, merchant_id: &str) {
        self.merchants.retain(|m| m != merchant_id);
        self.keys.retain(|(m, _)| m != merchant_id);
        self.contracts.retain(|(m, _)| m != merchant_id);
    }
}
