//! Optional secondary authorization (spec "Authorization", Appendix B) with
//! the Cedar policy language (`cedar-policy`): a real, analysable policy
//! engine with wildcard matching (`like "arn:aws:iam::111122223333:role/app-*"`)
//! instead of a home-made rule language.
//!
//! Without a policy file every request is allowed: the AWS key policy is the
//! source of truth. With one, Cedar's semantics apply: a request is allowed
//! when some `permit` matches and no `forbid` does. GetHealthStatus is never
//! authorized here (the spec says it MUST be excluded).
//!
//! The request seen by policies:
//! - principal `XKS::Principal::"<awsPrincipalArn>"`,
//! - action `XKS::Action::"GetKeyMetadata" | "Encrypt" | "Decrypt"`,
//! - resource `XKS::Key::"<externalKeyId>"`,
//! - context `{ keyStore, awsPrincipalArn, kmsOperation, kmsRequestId, kmsKeyArn?,
//!   kmsViaService?, awsSourceVpc?, awsSourceVpce? }` (optional fields only when
//!   KMS sent them: test them with `has`).

use std::str::FromStr;

use cedar_policy::{
    Authorizer, Context, Decision, Entities, EntityId, EntityTypeName, EntityUid, PolicySet, Request, RestrictedExpression,
};
use xks_wire::xks::Operation;

/// A parsed policy set.
#[derive(Debug)]
pub struct Policy {
    set: PolicySet,
}

/// What a policy can look at.
#[derive(Debug)]
pub struct Input<'a> {
    /// Key store name.
    pub key_store: &'a str,
    /// Operation.
    pub action: Operation,
    /// externalKeyId.
    pub key_id: &'a str,
    /// requestMetadata.awsPrincipalArn.
    pub aws_principal_arn: &'a str,
    /// requestMetadata.kmsOperation.
    pub kms_operation: &'a str,
    /// requestMetadata.kmsRequestId.
    pub kms_request_id: &'a str,
    /// requestMetadata.kmsKeyArn.
    pub kms_key_arn: Option<&'a str>,
    /// requestMetadata.kmsViaService.
    pub kms_via_service: Option<&'a str>,
    /// requestMetadata.awsSourceVpc.
    pub aws_source_vpc: Option<&'a str>,
    /// requestMetadata.awsSourceVpce.
    pub aws_source_vpce: Option<&'a str>,
}

/// A denial, with the policies responsible (their `@id` annotation, or
/// Cedar's positional id) for the log line the spec asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Denied {
    /// `forbid` policies that matched; empty when no `permit` matched.
    pub policies: Vec<String>,
    /// Policies that failed to evaluate (e.g. a missing optional field without `has`).
    pub errors: Vec<String>,
}

impl std::fmt::Display for Denied {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.policies.is_empty() {
            write!(f, "no permit policy matched")?;
        } else {
            write!(f, "forbidden by {}", self.policies.join(", "))?;
        }
        if !self.errors.is_empty() {
            write!(f, " (evaluation errors: {})", self.errors.join("; "))?;
        }
        Ok(())
    }
}

impl Policy {
    /// Parses Cedar policy text.
    ///
    /// # Errors
    /// Cedar's parse errors (with line and column).
    pub fn parse(text: &str) -> Result<Self, String> {
        let set = PolicySet::from_str(text).map_err(|e| format!("Cedar policy: {e}"))?;
        if set.policies().next().is_none() {
            return Err("Cedar policy file has no policy (it would deny everything)".into());
        }
        Ok(Self { set })
    }

    fn label(&self, id: &cedar_policy::PolicyId) -> String {
        match self.set.policy(id).and_then(|p| p.annotation("id")) {
            Some(a) => format!("@id({a:?})"),
            None => id.to_string(),
        }
    }

    /// Decides a request.
    ///
    /// # Errors
    /// [`Denied`] naming the responsible policies.
    pub fn authorize(&self, input: &Input<'_>) -> Result<(), Denied> {
        let request = build_request(input).map_err(|e| Denied { policies: vec![], errors: vec![e] })?;
        let response = Authorizer::new().is_authorized(&request, &self.set, &Entities::empty());
        let errors: Vec<String> = response.diagnostics().errors().map(|e| e.to_string()).collect();
        match response.decision() {
            Decision::Allow => Ok(()),
            Decision::Deny => Err(Denied { policies: response.diagnostics().reason().map(|id| self.label(id)).collect(), errors }),
        }
    }
}

