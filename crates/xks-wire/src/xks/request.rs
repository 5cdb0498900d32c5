//! Request bodies of the four APIs, validated exactly as the spec says:
//! required fields, Base64, sizes, algorithm names. Unknown `requestMetadata`
//! fields and unknown `kmsOperation` values are accepted (Appendix B and each
//! API's `kmsOperation` paragraph). Messages name fields, never values.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::error::{ErrorName, XksError};
use super::operation::Operation;

/// Longest ARN accepted (spec: "MUST support ARN lengths of up to 2048 characters").
pub const MAX_ARN: usize = 2048;
/// Longest other metadata string accepted.
const MAX_FIELD: usize = 2048;

/// `requestMetadata` (all fields the spec defines; others are ignored).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestMetadata {
    /// REQUIRED except for GetHealthStatus.
    pub aws_principal_arn: Option<String>,
    /// OPTIONAL.
    pub aws_source_vpc: Option<String>,
    /// OPTIONAL.
    pub aws_source_vpce: Option<String>,
    /// REQUIRED for Encrypt and Decrypt.
    pub kms_key_arn: Option<String>,
    /// REQUIRED; any value accepted.
    pub kms_operation: Option<String>,
    /// REQUIRED; opaque, never validated for structure.
    pub kms_request_id: Option<String>,
    /// OPTIONAL.
    pub kms_via_service: Option<String>,
}

/// The sizes a proxy accepts (decoded bytes). The spec requires at least
/// 4300 bytes of plaintext and 8192 of AAD; AES-GCM's AAD rule caps the AAD at 65535.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SizeLimits {
    /// Largest plaintext (Encrypt) and ciphertext (Decrypt).
    pub max_plaintext_bytes: usize,
    /// Largest additionalAuthenticatedData.
    pub max_aad_bytes: usize,
}

impl Default for SizeLimits {
    fn default() -> Self {
        Self { max_plaintext_bytes: 65_536, max_aad_bytes: 65_535 }
    }
}

impl RequestMetadata {
    fn field(&self, name: &str) -> Option<&Option<String>> {
        match name {
            "awsPrincipalArn" => Some(&self.aws_principal_arn),
            "kmsKeyArn" => Some(&self.kms_key_arn),
            "kmsRequestId" => Some(&self.kms_request_id),
            "kmsOperation" => Some(&self.kms_operation),
            _ => None,
        }
    }

    fn check(&self, operation: Operation) -> Result<(), XksError> {
        for name in operation.required_metadata() {
            if self.field(name).is_none_or(Option::is_none) {
                return Err(XksError::validation(format!("requestMetadata.{name} is required")));
            }
        }
        for (name, v, max) in [
            ("awsPrincipalArn", &self.aws_principal_arn, MAX_ARN),
            ("kmsKeyArn", &self.kms_key_arn, MAX_ARN),
            ("awsSourceVpc", &self.aws_source_vpc, MAX_FIELD),
            ("awsSourceVpce", &self.aws_source_vpce, MAX_FIELD),
            ("kmsOperation", &self.kms_operation, MAX_FIELD),
            // kmsRequestId is opaque (spec: MUST NOT be validated): never refused, bounded where logged.
            ("kmsViaService", &self.kms_via_service, MAX_FIELD),
        ] {
            if v.as_ref().is_some_and(|s| s.len() > max) {
                return Err(XksError::validation(format!("requestMetadata.{name} is longer than {max} characters")));
            }
        }
        Ok(())
    }

    /// kmsRequestId (empty if absent).
    pub fn request_id(&self) -> &str {
        self.kms_request_id.as_deref().unwrap_or("")
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MetadataOnly {
    request_metadata: Option<RequestMetadata>,
}

#[derive(Deserialize, Zeroize, ZeroizeOnDrop)]
#[serde(rename_all = "camelCase")]
struct CryptoWire {
    #[zeroize(skip)]
    request_metadata: Option<RequestMetadata>,
    plaintext: Option<String>,
    ciphertext: Option<String>,
    ciphertext_metadata: Option<String>,
    additional_authenticated_data: Option<String>,
    encryption_algorithm: Option<String>,
    ciphertext_data_integrity_value_algorithm: Option<String>,
    initialization_vector: Option<String>,
    authentication_tag: Option<String>,
}

/// A validated Encrypt request.
pub struct EncryptRequest {
    /// requestMetadata.
    pub metadata: RequestMetadata,
    /// Decoded plaintext (zeroized on drop).
    pub plaintext: Zeroizing<Vec<u8>>,
    /// Decoded AAD (empty when absent; zeroized on drop).
    pub aad: Zeroizing<Vec<u8>>,
    /// Whether a CDIV (SHA_256) was requested.
    pub cdiv: bool,
}

/// A validated Decrypt request.
pub struct DecryptRequest {
    /// requestMetadata.
    pub metadata: RequestMetadata,
    /// Ciphertext.
    pub ciphertext: Vec<u8>,
    /// ciphertextMetadata (empty when absent).
    pub ciphertext_metadata: Vec<u8>,
    /// AAD (empty when absent; zeroized on drop).
    pub aad: Zeroizing<Vec<u8>>,
    /// IV (12 or 16 bytes).
    pub iv: Vec<u8>,
    /// Tag (16 bytes).
    pub tag: Vec<u8>,
}

fn parse_json<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, XksError> {
    serde_json::from_slice(body).map_err(|e| {
        let what = match e.classify() {
            serde_json::error::Category::Syntax | serde_json::error::Category::Eof => "malformed JSON",
            _ => "a field has the wrong type",
        };
        XksError::validation(format!("request body: {what} at line {} column {}", e.line(), e.column()))
    })
}

/// The `requestMetadata` of a body that failed validation, read leniently
/// (for the log line of the refusal: its kmsRequestId ties it to CloudTrail).
pub fn metadata_lenient(body: &[u8]) -> Option<RequestMetadata> {
    serde_json::from_slice::<MetadataOnly>(body).ok()?.request_metadata
}

/// GetHealthStatus / GetKeyMetadata bodies.
///
/// # Errors
/// ValidationException.
pub fn parse_metadata_only(body: &[u8], operation: Operation) -> Result<RequestMetadata, XksError> {
    let w: MetadataOnly = parse_json(body)?;
    let m = w.request_metadata.ok_or_else(|| XksError::validation("requestMetadata is required"))?;
    m.check(operation)?;
    Ok(m)
}

fn b64(field: &str, v: &str) -> Result<Zeroizing<Vec<u8>>, XksError> {
    STANDARD.decode(v).map(Zeroizing::new).map_err(|_| XksError::validation(format!("{field} is not valid Base64")))
}

fn required<'a>(field: &str, v: &'a Option<String>) -> Result<&'a str, XksError> {
    v.as_deref().ok_or_else(|| XksError::validation(format!("{field} is required")))
}

