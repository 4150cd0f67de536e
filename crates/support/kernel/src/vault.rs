//! The vault: AES-256-GCM under the platform's master keys. What is stored encrypted (HMAC
//! secrets, signing keys, the sandbox channels' keys, later card data keys) goes through here.
//!
//! Master keys are versioned so that they can be rotated: a sealed value is
//! `"pv" || version (u32 BE) || nonce || ciphertext || tag`, sealed under the current version and
//! opened under the version it names. Values sealed before versions existed (`nonce || ciphertext
//! || tag`, no header) open under version 1. A value re-sealed under the current version no longer
//! needs the old key, which can then be retired.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, RwLock};

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;

use crate::crypto::{random_bytes, CryptoError};
use crate::secret::Secret;

const MAGIC: &[u8; 2] = b"pv";
const HEADER: usize = MAGIC.len() + 4;
/// The version of a master key given without one (a key file from before versions existed).
pub const FIRST_VERSION: u32 = 1;

/// A keyring of master keys by version, and which one seals. Text form, one key per line:
/// `<version>:<base64 of 32 bytes>`; a `*` before the version marks the sealing key (else the
/// highest version seals); a line of base64 alone is version 1 (the older single-key form).
/// Commas separate keys as well as newlines, so that a keyring fits in one environment variable.
pub struct MasterKeys {
    keys: BTreeMap<u32, Secret<[u8; 32]>>,
    current: u32,
}

impl fmt::Debug for MasterKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "MasterKeys(versions {:?}, current {})",
            self.versions(),
            self.current
        )
    }
}

impl MasterKeys {
    /// One key, version 1.
    pub fn single(key: Secret<[u8; 32]>) -> Self {
        Self {
            keys: BTreeMap::from([(FIRST_VERSION, key)]),
            current: FIRST_VERSION,
        }
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        let mut keys = BTreeMap::new();
        let mut marked = None;
        for entry in text
            .split([',', '\n'])
            .map(str::trim)
            .filter(|e| !e.is_empty())
        {
            let (star, entry) = match entry.strip_prefix('*') {
                Some(rest) => (true, rest),
                None => (false, entry),
            };
            let (version, b64) = match entry.split_once(':') {
                Some((v, k)) => (
                    v.trim()
                        .parse::<u32>()
                        .ok()
                        .filter(|v| *v >= FIRST_VERSION)
                        .ok_or_else(|| format!("{v:?} is not a key version (1, 2, …)"))?,
                    k,
                ),
                None => (FIRST_VERSION, entry),
            };
            let raw = B64
                .decode(b64.trim())
                .map_err(|_| format!("master key version {version} is not base64"))?;
            let key: [u8; 32] = raw
                .try_into()
                .map_err(|_| format!("master key version {version} must be 32 bytes"))?;
            if keys.insert(version, Secret::new(key)).is_some() {
                return Err(format!("master key version {version} is given twice"));
            }
            if star && marked.replace(version).is_some() {
                return Err("more than one master key is marked current (*)".into());
            }
        }
        let highest = *keys.keys().next_back().ok_or("no master key")?;
        Ok(Self {
            keys,
            current: marked.unwrap_or(highest),
        })
    }

    /// The text form (secret: it holds the keys). The current key is marked only when it is not
    /// the highest, so a keyring that was never re-marked keeps its simple form.
    pub fn render(&self) -> Secret<String> {
        let highest = self.keys.keys().next_back().copied();
        let lines: Vec<String> = self
            .keys
            .iter()
            .map(|(v, k)| {
                let star = if *v == self.current && Some(*v) != highest {
                    "*"
                } else {
                    ""
                };
                format!("{star}{v}:{}", B64.encode(k.expose()))
            })
            .collect();
        Secret::new(lines.join("\n") + "\n")
    }

    pub fn current(&self) -> u32 {
        self.current
    }

    pub fn versions(&self) -> Vec<u32> {
        self.keys.keys().copied().collect()
    }

