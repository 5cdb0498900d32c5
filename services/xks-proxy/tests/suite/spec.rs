//! Conformance with the AWS XKS Proxy API v1 spec, section by section,
//! against a running proxy and two real share services.

use std::time::{Duration, SystemTime};

use crate::common::*;
use serde_json::json;

fn err(v: &serde_json::Value) -> &str {
    v["errorName"].as_str().unwrap_or("")
}

/// Spec "Encrypt", "Decrypt", Appendix C: round trip with AAD and CDIV; the
/// CDIV is SHA-256(aad || metadata || iv || ciphertext || tag).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spec_encrypt_decrypt_round_trip_with_aad_and_cdiv() {
    let d = Deployment::start("roundtrip", Options::default()).await;
    let mut c = d.client();
    let aad = b"project=nile,department=marketing";
    let (s, enc) = c.encrypt(KEY, b"Hello World!", Some(aad), true).await;
    assert_eq!(s, 200, "{enc}");
    let (ct, md, iv, tag) =
        (b64(&enc["ciphertext"]), b64(&enc["ciphertextMetadata"]), b64(&enc["initializationVector"]), b64(&enc["authenticationTag"]));
    assert_eq!(ct.len(), 12, "Encrypt: ciphertext length MUST equal plaintext length");
    assert!(md.len() <= 20, "Encrypt: ciphertextMetadata MUST NOT exceed 20 bytes");
    assert!(iv.len() == 12 || iv.len() == 16, "Encrypt: IV MUST be 12 or 16 bytes");
    assert_eq!(tag.len(), 16, "Encrypt: tag MUST be 16 bytes");
    let mut h = sha2::Sha256::new();
    use sha2::Digest;
    for part in [&aad[..], &md, &iv, &ct, &tag] {
        h.update(part);
    }
    assert_eq!(b64(&enc["ciphertextDataIntegrityValue"]), h.finalize().to_vec(), "Appendix C");
    let (s, dec) = c.decrypt(KEY, &enc, Some(aad)).await;
    assert_eq!(s, 200, "{dec}");
    assert_eq!(b64(&dec["plaintext"]), b"Hello World!");

    // Without AAD, without CDIV: no CDIV in the response.
    let (s, enc2) = c.encrypt(KEY, b"", None, false).await;
    assert_eq!(s, 200);
    assert!(enc2.get("ciphertextDataIntegrityValue").is_none());
    let (s, dec) = c.decrypt(KEY, &enc2, None).await;
    assert_eq!((s, b64(&dec["plaintext"])), (200, vec![]));
}

/// Spec "Encrypt" (AAD rule) and "Decrypt": tampering with ciphertext, IV, tag,
/// AAD or ciphertextMetadata → InvalidCiphertextException; metadata passed as
/// AAD (the spec's length-prefix example) also fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spec_decrypt_detects_tampering() {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    let d = Deployment::start("tamper", Options::default()).await;
    let mut c = d.client();
    let (s, enc) = c.encrypt(KEY, b"secret data key 0123456789abcdef", Some(b"ctx"), false).await;
    assert_eq!(s, 200);
    let flip = |v: &serde_json::Value| {
        let mut b = b64(v);
        b[0] ^= 1;
        serde_json::Value::from(STANDARD.encode(b))
    };
    for field in ["ciphertext", "initializationVector", "authenticationTag"] {
        let mut e = enc.clone();
        e[field] = flip(&enc[field]);
        let (s, r) = c.decrypt(KEY, &e, Some(b"ctx")).await;
        assert_eq!((s, err(&r)), (400, "InvalidCiphertextException"), "{field}");
    }
    let (s, r) = c.decrypt(KEY, &enc, Some(b"ctX")).await;
    assert_eq!((s, err(&r)), (400, "InvalidCiphertextException"), "AAD");
    let (s, r) = c.decrypt(KEY, &enc, None).await;
    assert_eq!((s, err(&r)), (400, "InvalidCiphertextException"), "missing AAD");
    let mut e = enc.clone();
    let mut md = b64(&enc["ciphertextMetadata"]);
    md[4] ^= 1;
    e["ciphertextMetadata"] = STANDARD.encode(md).into();
    let (s, r) = c.decrypt(KEY, &e, Some(b"ctx")).await;
    assert_eq!((s, err(&r)), (400, "InvalidCiphertextException"), "metadata");
    let mut e = enc.clone();
    e.as_object_mut().unwrap().remove("ciphertextMetadata");
    let (s, r) = c.decrypt(KEY, &e, Some(b"ctx")).await;
    assert_eq!((s, err(&r)), (400, "InvalidCiphertextException"), "metadata removed");
    // Encrypt without AAD, then decrypt passing the metadata as AAD and no metadata.
    let (_, enc) = c.encrypt(KEY, b"x", None, false).await;
    let mut e = enc.clone();
    e.as_object_mut().unwrap().remove("ciphertextMetadata");
    let md = b64(&enc["ciphertextMetadata"]);
    let (s, r) = c.decrypt(KEY, &e, Some(&md)).await;
    assert_eq!((s, err(&r)), (400, "InvalidCiphertextException"), "length-prefix example");
    // Another key cannot decrypt.
    let (s, r) = c.decrypt("decrypt-only", &enc, None).await;
    assert_eq!((s, err(&r)), (400, "InvalidCiphertextException"), "other key path");
}