fn algorithm(w: &CryptoWire) -> Result<(), XksError> {
    match required("encryptionAlgorithm", &w.encryption_algorithm)? {
        "AES_GCM" => Ok(()),
        _ => Err(XksError::validation("encryptionAlgorithm must be AES_GCM")),
    }
}

fn too_large(field: &str, len: usize, max: usize) -> Result<(), XksError> {
    if len > max {
        return Err(XksError::new(
            ErrorName::UnsupportedOperationException,
            format!("{field} is {len} bytes; this proxy supports up to {max} (the spec requires at least 4300 / 8192)"),
        ));
    }
    Ok(())
}

/// Encrypt body.
///
/// # Errors
/// ValidationException, or UnsupportedOperationException above this proxy's sizes.
pub fn parse_encrypt(body: &[u8], limits: &SizeLimits) -> Result<EncryptRequest, XksError> {
    let mut w: CryptoWire = parse_json(body)?;
    let metadata = w.request_metadata.take().ok_or_else(|| XksError::validation("requestMetadata is required"))?;
    metadata.check(Operation::Encrypt)?;
    let plaintext = b64("plaintext", required("plaintext", &w.plaintext)?)?;
    algorithm(&w)?;
    let aad = match &w.additional_authenticated_data {
        Some(a) => b64("additionalAuthenticatedData", a)?,
        None => Zeroizing::new(Vec::new()),
    };
    let cdiv = match w.ciphertext_data_integrity_value_algorithm.as_deref() {
        None => false,
        Some("SHA_256") => true,
        Some(_) => return Err(XksError::validation("ciphertextDataIntegrityValueAlgorithm must be SHA_256")),
    };
    too_large("plaintext", plaintext.len(), limits.max_plaintext_bytes)?;
    too_large("additionalAuthenticatedData", aad.len(), limits.max_aad_bytes)?;
    Ok(EncryptRequest { metadata, plaintext, aad, cdiv })
}

/// Decrypt body.
///
/// # Errors
/// ValidationException, or UnsupportedOperationException above this proxy's sizes.
pub fn parse_decrypt(body: &[u8], limits: &SizeLimits) -> Result<DecryptRequest, XksError> {
    let mut w: CryptoWire = parse_json(body)?;
    let metadata = w.request_metadata.take().ok_or_else(|| XksError::validation("requestMetadata is required"))?;
    metadata.check(Operation::Decrypt)?;
    let ciphertext = b64("ciphertext", required("ciphertext", &w.ciphertext)?)?.to_vec();
    algorithm(&w)?;
    let iv = b64("initializationVector", required("initializationVector", &w.initialization_vector)?)?.to_vec();
    let tag = b64("authenticationTag", required("authenticationTag", &w.authentication_tag)?)?.to_vec();
    let aad = match &w.additional_authenticated_data {
        Some(a) => b64("additionalAuthenticatedData", a)?,
        None => Zeroizing::new(Vec::new()),
    };
    let ciphertext_metadata = match &w.ciphertext_metadata {
        Some(m) => b64("ciphertextMetadata", m)?.to_vec(),
        None => Vec::new(),
    };
    if ciphertext_metadata.len() > 20 {
        return Err(XksError::validation("ciphertextMetadata must not exceed 20 bytes"));
    }
    if iv.len() != 12 && iv.len() != 16 {
        return Err(XksError::validation("initializationVector must be 12 or 16 bytes"));
    }
    if tag.len() != 16 {
        return Err(XksError::validation("authenticationTag must be 16 bytes"));
    }
    too_large("ciphertext", ciphertext.len(), limits.max_plaintext_bytes)?;
    too_large("additionalAuthenticatedData", aad.len(), limits.max_aad_bytes)?;
    Ok(DecryptRequest { metadata, ciphertext, ciphertext_metadata, aad, iv, tag })
}