    /// Adds a fresh random key one above the highest version and makes it the sealing key.
    pub fn add_new(&mut self) -> Result<u32, CryptoError> {
        let version = self
            .keys
            .keys()
            .next_back()
            .map_or(FIRST_VERSION, |v| v + 1);
        self.keys
            .insert(version, Secret::new(random_bytes::<32>()?));
        self.current = version;
        Ok(version)
    }

    /// Drops a version; the sealing key cannot be dropped.
    pub fn retire(&mut self, version: u32) -> Result<(), String> {
        if version == self.current {
            return Err(format!(
                "master key version {version} seals new values: rotate first"
            ));
        }
        self.keys
            .remove(&version)
            .map(|_| ())
            .ok_or_else(|| format!("there is no master key version {version}"))
    }
}

struct Ring {
    keys: BTreeMap<u32, LessSafeKey>,
    current: u32,
}

impl Ring {
    fn of(keys: &MasterKeys) -> Result<Self, CryptoError> {
        let mut ring = BTreeMap::new();
        for (v, k) in &keys.keys {
            let unbound =
                UnboundKey::new(&AES_256_GCM, k.expose()).map_err(|_| CryptoError::Backend)?;
            ring.insert(*v, LessSafeKey::new(unbound));
        }
        Ok(Self {
            keys: ring,
            current: keys.current,
        })
    }
}

/// Reads the keyring again (from its file); the vault asks when it meets a version it does not
/// know or before it seals, so that a rotation by the command line reaches a running node.
pub type Reload = Arc<dyn Fn() -> Option<MasterKeys> + Send + Sync>;

/// Seals and opens values under the master keys. Cheap to clone.
#[derive(Clone)]
pub struct Vault {
    ring: Arc<RwLock<Arc<Ring>>>,
    reload: Option<Reload>,
}

impl fmt::Debug for Vault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Vault(***)")
    }
}

/// Which key a sealed value opened under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Opened {
    pub version: u32,
    /// Sealed under the version that seals now, in the current form: nothing to re-seal.
    pub current: bool,
}

impl Vault {
    /// A vault of one key (version 1).
    pub fn new(master_key: &Secret<[u8; 32]>) -> Result<Self, CryptoError> {
        Self::from_keys(&MasterKeys::single(Secret::new(*master_key.expose())), None)
    }

    pub fn from_keys(keys: &MasterKeys, reload: Option<Reload>) -> Result<Self, CryptoError> {
        Ok(Self {
            ring: Arc::new(RwLock::new(Arc::new(Ring::of(keys)?))),
            reload,
        })
    }

    fn ring(&self) -> Arc<Ring> {
        match self.ring.read() {
            Ok(r) => r.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Takes the keyring from the reload source, if there is one and it reads.
    fn refresh(&self) -> Arc<Ring> {
        let fresh = self
            .reload
            .as_ref()
            .and_then(|r| r())
            .and_then(|k| Ring::of(&k).ok());
        let Some(fresh) = fresh else {
            return self.ring();
        };
        let fresh = Arc::new(fresh);
        match self.ring.write() {
            Ok(mut r) => *r = fresh.clone(),
            Err(poisoned) => *poisoned.into_inner() = fresh.clone(),
        }
        fresh
    }

    /// The version new values are sealed under.
    pub fn current_version(&self) -> u32 {
        self.ring().current
    }

    /// `context` is bound as associated data, so a ciphertext moved to another row fails to open.
    pub fn seal(&self, context: &str, plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        // Sealing is rare (a new key): reading the keyring first means a node never seals under
        // a version the command line has just rotated away from.
        let ring = if self.reload.is_some() {
            self.refresh()
        } else {
            self.ring()
        };
        let key = ring.keys.get(&ring.current).ok_or(CryptoError::Backend)?;
        let nonce_bytes = random_bytes::<NONCE_LEN>()?;
        let mut buf = plaintext.to_vec();
        key.seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce_bytes),
            Aad::from(context.as_bytes()),
            &mut buf,
        )
        .map_err(|_| CryptoError::Backend)?;
        let mut out = Vec::with_capacity(HEADER + NONCE_LEN + buf.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&ring.current.to_be_bytes());
        out.extend_from_slice(&nonce_bytes);
        out.extend_from_slice(&buf);
        Ok(out)
    }

