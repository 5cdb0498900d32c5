//! `xksctl env new`: an environment laid out for the Terraform roots, every
//! secret opening for exactly the holder (or operator) it belongs to, the
//! configurations accepted by the services' own loaders, and the separation
//! rules refused when broken.

use std::path::{Path, PathBuf};

use crate::common::*;

/// Offline identities of the holders and operators of a test environment.
struct People {
    dir: PathBuf,
}

impl People {
    fn new(dir: &Path) -> Self {
        let dir = dir.join("people");
        std::fs::create_dir_all(&dir).unwrap();
        for who in ["holder-1", "holder-2", "holder-3", "pki", "aws"] {
            ok(&["secrets", "keygen", "-o", &p(&dir.join(format!("{who}.agekey")))]);
        }
        Self { dir }
    }

    /// The committed test-only identities of the example environment.
    fn example() -> Self {
        Self { dir: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/deploy/example-identities") }
    }

    fn identity(&self, who: &str) -> PathBuf {
        self.dir.join(format!("{who}.agekey"))
    }

    fn recipient(&self, who: &str) -> String {
        let ids = xks_sops::Identities::parse(&std::fs::read_to_string(self.identity(who)).unwrap()).unwrap();
        ids.recipients()[0].to_string()
    }

    fn args(&self, env_dir: &Path, pki: &str, aws: &str) -> Vec<String> {
        let mut a = vec!["env".to_owned(), "new".to_owned(), p(env_dir)];
        for h in 1..=3 {
            a.push("--holder".into());
            a.push(format!("{h}={}", self.recipient(&format!("holder-{h}"))));
        }
        a.extend(["--pki-operator".into(), self.recipient(pki), "--aws-operator".into(), self.recipient(aws)]);
        a.extend(["--proxy-host".into(), "xks.example.eu".into(), "--share".into(), "2=share-2.example.ch".into()]);
        a.extend(["--share".into(), "3=share-3.example.de:9444".into(), "--key".into(), "s3-data".into()]);
        a
    }
}

fn run(args: &[String]) -> (i32, String, String) {
    cli(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

/// Whether `identity` opens `file`.
fn opens(file: &Path, identity: &Path) -> bool {
    cli(&["secrets", "unseal", &p(file), "-i", &p(identity)]).0 == 0
}

#[test]
fn env_new_seals_every_secret_to_its_own_holder_only() {
    let dir = test_dir("env-new");
    let people = People::new(&dir);
    let secrets = dir.join("secrets");
    let env = secrets.join("example");
    let out = String::from_utf8(
        std::process::Command::new(env!("CARGO_BIN_EXE_xksctl"))
            .args(people.args(&env, "pki", "aws"))
            .env_remove("SOPS_AGE_KEY_FILE")
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    assert!(out.contains("environment example laid out"), "{out}");

    for h in 1..=3 {
        assert!(out.contains(&format!("holder {h}: runtime recipient age1")), "{out}");
    }
    check_environment(&env, &people, &dir);
    let deployment: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(env.join("public/deployment.json")).unwrap()).unwrap();
    assert_eq!(deployment["proxy"]["uri_path"], "/keystores/example/kms/xks/v1");
    assert_eq!(deployment["shares"][1]["port"], 9444);

    // A second environment adds its block; the same one again is refused and nothing is written.
    let staging = secrets.join("staging");
    run_ok(&people.args(&staging, "pki", "aws"));
    let rules = std::fs::read_to_string(secrets.join(".sops.yaml")).unwrap();
    assert!(rules.contains("# environment example,") && rules.contains("# environment staging,"));
    let (code, _, err) = run(&people.args(&staging, "pki", "aws"));
    assert_eq!(code, 1);
    assert!(err.contains("made once"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Every sealed file of the environment opens for exactly the holder or
/// operator it belongs to (the MAC verified on every opening), each share
/// belongs to the key set, the AWS credential is the proxy's, public files
/// hold nothing secret, the configurations load, and `.sops.yaml` names each
/// file's recipients.
fn check_environment(env: &Path, people: &People, scratch: &Path) {
    // Each holder's runtime identity opens for that holder's offline identity only.
    let everyone = ["holder-1", "holder-2", "holder-3", "pki", "aws"];
    let mut runtime = Vec::new();
    for h in 1..=3 {
        let sealed = env.join(format!("holder-{h}/runtime.agekey.sops"));
        for who in everyone {
            assert_eq!(opens(&sealed, &people.identity(who)), who == format!("holder-{h}"), "{} for {who}", sealed.display());
        }
        let plain = scratch.join(format!("runtime-{h}.agekey"));
        ok(&["secrets", "unseal", &p(&sealed), "-i", &p(&people.identity(&format!("holder-{h}"))), "-o", &p(&plain)]);
        runtime.push(plain);
    }

    // Every other sealed file of a holder opens for that holder (runtime and offline) and nobody else.
    for h in 1..=3usize {
        let holder_dir = env.join(format!("holder-{h}"));
        let mut sealed: Vec<PathBuf> = std::fs::read_dir(&holder_dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|f| f.to_string_lossy().contains(".sops") && !f.ends_with("runtime.agekey.sops"))
            .collect();
        sealed.sort();
        assert_eq!(sealed.len(), 3, "{sealed:?}");
        for f in &sealed {
            assert!(opens(f, &runtime[h - 1]), "{} for holder {h}'s runtime identity", f.display());
            for (i, other) in runtime.iter().enumerate() {
                assert_eq!(opens(f, other), i + 1 == h, "{} for runtime {}", f.display(), i + 1);
            }
            for who in everyone {
                assert_eq!(opens(f, &people.identity(who)), who == format!("holder-{h}"), "{} for {who}", f.display());
            }
        }
        // The share belongs to the public key set.
        let share = holder_dir.join(format!("share-{h}-g1-e0.sops.json"));
        ok(&["share", "verify", &p(&share), "--key-set", &p(&env.join("public/keyset-g1-e0.json")), "-i", &p(&runtime[h - 1])]);
    }
    for (file, owner) in [("pki/ca.key.sops", "pki"), ("aws/credential.sops.json", "aws")] {
        for who in everyone {
            assert_eq!(opens(&env.join(file), &people.identity(who)), who == owner, "{file} for {who}");
        }
    }

    // The AWS credential is the proxy's credential; only its secret is encrypted.
    let aws = ok(&["secrets", "unseal", &p(&env.join("aws/credential.sops.json")), "-i", &p(&people.identity("aws"))]);
    let aws: serde_json::Value = serde_json::from_str(&aws).unwrap();
    let proxy = ok(&["secrets", "unseal", &p(&env.join("holder-1/credentials.sops")), "-i", &p(&runtime[0])]);
    let creds = xks_wire::xks::credentials::parse(&proxy)
        .unwrap()
        .into_iter()
        .map(|c| (c.access_key_id.to_string(), c.secret_access_key))
        .collect::<Vec<_>>();
    assert_eq!(creds[0].0, aws["access_key_id"].as_str().unwrap());
    assert_eq!(creds[0].1.expose(), aws["secret_access_key"].as_str().unwrap());
    let sealed_aws = std::fs::read_to_string(env.join("aws/credential.sops.json")).unwrap();
    assert!(sealed_aws.contains(aws["access_key_id"].as_str().unwrap()) && !sealed_aws.contains(creds[0].1.expose()));

    // Public files hold nothing secret.
    for e in std::fs::read_dir(env.join("public")).unwrap() {
        let text = std::fs::read_to_string(e.unwrap().path()).unwrap();
        assert!(!text.contains("AGE-SECRET-KEY") && !text.contains("PRIVATE KEY") && !text.contains(creds[0].1.expose()));
    }
    let deployment: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(env.join("public/deployment.json")).unwrap()).unwrap();
    assert_eq!(deployment["proxy"]["access_key_id"], aws["access_key_id"]);

    configurations_load_through_the_services_own_loaders(env, scratch);
    sops_rules_name_each_holders_recipients_only(env);
}

fn run_ok(args: &[String]) {
    let (code, out, err) = run(args);
    assert_eq!(code, 0, "{out}\n{err}");
}

/// The proxy's bundle (holder-1 + the public files it names) and a share
/// service's files load through the services' own configuration loaders.
fn configurations_load_through_the_services_own_loaders(env: &Path, dir: &Path) {
    let bundle = dir.join(format!("bundle-{}", env.file_name().unwrap().to_string_lossy()));
    std::fs::create_dir_all(&bundle).unwrap();
    for f in ["xks-proxy.toml", "key-stores.toml", "credentials.sops", "client.key.sops", "share-1-g1-e0.sops.json"] {
        std::fs::copy(env.join("holder-1").join(f), bundle.join(f)).unwrap();
    }
    for f in ["keyset-g1-e0.json", "ca.crt", "proxy-client.crt"] {
        std::fs::copy(env.join("public").join(f), bundle.join(f)).unwrap();
    }
    let cfg = xks_config::proxy::Config::load(&bundle.join("xks-proxy.toml")).unwrap();
    assert_eq!(cfg.partners.len(), 2);
    assert_eq!(cfg.partners[0].server_name.as_deref(), Some("share-2.example.ch"));
    assert!(cfg.secrets.age_identity_file.is_none(), "the proxy's identity comes from SOPS_AGE_KEY");
    for (_, path) in [("key set", &cfg.shares.key_sets[0]), ("share", &cfg.shares.share_files[0]), ("ca", &cfg.partner_tls.ca)] {
        assert!(path.is_file(), "{} is not in the bundle", path.display());
    }
    assert!(cfg.partner_tls.client_cert.is_file() && cfg.partner_tls.client_key.is_file() && cfg.key_stores.is_file());

    for h in [2, 3] {
        let cfg = xks_config::share::Config::load(&env.join(format!("holder-{h}/share-service.toml"))).unwrap();
        assert_eq!(cfg.secrets.age_identity_file.as_deref(), Some(Path::new("/etc/share-service/runtime.agekey")));
        assert_eq!(cfg.audit.dir, Path::new("/var/lib/share-service/audit"));
    }
}

/// `.sops.yaml`: for every file of the environment, the first rule whose
/// path_regex matches (as sops does) names exactly the recipients the file is sealed to.
fn sops_rules_name_each_holders_recipients_only(env: &Path) {
    let secrets = env.parent().unwrap();
    let text = std::fs::read_to_string(secrets.join(".sops.yaml")).unwrap();
    let yaml = xks_sops::Node::from_yaml(&text).unwrap();
    let Some(xks_sops::Node::Seq(rules)) = yaml.get("creation_rules") else { panic!("no creation_rules") };
    let mut checked = 0;
    for entry in walk(env) {
        let rel = entry.strip_prefix(secrets).unwrap().to_string_lossy().into_owned();
        if !rel.contains(".sops") {
            continue;
        }
        let rule = rules
            .iter()
            .find(|r| {
                let re = r.get("path_regex").and_then(xks_sops::Node::as_str).unwrap();
                regex_lite_match(re, &rel)
            })
            .unwrap_or_else(|| panic!("no rule for {rel}"));
        let mut want: Vec<String> = rule.get("age").and_then(xks_sops::Node::as_str).unwrap().split(',').map(str::to_owned).collect();
        want.sort();
        let mut got: Vec<String> = ok(&["secrets", "recipients", &p(&entry)]).lines().map(str::to_owned).collect();
        got.sort();
        assert_eq!(got, want, "{rel}");
        checked += 1;
    }
    assert_eq!(checked, 14, "three runtime identities, nine holder files, the CA key, the AWS credential");
}

/// The regexes `xksctl env new` writes: `(^|/)<env>/<dir>/[<file>]`, with `\.`
/// and an optional `(\.sops)?$` tail; matched here without a regex engine.
fn regex_lite_match(re: &str, path: &str) -> bool {
    let body = re.strip_prefix("(^|/)").unwrap();
    let (body, anchored) = match body.strip_suffix("(\\.sops)?$") {
        Some(b) => (b.replace("\\.", "."), true),
        None => (body.replace("\\.", "."), false),
    };
    let candidates = std::iter::once(path.to_owned()).chain(path.match_indices('/').map(|(i, _)| path[i + 1..].to_owned()));
    candidates.into_iter().any(|c| if anchored { c == body || c == format!("{body}.sops") } else { c.starts_with(&body) })
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let path = e.unwrap().path();
        if path.is_dir() { out.extend(walk(&path)) } else { out.push(path) }
    }
    out.sort();
    out
}

#[test]
fn env_new_refuses_a_share_holder_as_ca_or_aws_operator_and_writes_nothing() {
    let dir = test_dir("env-refusals");
    let people = People::new(&dir);
    let env = dir.join("secrets/prod");
    for (pki, aws, expect) in [("holder-2", "aws", "--pki-operator"), ("pki", "holder-3", "--aws-operator")] {
        let (code, _, err) = run(&people.args(&env, pki, aws));
        assert_eq!(code, 1);
        assert!(err.contains(expect) && err.contains("share holder"), "{err}");
    }
    // A holder missing, a holder's recipient given to another, an unknown share, a bad name.
    let mut a = people.args(&env, "pki", "aws");
    a.drain(3..5);
    assert!(run(&a).2.contains("--holder 1=age1… is missing"));
    let mut a = people.args(&env, "pki", "aws");
    a[8] = format!("3={}", people.recipient("holder-2"));
    assert!(run(&a).2.contains("share a recipient"));
    let mut a = people.args(&env, "pki", "aws");
    a.extend(["--share".into(), "4=share-4.example.net".into()]);
    assert!(run(&a).2.contains("holders 2 and 3"));
    assert!(run(&people.args(&dir.join("secrets/Prod"), "pki", "aws")).2.contains("environment name"));
    assert!(!dir.join("secrets").exists(), "nothing written");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The committed example environment (secrets/example) is what `xksctl env new`
/// makes, sealed to the test-only identities in tests/deploy/example-identities.
#[test]
fn the_committed_example_environment_opens_for_its_own_holders_only() {
    let dir = test_dir("env-example");
    let env = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../secrets/example");
    check_environment(&env, &People::example(), &dir);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The fail-over and SigV4 rotation runbooks' steps of holder 1
/// (docs/deploy/runbooks.md): partners reordered in the proxy's configuration,
/// a second credential added for the proxy and sealed to the AWS operator, the
/// old one retired; recipients and every other setting unchanged.
#[test]
fn env_partners_and_credential_rotation_keep_each_file_with_its_owner() {
    let dir = test_dir("env-runbooks");
    let people = People::new(&dir);
    let env = dir.join("secrets/example");
    run_ok(&people.args(&env, "pki", "aws"));
    let h1 = p(&people.identity("holder-1"));
    let e = p(&env);

    // Fail-over: share 3 first, then share 3 only; unknown or repeated shares refused.
    ok(&["env", "partners", &e, "--order", "3,2"]);
    let text = std::fs::read_to_string(env.join("holder-1/xks-proxy.toml")).unwrap();
    assert!(text.starts_with("# XKS proxy (holder 1)"), "{text}");
    let bundle_cfg = |name: &str| {
        let b = dir.join(name);
        std::fs::create_dir_all(&b).unwrap();
        std::fs::copy(env.join("holder-1/xks-proxy.toml"), b.join("xks-proxy.toml")).unwrap();
        std::fs::write(b.join("key-stores.toml"), "").unwrap();
        xks_config::proxy::Config::load(&b.join("xks-proxy.toml")).unwrap()
    };
    let cfg = bundle_cfg("order-32");
    assert_eq!(cfg.partners.iter().map(|p| p.holder).collect::<Vec<_>>(), [3, 2]);
    assert_eq!(cfg.partners[0].address, "share-3.example.de:9444");
    assert_eq!(cfg.front.server_names, ["xks.example.eu"], "other settings stay");
    ok(&["env", "partners", &e, "--order", "3"]);
    assert_eq!(bundle_cfg("order-3").partners.len(), 1);
    assert!(cli(&["env", "partners", &e, "--order", "4"]).2.contains("share 4 is not in this environment"));
    assert!(cli(&["env", "partners", &e, "--order", "2,2"]).2.contains("twice"));
    ok(&["env", "partners", &e, "--order", "2,3"]);

    // SigV4 rotation: a second credential, sealed as before and to the AWS operator.
    let creds_file = env.join("holder-1/credentials.sops");
    let recipients_before = ok(&["secrets", "recipients", &p(&creds_file)]);
    let old_id = deployment(&env)["proxy"]["access_key_id"].as_str().unwrap().to_owned();
    ok(&["env", "credential", "rotate", &e, "-i", &h1]);
    let creds = proxy_credentials(&creds_file, &people);
    assert_eq!(creds.len(), 2);
    assert_eq!(creds[0].0, old_id);
    let new_id = deployment(&env)["proxy"]["access_key_id"].as_str().unwrap().to_owned();
    assert_eq!(creds[1].0, new_id);
    assert_eq!(ok(&["secrets", "recipients", &p(&creds_file)]), recipients_before);
    let aws: serde_json::Value =
        serde_json::from_str(&ok(&["secrets", "unseal", &p(&env.join("aws/credential.sops.json")), "-i", &p(&people.identity("aws"))]))
            .unwrap();
    assert_eq!(aws["access_key_id"], new_id.as_str());
    assert_eq!(aws["secret_access_key"], creds[1].1.expose());
    assert!(!opens(&env.join("aws/credential.sops.json"), &people.identity("holder-1")));
    assert!(cli(&["env", "credential", "rotate", &e, "-i", &h1]).2.contains("already holds two credentials"));

    // Retire: only the credential deployment.json names stays.
    ok(&["env", "credential", "retire", &e, "-i", &h1]);
    let creds = proxy_credentials(&creds_file, &people);
    assert_eq!(creds.iter().map(|c| c.0.as_str()).collect::<Vec<_>>(), [new_id.as_str()]);
    assert!(cli(&["env", "credential", "retire", &e, "-i", &h1]).2.contains("nothing to retire"));
    assert!(
        cli(&["env", "credential", "rotate", &e, "-i", &p(&people.identity("holder-2"))]).0 != 0,
        "holder 2 cannot open holder 1's file"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

fn deployment(env: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(env.join("public/deployment.json")).unwrap()).unwrap()
}

fn proxy_credentials(file: &Path, people: &People) -> Vec<(String, xks_wire::xks::SecretAccessKey)> {
    let text = ok(&["secrets", "unseal", &p(file), "-i", &p(&people.identity("holder-1"))]);
    xks_wire::xks::credentials::parse(&text)
        .unwrap()
        .into_iter()
        .map(|c| (c.access_key_id.to_string(), c.secret_access_key))
        .collect::<Vec<_>>()
}

/// The TLS renewal runbook's step of the CA operator: a new key and certificate
/// from the environment's CA, the key sealed to its holder as before; nobody
/// but the CA operator can do it.
#[test]
fn env_renew_certificate_issues_from_the_ca_and_seals_the_key_to_its_holder() {
    let dir = test_dir("env-renew");
    let people = People::new(&dir);
    let env = dir.join("secrets/example");
    run_ok(&people.args(&env, "pki", "aws"));
    let e = p(&env);
    let read = |f: &str| std::fs::read_to_string(env.join(f)).unwrap();
    for (target, cert, key, owner, name) in [
        ("share-2", "public/share-2.crt", "holder-2/server.key.sops", "holder-2", "share-2.example.ch"),
        ("proxy-client", "public/proxy-client.crt", "holder-1/client.key.sops", "holder-1", "xks-proxy"),
    ] {
        let (cert_before, key_before) = (read(cert), read(key));
        let recipients = ok(&["secrets", "recipients", &p(&env.join(key))]);
        let out = ok(&["env", "renew-certificate", &e, "--for", target, "--days", "200", "-i", &p(&people.identity("pki"))]);
        assert!(out.contains("renewed"), "{out}");
        assert_ne!(read(cert), cert_before);
        assert_ne!(read(key), key_before);
        assert_eq!(ok(&["secrets", "recipients", &p(&env.join(key))]), recipients);
        assert!(opens(&env.join(key), &people.identity(owner)));
        let shown = ok(&["pki", "show", &p(&env.join(cert))]);
        assert!(shown.contains(name), "{shown}");
    }
    for who in ["holder-1", "holder-2", "aws"] {
        let (code, _, _) = cli(&["env", "renew-certificate", &e, "--for", "share-3", "-i", &p(&people.identity(who))]);
        assert_eq!(code, 1, "{who} cannot open the CA key");
    }
    check_environment(&env, &people, &dir);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The refresh runbook in the environment's layout: one contribution (the
/// dealer variant) with deltas sealed to the holders' offline recipients, every
/// holder applies it and gets the same key set, and `env shares` points a share
/// service at both epochs and the proxy at the new one.
#[test]
fn a_refresh_in_the_environment_layout_then_env_shares() {
    let dir = test_dir("env-refresh");
    let people = People::new(&dir);
    let env = dir.join("secrets/example");
    run_ok(&people.args(&env, "pki", "aws"));
    let e = p(&env);
    let ks0 = p(&env.join("public/keyset-g1-e0.json"));
    let refresh = dir.join("refresh");
    let mut args: Vec<String> = ["refresh", "contribute", "--key-set", &ks0, "--from", "1", "-o", &p(&refresh)].map(str::to_owned).to_vec();
    for h in 1..=3 {
        args.extend(["--holder".to_owned(), format!("{h}={}", people.recipient(&format!("holder-{h}")))]);
    }
    run_ok(&args);
    let mut digests = Vec::new();
    for h in 1..=3 {
        let out_dir = dir.join(format!("out-{h}"));
        let out = ok(&[
            "refresh",
            "apply",
            "--key-set",
            &ks0,
            "--share",
            &p(&env.join(format!("holder-{h}/share-{h}-g1-e0.sops.json"))),
            "-i",
            &p(&people.identity(&format!("holder-{h}"))),
            "--contribution",
            &p(&refresh.join("refresh-g1-e0-from-1.json")),
            "--delta",
            &p(&refresh.join(format!("refresh-g1-e0-from-1-to-{h}.sops.json"))),
            "-o",
            &p(&out_dir),
        ]);
        digests.push(out.lines().find(|l| l.starts_with("key set digest")).unwrap().to_owned());
        let share = format!("holder-{h}/share-{h}-g1-e1.sops.json");
        std::fs::rename(out_dir.join(format!("share-{h}-g1-e1.sops.json")), env.join(&share)).unwrap();
        let old = format!("holder-{h}/share-{h}-g1-e0.sops.json");
        assert_eq!(
            ok(&["secrets", "recipients", &p(&env.join(&share))]),
            ok(&["secrets", "recipients", &p(&env.join(&old))]),
            "the new share keeps its holder's recipients"
        );
        if h == 1 {
            std::fs::rename(out_dir.join("keyset-g1-e1.json"), env.join("public/keyset-g1-e1.json")).unwrap();
        }
    }
    assert!(digests.windows(2).all(|w| w[0] == w[1]), "{digests:?}");

    ok(&["env", "shares", &e, "--holder", "2", "--key-set", "keyset-g1-e0.json", "--key-set", "keyset-g1-e1.json"]);
    let share_cfg = xks_config::share::Config::load(&env.join("holder-2/share-service.toml")).unwrap();
    assert_eq!(share_cfg.shares.share_files.len(), 2);
    assert!(share_cfg.shares.share_files[1].ends_with("share-2-g1-e1.sops.json"));
    assert_eq!(share_cfg.audit.dir, Path::new("/var/lib/share-service/audit"), "other settings stay");

    ok(&["env", "shares", &e, "--holder", "1", "--key-set", "keyset-g1-e1.json"]);
    let text = std::fs::read_to_string(env.join("holder-1/xks-proxy.toml")).unwrap();
    assert!(text.contains("share-1-g1-e1.sops.json") && !text.contains("share-1-g1-e0.sops.json"), "{text}");
    assert!(text.starts_with("# XKS proxy (holder 1)"));

    for (args, expect) in [
        (vec!["--holder", "2", "--key-set", "keyset-g1-e2.json"], "public/keyset-g1-e2.json does not exist"),
        (vec!["--holder", "2", "--key-set", "keys.json"], "expected keyset-g<G>-e<E>.json"),
        (vec!["--holder", "4", "--key-set", "keyset-g1-e1.json"], "holders are 1, 2 and 3"),
        (vec!["--holder", "3", "--key-set", "keyset-g1-e1.json", "--key-set", "keyset-g1-e1.json"], "twice"),
    ] {
        let mut a = vec!["env", "shares", e.as_str()];
        a.extend(args);
        let (code, _, err) = cli(&a);
        assert_eq!(code, 1);
        assert!(err.contains(expect), "{err}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
