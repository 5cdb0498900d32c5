#!/usr/bin/env python3
"""Independent re-derivation of the format-v1 known-answer vectors.

Written from docs/crypto.md alone (section numbers below refer to it), in another
language than the product, with no elliptic-curve library: P-256 arithmetic,
RFC 9380 hash-to-curve, RFC 9497 proofs, HKDF and the XKS envelope rules are
re-implemented here. Only AES-GCM comes from the `cryptography` package.

Usage: python3 tests/independent/kat_check.py [tests/vectors/kat/xks-threshold-v1.json]
Prints one line per checked value group and a final "N passed, 0 failed" line;
exits non-zero on the first mismatch.
"""
import hashlib
import hmac
import json
import sys
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

# --- P-256 (SEC 2 / FIPS 186) ------------------------------------------------
P = 0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF
N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
A = P - 3
B = 0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B
G = (0x6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296,
     0x4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5)
INF = None


def add(p1, p2):
    if p1 is INF:
        return p2
    if p2 is INF:
        return p1
    (x1, y1), (x2, y2) = p1, p2
    if x1 == x2 and (y1 + y2) % P == 0:
        return INF
    if p1 == p2:
        lam = (3 * x1 * x1 + A) * pow(2 * y1, -1, P) % P
    else:
        lam = (y2 - y1) * pow(x2 - x1, -1, P) % P
    x3 = (lam * lam - x1 - x2) % P
    return (x3, (lam * (x1 - x3) - y1) % P)


def mul(k, pt):
    k %= N
    acc = INF
    for bit in bin(k)[2:] if k else "":
        acc = add(acc, acc)
        if bit == "1":
            acc = add(acc, pt)
    return acc


def on_curve(pt):
    x, y = pt
    return (y * y - (x * x * x + A * x + B)) % P == 0


