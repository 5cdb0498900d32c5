//! The four XKS APIs after routing and authentication. Each takes the same
//! named steps: `accept` (the body parsed once for its operation, its
//! metadata noted for the log line, the key store enabled), then for a key
//! `authorize` (the optional Cedar policy) and `find_key`, then the
//! operation itself.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use subtle::ConstantTimeEq;
use xks_threshold::Sealed;

use xks_wire::partner::RequestId;
use xks_wire::xks::request;
use xks_wire::xks::{ErrorName, Operation, XksError};

use super::{App, Ctx};
use crate::authz::Input;
use crate::health::Verdict;
use crate::partners::PoolError;
use crate::stores::{ExternalKey, KeyStatus, KeyStore, Usage};

fn pool_error(e: PoolError) -> XksError {
    match e {
        PoolError::Timeout => XksError::new(
            ErrorName::DependencyTimeoutException,
            "no partner share service answered with a verified partial within the time budget",
        ),
        PoolError::Failed(_) => {
            XksError::new(ErrorName::InternalException, "the partner share services failed; see the proxy log for each partner's error")
        }
        PoolError::Refused { partner, .. } => XksError::new(
            ErrorName::InvalidStateException,
            format!("key use is blocked by the operator of partner {partner} (kill switch or key deny)"),
        ),
        PoolError::Unavailable(m) => XksError::new(ErrorName::InternalException, m),
    }
}

/// The body parsed for its operation (on failure, whatever metadata it carries
/// still reaches the log line: its kmsRequestId ties it to CloudTrail), its
/// metadata noted, and the key store enabled.
fn accept<T>(
    ctx: &mut Ctx,
    store: &KeyStore,
    body: &[u8],
    parsed: Result<T, XksError>,
    metadata: impl Fn(&T) -> &request::RequestMetadata,
) -> Result<T, XksError> {
    let parsed = parsed.inspect_err(|_| ctx.set_metadata_lenient(body))?;
    ctx.set_metadata(metadata(&parsed));
    if !store.enabled {
        return Err(XksError::new(ErrorName::InvalidStateException, "this key store is disabled in the proxy configuration"));
    }
    Ok(parsed)
}

/// Secondary authorization, if the key store has a policy. It comes before
/// [`find_key`]: a principal the policy denies learns nothing, not even
/// whether the key exists (403, never 404).
fn authorize(ctx: &mut Ctx, store: &KeyStore, operation: Operation, id: &str, md: &request::RequestMetadata) -> Result<(), XksError> {
    let Some(policy) = &store.policy else { return Ok(()) };
    let input = Input {
        key_store: &store.name,
        action: operation,
        key_id: id,
        aws_principal_arn: md.aws_principal_arn.as_deref().unwrap_or(""),
        kms_operation: md.kms_operation.as_deref().unwrap_or(""),
        kms_request_id: md.request_id(),
        kms_key_arn: md.kms_key_arn.as_deref(),
        kms_via_service: md.kms_via_service.as_deref(),
        aws_source_vpc: md.aws_source_vpc.as_deref(),
        aws_source_vpce: md.aws_source_vpce.as_deref(),
    };
    policy.authorize(&input).map_err(|denied| {
        ctx.denied_by = Some(denied.to_string());
        XksError::new(ErrorName::AccessDeniedException, format!("secondary authorization: {denied}"))
    })
}

/// The external key `id` of the key store.
fn find_key<'s>(store: &'s KeyStore, id: &str) -> Result<&'s std::sync::Arc<ExternalKey>, XksError> {
    store.key(id).ok_or_else(|| XksError::of(ErrorName::KeyNotFoundException))
}

/// GetHealthStatus (never subject to secondary authorization).
pub async fn health(app: &App, ctx: &mut Ctx, store: &KeyStore, body: &[u8]) -> Result<String, XksError> {
    accept(ctx, store, body, request::parse_metadata_only(body, Operation::GetHealthStatus), |md| md)?;
    let snap = app.0.health.current().await;
    // Spec GetHealthStatus: a 200 must assure that an Encrypt issued right
    // after succeeds; when no combination can serve, the error KMS would get
    // from that Encrypt is the answer (docs/xks-proxy.md, "Deep health").
    let own = match snap.verdict() {
        Verdict::Serving(status) => status,
        Verdict::Blocked { partner } => {
            return Err(XksError::new(
                ErrorName::InvalidStateException,
                format!("key use is blocked by the operator of partner {partner} (kill switch); partners: {}", snap.summary()),
            ));
        }
        Verdict::Unavailable { timed_out } => {
            let name = if timed_out { ErrorName::DependencyTimeoutException } else { ErrorName::InternalException };
            return Err(XksError::new(name, format!("no partner share service can take part; partners: {}", snap.summary())));
        }
    };
    let mut fleet = vec![serde_json::json!({
        "id": format!("share-{} (xks-proxy)", app.0.pool.keyring().holder()),
        "model": format!("{} local share", app.0.build.model()),
        "healthStatus": own.as_str(),
    })];
    for p in &snap.partners {
        fleet.push(serde_json::json!({ "id": p.id, "model": p.model, "healthStatus": p.status.as_str() }));
    }
    fleet.truncate(10);
    Ok(serde_json::json!({
        "xksProxyFleetSize": app.0.fleet.proxy_fleet_size,
        "xksProxyVendor": app.0.fleet.vendor,
        "xksProxyModel": app.0.build.model(),
        "ekmVendor": app.0.fleet.vendor,
        "ekmFleetDetails": fleet,
    })
    .to_string())
}