/// docs/crypto.md §8: a ciphertext of envelope format v1, made before v2
/// existed (the known-answer vector file's first envelope), still decrypts
/// through the proxy, with that file's key set and shares; a new Encrypt
/// writes v2 metadata; a 16-byte IV, which the spec allows and we never
/// write, is refused as invalid ciphertext.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v1_ciphertext_still_decrypts_and_encrypt_writes_v2() {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    let kat: serde_json::Value = serde_json::from_str(include_str!("../../../../tests/vectors/kat/xks-threshold-v1.json")).unwrap();
    let case = &kat["cases"][0];
    let key_set: KeySet = serde_json::from_value(case["keySet"].clone()).unwrap();
    let shares: Vec<Share> = case["shares"].as_array().unwrap().iter().map(|j| Share::from_json(&j.to_string()).unwrap()).collect();
    let kp = &case["keyPaths"][0];
    let opts =
        Options { key_set: Some((key_set, shares)), keys: vec![key("kat-v1", kp["keyPath"].as_str().unwrap())], ..Options::default() };
    let d = Deployment::start("kat-v1", opts).await;
    let mut c = d.client();
    let e = &kp["envelope"];
    let field = |name: &str| serde_json::Value::from(STANDARD.encode(hex::decode(e[name].as_str().unwrap()).unwrap()));
    let sealed = json!({
        "ciphertext": field("ciphertext"),
        "ciphertextMetadata": field("ciphertextMetadata"),
        "initializationVector": field("iv"),
        "authenticationTag": field("authenticationTag"),
    });
    let aad = hex::decode(e["aad"].as_str().unwrap()).unwrap();
    let (s, dec) = c.decrypt("kat-v1", &sealed, Some(&aad)).await;
    assert_eq!((s, b64(&dec["plaintext"])), (200, hex::decode(e["plaintext"].as_str().unwrap()).unwrap()), "{dec}");
    // New ciphertext is v2: 20 bytes of metadata, version 2, generation 1.
    let (s, enc) = c.encrypt("kat-v1", b"fresh", None, true).await;
    assert_eq!(s, 200);
    let md = b64(&enc["ciphertextMetadata"]);
    assert_eq!((md.len(), &md[..5]), (20, &[2u8, 0, 0, 0, 1][..]));
    let (s, dec) = c.decrypt("kat-v1", &enc, None).await;
    assert_eq!((s, b64(&dec["plaintext"])), (200, b"fresh".to_vec()));
    let mut long_iv = enc.clone();
    long_iv["initializationVector"] = STANDARD.encode([0u8; 16]).into();
    let (s, r) = c.decrypt("kat-v1", &long_iv, None).await;
    assert_eq!((s, err(&r)), (400, "InvalidCiphertextException"), "16-byte IV");
}

