"""flake.lock is a complete version-7 lock of exactly the inputs flake.nix
declares: every input pinned by rev, narHash and lastModified, from GitHub
(no path: or registry inputs), its `original` what flake.nix asks for, and
every `follows` of flake.nix recorded. Run by tests/nix/check."""

import json
import re
import subprocess
import sys


def flake_inputs():
    out = subprocess.run(
        ["nix-instantiate", "--eval", "--strict", "--json", "-E", "(import ./flake.nix).inputs"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out)


def parse_url(url):
    m = re.fullmatch(r"github:([^/]+)/([^/?]+)(?:/([^?]+))?", url)
    if not m:
        raise SystemExit(f"flake.nix: input url {url!r} is not a github: url")
    owner, repo, ref = m.groups()
    original = {"owner": owner, "repo": repo, "type": "github"}
    if ref:
        original["ref"] = ref
    return original


def main():
    inputs = flake_inputs()
    lock = json.load(open("flake.lock"))
    errors = []
    if lock.get("version") != 7 or lock.get("root") != "root":
        errors.append("not a version-7 lock with root 'root'")
    nodes = lock.get("nodes", {})
    root_inputs = nodes.get("root", {}).get("inputs", {})
    if set(root_inputs) != set(inputs):
        errors.append(f"root inputs {sorted(root_inputs)} != flake.nix inputs {sorted(inputs)}")
    for name, spec in inputs.items():
        node = nodes.get(root_inputs.get(name, ""), {})
        locked, original = node.get("locked", {}), node.get("original")
        want = parse_url(spec["url"])
        if original != want:
            errors.append(f"{name}: original {original} != flake.nix {want}")
        if locked.get("type") != "github" or (locked.get("owner"), locked.get("repo")) != (want["owner"], want["repo"]):
            errors.append(f"{name}: locked is not github:{want['owner']}/{want['repo']}")
        if not re.fullmatch(r"[0-9a-f]{40}", str(locked.get("rev", ""))):
            errors.append(f"{name}: no 40-hex rev")
        if not re.fullmatch(r"sha256-[A-Za-z0-9+/]{43}=", str(locked.get("narHash", ""))):
            errors.append(f"{name}: no sha256 narHash")
        if not isinstance(locked.get("lastModified"), int) or locked["lastModified"] < 1_500_000_000:
            errors.append(f"{name}: no lastModified")
        if spec.get("flake", True) is False and node.get("flake") is not False:
            errors.append(f"{name}: flake = false in flake.nix but not in the lock")
        follows = {k: v["follows"].split("/") for k, v in spec.get("inputs", {}).items() if "follows" in v}
        for sub, path in follows.items():
            if node.get("inputs", {}).get(sub) != path:
                errors.append(f"{name}: input {sub} should follow {path} in the lock")
    unused = set(nodes) - {"root"} - {root_inputs[n] for n in root_inputs}
    if unused:
        errors.append(f"nodes nothing refers to: {sorted(unused)}")
    for e in errors:
        print(f"flake.lock: {e}", file=sys.stderr)
    if errors:
        sys.exit(1)
    for name in sorted(inputs):
        locked = nodes[root_inputs[name]]["locked"]
        print(f"flake.lock: {name:13} {locked['owner']}/{locked['repo']} {locked['rev']} lastModified {locked['lastModified']}")


main()
