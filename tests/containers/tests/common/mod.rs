//! The container harness: a deployment made by the static `xksctl`
//! (`up --init-only --network containers`), the proxy and share services 2
//! and 3 from the `FROM scratch` images on a private Docker network of their
//! own, and this process playing KMS (SigV4 over TLS to the proxy's address
//! on that network; no port is published).
//!
//! Preconditions (tests/run makes them): Docker, the images
//! `split-key-xks/{xks-proxy,share-service}:local` (or those named by
//! `XKS_PROXY_IMAGE` and `XKS_SHARE_SERVICE_IMAGE`) and the static `xksctl`
//! of `images/build` (or in `XKS_BIN_DIR`). Missing ones fail the test with what to do; only
//! `XKS_SKIP_CONTAINER_TESTS=1` turns the container tests into an announced skip.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing, missing_docs, clippy::print_stdout)]

pub mod relay;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use testcontainers::core::{Mount, WaitFor};
use testcontainers::runners::AsyncRunner as _;
use testcontainers::{ContainerAsync, GenericImage, ImageExt as _};
use xks_testkit::XksClient;
use xks_wire::xks::SecretAccessKey;

pub const PROXY: &str = "xks-proxy";
/// A second proxy, started the way a serverless platform runs it (no files mounted).
pub const PROXY_FROM_BUNDLE: &str = "xks-proxy-bundled";
pub const SHARE_2: &str = "share-2";
pub const SHARE_3: &str = "share-3";
pub const PROXY_PORT: u16 = 8443;
/// KMS's timeout for one call.
pub const KMS_BUDGET: Duration = Duration::from_millis(250);
/// Where the state is mounted in every container.
const STATE: &str = "/state";
/// The non-root user of the images.
const IMAGE_USER: u32 = 65532;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The static binaries `images/build` made (and put into the images).
pub fn bin_dir() -> PathBuf {
    std::env::var_os("XKS_BIN_DIR").map_or_else(|| workspace().join("target/x86_64-unknown-linux-musl/release"), PathBuf::from)
}

/// An image under test, as `name:tag`: from `XKS_PROXY_IMAGE` or
/// `XKS_SHARE_SERVICE_IMAGE` (the Nix VM test loads the Nix-built images under
/// tags of its own), by default the tag images/build gives.
pub fn image(service: Service) -> String {
    let (var, default) = match service {
        Service::Proxy => ("XKS_PROXY_IMAGE", "split-key-xks/xks-proxy:local"),
        Service::Share => ("XKS_SHARE_SERVICE_IMAGE", "split-key-xks/share-service:local"),
    };
    std::env::var(var).ok().filter(|v| !v.is_empty()).unwrap_or_else(|| default.to_owned())
}

/// The two images of the product.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Service {
    /// xks-proxy.
    Proxy,
    /// share-service.
    Share,
}

/// `name:tag` split for testcontainers (a registry port is part of the name).
fn name_and_tag(image: &str) -> (String, String) {
    match image.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => (name.to_owned(), tag.to_owned()),
        _ => (image.to_owned(), "latest".to_owned()),
    }
}

/// Runs the docker CLI; its standard output, or the failure.
pub fn docker(args: &[&str]) -> Result<String, String> {
    let out = Command::new("docker").args(args).output().map_err(|e| format!("docker {args:?}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    } else {
        Err(format!("docker {args:?}: {}", String::from_utf8_lossy(&out.stderr).trim()))
    }
}

/// Whether the container tests run: yes, or a loud failure, unless explicitly opted out.
pub fn docker_required() -> bool {
    let problem = match docker(&["version", "--format", "{{.Server.Version}}"]) {
        Err(e) => Some(format!("Docker is not usable ({e})")),
        Ok(_) => [image(Service::Proxy), image(Service::Share)]
            .iter()
            .find(|i| docker(&["image", "inspect", "--format", "{{.Id}}", i]).is_err())
            .map(|i| format!("image {i} is missing: run images/build (or nix build .#<service>-image and docker load)"))
            .or_else(|| {
                (!bin_dir().join("xksctl").is_file()).then(|| format!("{}/xksctl is missing: run images/build", bin_dir().display()))
            }),
    };
    match problem {
        None => true,
        Some(p) if std::env::var("XKS_SKIP_CONTAINER_TESTS").as_deref() == Ok("1") => {
            println!("SKIPPED (XKS_SKIP_CONTAINER_TESTS=1): {p}");
            false
        }
        Some(p) => panic!("{p}. The container tests need Docker and the images; set XKS_SKIP_CONTAINER_TESTS=1 to skip them explicitly."),
    }
}

fn xksctl(args: &[&str]) -> String {
    let out = Command::new(bin_dir().join("xksctl")).args(args).env_remove("XKSCTL_STATE_DIR").output().unwrap();
    assert!(out.status.success(), "xksctl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn chown_recursive(path: &Path, uid: u32) {
    std::os::unix::fs::lchown(path, Some(uid), Some(uid)).unwrap();
    if path.is_dir() {
        for e in std::fs::read_dir(path).unwrap() {
            chown_recursive(&e.unwrap().path(), uid);
        }
    }
}

fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("Uid:")).map(|l| l.split_whitespace().nth(1) == Some("0")))
        .unwrap_or(false)
}