def sqrt(v):  # p = 3 mod 4
    r = pow(v, (P + 1) // 4, P)
    return r if r * r % P == v % P else None


def serialize_element(pt):  # §1: SEC1 compressed; identity is an error
    assert pt is not INF, "identity cannot be serialized"
    x, y = pt
    return bytes([2 + (y & 1)]) + x.to_bytes(32, "big")


def deserialize_element(b):
    assert len(b) == 33 and b[0] in (2, 3)
    x = int.from_bytes(b[1:], "big")
    assert x < P
    y = sqrt((x * x * x + A * x + B) % P)
    assert y is not None
    if (y & 1) != (b[0] & 1):
        y = P - y
    return (x, y)


def i2osp(v, n):
    return v.to_bytes(n, "big")


def sha256(*parts):
    return hashlib.sha256(b"".join(parts)).digest()


# --- RFC 9380 ------------------------------------------------------------------
def expand_message_xmd(msg, dst, length):
    ell = -(-length // 32)
    assert ell <= 255 and len(dst) <= 255
    dst_prime = dst + i2osp(len(dst), 1)
    b0 = sha256(bytes(64), msg, i2osp(length, 2), b"\x00", dst_prime)
    out = b = sha256(b0, b"\x01", dst_prime)
    for i in range(2, ell + 1):
        b = sha256(bytes(x ^ y for x, y in zip(b0, b)), i2osp(i, 1), dst_prime)
        out += b
    return out[:length]


def hash_to_field(msg, dst, count, modulus):
    u = expand_message_xmd(msg, dst, 48 * count)
    return [int.from_bytes(u[48 * i:48 * (i + 1)], "big") % modulus for i in range(count)]


Z = P - 10  # RFC 9380 §8.2: Z = -10 for P-256


def map_to_curve_sswu(u):
    tv = (Z * Z * pow(u, 4, P) + Z * u * u) % P
    if tv == 0:
        x1 = B * pow(Z * A, -1, P) % P
    else:
        x1 = (-B) * pow(A, -1, P) * (1 + pow(tv, -1, P)) % P
    gx1 = (x1 ** 3 + A * x1 + B) % P
    y = sqrt(gx1)
    x = x1
    if y is None:
        x = Z * u * u * x1 % P
        y = sqrt((x ** 3 + A * x + B) % P)
    if (u & 1) != (y & 1):  # sgn0 for m = 1
        y = P - y
    return (x, y)


def hash_to_curve(msg, dst):  # §4
    u0, u1 = hash_to_field(msg, dst, 2, P)
    return add(map_to_curve_sswu(u0), map_to_curve_sswu(u1))  # cofactor 1


# --- constants (§2) ------------------------------------------------------------
DST_H2C = b"XKS-THRESHOLD-V1-CS01-with-P256_XMD:SHA-256_SSWU_RO_"
DLEQ_CONTEXT = b"XKS-THRESHOLD-V1-DLEQ-P256-SHA256"
HKDF_SALT = b"XKS-THRESHOLD-V1-HKDF-SALT"
HKDF_INFO = b"XKS-THRESHOLD-V1-AES-256-GCM-KEY"
LABEL_KEY_SET_ID = b"XKS-THRESHOLD-V1-KEY-SET-ID"
LABEL_PC = b"XKS-THRESHOLD-V1-PARTIAL-COMMITMENT"


def hash_to_scalar(msg, context):  # §6.1
    return hash_to_field(msg, b"HashToScalar-" + context, 1, N)[0]


def pre(x):
    return i2osp(len(x), 2) + x


def dleq_prove(k, b_pt, c_pt, d_pt, r, context=DLEQ_CONTEXT):  # §6.1, batch of one
    bm = serialize_element(b_pt)
    seed_dst = b"Seed-" + context
    seed = sha256(pre(bm), pre(seed_dst))
    d0 = hash_to_scalar(pre(seed) + i2osp(0, 2) + pre(serialize_element(c_pt)) + pre(serialize_element(d_pt)) + b"Composite", context)
    m = mul(d0, c_pt)
    z = mul(k, m)
    t2, t3 = mul(r, G), mul(r, m)
    c = hash_to_scalar(b"".join(pre(serialize_element(x)) for x in (b_pt, m, z, t2, t3)) + b"Challenge", context)
    s = (r - c * k) % N
    return i2osp(c, 32) + i2osp(s, 32)


def lagrange_at_zero(i, ids):  # §5
    num = den = 1
    for j in ids:
        if j != i:
            num = num * j % N
            den = den * (j - i) % N
    return num * pow(den, -1, N) % N


def hkdf_sha256(salt, ikm, info, length):  # RFC 5869
    prk = hmac.new(salt, ikm, hashlib.sha256).digest()
    okm, t, i = b"", b"", 1
    while len(okm) < length:
        t = hmac.new(prk, t + info + bytes([i]), hashlib.sha256).digest()
        okm += t
        i += 1
    return okm[:length]


class Checker:
    def __init__(self):
        self.passed = 0

    def eq(self, what, got, want):
        if got != want:
            print(f"MISMATCH {what}: got {got!r}, want {want!r}")
            print(f"{self.passed} passed, 1 failed")
            sys.exit(1)
        self.passed += 1


def self_test(ck, rfc_dir):
    """The re-implementation first proves itself on the RFCs' own vectors."""
    h2c = json.loads((rfc_dir / "rfc9380-P256_XMD-SHA-256_SSWU_RO_.json").read_text())
    assert h2c["vectors"]
    for v in h2c["vectors"]:
        x, y = hash_to_curve(v["msg"].encode(), h2c["dst"].encode())
        ck.eq(f"RFC 9380 J.1.1 {v['msg'][:10]!r}", (x, y), (int(v["P"]["x"], 16), int(v["P"]["y"], 16)))
    oprf = json.loads((rfc_dir / "rfc9497-allVectors.json").read_text())
    suite = next(e for e in oprf if e["identifier"] == "P256-SHA256" and e["mode"] == 1)
    sk = int(suite["skSm"], 16)
    context = b"OPRFV1-\x01-P256-SHA256"
    for v in suite["vectors"]:
        if v["Batch"] != 1:
            continue
        c = deserialize_element(bytes.fromhex(v["BlindedElement"]))
        d = deserialize_element(bytes.fromhex(v["EvaluationElement"]))
        ck.eq("RFC 9497 VOPRF evaluation", mul(sk, c), d)
        proof = dleq_prove(sk, mul(sk, G), c, d, int(v["Proof"]["r"], 16), context)
        ck.eq("RFC 9497 VOPRF proof", proof.hex(), v["Proof"]["proof"])
    print("ok  self-test on RFC 9380 and RFC 9497 vectors")


def main():
    path = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parents[1] / "vectors/kat/xks-threshold-v1.json")
    doc = json.loads(path.read_text())
    cases = doc["cases"]
    assert cases, "no cases"
    ck = Checker()
    self_test(ck, path.resolve().parents[1] / "rfc")
    for case in cases:
        ks = case["keySet"]
        name = case["name"]
        gen, epoch, t = ks["generation"], ks["epoch"], ks["threshold"]
        group_key = deserialize_element(bytes.fromhex(ks["groupKey"]))
        commitments = [deserialize_element(bytes.fromhex(c)) for c in ks["commitments"]]
        ck.eq(f"{name} C_0 == X", commitments[0], group_key)
        ck.eq(f"{name} len(commitments) == t", len(commitments), t)
        ck.eq(f"{name} 2 <= t <= n <= 255", 2 <= t <= len(ks["verificationShares"]) <= 255, True)  # §3
        key_set_id = sha256(LABEL_KEY_SET_ID, i2osp(gen, 4), serialize_element(group_key)).hex()  # §3
        ck.eq(f"{name} keySetId", key_set_id, ks["keySetId"])
        ys = {}
        for vs in ks["verificationShares"]:
            i = vs["holder"]
            expected = INF
            for k, c in enumerate(commitments):
                expected = add(expected, mul(pow(i, k, N), c))
            ck.eq(f"{name} Y_{i} from commitments", serialize_element(expected).hex(), vs["key"])
            ys[i] = expected
        shares = {}
        for sh in case["shares"]:
            s = int.from_bytes(bytes.fromhex(sh["share"]), "big")
            ck.eq(f"{name} share {sh['holder']} matches Y", mul(s, G), ys[sh["holder"]])
            ck.eq(f"{name} share header", (sh["keySetId"], sh["generation"], sh["epoch"]), (key_set_id, gen, epoch))
            shares[sh["holder"]] = s
        for kp in case["keyPaths"]:
            p = kp["keyPath"].encode("ascii")
            v = hash_to_curve(p, DST_H2C)
            ck.eq(f"{name} V({kp['keyPath'][:20]})", serialize_element(v).hex(), kp["keyPathPoint"])
            first_key = None
            for combo in kp["combinations"]:
                ids = combo["set"]
                total = INF
                last_w = None
                for part in combo["partials"]:
                    i = part["holder"]
                    lam = lagrange_at_zero(i, ids)
                    ck.eq(f"{name} lambda_{i}", i2osp(lam, 32).hex(), part["lambda"])
                    k = lam * shares[i] % N
                    w = mul(k, v)
                    ck.eq(f"{name} W_{i}", serialize_element(w).hex(), part["partial"])
                    proof = dleq_prove(k, mul(lam, ys[i]), v, w, int(part["proofNonce"], 16))
                    ck.eq(f"{name} proof_{i}", proof.hex(), part["proof"])
                    total = add(total, w)
                    last_w = (i, w)
                ck.eq(f"{name} S", serialize_element(total).hex(), combo["combined"])
                key = hkdf_sha256(HKDF_SALT, serialize_element(total), HKDF_INFO + i2osp(len(p), 2) + p, 32)  # §7
                ck.eq(f"{name} K via {ids}", key.hex(), combo["aesKey"])
                i, w = last_w
                pc = sha256(LABEL_PC, bytes.fromhex(key_set_id), i2osp(epoch, 4), i2osp(i, 2), i2osp(len(ids), 1),
                            b"".join(i2osp(j, 2) for j in ids), i2osp(len(p), 1), p, serialize_element(w))  # §6.3
                ck.eq(f"{name} partial commitment", pc.hex(), combo["lastPartialCommitment"])
                first_key = first_key or key
            env = kp["envelope"]
            pt, aad, iv = (bytes.fromhex(env[f]) for f in ("plaintext", "aad", "iv"))
            md = b"\x01" + i2osp(gen, 4)  # §8
            ck.eq(f"{name} metadata", md.hex(), env["ciphertextMetadata"])
            gcm_aad = i2osp(len(aad), 2) + aad + i2osp(len(md), 1) + md
            ck.eq(f"{name} gcm aad", gcm_aad.hex(), env["gcmAad"])
            out = AESGCM(first_key).encrypt(iv, pt, gcm_aad)
            ct, tag = out[:-16], out[-16:]
            ck.eq(f"{name} ciphertext", ct.hex(), env["ciphertext"])
            ck.eq(f"{name} tag", tag.hex(), env["authenticationTag"])
            ck.eq(f"{name} cdiv", sha256(aad, md, iv, ct, tag).hex(), env["cdiv"])
        print(f"ok  {name}")
    print(f"{ck.passed} passed, 0 failed")


if __name__ == "__main__":
    main()
