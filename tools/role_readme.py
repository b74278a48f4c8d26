"""Write each role's README.md from its meta/argument_specs.yml, or check that the READMEs are up to date.

For every role directory of ROLES_DIR that has a meta/argument_specs.yml: the role's title, its `main` entry
point's short description and description, one table of variables per entry point (type, default, required,
choices, description; the options of a list or dict of dicts as `parent[].name` / `parent.name` rows; defaults
too long for a table cell in a YAML block under it), and an example playbook (none for an internal role). Ansible's
markup (C(), I(), B(), L(), U(), M(), ...) becomes Markdown. A role without argument specs is skipped with a note.

With --check nothing is written: exit 1 listing every role whose README.md is missing or differs from what would
be generated (CI catches a spec changed without its README).

Usage: python tools/role_readme.py [--check] ROLES_DIR
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import yaml

COLLECTION = "hpcstack.cluster"
GENERATOR = "tools/role_readme.py"

# Inventory group each role is meant for (the groups of inventories/ and playbooks/); a role not listed here is
# shown on a group named after it.
ROLE_GROUPS = {
    "aws": "localhost",
    "bastion": "bastion",
    "slurm_controller": "slurm_controller",
    "slurm_compute": "slurm_compute",
    "slurmdbd": "slurmdbd",
    "munge": "cluster",
    "node_exporter": "cluster",
    "prometheus": "monitoring",
    "grafana": "monitoring",
    "nvidia_toolkit": "slurm_compute",
    "spack_buildhost": "spack_buildhost",
    "workloads": "slurm_controller:slurm_compute",
}

# Hosts (and a comment on them) of the entry points other than `main` that run elsewhere than the role's group.
ENTRY_POINT_HOSTS = {
    ("bastion", "client_config"): ("localhost", "the operator's machine"),
    ("bastion", "reverse_tunnel"): ("onprem", "on-prem nodes behind NAT"),
    ("spack_buildhost", "client"): ("slurm_compute", "the nodes that use the Spack tree"),
    ("workloads", "installed"): ("slurm_controller[0]", "where playbooks/health.yml runs the suite"),
    ("slurm_controller", "accounts"): ("slurm_controller[0]", "once, where sacctmgr reaches slurmdbd"),
}

# Internal roles: the roles that import them (they get a link to it), and no example playbook of their own.
INTERNAL_ROLES = {
    "slurm_common": ("slurm_controller", "slurm_compute", "slurmdbd"),
}

# Defaults whose inline form is longer than this go into a YAML block under the table.
MAX_INLINE_DEFAULT = 48

# Ansible's documentation markup, classic (C(), I(), ...) and semantic (O(), V(), ...), as in ansible-doc.
_MARKUP = re.compile(
    r"\b(?P<kind>[CIBMUEVOP]|RV)\((?P<arg>[^)]+)\)"
    r"|\bL\((?P<text>[^)]+),\s*(?P<url>[^)]+)\)"
    r"|\bHORIZONTALLINE\b"
)
_PLAIN_SPECIALS = re.compile(r"[\\`*<\[\]]|(?<![0-9A-Za-z])_|_(?![0-9A-Za-z])")


def code(text: str) -> str:
    """Return text as a Markdown code span (with longer fences where it holds backticks)."""
    fence = "`"
    while fence in text:
        fence += "`"
    if fence != "`" or text.startswith("`") or text.endswith("`"):
        return f"{fence} {text} {fence}"
    return f"{fence}{text}{fence}"


def escape_plain(text: str) -> str:
    """Escape the characters of plain text that Markdown would read as markup."""
    return _PLAIN_SPECIALS.sub(lambda match: "\\" + match.group(0), text)


def _markup_to_markdown(match: re.Match) -> str:
    if match.group("url") is not None:
        return f"[{escape_plain(match.group('text'))}]({match.group('url').strip()})"
    kind, arg = match.group("kind"), match.group("arg")
    if kind is None:  # HORIZONTALLINE
        return "---"
    if kind == "I":
        return f"*{escape_plain(arg)}*"
    if kind == "B":
        return f"**{escape_plain(arg)}**"
    if kind == "U":
        return f"<{arg}>"
    if kind == "P":  # P(namespace.collection.plugin#type)
        return code(arg.split("#", 1)[0])
    return code(arg)  # C, M, E, V, O, RV


def markdown(text: str) -> str:
    """Return text with Ansible's markup turned into Markdown and the rest escaped."""
    parts = []
    pos = 0
    for match in _MARKUP.finditer(text):
        parts.append(escape_plain(text[pos : match.start()]))
        parts.append(_markup_to_markdown(match))
        pos = match.end()
    parts.append(escape_plain(text[pos:]))
    return "".join(parts)