/// Spec "API operations": GET on an API URI MUST get 405; unknown paths and
/// prefixes get 404 InvalidUriPathException; error bodies are JSON with
/// errorName and errorMessage (spec "Error codes").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spec_api_operations_405_and_invalid_uri_path() {
    let d = Deployment::start("routes", Options::default()).await;
    let mut c = d.client();
    for path in ["/kms/xks/v1/health", "/keystores/ks1/kms/xks/v1/health", "/keystores/ks1/kms/xks/v1/keys/key-1/encrypt"] {
        let h = c.signed_headers("GET", path, b"", SystemTime::now());
        let (s, _) = c.raw("GET", path, &h, vec![]).await;
        assert_eq!(s, 405, "{path}");
    }
    for path in
        ["/keystores/other/kms/xks/v1/health", "/keystores/ks1/kms/xks/v2/health", "/keystores/ks1/kms/xks/v1/keys/key-1/sign", "/x"]
    {
        let (s, r) = c.post(path, &json!({"requestMetadata": metadata("Encrypt")})).await;
        assert_eq!((s, err(&r)), (404, "InvalidUriPathException"), "{path}");
        let m = r["errorMessage"].as_str().unwrap();
        assert!(m.len() < 512 && m.bytes().all(|b| (0x20..=0x7e).contains(&b)));
    }
    // The empty prefix is a key store of its own (with its own credentials).
    let mut root = client(d.proxy().addr, "ROOTKEYID22222222222222", SECRET2);
    let b = json!({"requestMetadata": {"kmsRequestId": "1", "kmsOperation": "KmsHealthCheck"}});
    let (s, r) = root.post("/kms/xks/v1/health", &b).await;
    assert_eq!(s, 200, "{r}");
    let (s, r) = root.post("//kms/xks/v1/health", &b).await;
    assert_eq!(s, 200, "double slash of an empty prefix: {r}");
    // Load-balancer health.
    let (s, _) = c.raw("GET", "/ping", &[], vec![]).await;
    assert_eq!(s, 200);
}

