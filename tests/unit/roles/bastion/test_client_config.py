"""The bastion role's client_config entry point writes no ssh_config from names that could add SSH keywords.

An EC2 Name tag of `evil` + newline + `ProxyCommand ...` once became a Host line of the operator's ssh_config, and
`ssh -G` ran the command. Each test runs the entry point on localhost (local connection, files in tmp_path only).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[4]


def client_config(tmp_path: Path, compute: dict, options: dict | None = None) -> subprocess.CompletedProcess[str]:
    """Run client_config for an inventory with a bastion, a controller and `compute` ({name: host vars})."""
    inventory = {
        "all": {
            "vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable},
            "children": {
                "bastion": {"hosts": {"bastion01": {"ansible_host": "203.0.113.10"}}},
                "slurm_controller": {"hosts": {"ctl01": {"ansible_host": "10.0.1.2"}}},
                "slurm_compute": {"hosts": compute},
            },
        }
    }
    plays = [
        {
            "hosts": "localhost",
            "gather_facts": False,
            "tasks": [
                {
                    "ansible.builtin.include_role": {"name": "hpcstack.cluster.bastion", "tasks_from": "client_config"},
                    "vars": {
                        "bastion_client_config_path": str(tmp_path / "ssh_config"),
                        "bastion_client_config_options": options or {"User": "operator"},
                    },
                }
            ],
        }
    ]
    (tmp_path / "hosts.yml").write_text(yaml.safe_dump(inventory))
    (tmp_path / "play.yml").write_text(yaml.safe_dump(plays))
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_STRATEGY="linear")
    return subprocess.run(
        ["ansible-playbook", "-i", str(tmp_path / "hosts.yml"), str(tmp_path / "play.yml")],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip


def test_valid_names_make_the_ssh_config(tmp_path: Path) -> None:
    result = client_config(tmp_path, {"c01": {"ansible_host": "10.0.1.3"}, "ip-10-0-1-4.internal": None})
    assert result.returncode == 0, result.stdout[-3000:]
    text = (tmp_path / "ssh_config").read_text()
    assert "Host c01\n    HostName 10.0.1.3\n" in text
    assert "ProxyJump bastion" in text


@pytest.mark.parametrize(
    ("compute", "options", "shown"),
    [
        ({"c01": {"ansible_host": "10.0.1.3\nProxyCommand touch /tmp/pwned"}}, None, "ProxyCommand touch"),
        ({"evil ProxyCommand=touch": None}, None, "evil ProxyCommand=touch"),
        ({"c*": None}, None, "c*"),
        ({"c01": None}, {"User": "operator\nProxyCommand touch /tmp/pwned"}, "User operator\\nProxyCommand"),
        ({"c01": None}, {"Proxy Command": "x"}, "Proxy Command x"),
    ],
    ids=["address-with-newline", "name-with-space", "name-pattern", "option-value-newline", "option-keyword"],
)
def test_hostile_names_and_options_are_refused_before_writing(tmp_path: Path, compute, options, shown) -> None:
    result = client_config(tmp_path, compute, options)
    assert result.returncode != 0
    assert "cannot go into an ssh_config" in result.stdout, result.stdout[-3000:]
    assert shown in result.stdout.replace("\\\\n", "\\n")
    assert not (tmp_path / "ssh_config").exists()
