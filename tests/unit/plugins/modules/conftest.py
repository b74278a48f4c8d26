"""Run a module's main() against recorded Slurm commands: `run_module(module, args, commands, check_mode, diff)`.

AnsibleModule.run_command answers from the recordings (see ../conftest.py; a command without a recording fails
the test), get_bin_path finds every program in /usr/bin, and exit_json/fail_json raise with the module's result.
After the run every recording must have been used: the tests list exactly the commands a module runs.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from typing import Any
from unittest import mock

import pytest
from ansible.module_utils import basic

try:
    from ansible.module_utils.testing import patch_module_args
except ImportError:  # ansible-core < 2.19

    @contextlib.contextmanager
    def patch_module_args(args: dict[str, Any]):
        with mock.patch.object(basic, "_ANSIBLE_ARGS", json.dumps({"ANSIBLE_MODULE_ARGS": args}).encode()):
            yield


class ModuleExit(Exception):
    """exit_json was called."""

    def __init__(self, result: dict):
        super().__init__(result)
        self.result = result


class ModuleFail(ModuleExit):
    """fail_json was called."""


def exit_json(_module, **result):
    raise ModuleExit(result)


def fail_json(_module, msg, **result):
    raise ModuleFail({"failed": True, "msg": msg, **result})


@dataclass
class ModuleRun:
    result: dict
    failed: bool
    sacctmgr: Any  # the RecordedCommands the module ran: .calls, .writes

    @property
    def commands(self) -> list[str]:
        return self.result["commands"]

    @property
    def scontrol_writes(self) -> list[list[str]]:
        """The calls that change Slurm through scontrol (update, create, delete), as sacctmgr.writes for sacctmgr."""
        return [
            argv
            for argv in self.sacctmgr.calls
            if argv[0] == "scontrol" and argv[1:2] in (["update"], ["create"], ["delete"])
        ]


@pytest.fixture
def run_module(monkeypatch):
    def run(module, args: dict, commands, check_mode: bool = False, diff: bool = False) -> ModuleRun:
        monkeypatch.setattr(basic.AnsibleModule, "run_command", lambda _self, argv, **kwargs: commands(argv, **kwargs))
        monkeypatch.setattr(basic.AnsibleModule, "get_bin_path", lambda _self, name, *_a, **_kw: f"/usr/bin/{name}")
        monkeypatch.setattr(basic.AnsibleModule, "exit_json", exit_json)
        monkeypatch.setattr(basic.AnsibleModule, "fail_json", fail_json)
        module_args = {**args, "_ansible_check_mode": check_mode, "_ansible_diff": diff}
        with patch_module_args(module_args), pytest.raises(ModuleExit) as caught:
            module.main()
        result = caught.value.result
        assert commands.unused == [], f"recorded commands the module did not run: {commands.unused_names}"
        for environment in commands.environments:
            assert environment.get("LC_ALL") == "C", "Slurm's commands must run under LC_ALL=C"
        return ModuleRun(result, isinstance(caught.value, ModuleFail), commands)

    return run


@pytest.fixture
def refused_before_any_command(slurm, run_module):
    """Return a check that a module refuses `args` with exactly `msg`, on one line, before it runs any Slurm command."""

    def check(module, args: dict, msg: str) -> None:
        run = run_module(module, args, slurm.commands())
        assert run.failed
        assert run.result["msg"] == msg
        assert "\n" not in run.result["msg"]
        assert run.sacctmgr.calls == []  # every Slurm command is recorded, reads too: none reached Slurm
        assert run.sacctmgr.writes == []
        assert run.result["commands"] == []

    return check
