//! AWS CloudTrail records of KMS requests to our external key store, read one
//! file at a time: the files CloudTrail delivers to S3 (`{"Records": [...]}`,
//! gzip or not) and CloudTrail Lake query exports (a JSON array of rows, or
//! one row per line), found in directories recursively.
//!
//! A record counts when `eventSource` is `kms.amazonaws.com`, its
//! `additionalEventData` names an `xksKeyId`, and (if the operator names
//! them) one of our custom key store ids. The shape is AWS's published
//! external-key-store example (docs/oversight.md).

use std::io::Read;
use std::path::{Path, PathBuf};

use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// One KMS request that reached (or was meant for) our external key store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KmsRequest {
    /// `eventTime`, Unix milliseconds.
    pub time_ms: i64,
    /// `requestID`: KMS sends it to the proxy as `kmsRequestId`.
    pub request_id: String,
    /// `eventName` (Encrypt, Decrypt, GenerateDataKey, …).
    pub operation: String,
    /// `additionalEventData.xksKeyId`.
    pub xks_key_id: String,
    /// `userIdentity.arn` (or its `type` when there is no ARN).
    pub principal: String,
    /// `errorCode` of a failed request.
    pub error_code: Option<String>,
}

/// What reading the CloudTrail inputs found besides the requests.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Counts {
    /// Files read.
    pub files: u64,
    /// Records read (all services).
    pub records: u64,
    /// KMS requests to one of our key stores' external keys.
    pub our_requests: u64,
    /// Records without the fields a KMS record has (counted, skipped).
    pub malformed: u64,
}

/// The KMS operations that send an Encrypt or Decrypt to the proxy.
const CRYPTO_OPERATIONS: [&str; 8] = [
    "Encrypt",
    "Decrypt",
    "ReEncrypt",
    "GenerateDataKey",
    "GenerateDataKeyWithoutPlaintext",
    "GenerateDataKeyPair",
    "GenerateDataKeyPairWithoutPlaintext",
    "GenerateMac",
];

/// Every file below `paths` (files as given; directories recursively, in
/// name order, which for CloudTrail's S3 layout is time order).
///
/// # Errors
/// A directory that cannot be listed.
pub fn files(paths: &[PathBuf]) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut entries: Vec<PathBuf> = std::fs::read_dir(p)?.map(|e| e.map(|e| e.path())).collect::<Result<_, _>>()?;
            entries.sort();
            out.extend(files(&entries)?);
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}

/// Reads one file's KMS requests to our key stores (`key_store_ids`; empty:
/// any external key store), sorted by time. The file is decoded as it is
/// read: one record at a time is held as JSON, and only our requests are kept.
///
/// # Errors
/// A file that cannot be read, decompressed or parsed as JSON.
pub fn read_file(path: &Path, key_store_ids: &[String], counts: &mut Counts) -> Result<Vec<KmsRequest>, String> {
    let err = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
    let mut file = std::io::BufReader::new(std::fs::File::open(path).map_err(|e| err(&e))?);
    let gzipped = std::io::BufRead::fill_buf(&mut file).map_err(|e| err(&e))?.starts_with(&[0x1f, 0x8b]);
    let reader: Box<dyn Read> =
        if gzipped { Box::new(std::io::BufReader::new(flate2::bufread::MultiGzDecoder::new(file))) } else { Box::new(file) };
    counts.files += 1;
    let mut out = Vec::new();
    // A delivered file is one value, a Lake export one array, JSON Lines many values.
    for rows in serde_json::Deserializer::from_reader(reader).into_iter::<Rows>() {
        for row in rows.map_err(|e| err(&e))?.0 {
            counts.records += 1;
            match row {
                Row::Request(r, store) if key_store_ids.is_empty() || key_store_ids.contains(&store) => {
                    counts.our_requests += 1;
                    out.push(r);
                }
                Row::Request(..) | Row::Other => {}
                Row::Malformed => counts.malformed += 1,
            }
        }
    }
    out.sort_by_key(|r| r.time_ms);
    Ok(out)
}

