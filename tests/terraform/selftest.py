#!/usr/bin/env python3
"""Shows that tests/terraform/lint.py catches what it claims to: copies
terraform/ to a temporary tree, makes one mistake at a time and expects the
finding that names it. Exit 1 if a mistake goes unnoticed or the clean copy
has findings."""

import pathlib
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
]


def lint(root):
    run = subprocess.run([sys.executable, str(HERE / "lint.py"), "--root", str(root)], capture_output=True, text=True)
    return run.returncode, run.stdout


def main():
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        tree = pathlib.Path(tmp) / "tree"
        shutil.copytree(ROOT / "terraform", tree / "terraform")
        code, out = lint(tree)
        if code != 0:
            print("the clean copy has findings:\n" + out)
            return 1
        for rel, old, new, expected in MISTAKES:
            if expected is None:
                continue
            path = tree / "terraform" / rel
            original = path.read_text()
            if old not in original:
                print(f"selftest is stale: {rel} no longer holds {old!r}")
                failures += 1
                continue
            path.write_text(original.replace(old, new, 1))
            code, out = lint(tree)
            path.write_text(original)
            if code == 0 or expected not in out:
                print(f"NOT CAUGHT: {rel}: {old!r} -> {new!r} (expected {expected!r})\n{out}")
                failures += 1
    caught = len([m for m in MISTAKES if m[3]]) - failures
    print(f"terraform lint selftest: {caught} of {len([m for m in MISTAKES if m[3]])} mistakes caught")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
