//! The front TLS configuration (spec "API content type" and "Authentication"):
//! rustls with TLS 1.3 and 1.2, ALPN `h2` and `http/1.1`, and optional mutual
//! TLS in which the client certificate must chain to the configured CA *and*
//! carry one of the configured subject common names (KMS presents
//! `CN=cks.kms.<region>.amazonaws.com`); anything else fails the handshake.

use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::pki_types::{CertificateDer, UnixTime, pem::PemObject};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ServerConfig, WebPkiClientVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, RootCertStore, SignatureScheme};

fn certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let c: Vec<_> = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("{}: {e}", path.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if c.is_empty() {
        return Err(format!("{}: no certificate found", path.display()));
    }
    Ok(c)
}

/// Builds the server configuration.
///
/// # Errors
/// A message naming the file or setting that failed.
pub fn server_config(
    cert: &Path,
    key: &Path,
    client_ca: Option<&Path>,
    client_subjects: &[String],
    ids: Option<&xks_sops::Identities>,
) -> Result<ServerConfig, String> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let chain = certs(cert)?;
    let key = crate::partners::client::load_key(key, ids)?;
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| e.to_string())?;
    let builder = match client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            for c in certs(ca)? {
                roots.add(c).map_err(|e| format!("{}: {e}", ca.display()))?;
            }
            let inner = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider).build().map_err(|e| e.to_string())?;
            builder.with_client_cert_verifier(Arc::new(SubjectVerifier { inner, subjects: client_subjects.to_vec() }))
        }
    };
    let mut cfg = builder.with_single_cert(chain, key).map_err(|e| format!("server certificate: {e}"))?;
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(cfg)
}

/// The subject common names of a DER certificate.
pub fn common_names(der: &[u8]) -> Vec<String> {
    match x509_parser::parse_x509_certificate(der) {
        Ok((_, cert)) => cert.subject().iter_common_name().filter_map(|cn| cn.as_str().ok().map(str::to_owned)).collect(),
        Err(_) => Vec::new(),
    }
}

/// A rejected client certificate. The peer learns only that the handshake
/// failed (rustls answers an error other than `InvalidCertificate` with the
/// `handshake_failure` alert, as AWS's reference proxy does and AWS's
/// conformance client expects), not which check failed; the reason stays in
/// the proxy's "TLS handshake failed" log line.
fn rejected(why: impl std::fmt::Display) -> rustls::Error {
    rustls::Error::General(format!("client certificate rejected: {why}"))
}

/// CA chain check (webpki) plus an allow-list of subject common names.
#[derive(Debug)]
struct SubjectVerifier {
    inner: Arc<dyn ClientCertVerifier>,
    subjects: Vec<String>,
}

impl ClientCertVerifier for SubjectVerifier {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.inner.verify_client_cert(end_entity, intermediates, now).map_err(rejected)?;
        if common_names(end_entity).iter().any(|cn| self.subjects.contains(cn)) {
            Ok(ClientCertVerified::assertion())
        } else {
            Err(rejected("subject not in client_subjects"))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}
