//! What a platform needs to talk to a sandbox that runs as a process of its own
//! (`paycore sandbox`): where it is served and, per channel, the key material a merchant of a
//! real channel downloads from its console — the shared secret and the channel's public key,
//! never the channel's private key. The sandbox writes it to a file readable by its owner only;
//! the platform reads it at start-up (`paycore serve --sandbox-channels FILE`).

use std::path::Path;
use std::sync::Arc;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use paycore_channels::connector::{ChannelError, Connector};
use paycore_kernel::crypto::{Algorithm, VerifyingKey};
use paycore_kernel::Secret;
use serde::{Deserialize, Serialize};

use crate::books::SandboxError;
use crate::connector::{SandboxConnector, SandboxConnectorConfig};
use crate::kind::Kind;
use crate::wire::ChannelKeys;
use crate::SandboxState;

/// The platform's view of a remote sandbox.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ChannelCredentials {
    /// Where the sandbox is served, without `/sandbox` (e.g. `http://127.0.0.1:9100`).
    pub base_url: String,
    pub channels: Vec<ChannelCredential>,
}

#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ChannelCredential {
    /// The channel's code (`sandbox-quickpay`, …).
    pub channel: String,
    /// The shared HMAC secret, base64.
    pub shared_secret: String,
    /// The channel's Ed25519 public key (PEM), for the channels that sign with one.
    pub public_key_pem: Option<String>,
}

/// Without the shared secret: credentials may be logged by `{:?}`, the secret never.
impl std::fmt::Debug for ChannelCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChannelCredential")
            .field("channel", &self.channel)
            .field("shared_secret", &"***")
            .field("public_key_pem", &self.public_key_pem)
            .finish()
    }
}

impl ChannelCredentials {
    /// What the sandbox behind `state` hands out (its keys are created on first use).
    pub async fn of(state: &SandboxState) -> Result<Self, SandboxError> {
        let mut channels = Vec::new();
        for kind in Kind::ALL {
            let keys = state.keys(kind).await?;
            channels.push(ChannelCredential {
                channel: kind.code().to_string(),
                shared_secret: B64.encode(keys.shared.expose()),
                public_key_pem: keys.signer.as_ref().map(|s| s.public_key_pem()),
            });
        }
        Ok(Self {
            base_url: state.base_url().to_string(),
            channels,
        })
    }

    pub fn from_json(text: &str) -> Result<Self, SandboxError> {
        let creds: Self = serde_json::from_str(text)
            .map_err(|e| SandboxError::Corrupt(format!("sandbox channels file: {e}")))?;
        if !(creds.base_url.starts_with("http://") || creds.base_url.starts_with("https://")) {
            return Err(SandboxError::Corrupt(
                "sandbox channels file: base_url must be an http(s) URL".into(),
            ));
        }
        Ok(creds)
    }

    pub fn read(path: &Path) -> Result<Self, SandboxError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| SandboxError::Corrupt(format!("reading {}: {e}", path.display())))?;
        Self::from_json(&text)
    }

    /// Writes the file readable by its owner only, replacing it whole (a reader never sees
    /// half of it).
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        let text = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        let tmp = path.with_extension("tmp");
        {
            use std::io::Write;
            // A leftover temporary file may have other permissions: start from a new one.
            match std::fs::remove_file(&tmp) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                opts.mode(0o600);
            }
            let mut f = opts.open(&tmp)?;
            f.write_all(text.as_bytes())?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, path)
    }

    /// One connector per channel, calling the remote sandbox. Every sandbox channel must be
    /// named, each once.
    pub fn connectors(
        &self,
        config: &SandboxConnectorConfig,
    ) -> Result<Vec<Arc<dyn Connector>>, ChannelError> {
        let bad = |m: String| ChannelError::Internal(format!("sandbox channels file: {m}"));
        let http = config.client()?;
        let mut out: Vec<Arc<dyn Connector>> = Vec::new();
        for kind in Kind::ALL {
            let mut named = self.channels.iter().filter(|c| c.channel == kind.code());
            let (Some(c), None) = (named.next(), named.next()) else {
                return Err(bad(format!("{} must be named exactly once", kind.code())));
            };
            let shared = B64
                .decode(&c.shared_secret)
                .map_err(|_| bad(format!("{}: shared_secret is not base64", c.channel)))?;
            let verifier = match &c.public_key_pem {
                Some(pem) => Some(
                    VerifyingKey::from_public_pem(Algorithm::Ed25519, pem)
                        .map_err(|e| bad(format!("{}: public key: {e}", c.channel)))?,
                ),
                None => None,
            };
            let keys = ChannelKeys {
                shared: Secret::new(shared),
                signer: None,
                verifier,
            };
            out.push(Arc::new(SandboxConnector::new(
                kind,
                &self.base_url,
                keys,
                http.clone(),
            )));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds() -> ChannelCredentials {
        ChannelCredentials {
            base_url: "http://127.0.0.1:9100".into(),
            channels: Kind::ALL
                .iter()
                .map(|k| ChannelCredential {
                    channel: k.code().into(),
                    shared_secret: B64.encode(b"secret"),
                    public_key_pem: None,
                })
                .collect(),
        }
    }

    #[test]
    fn every_channel_once_and_well_formed() {
        let cfg = SandboxConnectorConfig::default();
        assert_eq!(creds().connectors(&cfg).map(|c| c.len()).ok(), Some(5));
        let mut missing = creds();
        missing.channels.pop();
        assert!(missing.connectors(&cfg).is_err());
        let mut twice = creds();
        twice.channels.push(twice.channels[0].clone());
        assert!(twice.connectors(&cfg).is_err());
        let mut bad = creds();
        bad.channels[1].shared_secret = "not base64!".into();
        assert!(bad.connectors(&cfg).is_err());
        let mut pem = creds();
        pem.channels[1].public_key_pem = Some("-----BEGIN nonsense".into());
        assert!(pem.connectors(&cfg).is_err());
    }

    #[test]
    fn file_round_trip_owner_only() {
        let dir = std::env::temp_dir().join(format!("sbcreds-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("channels.json");
        creds().write(&path).unwrap();
        assert_eq!(ChannelCredentials::read(&path).unwrap(), creds());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "readable by its owner only");
        }
        assert!(!format!("{:?}", creds()).contains(&B64.encode(b"secret")));
        assert!(
            ChannelCredentials::from_json("{\"base_url\":\"ftp://x\",\"channels\":[]}").is_err()
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
