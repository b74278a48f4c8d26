"""Check that every role's meta/argument_specs.yml documents exactly its defaults/main.yml.

For each role: it has a `main` entry point; every variable in defaults/main.yml is an option of an entry point
(usually `main`; the variables of one entry point alone, e.g. slurm_controller's `accounts`, of that one) with the
same default in each entry point that documents it; every option with a default is in defaults/main.yml; an option
without a default (a secret or a required value) is not; every public variable starts with the role name, or for an
internal role that holds a model shared by several roles (`<family>_common`, e.g. slurm_common) with the family name
(`slurm_`), or with a prefix ENTRY_POINT_PREFIXES allows that entry point. Exit 1 listing each mismatch.

Usage: check_argument_specs.py ROLES_DIR
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

# Entry points whose variables kept the names they had before a role held them (inventories set them already):
# (role, entry point) -> the other prefix its options may have.
ENTRY_POINT_PREFIXES = {("slurm_controller", "accounts"): "slurm_accounting_"}


def load_yaml(path: Path) -> dict:
    """Return the mapping in a YAML file ({} for an empty or missing file)."""
    if not path.is_file():
        return {}
    data = yaml.safe_load(path.read_text())
    return data or {}


def role_problems(role: Path) -> list[str]:
    """Return the mismatches between a role's defaults and its argument specs, one line each."""
    name = role.name
    role_prefix = name.removesuffix("_common") + "_"
    defaults = load_yaml(role / "defaults" / "main.yml")
    specs_file = role / "meta" / "argument_specs.yml"
    if not specs_file.is_file():
        return [f"{name}: meta/argument_specs.yml is missing"]
    entry_points = load_yaml(specs_file).get("argument_specs") or {}
    if "main" not in entry_points:
        return [f"{name}: meta/argument_specs.yml has no 'main' entry point"]
    # Option name -> (entry point, spec) for each entry point that documents it, `main` first.
    documented: dict[str, list[tuple[str, dict]]] = {}
    for entry in ["main", *(e for e in entry_points if e != "main")]:
        for var, spec in ((entry_points[entry] or {}).get("options") or {}).items():
            documented.setdefault(var, []).append((entry, spec or {}))

    problems = []
    for var, value in defaults.items():
        if var not in documented:
            problems.append(f"{name}: default '{var}' is not documented in meta/argument_specs.yml")
        for entry, spec in documented.get(var, []):
            where = "" if entry == "main" else f" (entry point '{entry}')"
            if "default" not in spec:
                problems.append(f"{name}: '{var}' has a value in defaults/main.yml but no default in its spec{where}")
            elif spec["default"] != value:
                problems.append(
                    f"{name}: '{var}' defaults to {value!r} in defaults/main.yml but to "
                    f"{spec['default']!r} in meta/argument_specs.yml{where}"
                )
    for var, entries in documented.items():
        for entry, spec in entries:
            where = "" if entry == "main" else f" of entry point '{entry}'"
            prefixes = (role_prefix, *filter(None, [ENTRY_POINT_PREFIXES.get((name, entry))]))
            if not var.startswith(prefixes):
                allowed = "' or '".join(prefixes)
                problems.append(f"{name}: option '{var}'{where} does not start with '{allowed}'")
            if "default" in spec and var not in defaults:
                problems.append(
                    f"{name}: '{var}'{where} has a default in its spec but is missing from defaults/main.yml"
                )
            if not spec.get("description"):
                problems.append(f"{name}: option '{var}'{where} has no description")
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
