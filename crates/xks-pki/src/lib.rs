//! The project's private PKI: one CA per deployment, a server certificate per
//! share service, client certificates for the proxy. ECDSA P-256 with SHA-256,
//! generated with `rcgen` (on AWS-LC). Private keys are returned in zeroizing
//! buffers; sealing them (sops/age) is the operator CLI's job.
//!
//! Tests use this crate to make their CAs, so no certificate blob of unknown
//! origin is ever committed.

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    PKCS_ECDSA_P256_SHA256, SanType,
};
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};
use zeroize::Zeroizing;

/// Errors of certificate generation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// rcgen refused the parameters or failed to sign.
    #[error("certificate generation failed: {0}")]
    Rcgen(#[from] rcgen::Error),
    /// A PEM input is not a certificate or key of the expected kind.
    #[error("{0}")]
    Parse(String),
    /// A subject alternative name is neither a DNS name, an IP address nor a URI.
    #[error("invalid subject alternative name {0:?}")]
    InvalidSan(String),
}

/// Result alias.
pub type Result<T> = core::result::Result<T, Error>;

/// When a certificate is valid.
#[derive(Clone, Copy, Debug)]
pub struct Validity {
    /// Start.
    pub not_before: OffsetDateTime,
    /// End.
    pub not_after: OffsetDateTime,
}

impl Validity {
    /// From one hour ago (clock skew) for `days` days.
    pub fn days(days: i64) -> Self {
        let now = OffsetDateTime::now_utc();
        Self { not_before: now - Duration::hours(1), not_after: now + Duration::days(days) }
    }

    /// A window that ended yesterday (for tests of expiry handling).
    pub fn expired() -> Self {
        let now = OffsetDateTime::now_utc();
        Self { not_before: now - Duration::days(30), not_after: now - Duration::days(1) }
    }
}

/// A certificate with its private key.
pub struct CertifiedKey {
    /// PEM certificate.
    pub cert_pem: String,
    /// DER certificate.
    pub cert_der: Vec<u8>,
    /// PKCS#8 PEM private key; zeroized on drop.
    pub key_pem: Zeroizing<String>,
}

impl CertifiedKey {
    /// SHA-256 fingerprint of the DER certificate, lowercase hex (the form the
    /// share service's identity allow-list accepts).
    pub fn fingerprint(&self) -> String {
        fingerprint(&self.cert_der)
    }
}

impl core::fmt::Debug for CertifiedKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "CertifiedKey(sha256={}, key=<redacted>)", self.fingerprint())
    }
}

/// SHA-256 of a DER certificate, lowercase hex.
pub fn fingerprint(der: &[u8]) -> String {
    hex::encode(Sha256::digest(der))
}

/// A certificate authority that can issue server and client certificates.
pub struct Ca {
    issuer: Issuer<'static, KeyPair>,
    cert: CertifiedKey,
}

impl core::fmt::Debug for Ca {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Ca({:?})", self.cert)
    }
}

fn name(common_name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "split-key XKS");
    dn.push(DnType::CommonName, common_name);
    dn
}

fn san(s: &str) -> Result<SanType> {
    if let Ok(ip) = s.parse() {
        return Ok(SanType::IpAddress(ip));
    }
    if s.contains("://") {
        return Ok(SanType::URI(s.try_into().map_err(|_| Error::InvalidSan(s.to_owned()))?));
    }
    Ok(SanType::DnsName(s.try_into().map_err(|_| Error::InvalidSan(s.to_owned()))?))
}

impl Ca {
    /// A new self-signed CA.
    ///
    /// # Errors
    /// [`Error::Rcgen`].
    pub fn new(common_name: &str, validity: Validity) -> Result<Self> {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let mut params = CertificateParams::default();
        params.distinguished_name = name(common_name);
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
        params.not_before = validity.not_before;
        params.not_after = validity.not_after;
        let cert = params.self_signed(&key)?;
        let certified = CertifiedKey { cert_pem: cert.pem(), cert_der: cert.der().to_vec(), key_pem: Zeroizing::new(key.serialize_pem()) };
        Ok(Self { issuer: Issuer::new(params, key), cert: certified })
    }

    /// Loads an existing CA from its certificate and private key (PEM), to issue
    /// or re-issue certificates under it.
    ///
    /// # Errors
    /// [`Error::Parse`] when the certificate is not a CA certificate or the key does not match it.
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<Self> {
        let key = KeyPair::from_pem(key_pem).map_err(|_| Error::Parse("the CA key is not a PEM private key".into()))?;
        let summary = describe(cert_pem)?;
        if !summary.is_ca {
            return Err(Error::Parse("the certificate is not a CA certificate".into()));
        }
        if summary.public_key != key.public_key_raw() {
            return Err(Error::Parse("the CA key does not belong to the CA certificate".into()));
        }
        let issuer = Issuer::from_ca_cert_pem(cert_pem, key).map_err(|_| Error::Parse("the CA certificate cannot be parsed".into()))?;
        let cert = CertifiedKey { cert_pem: cert_pem.to_owned(), cert_der: summary.der, key_pem: Zeroizing::new(key_pem.to_owned()) };
        Ok(Self { issuer, cert })
    }

