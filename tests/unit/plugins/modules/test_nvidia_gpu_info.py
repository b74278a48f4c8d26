"""The nvidia_gpu_info module's I/O: which files and commands it reads, on a host model's recorded outputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args
from ansible_collections.hpcstack.cluster.plugins.modules import nvidia_gpu_info

FIXTURES = Path(__file__).parents[1] / "module_utils" / "fixtures" / "nvidia"


class Exit(Exception):
    pass


def host_files(model: str | None) -> dict[str, str]:
    """The /proc files of a recorded host, under their real paths."""
    if model is None:
        return {}
    root = FIXTURES / model
    files = {"/proc/driver/nvidia/version": (root / "version").read_text()}
    for info in sorted((root / "gpus").glob("*/information")):
        bus = next(line for line in info.read_text().splitlines() if line.startswith("Bus Location")).split()[-1]
        files[f"/proc/driver/nvidia/gpus/{bus}/information"] = info.read_text()
    return files


def run(
    monkeypatch, model: str | None, *, driver: bool, lspci: bool = True, smi_rc: int = 0, **args
) -> tuple[dict, list]:
    """Run the module against a recorded host; return its result and the commands it ran."""
    root = FIXTURES / model if model else None
    files = host_files(model) if driver else {}
    calls: list[list[str]] = []

    def run_command(_self, argv, **_kwargs):
        calls.append(argv)
        if argv[0].endswith("lspci"):
            return 0, (root / "lspci.txt").read_text() if root else "", ""
        if argv[0].endswith("nvidia-smi"):
            if smi_rc:
                return smi_rc, "", "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver."
            return 0, (root / "nvidia-smi.csv").read_text(), ""
        raise AssertionError(f"unexpected command {argv}")

    devices = []
    if root and driver:
        for line in (root / "devices.txt").read_text().splitlines():
            name, kind, major, _minor = line.split()
            devices.append((name, kind == "c", int(major)))
    monkeypatch.setattr(basic.AnsibleModule, "run_command", run_command)
    monkeypatch.setattr(
        basic.AnsibleModule,
        "get_bin_path",
        lambda _self, name, *_a, **_k: f"/usr/bin/{name}" if lspci or name != "lspci" else None,
    )
    monkeypatch.setattr(nvidia_gpu_info, "read", lambda path: files.get(path, ""))
    monkeypatch.setattr(
        nvidia_gpu_info.glob,
        "glob",
        lambda pattern: (
            sorted(p for p in files if p.startswith("/proc/driver/nvidia/gpus/")) if "gpus" in pattern else []
        ),
    )
    monkeypatch.setattr(nvidia_gpu_info, "dev_entries", lambda: devices)
    result: dict = {}

    def exit_json(_self, **kwargs):
        result.update(kwargs)
        raise Exit

    def fail_json(_self, **kwargs):
        result.update(kwargs, failed=True)
        raise Exit

    monkeypatch.setattr(basic.AnsibleModule, "exit_json", exit_json)
    monkeypatch.setattr(basic.AnsibleModule, "fail_json", fail_json)
    with patch_module_args(args), pytest.raises(Exit):
        nvidia_gpu_info.main()
    json.dumps(result)  # what a module returns must be JSON
    return result, calls


def test_a_host_with_its_driver(monkeypatch):
    result, calls = run(monkeypatch, "a100-sxm4-x8", driver=True)
    gpus = result["ansible_facts"]["hpcstack_gpus"]
    assert result["changed"] is False
    assert gpus["source"] == "nvidia-smi"
    assert gpus["gres"] == "gpu:a100:8"
    assert gpus["nvidia_smi_error"] == ""
    assert [c[0] for c in calls] == ["/usr/bin/nvidia-smi", "/usr/bin/lspci"]
    assert calls[0][1].startswith("--query-gpu=index,name,uuid,pci.bus_id")


def test_without_a_driver_nvidia_smi_is_not_run(monkeypatch):
    result, calls = run(monkeypatch, "t4-x1", driver=False)
    gpus = result["ansible_facts"]["hpcstack_gpus"]
    assert gpus["source"] == "pci"
    assert gpus["needs_driver"] is True
    assert [c[0] for c in calls] == ["/usr/bin/lspci"]


def test_a_failing_nvidia_smi_falls_back_to_proc_and_says_why(monkeypatch):
    result, _calls = run(monkeypatch, "v100-sxm2-x4", driver=True, smi_rc=9)
    gpus = result["ansible_facts"]["hpcstack_gpus"]
    assert gpus["source"] == "proc"
    assert gpus["gres"] == "gpu:v100:4"
    assert "couldn't communicate with the NVIDIA driver" in gpus["nvidia_smi_error"]


def test_no_gpu(monkeypatch):
    result, calls = run(monkeypatch, None, driver=False, lspci=False)
    gpus = result["ansible_facts"]["hpcstack_gpus"]
    assert gpus["present"] is False
    assert gpus["source"] == "none"
    assert calls == []  # no driver: no nvidia-smi; no pciutils: sysfs


def test_a_bad_gres_type_is_refused(monkeypatch):
    result, calls = run(monkeypatch, "t4-x1", driver=True, gres_type="t4 16gb")
    assert result["failed"] is True
    assert "gres_type 't4 16gb' is not a valid GRES type" in result["msg"]
    assert calls == []
