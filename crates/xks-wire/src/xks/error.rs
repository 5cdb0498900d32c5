//! The XKS error table (spec "Error codes"), in exactly one place: every
//! refusal the proxy can send is an [`XksError`], whose `errorName` and HTTP
//! status come from [`ErrorName::status`]. Messages are sanitised to the
//! spec's "less than 512 printable ASCII characters" and never contain
//! request values (plaintext, AAD, keys, partials).

use http::StatusCode;

/// The `errorName` values of the spec's error table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorName {
    /// 400: one or more input parameters is invalid.
    ValidationException,
    /// 400: the external key or key store is disabled, deactivated or blocked.
    InvalidStateException,
    /// 400: ciphertext, IV, AAD or tag corrupted, missing or invalid (Decrypt).
    InvalidCiphertextException,
    /// 400: the key does not support the requested operation.
    InvalidKeyUsageException,
    /// 401: invalid SigV4 signature.
    AuthenticationFailedException,
    /// 403: not authorized based on request metadata (secondary authorization).
    AccessDeniedException,
    /// 404: the external key is not found.
    KeyNotFoundException,
    /// 404: the URI path is not valid.
    InvalidUriPathException,
    /// 429: request rate too high.
    ThrottlingException,
    /// 501: operation not implemented or a value above this implementation's maximum.
    UnsupportedOperationException,
    /// 503: a dependency (the partner share services) timed out.
    DependencyTimeoutException,
    /// 500: generic server error, e.g. the partners failed.
    InternalException,
}

impl ErrorName {
    /// Every name, in the spec's table order.
    pub const ALL: [ErrorName; 12] = [
        ErrorName::ValidationException,
        ErrorName::InvalidStateException,
        ErrorName::InvalidCiphertextException,
        ErrorName::InvalidKeyUsageException,
        ErrorName::AuthenticationFailedException,
        ErrorName::AccessDeniedException,
        ErrorName::KeyNotFoundException,
        ErrorName::InvalidUriPathException,
        ErrorName::ThrottlingException,
        ErrorName::UnsupportedOperationException,
        ErrorName::DependencyTimeoutException,
        ErrorName::InternalException,
    ];

    /// The wire `errorName`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorName::ValidationException => "ValidationException",
            ErrorName::InvalidStateException => "InvalidStateException",
            ErrorName::InvalidCiphertextException => "InvalidCiphertextException",
            ErrorName::InvalidKeyUsageException => "InvalidKeyUsageException",
            ErrorName::AuthenticationFailedException => "AuthenticationFailedException",
            ErrorName::AccessDeniedException => "AccessDeniedException",
            ErrorName::KeyNotFoundException => "KeyNotFoundException",
            ErrorName::InvalidUriPathException => "InvalidUriPathException",
            ErrorName::ThrottlingException => "ThrottlingException",
            ErrorName::UnsupportedOperationException => "UnsupportedOperationException",
            ErrorName::DependencyTimeoutException => "DependencyTimeoutException",
            ErrorName::InternalException => "InternalException",
        }
    }

    /// The name for its wire `errorName` (clients read answers with it).
    pub fn from_wire(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|n| n.as_str() == name)
    }

    /// The HTTP status the spec's table assigns.
    pub fn status(self) -> StatusCode {
        match self {
            ErrorName::ValidationException
            | ErrorName::InvalidStateException
            | ErrorName::InvalidCiphertextException
            | ErrorName::InvalidKeyUsageException => StatusCode::BAD_REQUEST,
            ErrorName::AuthenticationFailedException => StatusCode::UNAUTHORIZED,
            ErrorName::AccessDeniedException => StatusCode::FORBIDDEN,
            ErrorName::KeyNotFoundException | ErrorName::InvalidUriPathException => StatusCode::NOT_FOUND,
            ErrorName::ThrottlingException => StatusCode::TOO_MANY_REQUESTS,
            ErrorName::UnsupportedOperationException => StatusCode::NOT_IMPLEMENTED,
            ErrorName::DependencyTimeoutException => StatusCode::SERVICE_UNAVAILABLE,
            ErrorName::InternalException => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A default message (the spec's scenario wording).
    pub fn default_message(self) -> &'static str {
        match self {
            ErrorName::ValidationException => "The request was rejected because one or more input parameters is invalid.",
            ErrorName::InvalidStateException => {
                "The request was rejected because the specified external key or key store is disabled, deactivated or blocked."
            }
            ErrorName::InvalidCiphertextException => {
                "The request was rejected because the specified ciphertext, initialization vector, additional authenticated data or authentication tag is corrupted, missing, or otherwise invalid."
            }
            ErrorName::InvalidKeyUsageException => {
                "The request was rejected because the specified key does not support the requested operation."
            }
            ErrorName::AuthenticationFailedException => "The request was rejected due to invalid AWS SigV4 signature.",
            ErrorName::AccessDeniedException => {
                "The request was rejected because the operation is not authorized based on request metadata."
            }
            ErrorName::KeyNotFoundException => "The request was rejected because the specified external key is not found.",
            ErrorName::InvalidUriPathException => "The request was rejected because the specified URI path is not valid.",
            ErrorName::ThrottlingException => "The request was rejected because the request rate is too high.",
            ErrorName::UnsupportedOperationException => {
                "The request was rejected because a parameter value exceeded the maximum size supported by this proxy."
            }
            ErrorName::DependencyTimeoutException => {
                "The XKS proxy timed out while trying to access a dependency layer to fulfill the request."
            }
            ErrorName::InternalException => "Internal error.",
        }
    }
}

impl std::fmt::Display for ErrorName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Longest `errorMessage` sent (the spec requires fewer than 512 characters).
pub const MAX_MESSAGE_LEN: usize = 511;

/// A refusal: the error name and a message safe to send and to log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct XksError {
    /// The table entry.
    pub name: ErrorName,
    /// Printable ASCII, at most [`MAX_MESSAGE_LEN`] characters.
    pub message: String,
}

