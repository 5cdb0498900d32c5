//! docs/monitoring.md: every metric that an alerting rule or a dashboard
//! panel uses is served by a running proxy (TLS front) or a running share
//! service, and the certificate and credential gauges say what they should.

use std::collections::BTreeSet;
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::*;

const ALERTS: &str = include_str!("../../../../monitoring/prometheus/alerts.yml");
const DASHBOARD: &str = include_str!("../../../../monitoring/grafana/split-key-xks.json");

/// The metric names a rules file or dashboard mentions: every word that
/// starts with `xks_` or `share_` (our two prefixes), but `xks_reconcile_`,
/// which `xksctl audit reconcile --metrics-file` writes (its own test checks them).
fn mentioned(text: &str) -> BTreeSet<String> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| (w.starts_with("xks_") || w.starts_with("share_")) && !w.starts_with("xks_reconcile_"))
        .map(str::to_owned)
        .collect()
}

/// Every sample name of a Prometheus text exposition, and every name its
/// `# TYPE` lines declare (a histogram's own name, besides its samples).
fn served(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter_map(|l| match l.strip_prefix("# TYPE ") {
            Some(rest) => rest.split(' ').next(),
            None if l.starts_with('#') => None,
            None => l.split(['{', ' ']).next(),
        })
        .map(str::to_owned)
        .collect()
}

/// The value of the sample `line_start` (name and labels as served).
fn value(text: &str, line_start: &str) -> i64 {
    let line = text.lines().find(|l| l.starts_with(line_start)).unwrap_or_else(|| panic!("no {line_start} in\n{text}"));
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

async fn http_get(addr: std::net::SocketAddr, path: &str) -> String {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: metrics\r\nConnection: close\r\n\r\n").as_bytes()).await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    let (head, body) = out.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    body.to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitoring_names_every_metric_the_services_expose() {
    let d = Deployment::start("monitoring", Options { front: Front::Tls, ..Options::default() }).await;
    // Traffic, so that every labelled series has appeared.
    let mut c = d.client();
    let (s, enc) = c.encrypt(KEY, b"x", None, false).await;
    assert_eq!(s, 200);
    assert_eq!(c.decrypt(KEY, &enc, None).await.0, 200);
    let proxy = http_get(d.proxy().metrics_addr.unwrap(), "/metrics").await;
    let share_addr = d.cluster.nodes.iter().find(|n| n.holder == 2).unwrap().addr;
    let mut partner = xks_testkit::PartnerClient::new(share_addr, d.layout.ca_pem(), Some(&d.layout.proxy_client));
    let (status, share) = partner.request("GET", "/metrics", None, vec![]).await.unwrap();
    assert_eq!(status, 200);
    let exposed: BTreeSet<String> = served(&proxy).union(&served(&share)).cloned().collect();
    for (file, text) in [("alerts.yml", ALERTS), ("split-key-xks.json", DASHBOARD)] {
        let names = mentioned(text);
        assert!(names.len() >= 15, "{file}: too few metric names found: {names:?}");
        let missing: Vec<_> = names.difference(&exposed).collect();
        assert!(missing.is_empty(), "{file} uses metrics no service serves: {missing:?}");
    }
    // The gauges behind the certificate and rotation alerts.
    let now = i64::try_from(SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()).unwrap();
    let two_days = 2 * 86_400; // the test CA issues for 2 days
    for (text, sample) in [
        (&proxy, "xks_certificate_not_after_timestamp_seconds{certificate=\"front\"}"),
        (&proxy, "xks_certificate_not_after_timestamp_seconds{certificate=\"partner_client\"}"),
        (&share, "share_certificate_not_after_timestamp_seconds{certificate=\"server\"}"),
    ] {
        let not_after = value(text, sample);
        assert!((now..=now + two_days + 60).contains(&not_after), "{sample} = {not_after}, now {now}");
    }
    let modified = value(&proxy, "xks_credentials_file_modified_timestamp_seconds{key_store=\"ks1\"}");
    assert!((now - 600..=now + 5).contains(&modified), "the credentials file was written by this test: {modified}, now {now}");
}
