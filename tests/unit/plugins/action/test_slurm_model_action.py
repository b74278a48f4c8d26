"""slurm_model reads the inventory once, and describes the hosts a run does not reach from the controller's record.

Each test runs ansible-playbook on a local-connection inventory (nothing is contacted but this machine, read-only).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[4]


def run(tmp_path: Path, hosts: dict, task: dict, *options: str) -> subprocess.CompletedProcess[str]:
    """Run one slurm_model task (run_once, delegated to the controller) and print what every host registered."""
    inventory = {
        "all": {
            "vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable},
            "children": {
                "slurm_controller": {"hosts": {"ctl": None}},
                "slurm_compute": {"hosts": hosts},
                "cluster": {"children": {"slurm_controller": None, "slurm_compute": None}},
            },
        }
    }
    plays = [
        {
            "hosts": "cluster",
            "gather_facts": False,
            "tasks": [
                {
                    "hpcstack.cluster.slurm_model": task,
                    "delegate_to": "ctl",
                    "run_once": True,
                    "register": "model",
                },
                {"ansible.builtin.debug": {"msg": "{{ inventory_hostname }} {{ model.model | to_json }}"}},
            ],
        }
    ]
    (tmp_path / "hosts.yml").write_text(yaml.safe_dump(inventory))
    (tmp_path / "play.yml").write_text(yaml.safe_dump(plays))
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_STDOUT_CALLBACK="json")
    return subprocess.run(
        ["ansible-playbook", "-i", str(tmp_path / "hosts.yml"), str(tmp_path / "play.yml"), *options],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip


def results(output: str) -> tuple[dict, dict]:
    """Return the model task's result and {host: model} as the debug task printed it."""
    report = json.loads(output)
    # The json callback lists a task once per host under any strategy but linear (ansible.cfg's is Mitogen's).
    tasks: list[dict] = []
    for entry in report["plays"][0]["tasks"]:
        if tasks and tasks[-1]["task"]["id"] == entry["task"]["id"]:
            tasks[-1]["hosts"].update(entry["hosts"])
        else:
            tasks.append(entry)
    model_task = next(iter(tasks[0]["hosts"].values()))
    seen = {}
    for host, result in tasks[1]["hosts"].items():
        name, text = result["msg"].split(" ", 1)
        assert name == host
        seen[host] = json.loads(text)
    return model_task, seen


@pytest.fixture
def record(tmp_path: Path) -> Path:
    """The controller's record of two hosts' hardware, as slurm_controller writes it."""
    path = tmp_path / "hpcstack-hardware.json"
    path.write_text(json.dumps({
        "ctl": {"hostname": "head"},
        "cn01": {"hostname": "cn01", "processor_vcpus": 8, "memtotal_mb": 32000},
        "cn02": {"hostname": "cn02", "processor_vcpus": 8, "memtotal_mb": 32000,
                 "hpcstack_gpus": {"gres": "gpu:t4:1", "usable": 1, "nvml_library": False, "mig": False,
                                   "gpus": [{"type": "t4", "file": "/dev/nvidia0"}]}},
    }))  # fmt: skip
    return path


def test_the_model_is_computed_once_and_every_host_gets_it(tmp_path):
    hosts = {f"cn{i:02d}": {"slurm_node": {"CPUs": 4, "RealMemory": 8000}} for i in range(1, 6)}
    result = run(tmp_path, hosts, {"cluster_name": "hpc", "hardware_record": str(tmp_path / "none.json")})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    model_task, seen = results(result.stdout)
    assert model_task["model"]["node_lines"] == ["NodeName=cn[01-05] CPUs=4 RealMemory=8000"]
    assert set(seen) == {"ctl", *hosts}
    assert all(model == model_task["model"] for model in seen.values())


def test_hosts_without_facts_are_described_by_the_controllers_record(tmp_path, record):
    hosts = {"cn01": None, "cn02": None, "cn03": {"slurm_node": {"CPUs": 2, "RealMemory": 4000}}}
    result = run(tmp_path, hosts, {"cluster_name": "hpc", "hardware_record": str(record)})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    model = results(result.stdout)[0]["model"]
    assert model["recorded_hardware_hosts"] == ["cn01", "cn02", "ctl"]
    assert model["node_lines"] == [
        "NodeName=cn01 CPUs=8 RealMemory=32000",
        "NodeName=cn02 CPUs=8 RealMemory=32000 Gres=gpu:t4:1",
        "NodeName=cn03 CPUs=2 RealMemory=4000",
    ]
    assert model["gres_conf_lines"] == ["NodeName=cn02 Name=gpu Type=t4 File=/dev/nvidia0"]
    assert model["hardware"]["cn02"]["hpcstack_gpus"]["gres"] == "gpu:t4:1"
    # The controller is named as its facts named it when the record was written.
    assert model["controller_name"] == "head"
    assert model["conf"]["SlurmctldHost"] == "head"
    assert model["hardware"]["ctl"] == {"hostname": "head"}


def test_a_host_nothing_describes_fails_the_play_naming_what_to_do(tmp_path, record):
    hosts = {"cn01": None, "cn09": None}
    result = run(tmp_path, hosts, {"cluster_name": "hpc", "hardware_record": str(record)})
    assert result.returncode != 0
    message = results_failure(result.stdout)
    assert "slurm_node.CPUs of compute host cn09 ('cn09') is None" in message
    assert "1 compute host(s) have no hardware facts in this run and are not in the controller's record" in message
    assert "cn01" not in message


def test_bad_options_fail_before_anything_naming_the_variable(tmp_path):
    hosts = {"cn01": {"slurm_node": {"CPUs": 2, "RealMemory": 4000}}}
    task = {"cluster_name": "hpc", "conf_options": {"SlurmUser": "root\nAuthType=auth/none"}}
    result = run(tmp_path, hosts, task)
    assert result.returncode != 0
    assert "slurm_conf_options.SlurmUser is" in results_failure(result.stdout)


def results_failure(output: str) -> str:
    """Return the failure message of the model task."""
    tasks = json.loads(output)["plays"][0]["tasks"]
    return next(iter(tasks[0]["hosts"].values()))["msg"]
