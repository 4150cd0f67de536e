//! Core layer: the business subsystems of the articles, one folder each.
//!
//! - [`merchant`]: merchant platform (S9): onboarding, KYB, status, keys, contracts.
//! - [`product`]: product center (S10): the products and their fee plans.

pub mod merchant;
pub mod product;
