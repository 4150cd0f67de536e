//! Key custody on disk: the master key that seals secrets at rest, and files only their owner
//! may read (the data directory, the demo's credentials).

use std::io::Write;
use std::path::{Path, PathBuf};

use std::sync::Arc;

use anyhow::Context;
use paycore_kernel::crypto::random_bytes;
use paycore_kernel::vault::{MasterKeys, Reload, Vault};
use paycore_kernel::Secret;

/// Where the master keys come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// `PAYCORE_MASTER_KEY`: what several nodes sharing one database must use. The command line
    /// cannot change it; a rotation adds a version to it on every node.
    Env,
    /// A keyring file: `PAYCORE_MASTER_KEY_FILE` (kept outside the data directory), else
    /// `master.key` in the data directory.
    File(PathBuf),
}

/// The master keyring (see [`MasterKeys`] for its text form) and where it came from. A missing
/// file is created with one fresh key (never overwritten: a truncated master key would lose
/// every sealed secret); a file that anyone but its owner can read or write is refused.
pub fn master_keys(data_dir: &Path) -> anyhow::Result<(MasterKeys, KeySource)> {
    if let Ok(v) = std::env::var("PAYCORE_MASTER_KEY") {
        let keys = MasterKeys::parse(&v).map_err(|e| anyhow::anyhow!("PAYCORE_MASTER_KEY: {e}"))?;
        return Ok((keys, KeySource::Env));
    }
    private_dir(data_dir)?;
    let path = std::env::var_os("PAYCORE_MASTER_KEY_FILE")
        .map(PathBuf::from)
        .unwrap_or_else(|| data_dir.join("master.key"));
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            owner_only(&path)?;
            let keys =
                MasterKeys::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
            Ok((keys, KeySource::File(path)))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = random_bytes::<32>().context("random master key")?;
            let keys = MasterKeys::single(Secret::new(key));
            create_private(&path, keys.render().expose())?;
            Ok((keys, KeySource::File(path)))
        }
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

fn read_keyring(path: &Path) -> anyhow::Result<MasterKeys> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    owner_only(path)?;
    MasterKeys::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

/// The vault over the master keyring. Over a file it reads the file again when it meets a key
/// version it does not know and before it seals, so a `paycore keys rotate-master` reaches a
/// running node without a restart.
pub fn vault(data_dir: &Path) -> anyhow::Result<Vault> {
    let (keys, source) = master_keys(data_dir)?;
    let reload: Option<Reload> = match source {
        KeySource::Env => None,
        KeySource::File(path) => Some(Arc::new(move || match read_keyring(&path) {
            Ok(keys) => Some(keys),
            Err(e) => {
                tracing::warn!(target: "error", code = "MASTER_KEY_READ", message = %e,
                    "the master keyring could not be read again; the keys in memory stay");
                None
            }
        })),
    };
    Vault::from_keys(&keys, reload).context("master key")
}

/// Replaces a keyring file: written beside it owner-only, synced, then renamed over it, so that
/// a crash leaves the old keyring or the new one, never a part.
pub fn save_keyring(path: &Path, keys: &MasterKeys) -> anyhow::Result<()> {
    let tmp = path.with_extension("new");
    let _ = std::fs::remove_file(&tmp);
    create_private(&tmp, keys.render().expose())?;
    std::fs::rename(&tmp, path).with_context(|| format!("replacing {}", path.display()))?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .with_context(|| format!("syncing {}", dir.display()))?;
    }
    Ok(())
}

/// Creates `dir` owner-only if it is missing: it holds the database and, by default, the master
/// key. An existing directory others can enter is only warned about, not changed: it may be a
/// directory of the deployment's (`--data-dir /srv`) whose permissions are not ours to narrow.
pub fn private_dir(dir: &Path) -> anyhow::Result<()> {
    if !dir.exists() {
        let mut b = std::fs::DirBuilder::new();
        b.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
        b.create(dir)
            .with_context(|| format!("creating {}", dir.display()))?;
        return Ok(());
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir)
            .with_context(|| format!("reading {}", dir.display()))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            tracing::warn!(target: "detail", dir = %dir.display(), mode = format!("{:o}", mode & 0o777),
                "the data directory is open to others: make it owner-only (chmod 700)");
        }
    }
    Ok(())
}

/// Refuses a key file that its group or others can read or write.
fn owner_only(path: &Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .with_context(|| format!("reading {}", path.display()))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            anyhow::bail!(
                "{} is readable by others (mode {:o}): make it owner-only (chmod 600) and \
                 treat the key as exposed",
                path.display(),
                mode & 0o777
            );
        }
    }
    Ok(())
}

/// Creates a new owner-only file; fails if it exists.
fn create_private(path: &Path, content: &str) -> anyhow::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    write_with(opts, path, content)
}

/// Writes a file only its owner can read, replacing its content (and narrowing the permissions
/// of a file that existed with wider ones).
pub fn write_private(path: &Path, content: &str) -> anyhow::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    write_with(opts, path, content)
}

fn write_with(mut opts: std::fs::OpenOptions, path: &Path, content: &str) -> anyhow::Result<()> {
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        f.set_permissions(std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("making {} owner-only", path.display()))?;
    }
    f.write_all(content.as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    f.sync_all()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn private_files_are_owner_only_even_when_they_existed_wider() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("demo.json");
        std::fs::write(&p, "old").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        write_private(&p, "new").unwrap();
        assert_eq!(mode(&p), 0o600);
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "new");
        assert!(create_private(&p, "again").is_err(), "never overwritten");
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "new");
    }

    #[test]
    fn a_master_key_others_can_read_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        // Run without the environment's key, whatever the test runner sets.
        if std::env::var_os("PAYCORE_MASTER_KEY").is_some()
            || std::env::var_os("PAYCORE_MASTER_KEY_FILE").is_some()
        {
            return;
        }
        let first = master_keys(&data).unwrap().0.render();
        assert_eq!(mode(&data), 0o700, "created owner-only");
        let file = data.join("master.key");
        assert_eq!(mode(&file), 0o600);
        assert_eq!(
            master_keys(&data).unwrap().0.render().expose(),
            first.expose(),
            "kept, not replaced"
        );
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = master_keys(&data).unwrap_err().to_string();
        assert!(e.contains("readable by others"), "{e}");
    }
}