fn uid(type_name: &str, id: &str) -> Result<EntityUid, String> {
    let t = EntityTypeName::from_str(type_name).map_err(|e| e.to_string())?;
    Ok(EntityUid::from_type_name_and_id(t, EntityId::new(id)))
}

fn build_request(i: &Input<'_>) -> Result<Request, String> {
    let s = |v: &str| RestrictedExpression::new_string(v.to_owned());
    let mut pairs = vec![
        ("keyStore".to_owned(), s(i.key_store)),
        ("awsPrincipalArn".to_owned(), s(i.aws_principal_arn)),
        ("kmsOperation".to_owned(), s(i.kms_operation)),
        ("kmsRequestId".to_owned(), s(i.kms_request_id)),
    ];
    for (k, v) in [
        ("kmsKeyArn", i.kms_key_arn),
        ("kmsViaService", i.kms_via_service),
        ("awsSourceVpc", i.aws_source_vpc),
        ("awsSourceVpce", i.aws_source_vpce),
    ] {
        if let Some(v) = v {
            pairs.push((k.to_owned(), s(v)));
        }
    }
    let context = Context::from_pairs(pairs).map_err(|e| e.to_string())?;
    Request::new(
        uid("XKS::Principal", i.aws_principal_arn)?,
        uid("XKS::Action", i.action.as_str())?,
        uid("XKS::Key", i.key_id)?,
        context,
        None,
    )
    .map_err(|e| e.to_string())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::*;

    fn input<'a>(principal: &'a str, action: Operation, via: Option<&'a str>) -> Input<'a> {
        Input {
            key_store: "default",
            action,
            key_id: "key-1",
            aws_principal_arn: principal,
            kms_operation: "Encrypt",
            kms_request_id: "r",
            kms_key_arn: Some("arn:aws:kms:eu-west-1:111122223333:key/abc"),
            kms_via_service: via,
            aws_source_vpc: None,
            aws_source_vpce: None,
        }
    }

    const POLICY: &str = r#"
        @id("apps-may-use-key-1")
        permit(principal, action in [XKS::Action::"Encrypt", XKS::Action::"Decrypt"], resource == XKS::Key::"key-1")
        when { context.awsPrincipalArn like "arn:aws:iam::111122223333:role/app-*" };

        @id("metadata-for-admins")
        permit(principal, action == XKS::Action::"GetKeyMetadata", resource)
        when { context.awsPrincipalArn like "arn:aws:iam::111122223333:role/admin" };

        @id("no-s3")
        forbid(principal, action, resource)
        when { context has kmsViaService && context.kmsViaService == "s3" };
    "#;

    /// Spec "Authorization": rules over requestMetadata with wildcard principal patterns.
    #[test]
    fn spec_authorization_wildcards_and_denial_reasons() {
        let p = Policy::parse(POLICY).unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(p.authorize(&input("arn:aws:iam::111122223333:role/app-billing", Operation::Encrypt, None)), Ok(()));
        assert_eq!(p.authorize(&input("arn:aws:iam::111122223333:role/app-billing", Operation::Decrypt, Some("ebs"))), Ok(()));
        let d = p.authorize(&input("arn:aws:iam::111122223333:role/app-billing", Operation::Encrypt, Some("s3")));
        assert_eq!(d.map_err(|d| d.policies), Err(vec!["@id(\"no-s3\")".to_owned()]));
        let d = p.authorize(&input("arn:aws:iam::999999999999:role/app-billing", Operation::Encrypt, None));
        assert_eq!(d.map_err(|d| d.to_string()), Err("no permit policy matched".to_owned()));
        assert!(p.authorize(&input("arn:aws:iam::111122223333:role/app-x", Operation::GetKeyMetadata, None)).is_err());
        assert!(p.authorize(&input("arn:aws:iam::111122223333:role/admin", Operation::GetKeyMetadata, None)).is_ok());
    }

    #[test]
    fn parse_errors_are_reported() {
        assert!(Policy::parse("permit(principal, action, resource) when {").is_err());
        assert!(Policy::parse("").is_err());
    }
}
