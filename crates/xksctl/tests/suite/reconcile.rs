//! `xksctl audit reconcile` (docs/oversight.md): the partners' audit logs
//! joined with AWS CloudTrail records shaped exactly like AWS's published
//! external-key-store examples.

use std::io::Write as _;
use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use xks_audit::{AuditWriter, Entry, RecordKind, WriterConfig};
use xks_config::key_stores::{KeyStoreConfig, KeyStoresFile};
use xks_testkit::layout::{credential, key};
use xks_testkit::{Cluster, Front, Layout, PartnerClient, XksClient};

const AKID: &str = "XKSCTLRECONCILETESTAAAAAA2";
const SECRET: &str = "xksctlReconcileTestSecret0123456789abcdefghijk";
const KEY_STORE: &str = "cks-9876543210fedcba9";

fn now() -> String {
    OffsetDateTime::now_utc().format(&Rfc3339).unwrap()
}

/// A CloudTrail record of a KMS request with a KMS key in our external key
/// store: the shape of AWS's published Decrypt example (AWS KMS developer
/// guide, "Decrypt with a KMS key in an external key store").
fn kms_record(operation: &str, request_id: &str, xks_key_id: &str, error_code: Option<&str>) -> Value {
    let mut r = json!({
        "eventVersion": "1.08",
        "userIdentity": {"type": "IAMUser", "principalId": "EX_PRINCIPAL_ID", "arn": "arn:aws:iam::111122223333:user/Alice",
                         "accountId": "111122223333", "accessKeyId": "EXAMPLE_KEY_ID", "userName": "Alice"},
        "eventTime": now(),
        "eventSource": "kms.amazonaws.com",
        "eventName": operation,
        "awsRegion": "eu-west-1",
        "sourceIPAddress": "AWS Internal",
        "requestParameters": {"encryptionAlgorithm": "SYMMETRIC_DEFAULT",
                              "keyId": "arn:aws:kms:eu-west-1:111122223333:key/0987dcba-09fe-87dc-65ba-ab0987654321"},
        "responseElements": null,
        "additionalEventData": {"customKeyStoreId": KEY_STORE, "xksKeyId": xks_key_id},
        "requestID": request_id,
        "eventID": "b79603d5-4cde-46fc-819c-a7cf547b9df4",
        "readOnly": true,
        "resources": [{"accountId": "111122223333", "type": "AWS::KMS::Key",
                       "ARN": "arn:aws:kms:eu-west-1:111122223333:key/0987dcba-09fe-87dc-65ba-ab0987654321"}],
        "eventType": "AwsApiCall",
        "managementEvent": true,
        "recipientAccountId": "111122223333",
        "eventCategory": "Management"
    });
    if let Some(code) = error_code {
        r["errorCode"] = code.into();
        r["errorMessage"] = "The external key store proxy rejected the request.".into();
    }
    r
}

/// Writes a CloudTrail file as CloudTrail delivers it to S3: gzipped `{"Records": [...]}`.
fn write_delivered(path: &Path, records: &[Value]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut gz = flate2::write::GzEncoder::new(std::fs::File::create(path).unwrap(), flate2::Compression::default());
    gz.write_all(json!({ "Records": records }).to_string().as_bytes()).unwrap();
    gz.finish().unwrap();
}

fn reconcile(args: &[&str]) -> (i32, Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_xksctl")).args(["audit", "reconcile", "--json"]).args(args).output().unwrap();
    let report = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code().unwrap_or(-1), report)
}

fn metadata(op: &str, _key: &str, n: u64) -> Value {
    json!({
        "awsPrincipalArn": "arn:aws:iam::111122223333:user/Alice",
        "kmsKeyArn": "arn:aws:kms:eu-west-1:111122223333:key/0987dcba-09fe-87dc-65ba-ab0987654321",
        "kmsOperation": op,
        "kmsRequestId": format!("{n:08x}-2048-41f8-b6cc-382b7857ec61"),
    })
}

