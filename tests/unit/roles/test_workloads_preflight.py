"""The workloads role refuses a bad workloads_prefix or workloads_wheelhouse in its preflight, naming the variable.

workloads_prefix becomes the virtualenvs' paths and the sbatch example's; a line break, a space or a relative path
there would put files where nobody expects them. Each case is one ansible-playbook run of the role's preflight on
localhost (its assert stops every host of the play, so cases cannot share a run), with a Python path that does not
exist: the assertions run in the controller and no module can run.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

PLAY = [
    {
        "name": "workloads preflight",
        "hosts": "case",
        "gather_facts": False,
        "tasks": [
            {
                "name": "Check the workloads variables",
                "ansible.builtin.include_role": {"name": "hpcstack.cluster.workloads", "tasks_from": "preflight.yml"},
            }
        ],
    }
]


def run_preflight(ansible_playbook_json, tmp_path: Path, variables: dict) -> tuple[int, list[str]]:
    """Run the preflight with the variables; return the exit code and the messages of the failed assertions."""
    inventory = {
        "all": {
            "hosts": {"case": variables},
            "vars": {"ansible_connection": "local", "ansible_python_interpreter": "/nonexistent/python3"},
        }
    }
    (tmp_path / "hosts.yml").write_text(yaml.safe_dump(inventory))
    (tmp_path / "play.yml").write_text(yaml.safe_dump(PLAY, sort_keys=False))
    result = ansible_playbook_json("-i", str(tmp_path / "hosts.yml"), str(tmp_path / "play.yml"))
    report = json.loads(result.stdout)
    messages = []
    for play in report["plays"]:
        for task in play["tasks"]:
            host_result = task["hosts"].get("case", {})
            items = [host_result, *host_result.get("results", [])]
            # A failed check is an assert result (or loop item) that carries its `assertion`.
            messages += [str(item.get("msg", "")) for item in items if "assertion" in item]
    return result.returncode, messages


@pytest.mark.parametrize(
    "variables",
    [{}, {"workloads_prefix": "/srv/hpc-apps"}, {"workloads_wheelhouse": "/"}],
    ids=["defaults", "other-prefix", "wheelhouse-directory"],
)
def test_valid_values_pass(ansible_playbook_json, tmp_path, variables):
    returncode, messages = run_preflight(ansible_playbook_json, tmp_path, variables)
    assert returncode == 0, messages
    assert messages == []


@pytest.mark.parametrize(
    ("variables", "named"),
    [
        ({"workloads_prefix": "opt/hpcstack"}, "workloads_prefix"),
        ({"workloads_prefix": "/opt/hpc stack"}, "workloads_prefix"),
        ({"workloads_prefix": "/opt/hpcstack/"}, "workloads_prefix"),
        ({"workloads_prefix": "/opt/hpcstack\n/etc"}, "workloads_prefix"),
        ({"workloads_prefix": 5}, "workloads_prefix"),
        ({"workloads_wheelhouse": "/nonexistent/wheels"}, "workloads_wheelhouse"),
    ],
    ids=["relative", "space", "final-slash", "newline", "number", "wheelhouse-missing"],
)
def test_bad_values_fail_naming_the_variable(ansible_playbook_json, tmp_path, variables, named):
    returncode, messages = run_preflight(ansible_playbook_json, tmp_path, variables)
    assert returncode == 2, messages
    assert len(messages) == 1, messages
    assert messages[0].startswith(f"{named} is "), messages
