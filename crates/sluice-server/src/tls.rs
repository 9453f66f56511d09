//! HTTPS: `sluice server --tls-cert FILE --tls-key FILE` serves the same router over TLS
//! (rustls, ring), so a team server needs no proxy in front. PEM files as any CA or
//! `openssl req` writes them: a certificate chain, and a PKCS#8, PKCS#1 or SEC1 key.

use std::future::Future;
use std::path::Path;
use std::sync::Arc;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

/// Reads a certificate chain and its key into an acceptor. The message names the file and what
/// is wrong with it.
///
/// # Errors
/// An unreadable file, no certificate, no key, or a key that does not match the certificate.
pub fn acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor, String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| format!("cannot read the certificate `{}`: {e}", cert.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("`{}` is not a PEM certificate: {e}", cert.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "`{}` holds no certificate (`-----BEGIN CERTIFICATE-----`)",
            cert.display()
        ));
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| format!("cannot read a private key from `{}`: {e}", key.display()))?;
    #[expect(
        deprecated,
        reason = "ring (already built for object_store) rather than aws-lc-rs, a C build; it lacks only post-quantum key exchange"
    )]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("the certificate and key do not make a TLS identity: {e}"))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// [`crate::serve_router`] over TLS: each connection's handshake, then HTTP/1.1 on it, until
/// `shutdown`; connections in flight finish their requests.
///
/// # Errors
/// When accepting connections fails for good.
pub async fn serve_tls(
    listener: tokio::net::TcpListener,
    app: axum::Router,
    acceptor: TlsAcceptor,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let mut tasks = tokio::task::JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(c) => c,
                Err(e) => {
                    // Out of file descriptors and the like: wait a moment rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let acceptor = acceptor.clone();
        let app = app.clone();
        tasks.spawn(async move {
            let tls = match acceptor.accept(tcp).await {
                Ok(t) => t,
                Err(e) => {
                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                    return;
                }
            };
            let service = TowerToHyperService::new(app);
            let conn = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .http1_only()
                .serve_connection_with_upgrades(TokioIo::new(tls), service)
                .await;
            if let Err(e) = conn {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
        // Reap finished connections as we go.
        while tasks.try_join_next().is_some() {}
    }
    // In-flight requests get a moment to finish.
    let _ = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    Ok(())
}
