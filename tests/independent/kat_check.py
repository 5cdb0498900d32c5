#!/usr/bin/env python3
"""Independent re-derivation of the known-answer vectors of envelope formats v1 and v2.

Written from docs/crypto.md alone (section numbers below refer to it), in another
language than the product, with no elliptic-curve library: P-256 arithmetic,
RFC 9380 hash-to-curve, RFC 9497 proofs, HKDF and the XKS envelope rules are
re-implemented here. Only AES-GCM comes from the `cryptography` package.

Usage: python3 tests/independent/kat_check.py [FILE...]
(default: tests/vectors/kat/xks-threshold-v1.json, -v2.json and -negative.json).
Prints one line per checked case and a final "N passed, 0 failed" line;
exits non-zero on the first mismatch.
"""
import hashlib
import hmac
import json
import sys
from pathlib import Path

from cryptography.exceptions import InvalidTag
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


class Refused(Exception):
    """An input docs/crypto.md says must be refused, with the reason of §11."""

    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


def parse_point(b):  # §1: SerializeElement of a non-identity point, nothing else
    if len(b) != 33 or b[0] not in (2, 3):
        raise Refused("point")
    x = int.from_bytes(b[1:], "big")
    if x >= P:
        raise Refused("point")
    y = sqrt((x * x * x + A * x + B) % P)
    if y is None:
        raise Refused("point")
    return (x, y if (y & 1) == (b[0] & 1) else P - y)


def parse_scalar(b, nonzero=False):  # §1
    if len(b) != 32 or int.from_bytes(b, "big") >= N:
        raise Refused("scalar")
    if nonzero and int.from_bytes(b, "big") == 0:
        raise Refused("zero-scalar")
    return int.from_bytes(b, "big")