/// A deployment of three containers on a network of its own.
pub struct Cluster {
    /// Prefix of the container names and of the network.
    pub prefix: String,
    pub network: String,
    pub root: PathBuf,
    pub state: PathBuf,
    containers: BTreeMap<&'static str, ContainerAsync<GenericImage>>,
    /// Run containers as this user (when the test cannot hand the state to the image's user).
    user: Option<String>,
    access_key_id: String,
    secret: String,
    ca_pem: Vec<u8>,
}

impl Cluster {
    /// Makes the state and starts share-2, share-3 and the proxy.
    pub async fn start(test: &str) -> Self {
        let prefix = format!("xkse2e-{test}-{}-", std::process::id());
        let root = std::env::temp_dir().join(format!("{prefix}dir"));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        let state = root.join("state");
        xksctl(&["up", "--init-only", "--network", "containers", "--name-prefix", &prefix, "--state-dir", state.to_str().unwrap()]);
        // The images run as a non-root user: hand the state to it (or run as ourselves when we cannot).
        let user = if running_as_root() {
            chown_recursive(&state, IMAGE_USER);
            None
        } else {
            let meta = std::fs::metadata(&state).unwrap();
            Some(format!("{}:{}", std::os::unix::fs::MetadataExt::uid(&meta), std::os::unix::fs::MetadataExt::gid(&meta)))
        };
        let (access_key_id, secret) = credential(&state);
        let ca_pem = std::fs::read(state.join("pki/ca.crt")).unwrap();
        let network = format!("{prefix}net");
        let mut c = Self { prefix, network, root, state, containers: BTreeMap::new(), user, access_key_id, secret, ca_pem };
        for which in [SHARE_2, SHARE_3, PROXY] {
            c.create(which).await;
        }
        c
    }

    fn config_of(which: &str) -> String {
        if which == PROXY { format!("{STATE}/proxy/xks-proxy.toml") } else { format!("{STATE}/{which}/share-service.toml") }
    }

    /// Creates and starts a container of `which` from its image, waiting for its listening line.
    pub async fn create(&mut self, which: &'static str) {
        let (service, ready) = if which == PROXY { (Service::Proxy, "XKS API listening") } else { (Service::Share, "listening (mTLS)") };
        let (name, tag) = name_and_tag(&image(service));
        let mut req = GenericImage::new(name, tag)
            .with_wait_for(WaitFor::message_on_stderr(ready))
            .with_network(self.network.clone())
            .with_container_name(format!("{}{which}", self.prefix))
            .with_mount(Mount::bind_mount(self.state.display().to_string(), STATE))
            .with_cmd(["--config".to_owned(), Self::config_of(which), "--log-format".into(), "json".into()])
            .with_startup_timeout(Duration::from_secs(60));
        if let Some(u) = &self.user {
            req = req.with_user(u.clone());
        }
        let container = req.start().await.unwrap_or_else(|e| panic!("{which}: {e}"));
        self.containers.insert(which, container);
    }

    /// Starts a proxy the way a serverless platform runs it: nothing mounted,
    /// the proxy's files as one bundle in `XKS_DEPLOY_FILES` (`xks-proxy
    /// --files-from-env`, terraform/modules/xks-proxy-scaleway), holder 1's
    /// identity in `SOPS_AGE_KEY`. The files land in the image's /dev/shm.
    pub async fn create_proxy_from_bundle(&mut self, which: &'static str) {
        let identity = std::fs::read_to_string(self.state.join("identities/holder-1.agekey")).unwrap();
        let identity = identity.lines().find(|l| l.starts_with("AGE-SECRET-KEY-")).unwrap().to_owned();
        let (name, tag) = name_and_tag(&image(Service::Proxy));
        let mut req = GenericImage::new(name, tag)
            .with_wait_for(WaitFor::message_on_stderr("XKS API listening"))
            .with_network(self.network.clone())
            .with_container_name(format!("{}{which}", self.prefix))
            .with_env_var("XKS_DEPLOY_FILES", proxy_bundle(&self.state))
            .with_env_var("SOPS_AGE_KEY", identity)
            .with_cmd(
                ["--files-from-env", "XKS_DEPLOY_FILES", "--config", "proxy/xks-proxy.toml", "--log-format", "json"].map(String::from),
            )
            .with_startup_timeout(Duration::from_secs(60));
        if let Some(u) = &self.user {
            req = req.with_user(u.clone());
        }
        let container = req.start().await.unwrap_or_else(|e| panic!("{which}: {e}"));
        self.containers.insert(which, container);
    }