impl XksError {
    /// An error with a specific message (sanitised).
    pub fn new(name: ErrorName, message: impl AsRef<str>) -> Self {
        Self { name, message: sanitize(message.as_ref()) }
    }

    /// An error with the table's default message.
    pub fn of(name: ErrorName) -> Self {
        Self { name, message: name.default_message().to_owned() }
    }

    /// `ValidationException` with a message.
    pub fn validation(message: impl AsRef<str>) -> Self {
        Self::new(ErrorName::ValidationException, message)
    }

    /// The JSON body `{"errorName", "errorMessage"}`.
    pub fn body(&self) -> String {
        serde_json::json!({ "errorName": self.name.as_str(), "errorMessage": self.message }).to_string()
    }
}

impl std::fmt::Display for XksError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.name, self.message)
    }
}

impl std::error::Error for XksError {}

/// Keeps printable ASCII (0x20..=0x7e), replaces anything else with `?`, and
/// truncates to [`MAX_MESSAGE_LEN`].
pub fn sanitize(message: &str) -> String {
    message.chars().map(|c| if (' '..='~').contains(&c) { c } else { '?' }).take(MAX_MESSAGE_LEN).collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::*;

    /// Spec "Error codes": every errorName with the HTTP status of its table row.
    #[test]
    fn spec_error_codes_table() {
        let table = [
            (400, "ValidationException"),
            (400, "InvalidStateException"),
            (400, "InvalidCiphertextException"),
            (400, "InvalidKeyUsageException"),
            (401, "AuthenticationFailedException"),
            (403, "AccessDeniedException"),
            (404, "KeyNotFoundException"),
            (404, "InvalidUriPathException"),
            (429, "ThrottlingException"),
            (501, "UnsupportedOperationException"),
            (503, "DependencyTimeoutException"),
            (500, "InternalException"),
        ];
        assert_eq!(table.len(), ErrorName::ALL.len());
        for (name, (status, text)) in ErrorName::ALL.iter().zip(table) {
            assert_eq!(name.status().as_u16(), status, "{text}");
            assert_eq!(name.as_str(), text);
            assert_eq!(ErrorName::from_wire(text), Some(*name));
            let body: serde_json::Value = serde_json::from_str(&XksError::of(*name).body()).unwrap_or_default();
            assert_eq!(body["errorName"], text);
            let msg = body["errorMessage"].as_str().unwrap_or_default();
            assert!(!msg.is_empty() && msg.len() < 512 && msg.bytes().all(|b| (0x20..=0x7e).contains(&b)), "{text}");
        }
    }

    /// Spec "Error codes": errorMessage < 512 characters, printable ASCII only.
    #[test]
    fn spec_error_message_is_printable_ascii_below_512() {
        let long = "é\u{0}\n".repeat(400);
        let e = XksError::validation(long);
        assert!(e.message.len() < 512);
        assert!(e.message.bytes().all(|b| (0x20..=0x7e).contains(&b)));
    }
}