/// Spec "Authentication" and Appendix A: SigV4 with kms-xks-proxy; wrong key
/// id, wrong secret, stale or future timestamps (±5 min), tampered body and
/// unsigned requests → 401 AuthenticationFailedException. Two credentials
/// work at once and a reload adds/removes credentials without restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spec_authentication_sigv4_and_credential_rotation() {
    let d = Deployment::start("auth", Options::default()).await;
    let mut c = d.client();
    let path = format!("{PREFIX}/kms/xks/v1/keys/{KEY}/metadata");
    let body = json!({"requestMetadata": metadata("DescribeKey")}).to_string().into_bytes();
    let (s, r) = c.raw("POST", &path, &c.signed_headers("POST", &path, &body, SystemTime::now()), body.clone()).await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r, json!({"keySpec": "AES_256", "keyUsage": ["ENCRYPT", "DECRYPT"], "keyStatus": "ENABLED"}));
    for (what, time) in
        [("6 min old", SystemTime::now() - Duration::from_secs(360)), ("6 min ahead", SystemTime::now() + Duration::from_secs(360))]
    {
        let (s, r) = c.raw("POST", &path, &c.signed_headers("POST", &path, &body, time), body.clone()).await;
        assert_eq!((s, err(&r)), (401, "AuthenticationFailedException"), "{what}");
    }
    let (s, _) =
        c.raw("POST", &path, &c.signed_headers("POST", &path, &body, SystemTime::now() - Duration::from_secs(240)), body.clone()).await;
    assert_eq!(s, 200, "4 minutes of skew is accepted");
    let mut tampered = body.clone();
    tampered[5] ^= 1;
    let (s, _) = c.raw("POST", &path, &c.signed_headers("POST", &path, &body, SystemTime::now()), tampered).await;
    assert_eq!(s, 401, "body not as signed");
    let (s, _) = c.raw("POST", &path, &[("content-type".into(), "application/json".into())], body.clone()).await;
    assert_eq!(s, 401, "unsigned");
    let mut wrong = client(d.proxy().addr, AKID, SECRET2);
    let (s, wrong_secret) = wrong.post(&path, &json!({"requestMetadata": metadata("DescribeKey")})).await;
    assert_eq!(s, 401, "wrong secret");
    let mut second = client(d.proxy().addr, AKID2, SECRET2);
    let (s, unknown_id) = second.post(&path, &json!({"requestMetadata": metadata("DescribeKey")})).await;
    assert_eq!(s, 401, "not yet configured");
    // Issue 15 §6: an unknown access key id and a wrong signature look the same.
    assert_eq!(unknown_id, wrong_secret);
    // Issue 15 §6: two Authorization headers (the first valid) are refused.
    let mut twice = c.signed_headers("POST", &path, &body, SystemTime::now());
    twice.push((
        "authorization".into(),
        "AWS4-HMAC-SHA256 Credential=AKIAOTHER/20260101/eu-west-1/kms-xks-proxy/aws4_request, SignedHeaders=host;x-amz-date, Signature=00"
            .into(),
    ));
    let (s, r) = c.raw("POST", &path, &twice, body.clone()).await;
    assert_eq!((s, err(&r)), (401, "AuthenticationFailedException"), "{r}");
    // Another store's credential does not open this store.
    let mut root = client(d.proxy().addr, "ROOTKEYID22222222222222", SECRET2);
    assert_eq!(root.post(&path, &json!({"requestMetadata": metadata("DescribeKey")})).await.0, 401);

    // Rotation (spec "SigV4 credentials rotation"): add, both work, remove the old one.
    let creds = d.dir.join("proxy/credentials.toml");
    d.layout.write_credentials("credentials.toml", &[credential(AKID, SECRET), credential(AKID2, SECRET2)]);
    d.proxy().reload().unwrap();
    assert_eq!(c.post(&path, &json!({"requestMetadata": metadata("DescribeKey")})).await.0, 200, "old credential, same connection");
    assert_eq!(second.post(&path, &json!({"requestMetadata": metadata("DescribeKey")})).await.0, 200, "new credential");
    d.layout.write_credentials("credentials.toml", &[credential(AKID2, SECRET2)]);
    d.proxy().reload().unwrap();
    assert_eq!(c.post(&path, &json!({"requestMetadata": metadata("DescribeKey")})).await.0, 401, "old credential removed");
    assert_eq!(second.post(&path, &json!({"requestMetadata": metadata("DescribeKey")})).await.0, 200);
    // A broken file is refused and the running configuration stays.
    std::fs::write(&creds, "[[credential]]\naccess_key_id = \"lowercase\"\nsecret_access_key = \"x\"\n").unwrap();
    assert!(d.proxy().reload().is_err());
    assert_eq!(second.post(&path, &json!({"requestMetadata": metadata("DescribeKey")})).await.0, 200);
}