    pub fn container_name(&self, which: &str) -> String {
        format!("{}{which}", self.prefix)
    }

    /// Stops a container (SIGTERM, then it is gone from the network).
    pub async fn stop(&self, which: &str) {
        self.containers[which].stop().await.unwrap();
    }

    /// Starts a stopped container again and waits until it serves.
    pub async fn restart(&self, which: &str) {
        let name = self.container_name(which);
        let before = self.log_of(which).await.matches(if which == PROXY { "XKS API listening" } else { "listening (mTLS)" }).count();
        self.containers[which].start().await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let now = self.log_of(which).await.matches(if which == PROXY { "XKS API listening" } else { "listening (mTLS)" }).count();
            if now > before {
                return;
            }
            assert!(Instant::now() < deadline, "{name} did not come back");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Cuts a container off the network (a partition), or heals it.
    pub fn disconnect(&self, which: &str) {
        docker(&["network", "disconnect", &self.network, &self.container_name(which)]).unwrap();
    }

    pub fn connect(&self, which: &str) {
        docker(&["network", "connect", &self.network, &self.container_name(which)]).unwrap();
    }

    /// The container's address on the test network.
    pub fn ip(&self, which: &str) -> String {
        let f = format!("{{{{(index .NetworkSettings.Networks \"{}\").IPAddress}}}}", self.network);
        docker(&["inspect", "--format", &f, &self.container_name(which)]).unwrap()
    }

    /// The host's address on the test network (its bridge's gateway).
    pub fn gateway(&self) -> String {
        docker(&["network", "inspect", "--format", "{{(index .IPAM.Config 0).Gateway}}", &self.network]).unwrap()
    }

    /// Points the proxy at `address` for share service `which` (e.g. through a
    /// relay; the TLS server name stays), restarting the proxy container.
    pub async fn reroute_partner(&self, which: &str, address: &str) {
        self.stop(PROXY).await;
        let path = self.state.join("proxy/xks-proxy.toml");
        let cfg = std::fs::read_to_string(&path).unwrap();
        let old = format!("address = \"{}{which}:", self.prefix);
        let start = cfg.find(&old).unwrap_or_else(|| panic!("{old} not in {cfg}"));
        let end = start + cfg[start..].find('\n').unwrap();
        let cfg = format!("{}address = \"{address}\"{}", &cfg[..start], &cfg[end..]);
        std::fs::write(&path, cfg).unwrap();
        self.hand_over();
        self.restart(PROXY).await;
    }

    /// Files the test wrote into the state go to the image's user again.
    pub fn hand_over(&self) {
        if self.user.is_none() {
            chown_recursive(&self.state, IMAGE_USER);
        }
    }

    /// Everything the container wrote (stdout and stderr).
    pub async fn log_of(&self, which: &str) -> String {
        let c = &self.containers[which];
        let mut s = String::from_utf8_lossy(&c.stdout_to_vec().await.unwrap_or_default()).into_owned();
        s.push_str(&String::from_utf8_lossy(&c.stderr_to_vec().await.unwrap_or_default()));
        s
    }

    /// The logs of all three containers.
    pub async fn logs(&self) -> String {
        let mut all = String::new();
        for which in [PROXY, SHARE_2, SHARE_3] {
            all.push_str(&self.log_of(which).await);
        }
        all
    }

    /// One command to a share service's admin socket (the partner operator's kill switch).
    pub async fn admin(&self, which: &str, command: &str) -> String {
        use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _};
        let mut s = tokio::net::UnixStream::connect(self.state.join(which).join("admin.sock")).await.unwrap();
        s.write_all(format!("{command}\n").as_bytes()).await.unwrap();
        let mut line = String::new();
        tokio::io::BufReader::new(s).read_line(&mut line).await.unwrap();
        line
    }

