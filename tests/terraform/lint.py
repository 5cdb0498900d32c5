#!/usr/bin/env python3
"""Static checks of terraform/ that need no provider (docs/deploy/checks.md).

Parses every .tf file with python-hcl2 and checks, per directory:
  - layout: a module has main.tf, variables.tf, outputs.tf, versions.tf and a
    README.md whose input and output tables are the ones this script
    generates from variables.tf and outputs.tf (--write-readmes rewrites them);
  - versions: required_version is set and every provider is pinned to one
    exact version, the version tests/terraform/provider-schemas.json records
    as read;
  - variables are typed and described, outputs described;
  - references: every var., local., module.<name>.<output>, resource and data
    reference names something declared, and every attribute read from a
    resource or data source is one its schema has;
  - schemas: every resource, data source and ephemeral resource type is in
    provider-schemas.json, every argument and block it sets exists there (at
    the pinned version), required ones are present, read-only ones are not set;
  - module calls pass only the child's variables and every required one;
  - checkov skips carry a reason;
  - roots (terraform/envs/<env>/<root>) read only their own holder's files
    under secrets/ (proxy: holder-1, share-2: holder-2, share-3: holder-3,
    aws: aws/) besides public/, and none reads another root's state
    (terraform_remote_state would hand one holder another's secrets).

Exit 1 with one line per finding.
"""

import json
import pathlib
import re
import sys

import hcl2

ROOT = pathlib.Path(__file__).resolve().parents[2]
TERRAFORM = ROOT / "terraform"
if "--root" in sys.argv:  # another copy of the tree (tests/terraform/selftest.py)
    ROOT = pathlib.Path(sys.argv[sys.argv.index("--root") + 1]).resolve()
    TERRAFORM = ROOT / "terraform"
SCHEMAS = json.loads((pathlib.Path(__file__).parent / "provider-schemas.json").read_text())

META_ARGS = {"count", "for_each", "depends_on", "lifecycle", "provider", "provisioner", "connection"}
MARKERS = {"__is_block__", "__comments__", "__inline_comments__"}
MODULE_FILES = ["main.tf", "variables.tf", "outputs.tf", "versions.tf", "README.md"]
README_BEGIN = "<!-- BEGIN GENERATED: inputs and outputs (tests/terraform/lint.py --write-readmes) -->"
README_END = "<!-- END GENERATED -->"

findings = []


def report(where, message):
    findings.append(f"{where}: {message}")


def unquote(key):
    return key[1:-1] if len(key) >= 2 and key[0] == key[-1] == '"' else key


def clean(node):
    """The parsed node without python-hcl2's markers, keys and string literals unquoted."""
    if isinstance(node, dict):
        return {unquote(k): clean(v) for k, v in node.items() if k not in MARKERS}
    if isinstance(node, list):
        return [clean(v) for v in node]
    if isinstance(node, str):
        return unquote(node)
    return node


def is_block(value):
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) and v.get("__is_block__") for v in value)


