//! TLS for both services, written once: PEM certificates and (sealed) keys,
//! the one client-certificate verifier, and the server and client
//! configurations. The provider is AWS-LC (rustls's default; the crypto core
//! links the same library). A refused client fails the handshake and never
//! reaches HTTP; it learns only that the handshake failed (rustls answers an
//! error other than `InvalidCertificate` with the `handshake_failure` alert,
//! as AWS's reference proxy does and AWS's conformance client expects), while
//! the reason stays in the service's "TLS handshake failed" log line.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime, pem::PemObject};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ServerConfig, WebPkiClientVerifier};
use rustls::{ClientConfig, DigitallySignedStruct, DistinguishedName, RootCertStore, SignatureScheme, SupportedProtocolVersion};
use sha2::{Digest, Sha256};

/// TLS set-up errors.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file is missing or malformed.
    #[error("{path}: {reason}")]
    File {
        /// The file.
        path: String,
        /// Why (never key material).
        reason: String,
    },
    /// rustls refused the configuration.
    #[error("TLS configuration: {0}")]
    Rustls(String),
}

fn file_err(path: &Path, reason: impl fmt::Display) -> TlsError {
    TlsError::File { path: path.display().to_string(), reason: reason.to_string() }
}

fn rustls_err(e: impl fmt::Display) -> TlsError {
    TlsError::Rustls(e.to_string())
}

/// Reads a PEM certificate chain (at least one certificate).
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

/// Reads the CA certificates of a PEM file as trust anchors.
///
/// # Errors
/// [`TlsError::File`].
pub fn load_roots(path: &Path) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for c in load_certs(path)? {
        roots.add(c).map_err(|e| file_err(path, e))?;
    }
    Ok(roots)
}

/// Reads a PEM private key, plain or sealed (sops, opened with `ids`).
///
/// # Errors
/// [`TlsError::File`] (the message never contains key material).
pub fn load_key(path: &Path, ids: Option<&xks_sops::Identities>) -> Result<PrivateKeyDer<'static>, TlsError> {
    let pem = xks_sops::read_file(path, ids).map_err(|e| file_err(path, e))?;
    PrivateKeyDer::from_pem_slice(pem.as_bytes()).map_err(|e| file_err(path, format!("no usable private key ({})", pem_error(&e))))
}

fn pem_error(e: &rustls::pki_types::pem::Error) -> &'static str {
    match e {
        rustls::pki_types::pem::Error::NoItemsFound => "no PEM private key block",
        rustls::pki_types::pem::Error::Io(_) => "cannot read the file",
        _ => "malformed PEM",
    }
}

/// Who a client is, from its certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientIdentity {
    /// First URI or DNS subject alternative name, else the subject CN, else
    /// `unknown`; printable ASCII, at most 200 characters (it is logged).
    pub name: String,
    /// All SANs as `dns:…` / `uri:…`.
    pub sans: Vec<String>,
    /// The subject's common names.
    pub common_names: Vec<String>,
    /// `sha256:<hex>` of the DER certificate.
    pub fingerprint: String,
}

impl ClientIdentity {
    /// Extracts the identity of a DER certificate.
    pub fn from_der(der: &[u8]) -> Self {
        let fingerprint = format!("sha256:{}", hex::encode(Sha256::digest(der)));
        let mut sans = Vec::new();
        let mut common_names = Vec::new();
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
            common_names = cert.subject().iter_common_name().filter_map(|cn| cn.as_str().ok().map(str::to_owned)).collect();
        }
        let name = sans
            .iter()
            .find(|s| s.starts_with("uri:"))
            .or_else(|| sans.first())
            .map(|s| s.split_once(':').map_or(s.as_str(), |(_, v)| v).to_owned())
            .or_else(|| common_names.first().cloned())
            .unwrap_or_else(|| "unknown".into());
        let name = name.chars().filter(|c| c.is_ascii_graphic()).take(200).collect();
        Self { name, sans, common_names, fingerprint }
    }

    /// Whether an allow-list entry (a SAN as `dns:…`/`uri:…`, or the
    /// certificate's `sha256:` fingerprint) names this identity.
    pub fn matches(&self, entry: &str) -> bool {
        entry.eq_ignore_ascii_case(&self.fingerprint) || self.sans.iter().any(|s| s == entry)
    }
}

/// Which clients, among those whose certificate chains to the CA, may connect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientRule {
    /// Any (the CA alone decides).
    AnyFromCa,
    /// Those an entry of the list names ([`ClientIdentity::matches`]): the
    /// share service's `tls.allowed_clients`.
    Identities(Vec<String>),
    /// Those with one of these subject common names: the proxy's
    /// `front.client_subjects` (KMS presents `CN=cks.kms.<region>.amazonaws.com`).
    CommonNames(Vec<String>),
}