def paragraphs(description) -> list[str]:
    """Return a spec's description (a string or a list of them) as a list of one-line paragraphs."""
    if description is None:
        return []
    items = description if isinstance(description, list) else [description]
    return [" ".join(str(item).split()) for item in items if str(item).strip()]


def cell(text: str) -> str:
    """Return text fit for a Markdown table cell (one line, pipes escaped, also in code spans)."""
    return " ".join(text.split()).replace("|", "\\|")


def inline_yaml(value) -> str:
    """Return a default in compact YAML flow style (`[a, b]`, `{k: v}`), a string as itself."""
    if isinstance(value, str):
        return value if value.strip() == value and value else json.dumps(value)
    dumped = yaml.safe_dump(value, default_flow_style=True, width=1_000_000, sort_keys=False)
    return dumped.strip().removesuffix("...").strip()


class _IndentedDumper(yaml.SafeDumper):
    """Indent a list under its key, the way the collection's YAML is written."""

    def increase_indent(self, flow=False, indentless=False):
        return super().increase_indent(flow, False)


def block_yaml(name: str, value) -> str:
    """Return `name: value` in block-style YAML (a string in double quotes, valid YAML)."""
    if isinstance(value, str):
        return f"{name}: {json.dumps(value)}"
    dumped = yaml.dump({name: value}, Dumper=_IndentedDumper, default_flow_style=False, sort_keys=False, width=100)
    return dumped.rstrip()


def type_name(spec: dict) -> str:
    kind = str(spec.get("type", "str"))
    if kind == "list" and spec.get("elements"):
        return f"list of {spec['elements']}"
    return kind


def option_rows(options: dict, prefix: str = "") -> list[tuple[str, dict]]:
    """Return (dotted name, spec) for each option and, depth first, each of its suboptions."""
    rows = []
    for name, spec in (options or {}).items():
        spec = spec or {}
        full = f"{prefix}{name}"
        rows.append((full, spec))
        if spec.get("options"):
            marker = "[]." if spec.get("type") == "list" else "."
            rows.extend(option_rows(spec["options"], full + marker))
    return rows