/// Spec request payload rules: required fields, Base64, AES_GCM, SHA_256,
/// sizes (plaintext ≥ 4300 bytes, AAD ≥ 8192 bytes, metadata ≤ 20 bytes, IV
/// 12/16, tag 16, ARNs up to 2048), unknown kmsOperation values and unknown
/// requestMetadata fields accepted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spec_request_validation() {
    let d = Deployment::start("validation", Options::default()).await;
    let mut c = d.client();
    let enc_path = format!("{PREFIX}/kms/xks/v1/keys/{KEY}/encrypt");
    let dec_path = format!("{PREFIX}/kms/xks/v1/keys/{KEY}/decrypt");
    let md_path = format!("{PREFIX}/kms/xks/v1/keys/{KEY}/metadata");
    let health = format!("{PREFIX}/kms/xks/v1/health");
    let v = |b: serde_json::Value| b;
    let cases: Vec<(&str, String, serde_json::Value)> = vec![
        ("metadata without requestMetadata", md_path.clone(), v(json!({}))),
        ("metadata with empty requestMetadata", md_path.clone(), v(json!({"requestMetadata": {}}))),
        ("health without requestMetadata", health.clone(), v(json!({}))),
        ("health with empty requestMetadata", health.clone(), v(json!({"requestMetadata": {}}))),
        (
            "encrypt without plaintext",
            enc_path.clone(),
            v(json!({"requestMetadata": metadata("Encrypt"), "encryptionAlgorithm": "AES_GCM"})),
        ),
        (
            "encrypt with bad base64",
            enc_path.clone(),
            v(json!({"requestMetadata": metadata("Encrypt"), "plaintext": "!!", "encryptionAlgorithm": "AES_GCM"})),
        ),
        (
            "encrypt with RSA",
            enc_path.clone(),
            v(json!({"requestMetadata": metadata("Encrypt"), "plaintext": "AA==", "encryptionAlgorithm": "RSA"})),
        ),
        ("encrypt without algorithm", enc_path.clone(), v(json!({"requestMetadata": metadata("Encrypt"), "plaintext": "AA=="}))),
        (
            "encrypt with SHA_1 CDIV",
            enc_path.clone(),
            v(
                json!({"requestMetadata": metadata("Encrypt"), "plaintext": "AA==", "encryptionAlgorithm": "AES_GCM", "ciphertextDataIntegrityValueAlgorithm": "SHA_1"}),
            ),
        ),
        (
            "encrypt without kmsKeyArn",
            enc_path.clone(),
            v(
                json!({"requestMetadata": {"awsPrincipalArn": "a", "kmsOperation": "Encrypt", "kmsRequestId": "r"}, "plaintext": "AA==", "encryptionAlgorithm": "AES_GCM"}),
            ),
        ),
        (
            "encrypt with a number as plaintext",
            enc_path.clone(),
            v(json!({"requestMetadata": metadata("Encrypt"), "plaintext": 5, "encryptionAlgorithm": "AES_GCM"})),
        ),
        (
            "decrypt with 11-byte IV",
            dec_path.clone(),
            v(
                json!({"requestMetadata": metadata("Decrypt"), "ciphertext": "AA==", "initializationVector": "AAAAAAAAAAAAAAA=", "authenticationTag": "AAAAAAAAAAAAAAAAAAAAAA==", "encryptionAlgorithm": "AES_GCM"}),
            ),
        ),
        (
            "decrypt with 15-byte tag",
            dec_path.clone(),
            v(
                json!({"requestMetadata": metadata("Decrypt"), "ciphertext": "AA==", "initializationVector": "AAAAAAAAAAAAAAAA", "authenticationTag": "AAAAAAAAAAAAAAAAAAAA", "encryptionAlgorithm": "AES_GCM"}),
            ),
        ),
        (
            "decrypt with 21-byte metadata",
            dec_path.clone(),
            v(
                json!({"requestMetadata": metadata("Decrypt"), "ciphertext": "AA==", "ciphertextMetadata": "AAAAAAAAAAAAAAAAAAAAAAAAAAAA", "initializationVector": "AAAAAAAAAAAAAAAA", "authenticationTag": "AAAAAAAAAAAAAAAAAAAAAA==", "encryptionAlgorithm": "AES_GCM"}),
            ),
        ),
        (
            "decrypt without tag",
            dec_path.clone(),
            v(
                json!({"requestMetadata": metadata("Decrypt"), "ciphertext": "AA==", "initializationVector": "AAAAAAAAAAAAAAAA", "encryptionAlgorithm": "AES_GCM"}),
            ),
        ),
        ("malformed JSON", enc_path.clone(), serde_json::Value::String("{".into())),
    ];
    for (what, path, body) in cases {
        let bytes = match &body {
            serde_json::Value::String(s) => s.clone().into_bytes(),
            b => b.to_string().into_bytes(),
        };
        let h = c.signed_headers("POST", &path, &bytes, SystemTime::now());
        let (s, r) = c.raw("POST", &path, &h, bytes).await;
        assert_eq!((s, err(&r)), (400, "ValidationException"), "{what}: {r}");
    }
    // The spec's minimum sizes work: 4300-byte plaintext, 8192-byte AAD, 2048-character ARNs.
    let big = vec![7u8; 4300];
    let aad = vec![9u8; 8192];
    let (s, enc) = c.encrypt(KEY, &big, Some(&aad), true).await;
    assert_eq!(s, 200, "{enc}");
    let (s, dec) = c.decrypt(KEY, &enc, Some(&aad)).await;
    assert_eq!((s, b64(&dec["plaintext"])), (200, big));
    let mut m = metadata("SomeFutureKmsOperation");
    m["awsPrincipalArn"] = format!("arn:aws:iam::123456789012:role/{}", "r".repeat(2048 - 37)).into();
    m["kmsKeyArn"] = format!("arn:aws:kms:eu-west-1:123456789012:key/{}", "k".repeat(2048 - 39)).into();
    m["someNewField"] = "tolerated".into();
    m["kmsRequestId"] = "not a UUID, opaque \u{e9}".into();
    let (s, r) =
        c.post(&enc_path, &json!({"requestMetadata": m, "plaintext": "AA==", "encryptionAlgorithm": "AES_GCM", "futureField": 1})).await;
    assert_eq!(s, 200, "{r}");
    // Above this proxy's maximum (far above the spec's minimum): 501.
    let (s, r) = c.encrypt(KEY, &vec![0u8; 65_537], None, false).await;
    assert_eq!((s, err(&r)), (501, "UnsupportedOperationException"));
}