impl ClientRule {
    /// Why `id` is refused, if it is.
    fn refusal(&self, id: &ClientIdentity) -> Option<String> {
        let allowed = match self {
            ClientRule::AnyFromCa => true,
            ClientRule::Identities(list) => list.iter().any(|entry| id.matches(entry)),
            ClientRule::CommonNames(list) => id.common_names.iter().any(|cn| list.contains(cn)),
        };
        (!allowed).then(|| format!("client {} ({}) is not allowed", id.name, id.fingerprint))
    }
}

/// Chain verification by webpki, then the [`ClientRule`].
struct AllowedClients {
    inner: Arc<dyn ClientCertVerifier>,
    rule: ClientRule,
}

impl fmt::Debug for AllowedClients {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AllowedClients").field("rule", &self.rule).finish()
    }
}

/// A rejected client certificate (see the module documentation for what the
/// peer learns).
fn rejected(why: impl fmt::Display) -> rustls::Error {
    rustls::Error::General(format!("client certificate rejected: {why}"))
}

impl ClientCertVerifier for AllowedClients {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let ok = self.inner.verify_client_cert(end_entity, intermediates, now).map_err(rejected)?;
        match self.rule.refusal(&ClientIdentity::from_der(end_entity)) {
            None => Ok(ok),
            Some(why) => Err(rejected(why)),
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

/// Client certificates a server asks for.
#[derive(Clone, Copy, Debug)]
pub enum ClientAuth<'a> {
    /// None (the proxy's front without mTLS).
    None,
    /// Required: chained to the CA in `ca`, and allowed by `rule`.
    Required {
        /// PEM file of the client CA.
        ca: &'a Path,
        /// Which of its clients may connect.
        rule: &'a ClientRule,
    },
}

/// TLS 1.3 only (between our own services).
pub const TLS13: &[&SupportedProtocolVersion] = &[&rustls::version::TLS13];
/// TLS 1.3 and 1.2 (the proxy's front, which AWS KMS calls).
pub const TLS13_AND_12: &[&SupportedProtocolVersion] = &[&rustls::version::TLS13, &rustls::version::TLS12];

/// The end of validity of the first (leaf) certificate in the PEM file `cert`,
/// as Unix seconds (for the certificate gauges of docs/monitoring.md).
///
/// # Errors
/// [`TlsError`] for an unreadable file, no certificate, or one that is not X.509.
pub fn leaf_not_after(cert: &Path) -> Result<i64, TlsError> {
    let chain = load_certs(cert)?;
    let leaf = chain.first().ok_or_else(|| file_err(cert, "no certificate"))?;
    let (_, parsed) = x509_parser::parse_x509_certificate(leaf.as_ref()).map_err(|_| file_err(cert, "not an X.509 certificate"))?;
    Ok(parsed.validity().not_after.timestamp())
}

/// A server configuration: the certificate chain in `cert`, the (possibly
/// sealed) key in `key`, the protocol `versions`, `client_auth`, ALPN `h2`
/// and `http/1.1`.
///
/// # Errors
/// [`TlsError`] for an unreadable file or a refused configuration.
pub fn server_config(
    cert: &Path,
    key: &Path,
    ids: Option<&xks_sops::Identities>,
    versions: &[&'static SupportedProtocolVersion],
    client_auth: ClientAuth<'_>,
) -> Result<ServerConfig, TlsError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let chain = load_certs(cert)?;
    let key = load_key(key, ids)?;
    let builder = ServerConfig::builder_with_provider(provider.clone()).with_protocol_versions(versions).map_err(rustls_err)?;
    let builder = match client_auth {
        ClientAuth::None => builder.with_no_client_auth(),
        ClientAuth::Required { ca, rule } => {
            let inner = WebPkiClientVerifier::builder_with_provider(Arc::new(load_roots(ca)?), provider).build().map_err(rustls_err)?;
            builder.with_client_cert_verifier(Arc::new(AllowedClients { inner, rule: rule.clone() }))
        }
    };
    let mut cfg = builder.with_single_cert(chain, key).map_err(|e| TlsError::Rustls(format!("server certificate: {e}")))?;
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(cfg)
}

/// A client configuration for mutual TLS 1.3 between our services: only the
/// CA in `ca` as trust anchor, the client certificate in `cert` with its
/// (possibly sealed) key in `key`, ALPN `h2`.
///
/// # Errors
/// [`TlsError`] naming the file that failed.
pub fn client_config(ca: &Path, cert: &Path, key: &Path, ids: Option<&xks_sops::Identities>) -> Result<ClientConfig, TlsError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let roots = load_roots(ca)?;
    let chain = load_certs(cert)?;
    let key = load_key(key, ids)?;
    let mut cfg = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(TLS13)
        .map_err(rustls_err)?
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .map_err(|e| TlsError::Rustls(format!("client certificate: {e}")))?;
    cfg.alpn_protocols = vec![b"h2".to_vec()];
    Ok(cfg)
}