    /// A KMS client of the proxy container.
    pub fn client(&self) -> Client {
        let addr: SocketAddr = format!("{}:{PROXY_PORT}", self.ip(PROXY)).parse().unwrap();
        let kit = XksClient::new(addr, &self.access_key_id, &self.secret, URI, metadata)
            .tls(&self.ca_pem, "xks-proxy")
            .host(&format!("xks-proxy:{PROXY_PORT}"))
            .region("eu-west-3")
            .timeout(Duration::from_secs(5));
        Client { kit }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // testcontainers removes the containers and the network; the state is ours.
        let _ = Command::new("rm").arg("-rf").arg(&self.root).status();
    }
}

/// The proxy's files of the state as one bundle: its configuration (without
/// the identity file, which comes from `SOPS_AGE_KEY`), key stores and sealed
/// credentials, certificates and sealed keys, key set and sealed share, CA.
fn proxy_bundle(state: &Path) -> String {
    let mut bundle = xks_sops::Bundle::new();
    let config = std::fs::read_to_string(state.join("proxy/xks-proxy.toml")).unwrap();
    let config: String = config.lines().filter(|l| !l.starts_with("age_identity_file")).map(|l| format!("{l}\n")).collect();
    bundle.insert("proxy/xks-proxy.toml", config).unwrap();
    for file in [
        "proxy/key-stores.toml",
        "proxy/credentials.sops",
        "proxy/tls/front.crt",
        "proxy/tls/front.key.sops",
        "proxy/tls/client.crt",
        "proxy/tls/client.key.sops",
        "keys/keyset-g1-e0.json",
        "keys/share-1-g1-e0.sops.json",
        "keys/checkpoint-2.pub",
        "keys/checkpoint-3.pub",
        "pki/ca.crt",
    ] {
        bundle.insert(file, std::fs::read_to_string(state.join(file)).unwrap()).unwrap();
    }
    bundle.to_json()
}

