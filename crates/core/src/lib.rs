//! Core layer: the business subsystems of the articles, one folder each.
//!
//! - [`acquiring`]: acquiring (S2) and the payment engine for channels (S6): payments, refunds,
//!   cancel, close, query-back.
//! - [`messages`]: outbox subscribers (B4) and the daily payment statistics.
//! - [`merchant`]: merchant platform (S9): onboarding, KYB, status, keys, contracts.
//! - [`product`]: product center (S10): the products and their fee plans.

pub mod acquiring;
pub mod merchant;
pub mod messages;
pub mod notify;
pub mod product;