    pub fn open(&self, context: &str, sealed: &[u8]) -> Result<Secret<Vec<u8>>, CryptoError> {
        self.open_versioned(context, sealed).map(|(s, _)| s)
    }

    /// Opens a value and says which key it was sealed under.
    pub fn open_versioned(
        &self,
        context: &str,
        sealed: &[u8],
    ) -> Result<(Secret<Vec<u8>>, Opened), CryptoError> {
        let ring = self.ring();
        match try_open(&ring, context, sealed) {
            Some(done) => Ok(done),
            // A version this node does not know may be one the command line just added.
            None if self.reload.is_some() => {
                try_open(&self.refresh(), context, sealed).ok_or(CryptoError::Decrypt)
            }
            None => Err(CryptoError::Decrypt),
        }
    }

    /// The value sealed under the current version, or `None` when it already is.
    pub fn reseal(&self, context: &str, sealed: &[u8]) -> Result<Option<Vec<u8>>, CryptoError> {
        let (plain, opened) = self.open_versioned(context, sealed)?;
        if opened.current {
            return Ok(None);
        }
        self.seal(context, plain.expose()).map(Some)
    }
}

fn try_open(ring: &Ring, context: &str, sealed: &[u8]) -> Option<(Secret<Vec<u8>>, Opened)> {
    if sealed.len() >= HEADER + NONCE_LEN && sealed.starts_with(MAGIC) {
        let mut v = [0u8; 4];
        v.copy_from_slice(&sealed[MAGIC.len()..HEADER]);
        let version = u32::from_be_bytes(v);
        if let Some(plain) = ring
            .keys
            .get(&version)
            .and_then(|k| open_with(k, context, &sealed[HEADER..]))
        {
            let current = version == ring.current;
            return Some((plain, Opened { version, current }));
        }
    }
    // The form without a header; a random nonce may start with the magic bytes, so this is
    // tried whenever the header did not open (the tag decides, never the guess).
    let plain = open_with(ring.keys.get(&FIRST_VERSION)?, context, sealed)?;
    Some((
        plain,
        Opened {
            version: FIRST_VERSION,
            current: false,
        },
    ))
}

fn open_with(key: &LessSafeKey, context: &str, sealed: &[u8]) -> Option<Secret<Vec<u8>>> {
    if sealed.len() < NONCE_LEN {
        return None;
    }
    let (nonce, body) = sealed.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
    let mut buf = body.to_vec();
    let len = key
        .open_in_place(nonce, Aad::from(context.as_bytes()), &mut buf)
        .ok()?
        .len();
    buf.truncate(len);
    Some(Secret::new(buf))
}

/// How many stored values each key version holds, and how many a pass re-sealed: what the
/// owners of sealed columns report, so that a version is retired only when nothing needs it.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SealCensus {
    /// Values by the version they are sealed under now; 0 counts values still stored in clear.
    pub by_version: BTreeMap<u32, u64>,
    pub resealed: u64,
}

impl SealCensus {
    pub fn count(&mut self, version: u32) {
        *self.by_version.entry(version).or_default() += 1;
    }