fn credential(state: &Path) -> (String, String) {
    // Opened with the proxy's identity, as the proxy does.
    let out = Command::new(bin_dir().join("xksctl"))
        .args(["secrets", "unseal", "--input-type", "binary", "-i"])
        .arg(state.join("identities/holder-1.agekey"))
        .arg(state.join("proxy/credentials.sops"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let creds = xks_wire::xks::credentials::parse(&text)
        .unwrap()
        .into_iter()
        .map(|c| (c.access_key_id.to_string(), c.secret_access_key))
        .collect::<Vec<_>>();
    let (id, secret) = creds.into_iter().next().unwrap();
    (id, secret.expose().to_owned())
}

/// KMS: SigV4-signed XKS calls to the proxy over TLS (HTTP/1.1, one
/// connection, reconnecting; the kit's client with this suite's names).
pub struct Client {
    kit: XksClient,
}

pub const URI: &str = "/keystores/local/kms/xks/v1";

pub fn metadata(op: &str, key_id: &str, n: u64) -> serde_json::Value {
    serde_json::json!({
        "awsPrincipalArn": "arn:aws:iam::111122223333:role/e2e",
        "kmsOperation": op,
        "kmsRequestId": format!("e2e-{n}"),
        "kmsKeyArn": format!("arn:aws:kms:eu-west-3:111122223333:key/{key_id}"),
    })
}

impl Client {
    /// The proxy container this client calls.
    pub fn at(mut self, addr: SocketAddr) -> Self {
        self.kit = self.kit.at(addr);
        self
    }

    /// A raw signed request (signed with `secret` instead of the right one
    /// if given): (status, body).
    pub async fn send(&mut self, method: &str, path: &str, body: Vec<u8>, secret: Option<&str>) -> Result<(u16, Vec<u8>), String> {
        let now = SystemTime::now();
        let headers = match secret {
            None => self.kit.signed_headers(method, path, &body, now),
            Some(s) => self.kit.signed_headers_with(&SecretAccessKey::any_sigv4(s), method, path, &body, now),
        };
        self.kit.send(method, path, &headers, body).await
    }

    /// A signed XKS POST; (status, JSON answer). Transport failures are status 0.
    pub async fn call(&mut self, op_path: &str, body: &serde_json::Value) -> (u16, serde_json::Value) {
        self.kit.post(&format!("{URI}{op_path}"), body).await
    }

    /// Encrypt with AAD and a CDIV.
    pub async fn encrypt(&mut self, key: &str, plaintext: &[u8], aad: &[u8]) -> (u16, serde_json::Value) {
        self.kit.encrypt(key, plaintext, Some(aad), true).await
    }

    pub async fn decrypt(&mut self, key: &str, sealed: &serde_json::Value, aad: &[u8]) -> (u16, serde_json::Value) {
        self.kit.decrypt(key, sealed, Some(aad)).await
    }

    /// Decrypt that must give back `plaintext`.
    pub async fn assert_decrypts(&mut self, key: &str, sealed: &serde_json::Value, aad: &[u8], plaintext: &[u8]) {
        let (s, r) = self.decrypt(key, sealed, aad).await;
        assert_eq!(s, 200, "Decrypt: {r}");
        assert_eq!(B64.decode(r["plaintext"].as_str().unwrap()).unwrap(), plaintext);
    }

    pub async fn health(&mut self) -> (u16, serde_json::Value) {
        self.kit.health().await
    }
}

/// Outcomes and latencies of a bounded load.
#[derive(Default)]
pub struct Load {
    pub latencies: Vec<Duration>,
    /// By outcome: "200", or "<status> <errorName>", or "transport".
    pub outcomes: BTreeMap<String, u64>,
    /// Decrypts that returned a plaintext other than the one encrypted (must stay 0).
    pub wrong: u64,
}

impl Load {
    pub fn ok(&self) -> u64 {
        self.outcomes.get("200").copied().unwrap_or(0)
    }

    pub fn failed(&self) -> u64 {
        self.outcomes.iter().filter(|(k, _)| k.as_str() != "200").map(|(_, v)| v).sum()
    }

    /// The q-quantile latency (nearest rank).
    pub fn quantile(&self, q: f64) -> Duration {
        let mut v = self.latencies.clone();
        v.sort();
        let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len().max(1));
        v.get(rank - 1).copied().unwrap_or_default()
    }

    pub fn max(&self) -> Duration {
        self.latencies.iter().max().copied().unwrap_or_default()
    }

    pub fn summary(&self) -> String {
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        format!(
            "{} requests, p50 {:.1} ms, p99 {:.1} ms, p99.9 {:.1} ms, max {:.1} ms, outcomes {:?}",
            self.latencies.len(),
            ms(self.quantile(0.5)),
            ms(self.quantile(0.99)),
            ms(self.quantile(0.999)),
            ms(self.max()),
            self.outcomes
        )
    }
}

/// `workers` KMS clients, each alternating Encrypt and a checked Decrypt of
/// what it encrypted, until `duration` has passed; every answer is judged.
pub async fn load(cluster: &Cluster, workers: usize, duration: Duration, key: &'static str) -> Load {
    let deadline = Instant::now() + duration;
    let mut tasks = Vec::new();
    for w in 0..workers {
        let mut c = cluster.client();
        tasks.push(tokio::spawn(async move {
            let mut l = Load::default();
            let mut i = 0u64;
            while Instant::now() < deadline {
                i += 1;
                let plaintext = format!("load-plaintext-{w}-{i}");
                let t0 = Instant::now();
                let (s, r) = c.encrypt(key, plaintext.as_bytes(), b"load-aad").await;
                l.latencies.push(t0.elapsed());
                *l.outcomes.entry(outcome(s, &r)).or_default() += 1;
                if s != 200 {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    continue;
                }
                let t0 = Instant::now();
                let (s, d) = c.decrypt(key, &r, b"load-aad").await;
                l.latencies.push(t0.elapsed());
                *l.outcomes.entry(outcome(s, &d)).or_default() += 1;
                if s == 200 && d["plaintext"].as_str() != Some(&B64.encode(plaintext.as_bytes())) {
                    l.wrong += 1;
                }
            }
            l
        }));
    }
    let mut all = Load::default();
    for t in tasks {
        let l = t.await.unwrap();
        all.latencies.extend(l.latencies);
        all.wrong += l.wrong;
        for (k, v) in l.outcomes {
            *all.outcomes.entry(k).or_default() += v;
        }
    }
    all
}

pub fn outcome(status: u16, answer: &serde_json::Value) -> String {
    match status {
        200 => "200".into(),
        0 => "transport".into(),
        s => format!("{s} {}", answer["errorName"].as_str().unwrap_or("?")),
    }
}

/// Asserts that no container log holds any of the plaintexts (raw or Base64).
pub async fn assert_logs_hold_none_of(cluster: &Cluster, secrets: &[&[u8]]) {
    let logs = cluster.logs().await;
    assert!(!logs.is_empty(), "no logs read");
    for s in secrets {
        let raw = String::from_utf8_lossy(s);
        assert!(!logs.contains(raw.as_ref()), "a log holds the plaintext {raw:?}");
        assert!(!logs.contains(&B64.encode(s)), "a log holds the Base64 plaintext of {raw:?}");
    }
}
