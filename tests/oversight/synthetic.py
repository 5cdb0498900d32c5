#!/usr/bin/env python3
"""Synthetic inputs for measuring `xksctl audit reconcile` (docs/oversight.md).

Writes, for `--seconds` of traffic at `--rate` KMS requests per second:
- a partner audit directory (`audit/audit-000001.jsonl`, records in the
  share service's format, one partial per request, plus one health-check
  partial per 20 s; the hash chain is not computed: reconcile does not read it),
- CloudTrail files as delivered to S3: one gzipped `{"Records": [...]}` per
  five minutes, records shaped like AWS's external-key-store example, in a
  shuffled order within each file as CloudTrail writes them,
- and one partial without a KMS request in the middle (the finding to find).

Usage: python3 tests/oversight/synthetic.py --rate 1800 --seconds 3600 --out DIR
"""
import argparse
import gzip
import json
import random
from datetime import datetime, timedelta, timezone
from pathlib import Path


def iso(t):
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rate", type=int, default=1800)
    ap.add_argument("--seconds", type=int, default=3600)
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args()
    rng = random.Random(7)
    start = datetime(2026, 11, 1, tzinfo=timezone.utc)
    audit_dir = a.out / "audit"
    trail_dir = a.out / "AWSLogs/111122223333/CloudTrail/eu-west-1"
    audit_dir.mkdir(parents=True, exist_ok=True)
    trail_dir.mkdir(parents=True, exist_ok=True)
    total = a.rate * a.seconds
    rogue_at = total // 2
    seq = 0
    batch = []
    with open(audit_dir / "audit-000001.jsonl", "w") as audit:
        for n in range(total):
            t = start + timedelta(microseconds=n * 1_000_000 // a.rate)
            rid = f"{n:08x}-2048-41f8-b6cc-382b7857ec61"
            key = f"key-{n % 100}"
            ct = {"eventVersion": "1.08",
                  "userIdentity": {"type": "IAMUser", "arn": f"arn:aws:iam::111122223333:user/app-{n % 7}"},
                  "eventTime": t.strftime("%Y-%m-%dT%H:%M:%SZ"), "eventSource": "kms.amazonaws.com",
                  "eventName": "Decrypt" if n % 3 else "GenerateDataKey", "awsRegion": "eu-west-1",
                  "additionalEventData": {"customKeyStoreId": "cks-1234567890abcdef0", "xksKeyId": key},
                  "requestID": rid, "eventID": rid, "readOnly": True, "eventType": "AwsApiCall",
                  "managementEvent": True, "recipientAccountId": "111122223333", "eventCategory": "Management"}
            batch.append(ct)
            pt = t + timedelta(milliseconds=20)
            records = [(pt, rid, f"tenant/{key}")]
            if n == rogue_at:
                records.append((pt, "rogue-request", "tenant/key-1"))
            if n % (a.rate * 20) == 0:
                records.append((pt, f"health-{n}", "xks-proxy/health-check"))
            for when, req, path in records:
                seq += 1
                audit.write(json.dumps({"v": 1, "seq": seq, "time": iso(when), "kind": "partial", "requestId": req,
                                        "client": "spiffe://xks/proxy", "keyPath": path, "generation": 1, "epoch": 0,
                                        "set": "1,2", "proof": False, "outcome": "ok", "latencyUs": 80,
                                        "prev": "0" * 64}, separators=(",", ":")) + "\n")
            if (n + 1) % (a.rate * 300) == 0 or n + 1 == total:
                rng.shuffle(batch)
                name = f"111122223333_CloudTrail_eu-west-1_{t.strftime('%Y%m%dT%H%MZ')}_{n:010d}.json.gz"
                with gzip.open(trail_dir / name, "wt") as f:
                    json.dump({"Records": batch}, f)
                batch = []
    print(f"{total} KMS requests, {seq} audit records, 1 rogue partial, in {a.out}")


if __name__ == "__main__":
    main()
