#!/usr/bin/env python3
"""Independent check of signed audit checkpoints (format version 1).

Written from docs/oversight.md ("Checkpoints") alone: the signed bytes are
rebuilt from each checkpoint's JSON fields, and the Ed25519 signature is
verified with the `cryptography` package (OpenSSL), not with the product's
AWS-LC. The key id must be the SHA-256 of the raw public key.

Usage: python3 tests/independent/checkpoint_check.py [FILE...]
(default: tests/vectors/audit/checkpoint-v1.json). A file holds
{"publicKeyPem": ..., "keyId": ..., "checkpoints": [...]}. Prints one line
per checkpoint and "N passed, 0 failed"; exits non-zero on the first mismatch.
"""
import hashlib
import json
import struct
import sys
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

DOMAIN = b"XKS-AUDIT-CHECKPOINT-V1"
REASONS = {"start", "interval", "rotation", "shutdown"}


def lp16(s: str) -> bytes:
    b = s.encode("utf-8")
    assert len(b) <= 0xFFFF, "a u16 length prefix bounds it"
    return struct.pack(">H", len(b)) + b


def signed_bytes(c: dict) -> bytes:
    assert c["v"] == 1, c["v"]
    assert c["reason"] in REASONS, c["reason"]
    for field in ("head", "keyId"):
        assert len(c[field]) == 64 and c[field] == c[field].lower(), field
    reason = c["reason"].encode()
    return (DOMAIN + b"\x00" + struct.pack(">Q", c["seq"]) + bytes.fromhex(c["head"])
            + lp16(c["time"]) + lp16(c["service"]) + lp16(c["build"])
            + bytes([len(reason)]) + reason + bytes.fromhex(c["keyId"]))


def check(path: Path) -> int:
    v = json.loads(path.read_text())
    key = serialization.load_pem_public_key(v["publicKeyPem"].encode())
    assert isinstance(key, Ed25519PublicKey), "an Ed25519 public key"
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    key_id = hashlib.sha256(raw).hexdigest()
    assert key_id == v["keyId"], (key_id, v["keyId"])
    checkpoints = v["checkpoints"]
    assert checkpoints, f"{path}: no checkpoints"
    for c in checkpoints:
        assert c["keyId"] == key_id, "names the key"
        message = signed_bytes(c)
        key.verify(bytes.fromhex(c["signature"]), message)
        # The signature covers every field: one changed byte fails it.
        altered = dict(c, seq=c["seq"] + 1)
        try:
            key.verify(bytes.fromhex(c["signature"]), signed_bytes(altered))
            raise AssertionError("an altered checkpoint verified")
        except InvalidSignature:
            pass
        print(f"ok   {path.name}: seq {c['seq']} ({c['reason']}) head {c['head'][:16]}…")
    return len(checkpoints)


def main() -> None:
    files = [Path(a) for a in sys.argv[1:]] or [Path(__file__).resolve().parents[1] / "vectors/audit/checkpoint-v1.json"]
    n = sum(check(f) for f in files)
    print(f"{n} passed, 0 failed")


if __name__ == "__main__":
    main()
