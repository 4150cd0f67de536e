//! `paycore merchant …`: onboarding, KYB, status, keys and contracts from the command line,
//! printed as the operator API shows them.

use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;
use paycore_gateway::views;
use paycore_kernel::crypto::Algorithm;
use paycore_kernel::{Currency, Money};
use paycore_merchant::{ContractStatus, ContractTerms, Kyb, MerchantEvent, NewKey};
use paycore_product::Product;
use serde::Serialize;

use crate::Platform;

#[derive(Subcommand)]
pub enum MerchantCommand {
    /// Create a merchant.
    Create {
        #[arg(long)]
        name: String,
        /// KYB fields as JSON, e.g. '{"legal_name":"…","country":"CN"}'.
        #[arg(long)]
        kyb: Option<String>,
    },
    List {
        #[arg(long)]
        after: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: i64,
    },
    Show {
        merchant_id: String,
    },
    /// activate | freeze | unfreeze.
    Status {
        merchant_id: String,
        event: String,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Add a key: RSA2 or ED25519 with --public-key-pem FILE, or HMAC-SHA256 (secret printed once).
    KeyAdd {
        merchant_id: String,
        #[arg(long)]
        algorithm: String,
        #[arg(long)]
        public_key_pem: Option<PathBuf>,
    },
    KeyRevoke {
        merchant_id: String,
        key_id: String,
    },
    Keys {
        merchant_id: String,
    },
    /// Contract a product with its fee plan (one currency: --fee-currency).
    Product {
        merchant_id: String,
        #[arg(long)]
        product: String,
        #[arg(long)]
        fee_rate_bps: u32,
        /// Fixed fee in minor units of --fee-currency.
        #[arg(long, default_value_t = 0)]
        fixed_fee: i64,
        /// The currency the contract accepts.
        #[arg(long, default_value = "CNY")]
        fee_currency: String,
        #[arg(long)]
        disabled: bool,
    },
    Products {
        merchant_id: String,
    },
}

fn print<T: Serialize>(value: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

fn new_key(
    algorithm: &str,
    pem_file: Option<&PathBuf>,
) -> anyhow::Result<(Algorithm, Option<String>)> {
    let algorithm: Algorithm = algorithm.parse()?;
    let pem = match pem_file {
        Some(path) => Some(
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?,
        ),
        None => None,
    };
    Ok((algorithm, pem))
}

impl MerchantCommand {
    /// The audit trail's action and target for a command that changes data.
    fn audited(&self) -> Option<(&'static str, String)> {
        match self {
            MerchantCommand::Create { name, .. } => Some(("merchant create", name.clone())),
            MerchantCommand::Status { merchant_id, .. } => {
                Some(("merchant status", merchant_id.clone()))
            }
            MerchantCommand::KeyAdd { merchant_id, .. } => {
                Some(("merchant key-add", merchant_id.clone()))
            }
            MerchantCommand::KeyRevoke {
                merchant_id,
                key_id,
            } => Some(("merchant key-revoke", format!("{merchant_id}/{key_id}"))),
            MerchantCommand::Product { merchant_id, .. } => {
                Some(("merchant product", merchant_id.clone()))
            }
            MerchantCommand::List { .. }
            | MerchantCommand::Show { .. }
            | MerchantCommand::Keys { .. }
            | MerchantCommand::Products { .. } => None,
        }
    }
}

/// Runs a command; one that changes data is audited with its outcome.
pub async fn run(p: &Platform, command: MerchantCommand) -> anyhow::Result<()> {
    match command.audited() {
        Some((action, target)) => {
            crate::operator_cmd::audited(p, action, &target, execute(p, command)).await
        }
        None => execute(p, command).await,
    }
}

async fn execute(p: &Platform, command: MerchantCommand) -> anyhow::Result<()> {
    let m = &p.merchants;
    match command {
        MerchantCommand::Create { name, kyb } => {
            let kyb: Kyb = match kyb {
                Some(json) => serde_json::from_str(&json).context("--kyb")?,
                None => Kyb::default(),
            };
            print(&views::merchant(
                m.create(&name, &kyb, &crate::operator_cmd::cli_actor())
                    .await?,
            ))
        }
        MerchantCommand::List { after, limit } => {
            let list = m.list(after.as_deref(), limit).await?;
            print(&list.into_iter().map(views::merchant).collect::<Vec<_>>())
        }
        MerchantCommand::Show { merchant_id } => {
            print(&views::merchant(m.get(&merchant_id).await?))
        }
        MerchantCommand::Status {
            merchant_id,
            event,
            reason,
        } => {
            let event = MerchantEvent::parse(&event)?;
            let merchant = m
                .transition(&merchant_id, event, "cli", reason.as_deref())
                .await?;
            print(&views::merchant(merchant))
        }
        MerchantCommand::KeyAdd {
            merchant_id,
            algorithm,
            public_key_pem,
        } => {
            let (algorithm, pem) = new_key(&algorithm, public_key_pem.as_ref())?;
            let new = match (algorithm, pem.as_deref()) {
                (Algorithm::HmacSha256, None) => NewKey::Hmac,
                (Algorithm::HmacSha256, Some(_)) => {
                    anyhow::bail!("HMAC-SHA256 takes no --public-key-pem")
                }
                (_, Some(pem)) => NewKey::PublicKey { algorithm, pem },
                (_, None) => anyhow::bail!("--public-key-pem is required for {algorithm}"),
            };
            let (key, secret, _) = m.add_key(&merchant_id, new).await?;
            print(&views::key(key, secret.map(|s| s.into_inner())))
        }
        MerchantCommand::KeyRevoke {
            merchant_id,
            key_id,
        } => print(&views::key(
            m.revoke_key(&merchant_id, &key_id, "cli").await?,
            None,
        )),
        MerchantCommand::Keys { merchant_id } => {
            let keys = m.keys(&merchant_id).await?;
            print(
                &keys
                    .into_iter()
                    .map(|k| views::key(k, None))
                    .collect::<Vec<_>>(),
            )
        }
        MerchantCommand::Product {
            merchant_id,
            product,
            fee_rate_bps,
            fixed_fee,
            fee_currency,
            disabled,
        } => {
            let product: Product = product.parse()?;
            let currency = Currency::from_code(&fee_currency)?;
            let mut terms =
                ContractTerms::simple(fee_rate_bps, Money::from_minor(fixed_fee, currency));
            if disabled {
                terms.status = ContractStatus::Disabled;
            }
            print(&views::contract(
                m.set_contract(&merchant_id, product, &terms).await?,
            ))
        }
        MerchantCommand::Products { merchant_id } => {
            let list = m.contracts(&merchant_id).await?;
            print(&list.into_iter().map(views::contract).collect::<Vec<_>>())
        }
    }
}