/// Spec GetKeyMetadata / Encrypt / Decrypt: KeyNotFoundException, key status
/// (DISABLED → InvalidStateException on Encrypt/Decrypt, metadata still
/// answers) and key usage (InvalidKeyUsageException), including the
/// verifying decrypt that a CDIV needs (Appendix C).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spec_key_status_usage_and_not_found() {
    let d = Deployment::start("keys", Options::default()).await;
    let mut c = d.client();
    let (s, r) = c.encrypt("non_existing_key", b"x", None, false).await;
    assert_eq!((s, err(&r)), (404, "KeyNotFoundException"));
    let (s, r) =
        c.post(&format!("{PREFIX}/kms/xks/v1/keys/disabled-key/metadata"), &json!({"requestMetadata": metadata("DescribeKey")})).await;
    assert_eq!((s, r["keyStatus"].as_str()), (200, Some("DISABLED")));
    let (s, r) = c.encrypt("disabled-key", b"x", None, false).await;
    assert_eq!((s, err(&r)), (400, "InvalidStateException"));
    let (s, r) = c.post(&format!("{PREFIX}/kms/xks/v1/keys/impotent/metadata"), &json!({"requestMetadata": metadata("DescribeKey")})).await;
    assert_eq!((s, r["keyUsage"].clone()), (200, json!([])));
    let (s, r) = c.encrypt("impotent", b"x", None, false).await;
    assert_eq!((s, err(&r)), (400, "InvalidKeyUsageException"));
    let (s, enc) = c.encrypt("encrypt-only", b"x", None, false).await;
    assert_eq!(s, 200);
    let (s, r) = c.decrypt("encrypt-only", &enc, None).await;
    assert_eq!((s, err(&r)), (400, "InvalidKeyUsageException"));
    let (s, r) = c.encrypt("encrypt-only", b"x", None, true).await;
    assert_eq!((s, err(&r)), (400, "InvalidKeyUsageException"), "CDIV needs DECRYPT usage");
    let (s, r) = c.encrypt("decrypt-only", b"x", None, false).await;
    assert_eq!((s, err(&r)), (400, "InvalidKeyUsageException"));
    let (s, r) = c.decrypt("decrypt-only", &enc, None).await;
    assert_eq!((s, err(&r)), (400, "InvalidCiphertextException"), "DECRYPT is permitted, and another key cannot open it");
}

