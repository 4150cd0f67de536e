//! Key custody on disk: the master key that seals secrets at rest, and files only their owner
//! may read (the data directory, the demo's credentials).

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use paycore_kernel::crypto::random_bytes;
use paycore_kernel::Secret;

/// The 32-byte master key: `PAYCORE_MASTER_KEY` (base64) when set — what several nodes sharing
/// one database must do — else the file `PAYCORE_MASTER_KEY_FILE` names (a key kept outside
/// the data directory), else `master.key` in the data directory. A missing file is created
/// (never overwritten: a truncated master key would lose every sealed secret); a file that
/// anyone but its owner can read or write is refused.
pub fn master_key(data_dir: &Path) -> anyhow::Result<Secret<[u8; 32]>> {
    if let Ok(v) = std::env::var("PAYCORE_MASTER_KEY") {
        return decode(&v, "PAYCORE_MASTER_KEY");
    }
    private_dir(data_dir)?;
    let path = std::env::var_os("PAYCORE_MASTER_KEY_FILE")
        .map(PathBuf::from)
        .unwrap_or_else(|| data_dir.join("master.key"));
    match std::fs::read_to_string(&path) {
        Ok(s) => {
            owner_only(&path)?;
            decode(&s, &path.display().to_string())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = random_bytes::<32>().context("random master key")?;
            create_private(&path, &B64.encode(key))?;
            Ok(Secret::new(key))
        }
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

fn decode(b64: &str, from: &str) -> anyhow::Result<Secret<[u8; 32]>> {
    let raw = B64
        .decode(b64.trim())
        .with_context(|| format!("{from} is not base64"))?;
    let key: [u8; 32] = raw
        .try_into()
        .map_err(|_| anyhow::anyhow!("{from} must be 32 bytes"))?;
    Ok(Secret::new(key))
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
        let first = master_key(&data).unwrap();
        assert_eq!(mode(&data), 0o700, "created owner-only");
        let file = data.join("master.key");
        assert_eq!(mode(&file), 0o600);
        assert_eq!(
            master_key(&data).unwrap().expose(),
            first.expose(),
            "kept, not replaced"
        );
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = master_key(&data).unwrap_err().to_string();
        assert!(e.contains("readable by others"), "{e}");
    }
}