/// GetKeyMetadata.
pub fn metadata(ctx: &mut Ctx, store: &KeyStore, id: &str, body: &[u8]) -> Result<String, XksError> {
    let md = accept(ctx, store, body, request::parse_metadata_only(body, Operation::GetKeyMetadata), |md| md)?;
    authorize(ctx, store, Operation::GetKeyMetadata, id, &md)?;
    let key = find_key(store, id)?;
    let usage: Vec<&str> = key.usage.iter().map(|u| u.as_str()).collect();
    Ok(serde_json::json!({ "keySpec": "AES_256", "keyUsage": usage, "keyStatus": key.status.as_str() }).to_string())
}

fn usable(key: &ExternalKey, usage: Usage) -> Result<(), XksError> {
    if key.status != KeyStatus::Enabled {
        return Err(XksError::new(ErrorName::InvalidStateException, "the external key is DISABLED in the proxy configuration"));
    }
    if !key.allows(usage) {
        return Err(XksError::new(ErrorName::InvalidKeyUsageException, format!("the external key does not permit {}", usage.as_str())));
    }
    Ok(())
}

/// Encrypt: derive with a verified partner partial, AES-256-GCM under the
/// newest generation, CDIV computed first, then a verifying decrypt (Appendix C).
pub async fn encrypt(app: &App, ctx: &mut Ctx, store: &KeyStore, id: &str, body: &[u8]) -> Result<String, XksError> {
    let req = accept(ctx, store, body, request::parse_encrypt(body, &app.0.limits.sizes()), |r| &r.metadata)?;
    authorize(ctx, store, Operation::Encrypt, id, &req.metadata)?;
    let key = find_key(store, id)?;
    usable(key, Usage::Encrypt)?;
    if req.cdiv && !key.allows(Usage::Decrypt) {
        return Err(XksError::new(
            ErrorName::InvalidKeyUsageException,
            "a CDIV needs a verifying decrypt (Appendix C) and the external key does not permit DECRYPT",
        ));
    }
    let generation =
        app.0.pool.keyring().current().map(|g| g.key_set().generation()).ok_or_else(|| XksError::of(ErrorName::InternalException))?;
    let derived =
        app.0.pool.derive(generation, &key.point, &RequestId::for_kms_request(req.metadata.request_id())).await.map_err(pool_error)?;
    ctx.partner = Some(derived.partner.clone());
    ctx.hedged = derived.hedged;
    // Appendix C: encrypt, compute the CDIV, then decrypt what we return; on a
    // mismatch encrypt once more before giving up.
    for _ in 0..2 {
        let env = derived.key.encrypt(&req.plaintext, &req.aad, &mut rand_core::OsRng).map_err(|e| {
            tracing::error!(error = %e, "AES-GCM encryption failed");
            XksError::of(ErrorName::InternalException)
        })?;
        let cdiv = req.cdiv.then(|| env.cdiv(&req.aad));
        let verified = derived
            .key
            .decrypt(&env.ciphertext, &env.metadata, &env.iv, &env.tag, &req.aad)
            .map(|pt| bool::from(pt.as_slice().ct_eq(req.plaintext.as_slice())))
            .unwrap_or(false);
        if !verified {
            tracing::error!("verifying decrypt of a fresh ciphertext failed; encrypting again");
            continue;
        }
        let mut out = serde_json::json!({
            "ciphertext": STANDARD.encode(&env.ciphertext),
            "ciphertextMetadata": STANDARD.encode(&env.metadata),
            "initializationVector": STANDARD.encode(&env.iv),
            "authenticationTag": STANDARD.encode(env.tag),
        });
        if let (Some(c), Some(o)) = (cdiv, out.as_object_mut()) {
            o.insert("ciphertextDataIntegrityValue".into(), STANDARD.encode(c).into());
        }
        return Ok(out.to_string());
    }
    Err(XksError::new(ErrorName::InternalException, "the verifying decrypt of the new ciphertext failed"))
}

/// Decrypt (envelope format v1 or v2): the generation comes from
/// ciphertextMetadata; fields that cannot be our ciphertext are refused
/// before the partner is asked; any tampering of ciphertext, IV, tag, AAD or
/// metadata fails the GCM tag.
pub async fn decrypt(app: &App, ctx: &mut Ctx, store: &KeyStore, id: &str, body: &[u8]) -> Result<String, XksError> {
    let req = accept(ctx, store, body, request::parse_decrypt(body, &app.0.limits.sizes()), |r| &r.metadata)?;
    authorize(ctx, store, Operation::Decrypt, id, &req.metadata)?;
    let key = find_key(store, id)?;
    usable(key, Usage::Decrypt)?;
    let invalid = || XksError::of(ErrorName::InvalidCiphertextException);
    let sealed = Sealed::parse(&req.ciphertext, &req.ciphertext_metadata, &req.iv, &req.tag).map_err(|_| invalid())?;
    let generation = sealed.metadata().generation();
    if app.0.pool.keyring().generation(generation).is_none() {
        return Err(XksError::new(
            ErrorName::InvalidCiphertextException,
            "the ciphertextMetadata names a key generation this proxy does not hold",
        ));
    }
    let derived =
        app.0.pool.derive(generation, &key.point, &RequestId::for_kms_request(req.metadata.request_id())).await.map_err(pool_error)?;
    ctx.partner = Some(derived.partner.clone());
    ctx.hedged = derived.hedged;
    let plaintext = derived.key.open(&sealed, &req.aad).map_err(|_| invalid())?;
    let encoded = zeroize::Zeroizing::new(STANDARD.encode(plaintext.as_slice()));
    Ok(format!("{{\"plaintext\":\"{}\"}}", encoded.as_str()))
}
