"""tools/check_argument_specs.py finds every way a role's defaults and argument specs can drift apart."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
_spec = importlib.util.spec_from_file_location("check_argument_specs", ROOT / "tools" / "check_argument_specs.py")
checker = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(checker)


def make_role(tmp_path: Path, defaults: dict, options: dict, name: str = "demo", others: dict | None = None) -> Path:
    """A role with these defaults, these options of `main` and the other entry points of others ({entry: options})."""
    role = tmp_path / name
    (role / "tasks").mkdir(parents=True)
    (role / "defaults").mkdir()
    (role / "meta").mkdir()
    (role / "defaults" / "main.yml").write_text(yaml.safe_dump(defaults))
    entry_points = {"main": options, **(others or {})}
    specs = {
        "argument_specs": {
            entry: {"short_description": entry, "options": entry_options}
            for entry, entry_options in entry_points.items()
        }
    }
    (role / "meta" / "argument_specs.yml").write_text(yaml.safe_dump(specs))
    return role


def test_matching_role_has_no_problems(tmp_path):
    role = make_role(
        tmp_path,
        {"demo_port": 1, "demo_list": ["a"]},
        {
            "demo_port": {"description": "x", "type": "int", "default": 1},
            "demo_list": {"description": "x", "type": "list", "default": ["a"]},
            "demo_secret": {"description": "x", "type": "str", "no_log": True},
        },
    )
    assert checker.role_problems(role) == []


@pytest.mark.parametrize(
    ("defaults", "options", "expected"),
    [
        ({"demo_x": 1}, {}, "default 'demo_x' is not documented"),
        ({"demo_x": 1}, {"demo_x": {"description": "x", "default": 2}}, "'demo_x' defaults to 1"),
        ({}, {"demo_x": {"description": "x", "default": 2}}, "missing from defaults/main.yml"),
        ({"demo_x": 1}, {"demo_x": {"description": "x"}}, "no default in its spec"),
        ({}, {"other_x": {"description": "x"}}, "does not start with 'demo_'"),
        ({}, {"demo_x": {"type": "str"}}, "has no description"),
    ],
)
def test_each_kind_of_drift_is_reported(tmp_path, defaults, options, expected):
    problems = checker.role_problems(make_role(tmp_path, defaults, options))
    assert len(problems) == 1
    assert expected in problems[0]
    assert problems[0].startswith("demo: ")


def test_a_common_role_shares_its_family_prefix(tmp_path):
    """slurm_common holds the model of slurm_controller, slurm_compute, ...: its variables start with slurm_."""
    role = make_role(tmp_path, {"slurm_x": 1}, {"slurm_x": {"description": "x", "default": 1}}, name="slurm_common")
    assert checker.role_problems(role) == []
    options = {"slurm_common_x": {"description": "x"}, "other_x": {"description": "x"}}
    role = make_role(tmp_path, {}, options, name="x_common")
    assert sorted(p.split(": ", 1)[1] for p in checker.role_problems(role)) == [
        "option 'other_x' does not start with 'x_'",
        "option 'slurm_common_x' does not start with 'x_'",
    ]


def test_an_entry_point_documents_its_own_defaults(tmp_path):
    """A variable only one other entry point takes is documented there alone, held to the same rules."""
    others = {"extra": {"demo_x": {"description": "x", "type": "list", "default": []}}}
    assert checker.role_problems(make_role(tmp_path, {"demo_x": []}, {}, others=others)) == []

    others = {"extra": {"demo_x": {"description": "x", "default": [1]}, "demo_y": {"description": "x", "default": 2}}}
    problems = checker.role_problems(make_role(tmp_path / "drift", {"demo_x": []}, {}, others=others))
    assert problems == [
        "demo: 'demo_x' defaults to [] in defaults/main.yml but to [1] in meta/argument_specs.yml"
        " (entry point 'extra')",
        "demo: 'demo_y' of entry point 'extra' has a default in its spec but is missing from defaults/main.yml",
    ]


def test_an_option_shared_by_entry_points_must_agree_in_each(tmp_path):
    shared = {"description": "x", "default": 1}
    others = {"extra": {"demo_x": {**shared, "default": 2}}}
    problems = checker.role_problems(make_role(tmp_path, {"demo_x": 1}, {"demo_x": shared}, others=others))
    assert problems == [
        "demo: 'demo_x' defaults to 1 in defaults/main.yml but to 2 in meta/argument_specs.yml (entry point 'extra')"
    ]


def test_only_the_listed_entry_point_takes_its_older_prefix(tmp_path):
    """slurm_controller's `accounts` takes slurm_accounting_*, the names inventories set before the role held them."""
    option = {"slurm_accounting_qos": {"description": "x", "type": "list", "default": []}}
    defaults = {"slurm_accounting_qos": []}
    role = make_role(tmp_path, defaults, {}, name="slurm_controller", others={"accounts": option})
    assert checker.role_problems(role) == []
    role = make_role(tmp_path / "other", defaults, {}, name="slurm_controller", others={"node_image": option})
    assert checker.role_problems(role) == [
        "slurm_controller: option 'slurm_accounting_qos' of entry point 'node_image' does not start with "
        "'slurm_controller_'"
    ]
    role = make_role(tmp_path / "main", defaults, option, name="slurm_controller")
    assert checker.role_problems(role) == [
        "slurm_controller: option 'slurm_accounting_qos' does not start with 'slurm_controller_'"
    ]


def test_missing_main_entry_point_is_reported(tmp_path):
    role = make_role(tmp_path, {}, {})
    (role / "meta" / "argument_specs.yml").write_text(yaml.safe_dump({"argument_specs": {"extra": {"options": {}}}}))
    assert checker.role_problems(role) == ["demo: meta/argument_specs.yml has no 'main' entry point"]


def test_missing_specs_file_is_reported(tmp_path):
    role = make_role(tmp_path, {}, {})
    (role / "meta" / "argument_specs.yml").unlink()
    assert checker.role_problems(role) == ["demo: meta/argument_specs.yml is missing"]


def test_main_exit_code_and_summary(tmp_path, capsys):
    make_role(tmp_path, {"demo_x": 1}, {"demo_x": {"description": "x", "default": 1}}, name="demo")
    make_role(tmp_path, {"bad_x": 1}, {}, name="bad")
    assert checker.main(["check", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "bad: default 'bad_x' is not documented" in out
    assert "2 roles checked, 1 problems" in out


def test_the_collection_roles_pass():
    assert checker.main(["check", str(ROOT / "roles")]) == 0
