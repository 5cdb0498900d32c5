#!/usr/bin/env python3
"""No plaintext secret under terraform/ or secrets/ (docs/deploy/checks.md).

Looks in every file for key material as it is written when it is not sealed:
age X25519 identities, PEM private keys, and sops-shaped files whose values
are not encrypted. Sealed (sops) files, public keys and certificates pass.
And, for every environment under secrets/ (a directory with public/deployment.json,
as `xksctl env new` lays it out), whom each sealed file opens for: a file of
holder-N/ exactly holder N's runtime and offline recipients, holder-N's runtime
identity exactly its offline recipients, pki/ the CA operator's, aws/ the AWS
operator's, and no sealed file elsewhere. Recipients are read from the sops
metadata; no identity is needed.
Exit 1 naming each file and what it holds."""

import json
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
if "--root" in sys.argv:
    ROOT = pathlib.Path(sys.argv[sys.argv.index("--root") + 1]).resolve()

PATTERNS = {
    "an age identity": re.compile(r"AGE-SECRET-KEY-1[02-9AC-HJ-NP-Z]{58}"),
    "a PEM private key": re.compile(r"-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----\s*[A-Za-z0-9+/=]{16}"),
    "an AWS secret access key": re.compile(r"(?i)(?:secret_access_key|secretAccessKey|raw_secret_access_key)\s*[=:]\s*\"?[A-Za-z0-9/+=]{40,}"),
}


def unencrypted_sops_values(path, text):
    """Values of a sops JSON or YAML file that are not ENC[...] where they should be."""
    if path.name == ".sops.yaml" or not re.search(r"\.sops(\.[a-z]+)?$", path.name):
        return []
    if path.suffix == ".json" or path.name.endswith(".sops"):
        try:
            doc = json.loads(text)
        except ValueError:
            return ["not a sops JSON document"]
        if not isinstance(doc, dict) or "sops" not in doc:
            return ["no sops metadata"]
        rule = doc["sops"].get("encrypted_regex")
        bad = []

        def walk(node, keys):
            if isinstance(node, dict):
                for k, v in node.items():
                    if keys == [] and k == "sops":
                        continue
                    walk(v, keys + [k])
            elif isinstance(node, list):
                for v in node:
                    walk(v, keys)
            elif isinstance(node, str) and node and not node.startswith("ENC["):
                if rule is None or any(re.search(rule, k) for k in keys):
                    bad.append(".".join(keys))

        walk(doc, [])
        return [f"unencrypted value at {k}" for k in bad]
    if "sops:" not in text:
        return ["no sops metadata"]
    return []


def sealed_recipients(text):
    """The age recipients in a sops JSON document's metadata (None: not one)."""
    try:
        doc = json.loads(text)
    except ValueError:
        return None
    if not isinstance(doc, dict) or not isinstance(doc.get("sops"), dict):
        return None
    return sorted(stanza.get("recipient", "") for stanza in doc["sops"].get("age") or [])


def environment_findings(env):
    """Sealed files of one environment whose recipients are not their owner's."""
    deployment = json.loads((env / "public" / "deployment.json").read_text())
    people = deployment["recipients"]
    expected = {"pki": sorted(people["pki"]), "aws": sorted(people["aws"])}
    for holder in ("holder-1", "holder-2", "holder-3"):
        expected[holder] = sorted(people[holder]["runtime"] + people[holder]["offline"])
    findings = []
    for path in sorted(env.rglob("*")):
        if not path.is_file() or not re.search(r"\.sops(\.[a-z]+)?$", path.name):
            continue
        rel = path.relative_to(env)
        owner = rel.parts[0]
        want = expected.get(owner)
        if owner.startswith("holder-") and path.name == "runtime.agekey.sops":
            want = sorted(people[owner]["offline"])
        got = sealed_recipients(path.read_text(errors="replace"))
        if want is None:
            findings.append(f"{path.relative_to(ROOT)}: a sealed file outside holder-N/, pki/ and aws/")
        elif got != want:
            findings.append(f"{path.relative_to(ROOT)}: sealed to {got}, expected {owner}'s own recipients {want}")
    return findings


def main():
    findings = []
    files = 0
    for top in ("terraform", "secrets"):
        for path in sorted((ROOT / top).rglob("*")):
            if not path.is_file() or ".terraform" in path.parts:
                continue
            files += 1
            text = path.read_text(errors="replace")
            for what, pattern in PATTERNS.items():
                if pattern.search(text):
                    findings.append(f"{path.relative_to(ROOT)}: holds {what}")
            for problem in unencrypted_sops_values(path, text):
                findings.append(f"{path.relative_to(ROOT)}: {problem}")
    envs = sorted(d.parent.parent for d in (ROOT / "secrets").glob("*/public/deployment.json"))
    for env in envs:
        findings.extend(environment_findings(env))
    for line in findings:
        print(line)
    print(f"sealed to their owners: {len(envs)} environment(s) under secrets/ checked")
    print(f"secret scan: {files} files under terraform/ and secrets/, {len(findings)} findings")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