/// The acceptance run: KMS-like requests through a running proxy,
/// CloudTrail records for exactly those, and one partial asked for through
/// the partner link behind KMS's back (a rogue proxy operator). The report
/// names exactly that one; the proxy's health checks are counted apart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partial_requested_behind_kms_back_is_the_one_finding() {
    let mut cluster = Cluster::start_shares(Layout::new("xksctl-reconcile", 5), &[2], |_| {}).await;
    cluster.layout.write_credentials("credentials.toml", &[credential(AKID, SECRET)]);
    let store = KeyStoreConfig {
        key: vec![key("key-1", "t/key-1"), key("key-2", "t/key-2")],
        ..KeyStoreConfig::new("t", "/t", "credentials.toml").unwrap()
    };
    cluster.layout.write_key_stores(&KeyStoresFile { key_store: vec![store] });
    let mut config = cluster.proxy_config(Front::Plain);
    config.health.interval_seconds = 1;
    cluster.start_proxy(&config).await;
    let mut client = XksClient::new(cluster.proxy().addr, AKID, SECRET, "/t/kms/xks/v1", metadata);
    let mut records = Vec::new();
    for i in 0..6u64 {
        let key_id = if i % 2 == 0 { "key-1" } else { "key-2" };
        let (s, sealed) = client.encrypt(key_id, b"data key", None, false).await;
        assert_eq!(s, 200);
        records.push(kms_record("GenerateDataKey", &format!("{:08x}-2048-41f8-b6cc-382b7857ec61", 2 * i + 1), key_id, None));
        assert_eq!(client.decrypt(key_id, &sealed, None).await.0, 200);
        records.push(kms_record("Decrypt", &format!("{:08x}-2048-41f8-b6cc-382b7857ec61", 2 * i + 2), key_id, None));
    }
    // A Decrypt that KMS records as failed and that never reached the partner.
    records.push(kms_record("Decrypt", "ffffffff-2048-41f8-b6cc-382b7857ec61", "key-1", Some("KMSInvalidStateException")));
    // Not ours: another service, and a KMS key that is not in an external key store.
    records.push(json!({"eventSource": "s3.amazonaws.com", "eventName": "GetObject", "eventTime": now(), "requestID": "x"}));
    let mut standard = kms_record("Encrypt", "eeeeeeee-2048-41f8-b6cc-382b7857ec61", "key-1", None);
    standard["additionalEventData"] = json!({});
    records.push(standard);
    // The rogue: the proxy's own mTLS identity asks share-2 directly.
    let share = cluster.nodes.iter().find(|n| n.holder == 2).unwrap().addr;
    let mut rogue = PartnerClient::new(share, cluster.layout.ca_pem(), Some(&cluster.layout.proxy_client));
    assert_eq!(rogue.partial("t/key-1", &[1, 2], false).await.0, 200);
    // Let at least one deep health check reach the partner.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;

    let dir = cluster.layout.dir.clone();
    let trail = dir.join("AWSLogs/111122223333/CloudTrail/eu-west-1/2026/12/07/111122223333_CloudTrail_eu-west-1_20261207T1000Z_a.json.gz");
    write_delivered(&trail, &records);
    let audit = cluster.layout.share_dir(2).join("audit");
    let (audit, trail_dir) = (audit.display().to_string(), dir.join("AWSLogs").display().to_string());
    let (code, report) =
        tokio::task::spawn_blocking(move || reconcile(&["--audit", &audit, "--cloudtrail", &trail_dir, "--key-store-id", KEY_STORE]))
            .await
            .unwrap();
    let f = &report["findings"];
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(f["partialsWithoutKmsRequest"]["count"], 1, "{report:#}");
    let finding = &f["partialsWithoutKmsRequest"]["listed"][0];
    assert_eq!((finding["keyPath"].as_str(), finding["requestId"].as_str()), (Some("t/key-1"), Some("test-req")), "{finding}");
    assert_eq!(finding["client"], "spiffe://xks/proxy", "{finding}");
    assert_eq!(f["kmsRequestsWithoutPartial"]["count"], 0, "{report:#}");
    assert_eq!(f["refusedWithoutKmsRequest"]["count"], 0);
    assert_eq!(f["failedKmsRequestsWithoutPartial"]["KMSInvalidStateException"], 1);
    assert_eq!(report["matched"], 12);
    assert_eq!(report["cloudtrail"]["ourRequests"], 13);
    assert_eq!(report["perXksKey"], json!({"key-1": 7, "key-2": 6}));
    assert!(report["auditLogs"][0]["healthPartials"].as_u64().unwrap() >= 1, "{report:#}");
    assert_eq!(report["perKeyPath"]["t/key-1"], 7, "six requests and the rogue one");
    assert!(report["skew"]["minMs"].as_i64().unwrap() > -60_000 && report["skew"]["maxMs"].as_i64().unwrap() < 60_000);
}