    pub fn merge(&mut self, other: SealCensus) {
        for (v, n) in other.by_version {
            *self.by_version.entry(v).or_default() += n;
        }
        self.resealed += other.resealed;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn legacy_seal(key: &[u8; 32], context: &str, plain: &[u8]) -> Vec<u8> {
        let k = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key).unwrap());
        let nonce = random_bytes::<NONCE_LEN>().unwrap();
        let mut buf = plain.to_vec();
        k.seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(context.as_bytes()),
            &mut buf,
        )
        .unwrap();
        [nonce.to_vec(), buf].concat()
    }

    #[test]
    fn round_trips_and_binds_context() {
        let vault = Vault::new(&Secret::new([7u8; 32])).unwrap();
        let sealed = vault.seal("key:1", b"secret").unwrap();
        assert_eq!(vault.open("key:1", &sealed).unwrap().expose(), b"secret");
        assert_eq!(vault.open("key:2", &sealed), Err(CryptoError::Decrypt));
        let mut tampered = sealed.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert_eq!(vault.open("key:1", &tampered), Err(CryptoError::Decrypt));
        let other = Vault::new(&Secret::new([8u8; 32])).unwrap();
        assert_eq!(other.open("key:1", &sealed), Err(CryptoError::Decrypt));
    }

    #[test]
    fn a_rotated_keyring_opens_old_values_and_reseals_them_under_the_new_version() {
        let mut keys = MasterKeys::single(Secret::new([1u8; 32]));
        let old = Vault::from_keys(&keys, None).unwrap();
        let v1 = old.seal("c", b"s").unwrap();
        let legacy = legacy_seal(&[1u8; 32], "c", b"s");
        assert_eq!(keys.add_new().unwrap(), 2);
        let vault = Vault::from_keys(&keys, None).unwrap();
        for sealed in [&v1, &legacy] {
            let (plain, opened) = vault.open_versioned("c", sealed).unwrap();
            assert_eq!(plain.expose(), b"s");
            assert_eq!(
                opened,
                Opened {
                    version: 1,
                    current: false
                }
            );
            let fresh = vault.reseal("c", sealed).unwrap().unwrap();
            assert_eq!(vault.open_versioned("c", &fresh).unwrap().1.version, 2);
            assert_eq!(vault.reseal("c", &fresh).unwrap(), None, "already current");
            assert!(
                old.open("c", &fresh).is_err(),
                "the old keyring lacks version 2"
            );
        }
        // Once version 1 is retired only re-sealed values open.
        keys.retire(1).unwrap();
        let retired = Vault::from_keys(&keys, None).unwrap();
        assert!(retired.open("c", &v1).is_err());
        assert!(retired.open("c", &legacy).is_err());
        assert!(keys.retire(2).is_err(), "the sealing key stays");
    }

    #[test]
    fn a_node_meeting_an_unknown_version_reads_the_keyring_again() {
        let mut keys = MasterKeys::single(Secret::new([1u8; 32]));
        let text = Arc::new(RwLock::new(keys.render().expose().clone()));
        let source = text.clone();
        let reload: Reload = Arc::new(move || MasterKeys::parse(&source.read().unwrap()).ok());
        let node = Vault::from_keys(&keys, Some(reload)).unwrap();
        keys.add_new().unwrap();
        let cli = Vault::from_keys(&keys, None).unwrap();
        let sealed = cli.seal("c", b"s").unwrap();
        *text.write().unwrap() = keys.render().expose().clone();
        assert_eq!(node.open("c", &sealed).unwrap().expose(), b"s");
        assert_eq!(node.current_version(), 2);
    }

    #[test]
    fn keyrings_parse_their_text_forms_and_refuse_bad_ones() {
        let a = B64.encode([1u8; 32]);
        let b = B64.encode([2u8; 32]);
        let legacy = MasterKeys::parse(&format!("{a}\n")).unwrap();
        assert_eq!((legacy.versions(), legacy.current()), (vec![1], 1));
        let two = MasterKeys::parse(&format!("1:{a},2:{b}")).unwrap();
        assert_eq!((two.versions(), two.current()), (vec![1, 2], 2));
        let marked = MasterKeys::parse(&format!("*1:{a}\n2:{b}\n")).unwrap();
        assert_eq!(marked.current(), 1);
        let again = MasterKeys::parse(marked.render().expose()).unwrap();
        assert_eq!((again.versions(), again.current()), (vec![1, 2], 1));
        for bad in [
            String::new(),
            format!("0:{a}"),
            format!("x:{a}"),
            "1:short".to_string(),
            format!("1:{a},1:{b}"),
            format!("*1:{a},*2:{b}"),
        ] {
            assert!(MasterKeys::parse(&bad).is_err(), "{bad:?}");
        }
    }
}
