//! TLS termination with rustls (`--tls-cert`, `--tls-key`, PEM files).

use std::sync::Arc;

use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::TlsAcceptor;

use crate::TlsFiles;

fn config(files: &TlsFiles) -> std::io::Result<ServerConfig> {
    let bad = |what: &str, e: &dyn std::fmt::Display| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("{what}: {e}"))
    };
    let certs = CertificateDer::pem_file_iter(&files.cert)
        .map_err(|e| bad("cannot read --tls-cert", &e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad("bad certificate in --tls-cert", &e))?;
    let key =
        PrivateKeyDer::from_pem_file(&files.key).map_err(|e| bad("cannot read --tls-key", &e))?;
    let provider = Arc::new(tokio_rustls::rustls::crypto::aws_lc_rs::default_provider());
    let mut cfg = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| bad("TLS setup", &e))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| bad("certificate and key do not match", &e))?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(cfg)
}

/// The TLS acceptor for the certificate and key files.
pub fn acceptor(files: &TlsFiles) -> std::io::Result<TlsAcceptor> {
    Ok(TlsAcceptor::from(Arc::new(config(files)?)))
}
