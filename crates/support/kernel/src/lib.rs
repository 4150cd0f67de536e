//! Support layer: the pieces every other crate stands on.
//!
//! - [`money`]: `Currency`, `Money`, rounding, fees and exact allocation (E4).
//! - [`id`]: 32-digit business IDs (E5).
//! - [`clock`]: wall clock that tests can drive.
//! - [`secret`]: `Secret<T>`, which never prints its content.
//! - [`product`]: the payment products of the API.
//! - [`crypto`]: signature algorithms of the open API.
//! - [`vault`]: encryption at rest under versioned master keys.

pub mod cache;
pub mod clock;
pub mod crypto;
pub mod id;
pub mod money;
pub mod pii;
pub mod product;
pub mod request;
pub mod secret;
pub mod state;
pub mod vault;

pub use clock::{Clock, ManualClock, SystemClock};
pub use id::{BizId, BizType, IdGenerator, IdLayout};
pub use money::{Currency, Money, MoneyError, Rounding};
pub use secret::Secret;
pub use state::StateMachine;
