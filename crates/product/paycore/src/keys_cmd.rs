//! `paycore keys …`: the master keys that seal secrets at rest. `rotate-master` adds a key
//! version and re-seals every sealed value under it; `retire-master` drops a version once no
//! value needs it; `reseal` and `master` serve keyrings the command line cannot write (several
//! nodes sharing `PAYCORE_MASTER_KEY`).

use std::path::Path;

use anyhow::Context;
use clap::Subcommand;
use paycore_kernel::crypto::{SealCensus, Vault};
use paycore_store::sealed::{census, SealedColumn};
use serde_json::json;

use crate::custody::{self, KeySource};
use crate::operator_cmd::audited;
use crate::Platform;

#[derive(Subcommand)]
pub enum KeysCommand {
    /// Show the master key versions, the one that seals, and how many values each holds.
    Master,
    /// Add a master key version to the keyring file, make it the one that seals, and re-seal
    /// every sealed value under it. Running nodes read the new keyring when they meet it.
    RotateMaster,
    /// Re-seal under the current version every value sealed under an older one (after a new
    /// version was added to PAYCORE_MASTER_KEY on every node, or after an interrupted rotation).
    Reseal,
    /// Drop a master key version that no sealed value needs any more.
    RetireMaster {
        #[arg(long)]
        version: u32,
    },
}

/// Every column of the platform that holds values sealed under the master key.
fn sealed_columns() -> Vec<&'static SealedColumn> {
    let mut cols = vec![
        &paycore_merchant::SEALED,
        &paycore_gateway::signing::SEALED,
        &paycore_member::SEALED_PEPPER,
        &paycore_member::SEALED_IDENTITY,
        &paycore_card::SEALED,
    ];
    cols.extend(paycore_sandbox::books::SEALED.iter());
    cols
}

/// Counts (and with `write` re-seals) every sealed column; the report names each column.
async fn walk(p: &Platform, vault: &Vault, write: bool) -> anyhow::Result<SealCensus> {
    let mut total = SealCensus::default();
    for col in sealed_columns() {
        let c = census(&p.db, vault, col, write)
            .await
            .with_context(|| format!("{}.{}", col.table, col.column))?;
        total.merge(c);
    }
    Ok(total)
}

fn report(
    source: &KeySource,
    vault: &Vault,
    versions: &[u32],
    c: &SealCensus,
) -> serde_json::Value {
    let versions: Vec<_> = versions
        .iter()
        .map(|v| json!({"version": v, "values": c.by_version.get(v).copied().unwrap_or(0)}))
        .collect();
    json!({
        "source": match source {
            KeySource::Env => "PAYCORE_MASTER_KEY".to_string(),
            KeySource::File(path) => path.display().to_string(),
        },
        "current": vault.current_version(),
        "versions": versions,
        "in_clear": c.by_version.get(&0).copied().unwrap_or(0),
        "resealed": c.resealed,
    })
}

pub async fn run(p: &Platform, data_dir: &Path, command: KeysCommand) -> anyhow::Result<()> {
    let (mut keys, source) = custody::master_keys(data_dir)?;
    let out = match command {
        KeysCommand::Master => {
            let c = walk(p, &p.vault, false).await?;
            report(&source, &p.vault, &keys.versions(), &c)
        }
        KeysCommand::RotateMaster => {
            let KeySource::File(path) = &source else {
                anyhow::bail!(
                    "the master keys come from PAYCORE_MASTER_KEY, which the command line cannot \
                     change: add `<next version>:<32 random bytes in base64>` to it on every node \
                     (e.g. `openssl rand -base64 32`), restart them, then run `paycore keys reseal`"
                );
            };
            let version = keys.add_new().context("a new master key")?;
            let vault = Vault::from_keys(&keys, None).context("master key")?;
            let target = format!("master key v{version}");
            let c = audited(p, "keys rotate-master", &target, async {
                // The keyring is saved before anything is sealed under the new key: a crash in
                // between leaves values under the old version, which a `reseal` finishes.
                custody::save_keyring(path, &keys)?;
                walk(p, &vault, true).await
            })
            .await?;
            report(&source, &vault, &keys.versions(), &c)
        }
        KeysCommand::Reseal => {
            let target = format!("master key v{}", p.vault.current_version());
            let c = audited(p, "keys reseal", &target, walk(p, &p.vault, true)).await?;
            report(&source, &p.vault, &keys.versions(), &c)
        }
        KeysCommand::RetireMaster { version } => retire(p, &source, &mut keys, version).await?,
    };
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}

async fn retire(
    p: &Platform,
    source: &KeySource,
    keys: &mut paycore_kernel::crypto::MasterKeys,
    version: u32,
) -> anyhow::Result<serde_json::Value> {
    keys.retire(version).map_err(anyhow::Error::msg)?;
    let c = walk(p, &p.vault, false).await?;
    let left = c.by_version.get(&version).copied().unwrap_or(0);
    if left > 0 {
        anyhow::bail!(
            "{left} sealed values still need master key version {version}: run \
             `paycore keys reseal` first"
        );
    }
    let mut out = report(source, &p.vault, &keys.versions(), &c);
    let target = format!("master key v{version}");
    audited(p, "keys retire-master", &target, async {
        match source {
            KeySource::File(path) => custody::save_keyring(path, keys)?,
            KeySource::Env => {
                out["next"] = format!(
                    "no value needs version {version}: remove it from PAYCORE_MASTER_KEY on \
                     every node"
                )
                .into();
            }
        }
        Ok(())
    })
    .await?;
    Ok(out)
}
