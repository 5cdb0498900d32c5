#!/usr/bin/env python3
"""Shows that tests/terraform/lint.py and scan.py catch what they claim to:
copies terraform/ and secrets/ to a temporary tree, makes one mistake at a
time and expects the finding that names it. Exit 1 if a mistake goes
unnoticed or the clean copy has findings."""

import json
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[1]

# (file under terraform/, text to replace, replacement, expected finding)
MISTAKES = [
    ("modules/xks-proxy-scaleway/main.tf", "https_connections_only = true", "https_connection_only = true",
     "no argument https_connection_only in the schema"),
    ("modules/xks-proxy-scaleway/main.tf", 'sandbox                = "v2"', 'public_endpoint        = "x"',
     "public_endpoint is read-only"),
    ("modules/xks-proxy-scaleway/main.tf", "namespace_id = scaleway_container_namespace.proxy.id", "",
     "required argument namespace_id is missing"),
    ("modules/xks-proxy-scaleway/main.tf", "scaleway_container.proxy.public_endpoint", "scaleway_container.proxy.endpoint",
     "scaleway_container.proxy.endpoint: no such attribute"),
    ("modules/xks-proxy-scaleway/main.tf", "var.concurrent_requests_threshold", "var.concurrency",
     "var.concurrency is not declared"),
    ("modules/xks-proxy-scaleway/main.tf", 'timeout           = "2s"', 'timeout_s         = "2s"',
     "no argument timeout_s in the schema"),
    ("modules/share-service-exoscale/main.tf", "exoscale_elastic_ip.share.ip_address", "exoscale_elastic_ip.share.address",
     "exoscale_elastic_ip.share.address: no such attribute"),
    ("modules/share-service-exoscale/main.tf", "  data_device        = \"/dev/vdb\"\n", "",
     "required variable data_device is not passed"),
    ("modules/share-service-exoscale/main.tf", "binary_sha256      = var.binary_sha256", "binary_sha256      = var.binary_sha256\n  binary_sha512      = var.binary_sha256",
     "has no variable binary_sha512"),
    ("modules/share-service-exoscale/outputs.tf", "exoscale_compute_instance.share.id", "module.host.instance",
     "module.host.instance: the module has no such output"),
    ("modules/aws-xks-key-store/versions.tf", 'version = "6.56.0"', 'version = ">= 6.0"',
     "is not pinned to one exact version"),
    ("modules/aws-xks-key-store/main.tf", "#checkov:skip=CKV_AWS_7:KMS cannot rotate keys in an external key store; rotation is xksctl rotate", "#checkov:skip=CKV_AWS_7",
     "a checkov skip needs a reason"),
    ("modules/aws-xks-key-store/main.tf", "data.aws_region.current.region", "data.aws_regions.current.region",
     "data.aws_regions.current is not declared"),
    ("modules/aws-xks-key-store/variables.tf", '  description = "Tags on the keys."\n', "",
     "variable tags has no description"),
    ("modules/aws-xks-key-store/README.md", "| `tags` |", "| `labels` |",
     "input and output tables differ"),
    ("envs/example/proxy/main.tf", '"${local.secrets}/holder-1/${f}"', '"${local.secrets}/holder-2/${f}"',
     "reads holder-2's files under secrets/"),
    ("envs/example/share-3/main.tf", 'fileset("${local.secrets}/holder-3", "*")', 'fileset("${local.secrets}/holder-2", "*")',
     "reads holder-2's files under secrets/"),
    ("envs/example/aws/main.tf", "data \"sops_file\" \"credential\" {",
     "data \"terraform_remote_state\" \"proxy\" {\n  backend = \"s3\"\n}\n\ndata \"sops_file\" \"credential\" {",
     "roots exchange only public files"),
    ("envs/example/aws/main.tf", '"${local.secrets}/aws/credential.sops.json"', '"${local.secrets}/pki/ca.key.sops"',
     "reads pki's files under secrets/"),
]


def scan_mistakes():
    """(file under the tree, text to replace, replacement, expected finding) for scan.py,
    made on the example environment (secrets/example, sealed to test-only identities)."""
    env = "secrets/example"
    people = json.loads((ROOT / env / "public" / "deployment.json").read_text())["recipients"]
    sealed = (ROOT / env / "aws" / "credential.sops.json").read_text()
    encrypted = re.search(r'"secret_access_key": ?"(ENC\[[^"]+)"', sealed).group(1)
    return [
        # A share holder's file sealed to holder 1's runtime identity instead of its own.
        (f"{env}/holder-2/server.key.sops", people["holder-2"]["runtime"][0], people["holder-1"]["runtime"][0],
         "expected holder-2's own recipients"),
        # A runtime identity sealed to the runtime identity itself (it must open for the offline one only).
        (f"{env}/holder-3/runtime.agekey.sops", people["holder-3"]["offline"][0], people["holder-3"]["runtime"][0],
         "expected holder-3's own recipients"),
        # The SigV4 secret in the clear.
        (f"{env}/aws/credential.sops.json", encrypted, "TESTONLYnotarealsecret",
         "unencrypted value at secret_access_key"),
        # A test-only age identity left in the clear in a holder's directory.
        (f"{env}/holder-2/share-service.toml", "listen =",
         (HERE.parent / "deploy" / "example-identities" / "holder-2.agekey").read_text() + "\nlisten =",
         "holds an age identity"),
    ]


def run_tool(tool, root):
    run = subprocess.run([sys.executable, str(HERE / tool), "--root", str(root)], capture_output=True, text=True)
    return run.returncode, run.stdout


def lint(root):
    return run_tool("lint.py", root)


def main():
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        tree = pathlib.Path(tmp) / "tree"
        shutil.copytree(ROOT / "terraform", tree / "terraform")
        shutil.copytree(ROOT / "secrets", tree / "secrets")
        for tool in ("lint.py", "scan.py"):
            code, out = run_tool(tool, tree)
            if code != 0:
                print(f"the clean copy has {tool} findings:\n" + out)
                return 1
        cases = [("lint.py", f"terraform/{rel}", old, new, expected) for rel, old, new, expected in MISTAKES]
        cases += [("scan.py", rel, old, new, expected) for rel, old, new, expected in scan_mistakes()]
        for tool, rel, old, new, expected in cases:
            if expected is None:
                continue
            path = tree / rel
            original = path.read_text()
            if old not in original:
                print(f"selftest is stale: {rel} no longer holds {old!r}")
                failures += 1
                continue
            path.write_text(original.replace(old, new, 1))
            code, out = run_tool(tool, tree)
            path.write_text(original)
            if code == 0 or expected not in out:
                print(f"NOT CAUGHT: {rel}: {old!r} -> {new!r} (expected {expected!r})\n{out}")
                failures += 1
        total = len([c for c in cases if c[4]])
    print(f"terraform lint and secret scan selftest: {total - failures} of {total} mistakes caught")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
