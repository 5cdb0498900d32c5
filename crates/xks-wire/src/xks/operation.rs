//! The four operations of the XKS Proxy API (spec "API operations"), one enum
//! for routing, required request fields, authorization and metrics.

/// An XKS API operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Operation {
    /// GetHealthStatus (`…/kms/xks/v1/health`).
    GetHealthStatus,
    /// GetKeyMetadata (`…/keys/<externalKeyId>/metadata`).
    GetKeyMetadata,
    /// Encrypt (`…/keys/<externalKeyId>/encrypt`).
    Encrypt,
    /// Decrypt (`…/keys/<externalKeyId>/decrypt`).
    Decrypt,
}

impl Operation {
    /// Every operation, in the spec's order.
    pub const ALL: [Operation; 4] = [Operation::GetHealthStatus, Operation::GetKeyMetadata, Operation::Encrypt, Operation::Decrypt];

    /// The operation's name in the spec (also the Cedar action id and the
    /// metrics label).
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::GetHealthStatus => "GetHealthStatus",
            Operation::GetKeyMetadata => "GetKeyMetadata",
            Operation::Encrypt => "Encrypt",
            Operation::Decrypt => "Decrypt",
        }
    }

    /// The last segment of the operation's URI.
    pub fn uri_segment(self) -> &'static str {
        match self {
            Operation::GetHealthStatus => "health",
            Operation::GetKeyMetadata => "metadata",
            Operation::Encrypt => "encrypt",
            Operation::Decrypt => "decrypt",
        }
    }

    /// The `requestMetadata` fields the spec makes REQUIRED for this
    /// operation (each API's "Request Payload Parameters").
    pub fn required_metadata(self) -> &'static [&'static str] {
        match self {
            Operation::GetHealthStatus => &["kmsRequestId", "kmsOperation"],
            Operation::GetKeyMetadata => &["awsPrincipalArn", "kmsRequestId", "kmsOperation"],
            Operation::Encrypt | Operation::Decrypt => &["awsPrincipalArn", "kmsKeyArn", "kmsRequestId", "kmsOperation"],
        }
    }
}

impl std::fmt::Display for Operation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