/// Spec GetHealthStatus: deep, fleet size > 0, vendor/model, one entry per
/// partner plus the local share, ACTIVE/DEGRADED/UNAVAILABLE.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spec_health_status() {
    let mut d = Deployment::start("health", Options::default()).await;
    let mut c = d.client();
    let (s, r) = c.health().await;
    assert_eq!(s, 200, "{r}");
    assert!(r["xksProxyFleetSize"].as_u64().unwrap() > 0);
    for f in ["xksProxyVendor", "xksProxyModel", "ekmVendor"] {
        assert!(!r[f].as_str().unwrap().is_empty(), "{f}");
    }
    // Build identity (docs/auditing.md): the model names the version and the
    // running executable's SHA-256 (its first 16 hex digits).
    let exe = std::fs::read(std::env::current_exe().unwrap()).unwrap();
    let digest = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&exe));
    let model = r["xksProxyModel"].as_str().unwrap();
    assert_eq!(model, format!("split-key-xks xks-proxy {} (sha256 {})", env!("CARGO_PKG_VERSION"), &digest[..16]));
    let fleet = r["ekmFleetDetails"].as_array().unwrap();
    assert_eq!(fleet[0]["model"].as_str().unwrap(), format!("{model} local share"));
    assert_eq!(fleet.len(), 3, "{r}");
    assert!(fleet.iter().all(|e| e["healthStatus"] == "ACTIVE"), "{r}");
    d.stop_share(2).await;
    d.proxy().app.0.health.check().await;
    let (_, r) = c.health().await;
    let status: Vec<&str> = r["ekmFleetDetails"].as_array().unwrap().iter().map(|e| e["healthStatus"].as_str().unwrap()).collect();
    assert_eq!(status, ["ACTIVE", "UNAVAILABLE", "ACTIVE"], "{r}");
    d.start_share(2).await;
    d.proxy().app.0.health.check().await;
    let (_, r) = c.health().await;
    assert!(r["ekmFleetDetails"].as_array().unwrap().iter().all(|e| e["healthStatus"] == "ACTIVE"), "{r}");
}

/// Spec GetHealthStatus: "a successful check provides strong assurance that an
/// encrypt, decrypt or getKeyMetadata request issued immediately after will
/// succeed". When no combination of shares can serve, the answer is the error
/// an Encrypt would get (issue 15 §4): InvalidStateException while the
/// preferred partner refuses (even with share-3 live: the proxy does not
/// route around it), DependencyTimeout/Internal when no partner answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spec_health_status_is_no_200_when_nothing_can_be_served() {
    let mut d = Deployment::start("health-down", Options::default()).await;
    let mut c = d.client();
    let (_, enc) = c.encrypt(KEY, b"x", None, false).await;
    let check = |d: &Deployment| {
        let h = d.proxy().app.0.health.clone();
        async move { h.check().await }
    };
    for locked in [vec![2], vec![2, 3]] {
        for h in &locked {
            d.admin(*h, "lock drill").await;
        }
        check(&d).await;
        let (s, r) = c.health().await;
        assert_eq!((s, r["errorName"].as_str()), (400, Some("InvalidStateException")), "{locked:?} {r}");
        assert!(r["errorMessage"].as_str().unwrap().contains("share-2: REFUSED"), "{r}");
        assert_eq!(c.decrypt(KEY, &enc, None).await.0, 400, "and an Encrypt/Decrypt indeed fails");
        for h in &locked {
            d.admin(*h, "unlock").await;
        }
    }
    // Only the standby refuses: the primary serves, the proxy's own entry is ACTIVE.
    d.admin(3, "lock standby drill").await;
    check(&d).await;
    let (s, r) = c.health().await;
    let status: Vec<&str> = r["ekmFleetDetails"].as_array().unwrap().iter().map(|e| e["healthStatus"].as_str().unwrap()).collect();
    assert_eq!((s, status), (200, vec!["ACTIVE", "ACTIVE", "UNAVAILABLE"]), "{r}");
    assert_eq!(c.decrypt(KEY, &enc, None).await.0, 200);
    d.admin(3, "unlock").await;
    d.stop_share(2).await;
    d.stop_share(3).await;
    check(&d).await;
    let (s, r) = c.health().await;
    assert!(s == 500 || s == 503, "{s} {r}");
    assert!(["InternalException", "DependencyTimeoutException"].contains(&r["errorName"].as_str().unwrap()), "{r}");
}

/// An Encrypt of `key` whose request metadata has `field` set to `value`.
async fn encrypt_with(c: &mut XksClient, key: &str, field: &str, value: &str) -> (u16, serde_json::Value) {
    let mut m = metadata("Encrypt");
    m[field] = value.into();
    c.post(
        &format!("{PREFIX}/kms/xks/v1/keys/{key}/encrypt"),
        &json!({"requestMetadata": m, "plaintext": "AA==", "encryptionAlgorithm": "AES_GCM"}),
    )
    .await
}

