"""Check that every role's meta/argument_specs.yml documents exactly its defaults/main.yml.

For each role: every variable in defaults/main.yml is an option of the `main` entry point with the same
default; every option with a default is in defaults/main.yml; an option without a default (a secret or a
required value) is not; every public variable starts with the role name, or for an internal role that holds a
model shared by several roles (`<family>_common`, e.g. slurm_common) with the family name (`slurm_`).
Exit 1 listing each mismatch.

Usage: check_argument_specs.py ROLES_DIR
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml


def load_yaml(path: Path) -> dict:
    """Return the mapping in a YAML file ({} for an empty or missing file)."""
    if not path.is_file():
        return {}
    data = yaml.safe_load(path.read_text())
    return data or {}


def role_problems(role: Path) -> list[str]:
    """Return the mismatches between a role's defaults and its argument specs, one line each."""
    name = role.name
    prefix = name.removesuffix("_common") + "_"
    defaults = load_yaml(role / "defaults" / "main.yml")
    specs_file = role / "meta" / "argument_specs.yml"
    if not specs_file.is_file():
        return [f"{name}: meta/argument_specs.yml is missing"]
    entry = load_yaml(specs_file).get("argument_specs", {}).get("main")
    if entry is None:
        return [f"{name}: meta/argument_specs.yml has no 'main' entry point"]
    options = entry.get("options") or {}

    problems = []
    for var, value in defaults.items():
        if var not in options:
            problems.append(f"{name}: default '{var}' is not documented in meta/argument_specs.yml")
        elif "default" not in options[var]:
            problems.append(f"{name}: '{var}' has a value in defaults/main.yml but no default in its spec")
        elif options[var]["default"] != value:
            problems.append(
                f"{name}: '{var}' defaults to {value!r} in defaults/main.yml but to "
                f"{options[var]['default']!r} in meta/argument_specs.yml"
            )
    for var, spec in options.items():
        if not var.startswith(prefix):
            problems.append(f"{name}: option '{var}' does not start with '{prefix}'")
        if "default" in spec and var not in defaults:
            problems.append(f"{name}: '{var}' has a default in its spec but is missing from defaults/main.yml")
        if not spec.get("description"):
            problems.append(f"{name}: option '{var}' has no description")
    return problems


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    roles = sorted(p for p in Path(argv[1]).iterdir() if (p / "tasks").is_dir())
    problems = [line for role in roles for line in role_problems(role)]
    for line in problems:
        print(line)
    print(f"argument specs: {len(roles)} roles checked, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
