//! Mutual TLS: TLS 1.3 only, client certificate required and chained to the
//! configured CA, optionally restricted to listed identities. A refused client
//! fails the handshake; it never reaches HTTP.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime, pem::PemObject};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ServerConfig, WebPkiClientVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, RootCertStore, SignatureScheme};
use sha2::{Digest, Sha256};

/// TLS set-up errors.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file is missing or malformed.
    #[error("{path}: {reason}")]
    File {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// rustls refused the configuration.
    #[error("TLS configuration: {0}")]
    Rustls(String),
}

fn file_err(path: &Path, reason: impl fmt::Display) -> TlsError {
    TlsError::File { path: path.display().to_string(), reason: reason.to_string() }
}

/// Reads a PEM certificate chain.
///
/// # Errors
/// [`TlsError::File`].
pub fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs: Vec<_> =
        CertificateDer::pem_file_iter(path).map_err(|e| file_err(path, e))?.collect::<Result<_, _>>().map_err(|e| file_err(path, e))?;
    if certs.is_empty() {
        return Err(file_err(path, "no certificate found"));
    }
    Ok(certs)
}

/// Reads a PEM private key, plain or sealed (sops, opened with `ids`).
///
/// # Errors
/// [`TlsError::File`] (the message never contains key material).
pub fn load_key(path: &Path, ids: Option<&xks_sops::Identities>) -> Result<PrivateKeyDer<'static>, TlsError> {
    let pem = xks_sops::read_file(path, ids).map_err(|e| file_err(path, e))?;
    PrivateKeyDer::from_pem_slice(pem.as_bytes()).map_err(|e| file_err(path, format!("no usable private key ({})", kind(&e))))
}

fn kind(e: &rustls::pki_types::pem::Error) -> &'static str {
    match e {
        rustls::pki_types::pem::Error::NoItemsFound => "no PEM private key block",
        rustls::pki_types::pem::Error::Io(_) => "cannot read the file",
        _ => "malformed PEM",
    }
}

/// Who the client is, from its certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientIdentity {
    /// First URI or DNS subject alternative name, else the subject CN, else `unknown`.
    pub name: String,
    /// All SANs as `dns:…` / `uri:…`.
    pub sans: Vec<String>,
    /// `sha256:<hex>` of the DER certificate.
    pub fingerprint: String,
}

impl ClientIdentity {
    /// Extracts the identity of a DER certificate.
    pub fn from_der(der: &[u8]) -> Self {
        let fingerprint = format!("sha256:{}", hex::encode(Sha256::digest(der)));
        let mut sans = Vec::new();
        let mut cn = None;
        if let Ok((_, cert)) = x509_parser::parse_x509_certificate(der) {
            if let Ok(Some(ext)) = cert.subject_alternative_name() {
                for n in &ext.value.general_names {
                    match n {
                        x509_parser::extensions::GeneralName::DNSName(d) => sans.push(format!("dns:{d}")),
                        x509_parser::extensions::GeneralName::URI(u) => sans.push(format!("uri:{u}")),
                        _ => {}
                    }
                }
            }
            cn = cert.subject().iter_common_name().next().and_then(|c| c.as_str().ok()).map(str::to_owned);
        }
        let name = sans
            .iter()
            .find(|s| s.starts_with("uri:"))
            .or_else(|| sans.first())
            .map(|s| s.split_once(':').map_or(s.as_str(), |(_, v)| v).to_owned())
            .or(cn)
            .unwrap_or_else(|| "unknown".into());
        // Only printable ASCII reaches logs.
        let name = name.chars().filter(|c| c.is_ascii_graphic()).take(200).collect();
        Self { name, sans, fingerprint }
    }

    /// Whether an allow-list entry names this identity.
    pub fn matches(&self, entry: &str) -> bool {
        entry.eq_ignore_ascii_case(&self.fingerprint) || self.sans.iter().any(|s| s == entry)
    }
}

/// Chain verification by webpki, then the identity allow-list.
struct AllowList {
    inner: Arc<dyn ClientCertVerifier>,
    allowed: Vec<String>,
}

impl fmt::Debug for AllowList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AllowList").field("allowed", &self.allowed).finish()
    }
}

impl ClientCertVerifier for AllowList {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let ok = self.inner.verify_client_cert(end_entity, intermediates, now)?;
        if self.allowed.is_empty() {
            return Ok(ok);
        }
        let id = ClientIdentity::from_der(end_entity);
        if self.allowed.iter().any(|a| id.matches(a)) {
            Ok(ok)
        } else {
            tracing::warn!(client = %id.name, fingerprint = %id.fingerprint, "client certificate not in tls.allowed_clients: handshake refused");
            Err(rustls::Error::General("client identity not allowed".into()))
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

/// The server's rustls configuration: TLS 1.3, mandatory client certificates
/// from `client_ca`, optional allow-list, ALPN h2 and http/1.1.
///
/// # Errors
/// [`TlsError`] for unreadable files or a refused configuration.
pub fn server_config(
    cert: &Path,
    key: &Path,
    client_ca: &Path,
    allowed: &[String],
    ids: Option<&xks_sops::Identities>,
) -> Result<ServerConfig, TlsError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut roots = RootCertStore::empty();
    for c in load_certs(client_ca)? {
        roots.add(c).map_err(|e| file_err(client_ca, e))?;
    }
    let inner = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| TlsError::Rustls(e.to_string()))?;
    let verifier = Arc::new(AllowList { inner, allowed: allowed.to_vec() });
    let mut cfg = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| TlsError::Rustls(e.to_string()))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(load_certs(cert)?, load_key(key, ids)?)
        .map_err(|e| TlsError::Rustls(e.to_string()))?;
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(cfg)
}