/// Spec "Authorization": optional secondary authorization over requestMetadata
/// (Cedar), AccessDeniedException for denied requests, never applied to GetHealthStatus.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spec_secondary_authorization() {
    let d = Deployment::start("authz", Options::default()).await;
    std::fs::write(
        d.dir.join("proxy/policy.cedar"),
        r#"@id("alice-only") permit(principal, action, resource) when { context.awsPrincipalArn like "arn:aws:iam::123456789012:user/Ali*" };
           @id("no-s3") forbid(principal, action, resource) when { context has kmsViaService && context.kmsViaService == "s3" };"#,
    )
    .unwrap();
    d.write_key_stores(|s| s.authorization_policy = Some("policy.cedar".into()), &[]);
    d.proxy().reload().unwrap();
    let mut c = d.client();
    assert_eq!(c.encrypt(KEY, b"x", None, false).await.0, 200);
    let (s, r) = encrypt_with(&mut c, KEY, "awsPrincipalArn", "arn:aws:iam::123456789012:user/Bob").await;
    assert_eq!((s, err(&r)), (403, "AccessDeniedException"));
    let (s, r) = encrypt_with(&mut c, KEY, "kmsViaService", "s3").await;
    assert_eq!((s, err(&r)), (403, "AccessDeniedException"));
    assert!(r["errorMessage"].as_str().unwrap().contains("no-s3"), "{r}");
    assert_eq!(c.health().await.0, 200, "health is excluded from secondary authorization");
    // Issue 15 §6: a denied principal learns nothing about which keys exist.
    let (s, r) = encrypt_with(&mut c, "no-such-key", "awsPrincipalArn", "arn:aws:iam::123456789012:user/Bob").await;
    assert_eq!((s, err(&r)), (403, "AccessDeniedException"), "{r}");
    let (s, r) = c.encrypt("no-such-key", b"x", None, false).await;
    assert_eq!((s, err(&r)), (404, "KeyNotFoundException"), "an allowed principal is told");
}

/// Issue 15 §6: with `front.server_names` set, a request signed for another
/// Host (a request replayed from another endpoint) is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_for_another_host_are_refused() {
    let opts = Options { proxy: |c| c.front.server_names = vec!["XKS.example.test".into()], ..Options::default() };
    let d = Deployment::start("hostnames", opts).await;
    let mut c = d.client();
    let (s, r) = c.encrypt(KEY, b"x", None, false).await;
    assert_eq!((s, err(&r)), (401, "AuthenticationFailedException"), "signed for localhost: {r}");
    c.host = format!("xks.example.test:{}", d.proxy().addr.port());
    let (s, r) = c.encrypt(KEY, b"x", None, false).await;
    assert_eq!(s, 200, "{r}");
}

/// Spec "Error codes" 429: per key-store quota → ThrottlingException.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spec_throttling() {
    let opts = Options { store: |s| (s.requests_per_second, s.burst) = (1, 2), ..Options::default() };
    let d = Deployment::start("throttle", opts).await;
    let mut c = d.client();
    let mut codes = Vec::new();
    for _ in 0..5 {
        codes.push(c.post(&format!("{PREFIX}/kms/xks/v1/keys/{KEY}/metadata"), &json!({"requestMetadata": metadata("DescribeKey")})).await);
    }
    assert_eq!(codes.iter().filter(|(s, _)| *s == 200).count(), 2, "{codes:?}");
    assert!(codes.iter().filter(|(s, _)| *s != 200).all(|(s, r)| *s == 429 && err(r) == "ThrottlingException"));
}

/// Spec "API content type": TLS front with HTTP/1.1 (and ALPN h2 offered).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spec_tls_front() {
    let d = Deployment::start("tlsfront", Options { front: Front::Tls, ..Options::default() }).await;
    let mut c = d.client();
    let (s, enc) = c.encrypt(KEY, b"over TLS", None, true).await;
    assert_eq!(s, 200, "{enc}");
    let (s, dec) = c.decrypt(KEY, &enc, None).await;
    assert_eq!((s, b64(&dec["plaintext"])), (200, b"over TLS".to_vec()));
}