/// One record, classified as it is read.
enum Row {
    /// A KMS request to an external key, with its custom key store id.
    Request(KmsRequest, String),
    /// A record of something else.
    Other,
    /// Not a well-formed record.
    Malformed,
}

impl Row {
    fn of(record: &Value) -> Self {
        match request(record) {
            Ok(Some((r, store))) => Self::Request(r, store),
            Ok(None) => Self::Other,
            Err(()) => Self::Malformed,
        }
    }
}

/// The records of one top-level JSON value: `{"Records": [...]}` (the records
/// decoded one at a time), `[...]` (a Lake export), or a single record.
struct Rows(Vec<Row>);

impl<'de> serde::Deserialize<'de> for Rows {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(RowsVisitor)
    }
}

struct RowsVisitor;

impl<'de> serde::de::Visitor<'de> for RowsVisitor {
    type Value = Rows;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("{\"Records\": [...]}, an array of records, or a record")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Rows, A::Error> {
        let mut rows = Vec::new();
        while let Some(record) = seq.next_element::<Value>()? {
            rows.push(Row::of(&record));
        }
        Ok(Rows(rows))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Rows, A::Error> {
        let mut single = serde_json::Map::new();
        let mut rows = None;
        while let Some(key) = map.next_key::<String>()? {
            if key == "Records" {
                rows = Some(map.next_value::<Rows>()?);
            } else {
                single.insert(key, map.next_value::<Value>()?);
            }
        }
        Ok(rows.unwrap_or_else(|| Rows(vec![Row::of(&Value::Object(single))])))
    }
}

/// A KMS request to an external key and its custom key store id; `Ok(None)`
/// for a well-formed record of something else.
fn request(row: &Value) -> Result<Option<(KmsRequest, String)>, ()> {
    let s = |v: &Value| v.as_str().map(str::to_owned);
    let source = row.get("eventSource").and_then(Value::as_str).ok_or(())?;
    let name = row.get("eventName").and_then(Value::as_str).ok_or(())?;
    if source != "kms.amazonaws.com" || !CRYPTO_OPERATIONS.contains(&name) {
        return Ok(None);
    }
    // Lake exports may carry additionalEventData as a JSON string.
    let extra = match row.get("additionalEventData") {
        Some(Value::String(text)) => serde_json::from_str(text).map_err(|_| ())?,
        Some(v) => v.clone(),
        None => return Ok(None),
    };
    let Some(xks_key_id) = extra.get("xksKeyId").and_then(s) else { return Ok(None) };
    let store = extra.get("customKeyStoreId").and_then(Value::as_str).unwrap_or("").to_owned();
    let request_id = row.get("requestID").or_else(|| row.get("requestId")).and_then(s).ok_or(())?;
    let time = row.get("eventTime").and_then(Value::as_str).ok_or(())?;
    let time_ms = parse_time_ms(time).ok_or(())?;
    let identity = row.get("userIdentity");
    let principal = identity
        .and_then(|u| u.get("arn").or_else(|| u.get("type")))
        .and_then(s)
        .or_else(|| row.get("userIdentityArn").and_then(s))
        .unwrap_or_else(|| "unknown".into());
    let error_code = row.get("errorCode").and_then(s);
    Ok(Some((KmsRequest { time_ms, request_id, operation: name.to_owned(), xks_key_id, principal, error_code }, store)))
}

/// RFC 3339 time (CloudTrail's `eventTime`, the audit log's `time`) as Unix milliseconds.
pub fn parse_time_ms(text: &str) -> Option<i64> {
    let t = OffsetDateTime::parse(text, &Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

/// Unix milliseconds as RFC 3339 UTC.
pub fn format_time_ms(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| ms.to_string())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// AWS's published CloudTrail example of a Decrypt with a KMS key in an
    /// external key store (AWS KMS developer guide, "Decrypt"), verbatim in shape.
    const AWS_EXAMPLE: &str = r#"{
        "eventVersion": "1.08",
        "userIdentity": {"type": "IAMUser", "principalId": "EX_PRINCIPAL_ID", "arn": "arn:aws:iam::111122223333:user/Alice",
                         "accountId": "111122223333", "accessKeyId": "EXAMPLE_KEY_ID", "userName": "Alice"},
        "eventTime": "2022-11-24T00:26:58Z",
        "eventSource": "kms.amazonaws.com",
        "eventName": "Decrypt",
        "awsRegion": "us-west-2",
        "sourceIPAddress": "AWS Internal",
        "requestParameters": {"encryptionAlgorithm": "SYMMETRIC_DEFAULT",
            "keyId": "arn:aws:kms:us-west-2:111122223333:key/0987dcba-09fe-87dc-65ba-ab0987654321",
            "encryptionContext": {"Department": "Engineering", "Purpose": "Test"}},
        "responseElements": null,
        "additionalEventData": {"customKeyStoreId": "cks-9876543210fedcba9", "xksKeyId": "abc01234567890fe"},
        "requestID": "f1b881f8-2048-41f8-b6cc-382b7857ec61",
        "eventID": "b79603d5-4cde-46fc-819c-a7cf547b9df4",
        "readOnly": true,
        "resources": [{"accountId": "111122223333", "type": "AWS::KMS::Key",
            "ARN": "arn:aws:kms:us-west-2:111122223333:key/0987dcba-09fe-87dc-65ba-ab0987654321"}],
        "eventType": "AwsApiCall",
        "managementEvent": true,
        "recipientAccountId": "111122223333",
        "eventCategory": "Management"
    }"#;

    fn parse(row: &str, stores: &[&str]) -> Result<Option<KmsRequest>, ()> {
        let found = request(&serde_json::from_str(row).unwrap())?;
        Ok(found.filter(|(_, store)| stores.is_empty() || stores.contains(&store.as_str())).map(|(r, _)| r))
    }

    fn rows(text: &str) -> Result<usize, serde_json::Error> {
        serde_json::Deserializer::from_str(text).into_iter::<Rows>().map(|r| r.map(|r| r.0.len())).sum()
    }

    #[test]
    fn the_published_external_key_store_example_is_one_of_our_requests() {
        let r = parse(AWS_EXAMPLE, &["cks-9876543210fedcba9"]).unwrap().unwrap();
        assert_eq!(r.request_id, "f1b881f8-2048-41f8-b6cc-382b7857ec61");
        assert_eq!((r.operation.as_str(), r.xks_key_id.as_str()), ("Decrypt", "abc01234567890fe"));
        assert_eq!(r.principal, "arn:aws:iam::111122223333:user/Alice");
        assert_eq!(format_time_ms(r.time_ms), "2022-11-24T00:26:58Z");
        // Another key store's, and a key without an external key, are not ours.
        assert_eq!(parse(AWS_EXAMPLE, &["cks-0000000000000000"]).unwrap(), None);
        let standard = AWS_EXAMPLE.replace(r#", "xksKeyId": "abc01234567890fe""#, "");
        assert_eq!(parse(&standard, &[]).unwrap(), None);
        // A record without its request id is malformed, not skipped silently.
        assert_eq!(parse(&AWS_EXAMPLE.replace("requestID", "requestXX"), &[]), Err(()));
    }

    #[test]
    fn delivered_files_lake_exports_and_json_lines_are_read() {
        let one = serde_json::from_str::<Value>(AWS_EXAMPLE).unwrap();
        let delivered = serde_json::json!({ "Records": [one.clone(), {"eventSource": "s3.amazonaws.com", "eventName": "GetObject"}] });
        assert_eq!(rows(&delivered.to_string()).unwrap(), 2);
        assert_eq!(rows(&serde_json::json!([one.clone(), one.clone()]).to_string()).unwrap(), 2);
        assert_eq!(rows(&format!("{one}\n{one}\n")).unwrap(), 2);
        assert!(rows("not json").is_err());
    }
}