def variables_table(options: dict) -> list[str]:
    """Return the Markdown lines of an entry point's variables table, and of the long defaults under it."""
    rows = option_rows(options)
    if not rows:
        return ["This entry point takes no variables."]
    with_choices = any(row[1].get("choices") for row in rows)
    header = ["Name", "Type", "Default", "Required"] + (["Choices"] if with_choices else []) + ["Description"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    long_defaults = []
    for name, spec in rows:
        if "default" not in spec:
            default = ""
        else:
            inline = inline_yaml(spec["default"])
            if len(inline) > MAX_INLINE_DEFAULT or "\n" in inline:
                default = "see below"
                long_defaults.append(block_yaml(name, spec["default"]))
            else:
                default = code(inline)
        row = [code(name), type_name(spec), default, "yes" if spec.get("required") else "no"]
        if with_choices:
            row.append(", ".join(code(inline_yaml(choice)) for choice in spec.get("choices") or []))
        description = " ".join(markdown(text) for text in paragraphs(spec.get("description")))
        if spec.get("no_log"):
            description += " Secret: never logged."
        row.append(description.strip())
        lines.append("| " + " | ".join(cell(text) for text in row) + " |")
    if long_defaults:
        lines += ["", "Defaults too long for the table:", "", "```yaml", *long_defaults, "```"]
    return lines


def yaml_scalar(text: str) -> str:
    """Return a string as a YAML scalar: plain where YAML reads it back as the same string, else quoted."""
    return yaml.safe_dump(text, width=1_000_000).strip().removesuffix("...").strip()


def optional_secrets(options: dict) -> list[str]:
    """Return the names of the secrets (no_log) that an example may set: those neither required nor defaulted."""
    return [
        name
        for name, spec in (options or {}).items()
        if (spec or {}).get("no_log") and not spec.get("required") and "default" not in spec
    ]


def vault_vars(options: dict) -> list[str]:
    """Return `name: value` lines for the options an example must set: required ones without a default."""
    lines = []
    for name, spec in (options or {}).items():
        spec = spec or {}
        if spec.get("required") and "default" not in spec:
            if spec.get("no_log"):
                lines.append(f'{name}: "{{{{ vault_{name} }}}}"')
            else:
                lines.append(f"{name}: CHANGE_ME  # required")
    return lines


def example_playbook(role: str, entry_points: dict) -> list[str]:
    """Return the Markdown lines of the role's example playbook section."""
    fqcn = f"{COLLECTION}.{role}"
    if role in INTERNAL_ROLES:
        users = ", ".join(code(f"{COLLECTION}.{name}") for name in INTERNAL_ROLES[role])
        return [
            "## Usage",
            "",
            f"Internal role: imported by the Slurm roles ({users}), not applied on its own. Set its variables "
            "where every host of those roles sees them (e.g. `group_vars/all`).",
        ]
    lines = ["## Example playbook", ""]
    group = ROLE_GROUPS.get(role, role)
    main_options = (entry_points.get("main") or {}).get("options")
    main_vars = vault_vars(main_options)
    yaml_lines = [f"- hosts: {group}", "  roles:"]
    if main_vars:
        yaml_lines += [f"    - role: {fqcn}", "      vars:", *(f"        {line}" for line in main_vars)]
    else:
        yaml_lines.append(f"    - {fqcn}")
    for entry, spec in entry_points.items():
        if entry == "main":
            continue
        spec = spec or {}
        hosts, comment = ENTRY_POINT_HOSTS.get((role, entry), (group, ""))
        title = " ".join(str(spec.get("short_description") or f"Entry point {entry}").split()).rstrip(".")
        entry_vars = vault_vars(spec.get("options"))
        yaml_lines += [
            "",
            f"- hosts: {hosts}" + (f"  # {comment}" if comment else ""),
            "  tasks:",
            f"    - name: {yaml_scalar(title)}",
            "      ansible.builtin.include_role:",
            f"        name: {fqcn}",
            f"        tasks_from: {entry}",
        ]
        if entry_vars:
            yaml_lines += ["      vars:", *(f"        {line}" for line in entry_vars)]
    lines += ["```yaml", *yaml_lines, "```"]
    secrets = optional_secrets(main_options)
    if secrets:
        examples = ", ".join(code(f'{name}: "{{{{ vault_{name} }}}}"') for name in secrets)
        lines += ["", f"Optional secrets: set them from a vault variable as well, e.g. {examples}."]
    if secrets or any("vault_" in line for line in yaml_lines):
        lines += [
            "",
            "Define the `vault_` variables in an Ansible Vault file, e.g. "
            f"`ansible-vault edit inventories/<site>/group_vars/{group}/vault.yml`; never in plain text.",
        ]
    return lines


def render(role: str, specs: dict) -> str:
    """Return the README.md of a role from the parsed contents of its meta/argument_specs.yml."""
    entry_points = dict((specs or {}).get("argument_specs") or {})
    if "main" in entry_points:  # main first, the others in the file's order
        entry_points = {"main": entry_points["main"], **entry_points}
    main = entry_points.get("main") or {}
    lines = [
        f"<!-- Generated by {GENERATOR} from meta/argument_specs.yml: do not edit. "
        f"Edit the specs, then run: python {GENERATOR} roles -->",
        f"# {COLLECTION}.{role}",
        "",
    ]
    if main.get("short_description"):
        lines += [markdown(" ".join(str(main["short_description"]).split())), ""]
    for text in paragraphs(main.get("description")):
        lines += [markdown(text), ""]
    if len(entry_points) > 1:
        lines += ["Entry points:", ""]
        for entry, spec in entry_points.items():
            summary = " ".join(str(spec.get("short_description") or "").split())
            lines.append(f"- {code(entry)}" + (f": {markdown(summary)}" if summary else ""))
        lines.append("")

    lines += ["## Variables", ""]
    users = [name for name, imported in INTERNAL_ROLES.items() if role in imported]
    for name in users:
        lines += [f"Takes the variables of [{COLLECTION}.{name}](../{name}/README.md) as well.", ""]
    for entry, spec in entry_points.items():
        spec = spec or {}
        if len(entry_points) > 1:
            lines += [f"### Entry point `{entry}`", ""]
            if entry != "main":
                if spec.get("short_description"):
                    lines += [markdown(" ".join(str(spec["short_description"]).split())), ""]
                for text in paragraphs(spec.get("description")):
                    lines += [markdown(text), ""]
        lines += [*variables_table(spec.get("options") or {}), ""]
    lines += example_playbook(role, entry_points)
    return "\n".join(lines).rstrip("\n") + "\n"


def roles_with_specs(roles_dir: Path) -> tuple[list[Path], list[str]]:
    """Return the role directories that have argument specs, and a note for each role that has none."""
    roles, notes = [], []
    for role in sorted(path for path in roles_dir.iterdir() if path.is_dir()):
        if (role / "meta" / "argument_specs.yml").is_file():
            roles.append(role)
        else:
            notes.append(f"{role.name}: no meta/argument_specs.yml, skipped")
    return roles, notes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if a README is not up to date")
    parser.add_argument("roles_dir", type=Path, help="directory of the roles, e.g. roles")
    args = parser.parse_args(argv)
    if not args.roles_dir.is_dir():
        parser.error(f"{args.roles_dir} is not a directory")

    roles, notes = roles_with_specs(args.roles_dir)
    for note in notes:
        print(note, file=sys.stderr)
    failed, stale, written = [], [], []
    for role in roles:
        try:
            specs = yaml.safe_load((role / "meta" / "argument_specs.yml").read_text())
        except yaml.YAMLError as error:
            failed.append(f"{role.name}: meta/argument_specs.yml does not parse: {error}")
            continue
        if not isinstance(specs, dict) or not isinstance(specs.get("argument_specs"), dict):
            failed.append(f"{role.name}: meta/argument_specs.yml has no argument_specs mapping")
            continue
        text = render(role.name, specs)
        readme = role / "README.md"
        current = readme.read_text() if readme.is_file() else None
        if current == text:
            continue
        if args.check:
            stale.append(f"{readme}: {'missing' if current is None else 'out of date'}")
        else:
            readme.write_text(text)
            written.append(str(readme))

    for line in failed:
        print(line, file=sys.stderr)
    if args.check:
        for line in stale:
            print(line)
        if stale:
            print(f"{len(stale)} README(s) not up to date; run: python {GENERATOR} {args.roles_dir}")
        else:
            print(f"role READMEs: {len(roles)} up to date")
        return 1 if stale or failed else 0
    for path in written:
        print(f"wrote {path}")
    print(f"role READMEs: {len(roles)} roles, {len(written)} written")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