KEY_PATH_BYTES = set(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:/=@+-")


def parse_key_path(text):  # §4
    p = text.encode("utf-8")
    if not 1 <= len(p) <= 255 or any(c not in KEY_PATH_BYTES for c in p):
        raise Refused("key-path")
    return p


def parse_metadata(md):  # §8, §8.1: (version, generation, salt)
    if len(md) == 5 and md[0] == 1:
        return 1, int.from_bytes(md[1:5], "big"), None
    if len(md) == 20 and md[0] == 2:
        return 2, int.from_bytes(md[1:5], "big"), md[5:]
    raise Refused("metadata")


def open_envelope(s_point, key_set_id, generation, p, ct, md, iv, tag, aad):  # §8.2
    version, gen, _ = parse_metadata(md)
    if len(iv) != 12:
        raise Refused("iv-length")
    if len(tag) != 16:
        raise Refused("tag-length")
    if gen != generation:
        raise Refused("generation")
    if version == 1:
        key = v1_key(s_point, p)
    else:
        key = hkdf_sha256(HKDF_SALT_V2, serialize_element(s_point), v2_info(md, key_set_id, p), 32)
    try:
        return AESGCM(key).decrypt(iv, ct + tag, i2osp(len(aad), 2) + aad + i2osp(len(md), 1) + md)
    except InvalidTag:
        raise Refused("authentication") from None


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
HKDF_SALT_V2 = b"XKS-THRESHOLD-V2-HKDF-SALT"
HKDF_INFO_V2 = b"XKS-THRESHOLD-V2-ENVELOPE-KEY"
LABEL_KEY_SET_ID = b"XKS-THRESHOLD-V1-KEY-SET-ID"
LABEL_PC = b"XKS-THRESHOLD-V1-PARTIAL-COMMITMENT"
LABEL_REFRESH = b"XKS-THRESHOLD-V1-REFRESH-CONTRIBUTION"


def hash_to_scalar(msg, context):  # §6.1
    return hash_to_field(msg, b"HashToScalar-" + context, 1, N)[0]


def pre(x):
    return i2osp(len(x), 2) + x


def composite(b_pt, c_pt, d_pt, context):  # §6.1: d_0, batch of one
    seed_dst = b"Seed-" + context
    seed = sha256(pre(serialize_element(b_pt)), pre(seed_dst))
    return hash_to_scalar(pre(seed) + i2osp(0, 2) + pre(serialize_element(c_pt)) + pre(serialize_element(d_pt)) + b"Composite", context)


def challenge(points, context):
    return hash_to_scalar(b"".join(pre(serialize_element(x)) for x in points) + b"Challenge", context)


def dleq_prove(k, b_pt, c_pt, d_pt, r, context=DLEQ_CONTEXT):  # §6.1
    d0 = composite(b_pt, c_pt, d_pt, context)
    m = mul(d0, c_pt)
    z = mul(k, m)
    t2, t3 = mul(r, G), mul(r, m)
    c = challenge((b_pt, m, z, t2, t3), context)
    s = (r - c * k) % N
    return i2osp(c, 32) + i2osp(s, 32)


def dleq_verify(b_pt, c_pt, d_pt, c, s, context=DLEQ_CONTEXT):  # §6.1 verify
    d0 = composite(b_pt, c_pt, d_pt, context)
    m, z = mul(d0, c_pt), mul(d0, d_pt)
    t2 = add(mul(s, G), mul(c, b_pt))
    t3 = add(mul(s, m), mul(c, z))
    if INF in (t2, t3) or challenge((b_pt, m, z, t2, t3), context) != c:
        raise Refused("proof")


def poly_mul(a, b):
    out = [0] * (len(a) + len(b) - 1)
    for i, x in enumerate(a):
        for j, y in enumerate(b):
            out[i + j] = (out[i + j] + x * y) % N
    return out


def coefficients(points):  # §10: the polynomial through t shares, a_0 first
    coeffs = [0] * len(points)
    for i, s_i in points:
        basis, den = [1], 1
        for j, _ in points:
            if j != i:
                basis = poly_mul(basis, [-j % N, 1])
                den = den * (i - j) % N
        scale = s_i * pow(den, -1, N) % N
        coeffs = [(c + scale * b) % N for c, b in zip(coeffs, basis)]
    return coeffs


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


def check_key_set(ck, name, ks, shares_json):
    """§3 and §10: the key set follows from the shares; returns (keySetId, Y by holder, shares)."""
    gen, epoch, t = ks["generation"], ks["epoch"], ks["threshold"]
    ck.eq(f"{name} 2 <= t <= n <= 255", 2 <= t <= len(ks["verificationShares"]) <= 255, True)
    shares = {sh["holder"]: int.from_bytes(bytes.fromhex(sh["share"]), "big") for sh in shares_json}
    ck.eq(f"{name} holders", sorted(shares), [vs["holder"] for vs in ks["verificationShares"]])
    coeffs = coefficients(sorted(shares.items())[:t])
    for k, a_k in enumerate(coeffs):
        ck.eq(f"{name} C_{k} = a_{k}·G", serialize_element(mul(a_k, G)).hex(), ks["commitments"][k])
    ck.eq(f"{name} len(commitments) == t", len(ks["commitments"]), t)
    ck.eq(f"{name} groupKey = a_0·G", serialize_element(mul(coeffs[0], G)).hex(), ks["groupKey"])
    key_set_id = sha256(LABEL_KEY_SET_ID, i2osp(gen, 4), bytes.fromhex(ks["groupKey"])).hex()
    ck.eq(f"{name} keySetId", key_set_id, ks["keySetId"])
    ys = {}
    for vs in ks["verificationShares"]:
        i = vs["holder"]
        ys[i] = mul(shares[i], G)
        ck.eq(f"{name} Y_{i} = s_{i}·G", serialize_element(ys[i]).hex(), vs["key"])
        # Every share lies on the polynomial, so t of them determine the others.
        ck.eq(f"{name} s_{i} = f({i})", sum(a * pow(i, k, N) for k, a in enumerate(coeffs)) % N, shares[i])
    for sh in shares_json:
        ck.eq(f"{name} share header", (sh["keySetId"], sh["generation"], sh["epoch"]), (key_set_id, gen, epoch))
    return key_set_id, ys, shares


def check_combinations(ck, name, key_set_id, epoch, ys, shares, kp):
    """§4-§6.3 for one key path; returns the combined point S."""
    p = kp["keyPath"].encode("ascii")
    v = hash_to_curve(p, DST_H2C)
    ck.eq(f"{name} V({kp['keyPath'][:20]})", serialize_element(v).hex(), kp["keyPathPoint"])
    combined = None
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
        combined = combined or total
        ck.eq(f"{name} every set gives one S", total, combined)
        if "aesKey" in combo:  # format v1 only: one key per key path
            ck.eq(f"{name} v1 K via {ids}", v1_key(total, p).hex(), combo["aesKey"])
        i, w = last_w
        pc = sha256(LABEL_PC, bytes.fromhex(key_set_id), i2osp(epoch, 4), i2osp(i, 2), i2osp(len(ids), 1),
                    b"".join(i2osp(j, 2) for j in ids), i2osp(len(p), 1), p, serialize_element(w))  # §6.3
        ck.eq(f"{name} partial commitment", pc.hex(), combo["lastPartialCommitment"])
    return combined


def v1_key(s_point, p):  # §7
    return hkdf_sha256(HKDF_SALT, serialize_element(s_point), HKDF_INFO + i2osp(len(p), 2) + p, 32)


def v2_info(md, key_set_id, p):  # §7.1
    assert len(md) == 20 and 1 <= len(p) <= 255
    return HKDF_INFO_V2 + md + bytes.fromhex(key_set_id) + i2osp(len(p), 1) + p


def check_envelope(ck, name, version, gen, key_set_id, s_point, p, env):
    """§8 (v1) or §8.1 (v2): metadata, key, GCM AAD, ciphertext, tag, CDIV."""
    pt, aad, iv = (bytes.fromhex(env[f]) for f in ("plaintext", "aad", "iv"))
    ck.eq(f"{name} 12-byte IV", len(iv), 12)
    if version == 1:
        md = b"\x01" + i2osp(gen, 4)
        key = v1_key(s_point, p)
    else:
        salt = bytes.fromhex(env["salt"])
        ck.eq(f"{name} 15-byte salt", len(salt), 15)
        md = b"\x02" + i2osp(gen, 4) + salt
        info = v2_info(md, key_set_id, p)
        ck.eq(f"{name} v2 HKDF info", info.hex(), env["hkdfInfo"])
        key = hkdf_sha256(HKDF_SALT_V2, serialize_element(s_point), info, 32)
        ck.eq(f"{name} v2 envelope key", key.hex(), env["envelopeKey"])
    ck.eq(f"{name} metadata", md.hex(), env["ciphertextMetadata"])
    gcm_aad = i2osp(len(aad), 2) + aad + i2osp(len(md), 1) + md
    ck.eq(f"{name} gcm aad", gcm_aad.hex(), env["gcmAad"])
    out = AESGCM(key).encrypt(iv, pt, gcm_aad)
    ct, tag = out[:-16], out[-16:]
    ck.eq(f"{name} ciphertext", ct.hex(), env["ciphertext"])
    ck.eq(f"{name} tag", tag.hex(), env["authenticationTag"])
    ck.eq(f"{name} cdiv", sha256(aad, md, iv, ct, tag).hex(), env["cdiv"])


def check_file(ck, path):
    doc = json.loads(path.read_text())
    version = doc["format"]
    ck.eq(f"{path.name} format", version in (1, 2), True)
    c = doc["constants"]
    ck.eq(f"{path.name} constants", (c["hashToCurveDst"], c["dleqContextString"], c["keySetIdLabel"],
                                     c["partialCommitmentLabel"], c["refreshContributionLabel"], c["envelopeVersion"]),
          (DST_H2C.decode(), DLEQ_CONTEXT.decode(), LABEL_KEY_SET_ID.decode(), LABEL_PC.decode(), LABEL_REFRESH.decode(), version))
    salt, info = (HKDF_SALT, HKDF_INFO) if version == 1 else (HKDF_SALT_V2, HKDF_INFO_V2)
    ck.eq(f"{path.name} HKDF constants", (c["hkdfSalt"], c["hkdfInfoPrefix"]), (salt.decode(), info.decode()))
    cases = doc["cases"]
    assert cases, "no cases"
    envelopes = 0
    for case in cases:
        ks = case["keySet"]
        name = f"v{version} {case['name']}"
        key_set_id, ys, shares = check_key_set(ck, name, ks, case["shares"])
        for kp in case["keyPaths"]:
            s_point = check_combinations(ck, name, key_set_id, ks["epoch"], ys, shares, kp)
            envs = [kp["envelope"]] if version == 1 else kp["envelopes"]
            for env in envs:
                check_envelope(ck, name, version, ks["generation"], key_set_id, s_point, kp["keyPath"].encode("ascii"), env)
                envelopes += 1
        print(f"ok  {name}")
    print(f"ok  {path.name}: {len(cases)} cases, {envelopes} envelopes")


def check_negative(ck, path):
    """§11: every vector is refused, for its reason; the unchanged context is accepted."""
    doc = json.loads(path.read_text())
    ctx = doc["context"]
    base = json.loads((path.parent / ctx["vectorFile"]).read_text())
    case = next(c for c in base["cases"] if c["name"] == ctx["case"])
    ks = case["keySet"]
    key_set_id, ys, shares = check_key_set(ck, "negative context", ks, case["shares"])
    p = parse_key_path(ctx["keyPath"])
    v = hash_to_curve(p, DST_H2C)
    s_point = add(mul(lagrange_at_zero(1, [1, 2]) * shares[1], v), mul(lagrange_at_zero(2, [1, 2]) * shares[2], v))
    env = next(k for k in case["keyPaths"] if k["keyPath"] == ctx["keyPath"])["envelopes"][ctx["envelope"]]
    ck.eq("negative context opens", open_envelope(s_point, key_set_id, ks["generation"], p,
                                                  *(bytes.fromhex(env[f]) for f in ("ciphertext", "ciphertextMetadata", "iv", "authenticationTag", "aad"))),
          bytes.fromhex(env["plaintext"]))

    def run(kind, inp):
        if kind == "decrypt":
            fields = (bytes.fromhex(inp[f]) for f in ("ciphertext", "ciphertextMetadata", "iv", "authenticationTag", "aad"))
            open_envelope(s_point, key_set_id, ks["generation"], p, *fields)
        elif kind == "partial":
            i, ids = inp["holder"], inp["set"]
            w = parse_point(bytes.fromhex(inp["partial"]))
            proof = bytes.fromhex(inp["proof"])
            if len(proof) != 64:
                raise Refused("scalar")
            c, s = parse_scalar(proof[:32]), parse_scalar(proof[32:])
            dleq_verify(mul(lagrange_at_zero(i, ids), ys[i]), v, w, c, s)
        elif kind == "point":
            parse_point(bytes.fromhex(inp["bytes"]))
        elif kind == "share":
            parse_scalar(bytes.fromhex(inp["share"]), nonzero=True)
        elif kind == "keyPath":
            parse_key_path(inp["keyPath"])
        elif kind == "keySet":
            t, n = inp["keySet"]["threshold"], len(inp["keySet"]["verificationShares"])
            if not 2 <= t <= n <= 255:  # §3, checked before anything else
                raise Refused("threshold")
        else:
            raise AssertionError(f"unknown kind {kind}")

    for vec in doc["vectors"]:
        ck.eq(f"negative: {vec['reason']} is documented", vec["reason"] in doc["reasons"], True)
        try:
            run(vec["kind"], vec["input"])
            got = "accepted"
        except Refused as e:
            got = e.reason
        ck.eq(f"negative {vec['kind']}: {vec['name']}", got, vec["reason"])
    print(f"ok  {path.name}: {len(doc['vectors'])} inputs refused, each for its reason")


def main():
    kat_dir = Path(__file__).resolve().parents[1] / "vectors/kat"
    paths = [Path(a) for a in sys.argv[1:]] or [kat_dir / f"xks-threshold-{n}.json" for n in ("v1", "v2", "negative")]
    ck = Checker()
    self_test(ck, kat_dir.parent / "rfc")
    for path in paths:
        if "vectors" in json.loads(path.read_text()):
            check_negative(ck, path)
        else:
            check_file(ck, path)
    print(f"{ck.passed} passed, 0 failed")


if __name__ == "__main__":
    main()
