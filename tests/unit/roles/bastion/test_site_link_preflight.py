"""A bad site link plan stops playbooks/site_link.yml in its first check, naming the variable, before any host changes.

Each case runs the real playbook on a hub, a spoke and a cloud-side host that use the local connection with a Python
interpreter that does not exist: no module can run, so a run that gets past the checks fails at its first module
(the package install), and one stopped by them shows that nothing else was tried. Every message of the plan check
has a unit test of its own (tests/unit/plugins/filter/test_site_link.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

PLAN_CHECK = "Check the site link's address plan"
INSTALL = "Install WireGuard (userspace wireguard-go and the wg tools), or ip for the route"
GOOD = {
    "bastion_site_link_endpoint": "203.0.113.10",
    "bastion_site_link_cloud_cidrs": ["10.0.1.0/24"],
    "bastion_site_link_onprem_cidrs": ["172.30.0.0/24"],
    "bastion_site_link_route_via": "10.0.1.10",
}


def run(tmp_path: Path, overrides: dict, ansible_playbook_json) -> tuple[int, dict[str, list[tuple[str, dict]]]]:
    """Run playbooks/site_link.yml; return its exit status and, per task name, the (host, result) pairs it ran."""
    inventory = {
        "all": {
            "vars": {"ansible_connection": "local", "ansible_python_interpreter": "/nonexistent/python3"},
            "children": {
                "bastion": {"hosts": {"hub": None}},
                "onprem": {"hosts": {"spoke": {"bastion_site_link_address": "10.254.0.22"}}},
                "cluster": {"hosts": {"controller": None}, "children": {"onprem": None}},
            },
        }
    }
    (tmp_path / "hosts.yml").write_text(yaml.safe_dump(inventory))
    (tmp_path / "vars.json").write_text(json.dumps({**GOOD, **overrides}))
    result = ansible_playbook_json(
        "-i", str(tmp_path / "hosts.yml"), "playbooks/site_link.yml", "-e", f"@{tmp_path / 'vars.json'}"
    )
    tasks: dict[str, list[tuple[str, dict]]] = {}
    for play in json.loads(result.stdout)["plays"]:
        for task in play["tasks"]:
            name = task["task"]["name"].split(" : ")[-1]
            tasks.setdefault(name, []).extend(task["hosts"].items())
    return result.returncode, tasks


def test_overlapping_networks_stop_the_run_before_anything_changes(tmp_path, ansible_playbook_json):
    bad = {"bastion_site_link_onprem_cidrs": ["10.0.0.0/16"], "bastion_site_link_endpoint": ""}
    status, tasks = run(tmp_path, bad, ansible_playbook_json)
    assert status != 0
    [(_host, result)] = [item for item in tasks[PLAN_CHECK] if "failed" in item[1] or "msg" in item[1]]
    assert result.get("failed"), result
    assert "bastion_site_link_cloud_cidrs[0] (10.0.1.0/24) overlaps bastion_site_link_onprem_cidrs[0]" in result["msg"]
    assert "bastion_site_link_endpoint is empty" in result["msg"]
    # Nothing ran after the check, on any host.
    assert INSTALL not in tasks, sorted(tasks)


def test_a_sound_plan_passes_the_checks(tmp_path, ansible_playbook_json):
    # The same run with the plan unchanged gets past the check to the install, where the missing interpreter stops it:
    # the check above cannot refuse everything.
    status, tasks = run(tmp_path, {}, ansible_playbook_json)
    assert status != 0
    assert not any(result.get("failed") for _host, result in tasks[PLAN_CHECK])
    assert {host for host, _result in tasks[INSTALL]} == {"hub", "spoke", "controller"}