    /// The CA certificate (and key).
    pub fn certificate(&self) -> &CertifiedKey {
        &self.cert
    }

    fn issue(&self, common_name: &str, sans: &[&str], usage: ExtendedKeyUsagePurpose, validity: Validity) -> Result<CertifiedKey> {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let mut params = CertificateParams::default();
        params.distinguished_name = name(common_name);
        params.subject_alt_names = sans.iter().map(|s| san(s)).collect::<Result<_>>()?;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![usage];
        params.not_before = validity.not_before;
        params.not_after = validity.not_after;
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(CertifiedKey { cert_pem: cert.pem(), cert_der: cert.der().to_vec(), key_pem: Zeroizing::new(key.serialize_pem()) })
    }

    /// A TLS server certificate (share service) for the given DNS names / IP addresses.
    ///
    /// # Errors
    /// [`Error::Rcgen`], [`Error::InvalidSan`].
    pub fn issue_server(&self, common_name: &str, sans: &[&str], validity: Validity) -> Result<CertifiedKey> {
        self.issue(common_name, sans, ExtendedKeyUsagePurpose::ServerAuth, validity)
    }

    /// A TLS client certificate (the proxy's identity towards a share service).
    /// SANs may be DNS names or URIs (e.g. `spiffe://xks/proxy`).
    ///
    /// # Errors
    /// [`Error::Rcgen`], [`Error::InvalidSan`].
    pub fn issue_client(&self, common_name: &str, sans: &[&str], validity: Validity) -> Result<CertifiedKey> {
        self.issue(common_name, sans, ExtendedKeyUsagePurpose::ClientAuth, validity)
    }
}

/// What a certificate says, for operators (`xksctl pki show`) and checks.
#[derive(Clone, Debug)]
pub struct Summary {
    /// Subject common name.
    pub common_name: String,
    /// Subject alternative names (`dns:`, `ip:`, `uri:`).
    pub sans: Vec<String>,
    /// Start of validity.
    pub not_before: OffsetDateTime,
    /// End of validity.
    pub not_after: OffsetDateTime,
    /// Whether it is a CA certificate.
    pub is_ca: bool,
    /// SHA-256 of the DER, lowercase hex.
    pub fingerprint: String,
    /// The DER certificate.
    pub der: Vec<u8>,
    /// The subject public key (raw).
    pub public_key: Vec<u8>,
}

/// Reads the first certificate of a PEM text.
///
/// # Errors
/// [`Error::Parse`].
pub fn describe(cert_pem: &str) -> Result<Summary> {
    let (_, pem) = x509_parser::pem::parse_x509_pem(cert_pem.as_bytes()).map_err(|_| Error::Parse("not a PEM certificate".into()))?;
    let cert = pem.parse_x509().map_err(|_| Error::Parse("not an X.509 certificate".into()))?;
    let common_name = cert.subject().iter_common_name().next().and_then(|c| c.as_str().ok()).unwrap_or("").to_owned();
    let mut sans = Vec::new();
    if let Ok(Some(ext)) = cert.subject_alternative_name() {
        for n in &ext.value.general_names {
            match n {
                x509_parser::extensions::GeneralName::DNSName(d) => sans.push(format!("dns:{d}")),
                x509_parser::extensions::GeneralName::URI(u) => sans.push(format!("uri:{u}")),
                x509_parser::extensions::GeneralName::IPAddress(b) => sans.push(format!("ip:{}", ip(b))),
                _ => {}
            }
        }
    }
    let is_ca = cert.basic_constraints().ok().flatten().is_some_and(|b| b.value.ca);
    let public_key = cert.public_key().subject_public_key.data.to_vec();
    Ok(Summary {
        common_name,
        sans,
        not_before: cert.validity().not_before.to_datetime(),
        not_after: cert.validity().not_after.to_datetime(),
        is_ca,
        fingerprint: fingerprint(&pem.contents),
        der: pem.contents.clone(),
        public_key,
    })
}

fn ip(b: &[u8]) -> String {
    match b.len() {
        4 => <[u8; 4]>::try_from(b).map(|a| std::net::IpAddr::from(a).to_string()).unwrap_or_default(),
        16 => <[u8; 16]>::try_from(b).map(|a| std::net::IpAddr::from(a).to_string()).unwrap_or_default(),
        _ => hex::encode(b),
    }
}