/// Exit codes and malformed input, on audit logs written by the audit
/// writer and CloudTrail files in all three accepted forms.
#[test]
fn gaps_malformed_records_and_unreadable_input_have_their_exit_codes() {
    let dir = std::env::temp_dir().join(format!("xksctl-reconcile-codes-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (mut w, _) = AuditWriter::open(WriterConfig { dir: dir.join("audit"), max_file_bytes: 1 << 20 }).unwrap();
    for id in ["r1", "r2"] {
        let mut e = Entry::new(RecordKind::Partial, "uri:spiffe://xks/proxy", "ok");
        (e.key_path, e.request_id) = (Some("t/k".into()), Some(id.into()));
        w.append(&[e]).unwrap();
    }
    drop(w);
    let audit = dir.join("audit").display().to_string();
    // A Lake export (array) with both requests: nothing to report.
    let lake = dir.join("lake.json");
    std::fs::write(&lake, json!([kms_record("Encrypt", "r1", "k", None), kms_record("Decrypt", "r2", "k", None)]).to_string()).unwrap();
    let (code, report) = reconcile(&["--audit", &audit, "--cloudtrail", &lake.display().to_string()]);
    assert_eq!((code, &report["matched"]), (0, &json!(2)), "{report:#}");
    // JSON lines with a third, successful request no partner answered: an audit gap.
    let lines = dir.join("lines.jsonl");
    let rows = ["r1", "r2", "r3"].map(|id| kms_record("Encrypt", id, "k", None).to_string()).join("\n");
    std::fs::write(&lines, rows).unwrap();
    let prom = dir.join("textfile/reconcile.prom");
    std::fs::create_dir_all(prom.parent().unwrap()).unwrap();
    let (code, report) =
        reconcile(&["--audit", &audit, "--cloudtrail", &lines.display().to_string(), "--metrics-file", &prom.display().to_string()]);
    assert_eq!(code, 3, "{report:#}");
    assert_eq!(report["findings"]["kmsRequestsWithoutPartial"]["listed"][0]["requestId"], "r3");
    // The textfile the oversight alerts read: every xks_reconcile_ name they use is in it.
    let metrics = std::fs::read_to_string(&prom).unwrap();
    assert!(metrics.contains("xks_reconcile_findings{finding=\"kms_request_without_partial\"} 1\n"), "{metrics}");
    assert!(metrics.contains("xks_reconcile_findings{finding=\"partial_without_kms_request\"} 0\n"), "{metrics}");
    assert!(metrics.contains("xks_reconcile_exit_code 3\n"), "{metrics}");
    let alerts = include_str!("../../../../monitoring/prometheus/alerts.yml");
    let used: std::collections::BTreeSet<&str> =
        alerts.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).filter(|w| w.starts_with("xks_reconcile_")).collect();
    assert!(used.len() >= 2, "{used:?}");
    for name in used {
        assert!(
            metrics.contains(&format!("\n# TYPE {name} gauge\n")),
            "alerts.yml uses {name}, which reconcile does not write:\n{metrics}"
        );
    }
    // A record without its request id is counted, not fatal; nothing else to report: exit 4.
    let mut broken = kms_record("Encrypt", "r9", "k", None);
    broken.as_object_mut().unwrap().remove("requestID");
    let delivered = dir.join("trail/a.json.gz");
    write_delivered(&delivered, &[kms_record("Encrypt", "r1", "k", None), kms_record("Encrypt", "r2", "k", None), broken]);
    let (code, report) = reconcile(&["--audit", &audit, "--cloudtrail", &dir.join("trail").display().to_string()]);
    assert_eq!((code, &report["cloudtrail"]["malformed"]), (4, &json!(1)), "{report:#}");
    // An unreadable input: exit 2.
    let out = Command::new(env!("CARGO_BIN_EXE_xksctl"))
        .args(["audit", "reconcile", "--audit", &audit, "--cloudtrail", "/nonexistent-trail-xyz"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