def strings(node):
    """Every expression string in a node (for reference scanning)."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k in MARKERS:
                continue
            yield from strings(k)
            yield from strings(v)
    elif isinstance(node, list):
        for v in node:
            yield from strings(v)
    elif isinstance(node, str):
        yield node


class Directory:
    """One Terraform directory (a module or a root) and what it declares."""

    def __init__(self, path):
        self.path = path
        self.rel = path.relative_to(ROOT)
        self.files = {}
        for f in sorted(path.glob("*.tf")):
            try:
                self.files[f.name] = hcl2.load(f.open())
            except Exception as e:  # python-hcl2 raises its parser's own types
                report(f.relative_to(ROOT), f"does not parse: {e}")
        self.variables, self.outputs, self.locals = {}, {}, set()
        self.resources, self.data, self.ephemeral, self.modules = {}, {}, {}, {}
        self.terraform = []
        for name, doc in self.files.items():
            for block in doc.get("variable", []):
                for k, v in block.items():
                    self.variables[unquote(k)] = (name, v)
            for block in doc.get("output", []):
                for k, v in block.items():
                    self.outputs[unquote(k)] = (name, v)
            for block in doc.get("locals", []):
                self.locals |= {k for k in block if k not in MARKERS}
            for kind, table in (("resource", self.resources), ("data", self.data), ("ephemeral", self.ephemeral)):
                for block in doc.get(kind, []):
                    for rtype, named in block.items():
                        for rname, body in named.items():
                            table[(unquote(rtype), unquote(rname))] = (name, body)
            for block in doc.get("module", []):
                for k, v in block.items():
                    self.modules[unquote(k)] = (name, v)
            self.terraform += doc.get("terraform", [])

    @property
    def is_module(self):
        return self.path.parent.name == "modules"


def check_layout(d):
    needed = MODULE_FILES if d.is_module else ["main.tf", "variables.tf", "outputs.tf", "versions.tf"]
    for f in needed:
        if not (d.path / f).is_file():
            report(d.rel, f"missing {f}")


def check_versions(d):
    where = d.rel / "versions.tf"
    blocks = [clean(t) for t in d.terraform]
    if not any("required_version" in t for t in blocks):
        report(where, "no required_version")
    pinned = {}
    for t in blocks:
        for rp in t.get("required_providers", []):
            for local_name, spec in rp.items():
                source, version = spec.get("source"), spec.get("version")
                pinned[source] = version
                known = SCHEMAS["providers"].get(source)
                if not re.fullmatch(r"\d+\.\d+\.\d+", str(version)):
                    report(where, f"provider {local_name} ({source}) is not pinned to one exact version: {version!r}")
                elif known is None:
                    report(where, f"provider {source} has no schema record in tests/terraform/provider-schemas.json")
                elif known["version"] != version:
                    report(where, f"provider {source} pinned to {version}, but the schemas recorded as read are of {known['version']}")
    for kind, table in (("resource", d.resources), ("data", d.data), ("ephemeral", d.ephemeral)):
        for rtype, _ in table:
            schema = SCHEMAS[kind].get(rtype)
            if schema and schema["provider"] != "builtin" and schema["provider"] not in pinned:
                report(where, f"{kind} {rtype} needs provider {schema['provider']}, which required_providers does not pin")


def check_variables_and_outputs(d):
    for name, (f, body) in d.variables.items():
        if "type" not in body:
            report(d.rel / f, f"variable {name} has no type")
        if not clean(body).get("description"):
            report(d.rel / f, f"variable {name} has no description")
    for name, (f, body) in d.outputs.items():
        if not clean(body).get("description"):
            report(d.rel / f, f"output {name} has no description")


def check_body(where, what, body, schema):
    """Arguments and blocks of one resource body (or nested block) against its schema."""
    allowed_args = set(schema.get("required", [])) | set(schema.get("optional", []))
    blocks = schema.get("blocks", {})
    present = set()
    for key, value in body.items():
        if key in MARKERS or key in META_ARGS:
            continue
        if key == "dynamic":
            for dyn in value:
                for block_name, spec in dyn.items():
                    block_name = unquote(block_name)
                    if block_name not in blocks:
                        report(where, f"{what}: no block {block_name} in the schema")
                        continue
                    for content in spec.get("content", []):
                        check_body(where, f"{what}.{block_name}", content, blocks[block_name])
            continue
        present.add(key)
        if is_block(value):
            if key not in blocks:
                report(where, f"{what}: no block {key} in the schema" + (" (it is an argument)" if key in allowed_args else ""))
                continue
            for item in value:
                check_body(where, f"{what}.{key}", item, blocks[key])
        elif key in schema.get("read_only", []):
            report(where, f"{what}: {key} is read-only")
        elif key not in allowed_args:
            report(where, f"{what}: no argument {key} in the schema" + (" (it is a block)" if key in blocks else ""))
    for req in schema.get("required", []):
        if req not in present:
            report(where, f"{what}: required argument {req} is missing")
    for block_name, block_schema in blocks.items():
        if block_schema.get("min_items", 0) and block_name not in present:
            report(where, f"{what}: required block {block_name} is missing")


def check_schemas(d):
    for kind, table in (("resource", d.resources), ("data", d.data), ("ephemeral", d.ephemeral)):
        for (rtype, rname), (f, body) in table.items():
            schema = SCHEMAS[kind].get(rtype)
            if schema is None:
                report(d.rel / f, f"{kind} {rtype} is not in tests/terraform/provider-schemas.json: read its schema at the pinned version and record it")
                continue
            check_body(d.rel / f, f"{rtype}.{rname}", body, schema)


def attribute_names(schema):
    return set(schema.get("required", [])) | set(schema.get("optional", [])) | set(schema.get("read_only", [])) | set(schema.get("blocks", {}))


REF = re.compile(r"(?<![\w.])(var|local|module|data)\.([A-Za-z_][\w-]*)(?:\.([A-Za-z_][\w-]*))?(?:\[[^\]]*\])?(?:\.([A-Za-z_][\w-]*))?")
RES_REF = re.compile(r"(?<![\w.])([a-z][a-z0-9]*_[a-z0-9_]+)\.([A-Za-z_][\w-]*)(?:\[[^\]]*\])?(?:\.([A-Za-z_][\w-]*))?")


def check_references(d, children):
    for f, doc in d.files.items():
        where = d.rel / f
        for text in strings(doc):
            if "${" not in text and not re.match(r"^[a-z]", text):
                continue
            for kind, first, second, third in REF.findall(text):
                if kind == "var" and first not in d.variables:
                    report(where, f"var.{first} is not declared")
                elif kind == "local" and first not in d.locals:
                    report(where, f"local.{first} is not declared")
                elif kind == "module":
                    if first not in d.modules:
                        report(where, f"module.{first} is not declared")
                    elif first in children and second and second not in children[first].outputs:
                        report(where, f"module.{first}.{second}: the module has no such output")
                elif kind == "data":
                    if (first, second) not in d.data:
                        report(where, f"data.{first}.{second} is not declared")
                    elif third:
                        schema = SCHEMAS["data"].get(first)
                        if schema and third not in attribute_names(schema):
                            report(where, f"data.{first}.{second}.{third}: no such attribute")
            for rtype, rname, attr in RES_REF.findall(text):
                if rtype not in SCHEMAS["resource"] and (rtype, rname) not in d.resources:
                    continue
                if (rtype, rname) not in d.resources:
                    report(where, f"{rtype}.{rname} is not declared")
                elif attr and attr not in attribute_names(SCHEMAS["resource"].get(rtype, {})):
                    report(where, f"{rtype}.{rname}.{attr}: no such attribute")


def check_module_calls(d, children):
    for name, (f, body) in d.modules.items():
        where = d.rel / f
        source = clean(body).get("source", "")
        child = children.get(name)
        if child is None:
            report(where, f"module {name}: source {source} is not a local module")
            continue
        passed = {k for k in body if k not in MARKERS and k not in META_ARGS | {"source", "version", "providers"}}
        for arg in sorted(passed - set(child.variables)):
            report(where, f"module {name}: {child.rel} has no variable {arg}")
        for var, (_, vbody) in child.variables.items():
            if "default" not in vbody and var not in passed:
                report(where, f"module {name}: required variable {var} is not passed")


def check_checkov_skips(d):
    for f in d.path.glob("*.tf"):
        for n, line in enumerate(f.read_text().splitlines(), 1):
            if "checkov:skip" in line and not re.search(r"#checkov:skip=CKV2?_[A-Z0-9]+_\d+:\S.{10,}", line):
                report(f"{f.relative_to(ROOT)}:{n}", "a checkov skip needs a reason (#checkov:skip=<ID>:<why>)")


# The one holder (or operator) whose sealed files each root may read (docs/deploy/state.md).
ROOT_OWNERS = {"proxy": "holder-1", "share-2": "holder-2", "share-3": "holder-3", "aws": "aws"}
SECRETS_PART = re.compile(r"/(holder-\d+|pki|aws)(?=[/\"\\]|$)")


def check_root_owners(d):
    parts = d.rel.parts
    if len(parts) != 4 or parts[:2] != ("terraform", "envs"):
        return
    owner = ROOT_OWNERS.get(parts[3])
    if owner is None:
        report(d.rel, f"unknown root {parts[3]}: roots are {', '.join(ROOT_OWNERS)} (one per holder and trust domain)")
        return
    for rtype, rname in d.data:
        if rtype == "terraform_remote_state":
            report(d.rel, f"data.terraform_remote_state.{rname}: roots exchange only public files, never another root's state")
    for f, doc in d.files.items():
        for text in strings(doc):
            if "secrets" not in text:
                continue
            for part in SECRETS_PART.findall(text[text.index("secrets"):]):
                if part != owner:
                    report(d.rel / f, f"reads {part}'s files under secrets/: the {parts[3]} root may read {owner}'s and public/ only")


def md_escape(text):
    return str(text).replace("|", "\\|").replace("\n", " ")


def value_text(body, key):
    value = clean(body).get(key)
    if value is None:
        return None
    if isinstance(value, str):
        value = value.strip()
        if value.startswith("${") and value.endswith("}") and value.count("${") == 1:
            value = value[2:-1]
        return value
    return json.dumps(value)


def readme_tables(d):
    lines = ["## Inputs", "", "| Name | Type | Default | Description |", "|---|---|---|---|"]
    for name, (_, body) in sorted(d.variables.items()):
        default = value_text(body, "default")
        sensitive = " (sensitive)" if clean(body).get("sensitive") is True else ""
        shown = "required" if "default" not in body else f"`{md_escape(default)}`"
        lines.append(f"| `{name}` | `{md_escape(value_text(body, 'type'))}` | {shown} | {md_escape(value_text(body, 'description'))}{sensitive} |")
    lines += ["", "## Outputs", "", "| Name | Description |", "|---|---|"]
    for name, (_, body) in sorted(d.outputs.items()):
        lines.append(f"| `{name}` | {md_escape(value_text(body, 'description'))} |")
    return "\n".join(lines)


def check_readme(d, write):
    readme = d.path / "README.md"
    if not readme.is_file():
        return
    text = readme.read_text()
    generated = f"{README_BEGIN}\n{readme_tables(d)}\n{README_END}"
    if README_BEGIN not in text or README_END not in text:
        if write:
            readme.write_text(text.rstrip() + "\n\n" + generated + "\n")
        else:
            report(readme.relative_to(ROOT), "no generated input and output tables (run tests/terraform/lint.py --write-readmes)")
        return
    start, end = text.index(README_BEGIN), text.index(README_END) + len(README_END)
    if text[start:end] != generated:
        if write:
            readme.write_text(text[:start] + generated + text[end:])
        else:
            report(readme.relative_to(ROOT), "input and output tables differ from variables.tf and outputs.tf (run tests/terraform/lint.py --write-readmes)")


def main():
    write = "--write-readmes" in sys.argv[1:]
    dirs = sorted({p.parent for p in TERRAFORM.rglob("*.tf") if ".terraform" not in p.parts})
    parsed = {p: Directory(p) for p in dirs}
    for d in parsed.values():
        children = {}
        for name, (_, body) in d.modules.items():
            source = clean(body).get("source", "")
            child_path = (d.path / source).resolve()
            if source.startswith(("./", "../")) and child_path in parsed:
                children[name] = parsed[child_path]
        check_layout(d)
        check_versions(d)
        check_variables_and_outputs(d)
        check_schemas(d)
        check_references(d, children)
        check_module_calls(d, children)
        check_checkov_skips(d)
        check_root_owners(d)
        if d.is_module:
            check_readme(d, write)
    for line in findings:
        print(line)
    print(f"terraform lint: {len(parsed)} directories, {sum(len(d.files) for d in parsed.values())} files, {len(findings)} findings")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
