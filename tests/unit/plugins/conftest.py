"""Slurm commands recorded from real clusters, for the tests of the Slurm modules and their shared runner.

tools/capture_slurm_fixtures.py recorded them in modules/fixtures/slurm-<version>/<name>.json from two clusters:
Slurm 22.05.8 (Debian 12, accounting cluster `hpc`) and Slurm 24.11.5 (Debian 13, cluster `debian13`); the
scontrol_* recordings of slurm_node, slurm_partition, slurm_reservation and slurm_info come from two Slurm-only
clusters of the same versions, `fx22` and `fx24` (`--scontrol-only`). The `slurm` fixture runs a test once per
version; `slurm.commands(...)` gives a stand-in for run_command that answers from the named recordings only.
"""

from __future__ import annotations

import json
import os
import shlex
from dataclasses import dataclass
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "modules" / "fixtures"
CLUSTERS = {"22.05": "hpc", "24.11": "debian13"}  # the accounting cluster of each recorded Slurm version


def plain_argv(args: list[str]) -> list[str]:
    """argv without the runner's `timeout N` prefix and with the binary's bare name, as the recordings hold it."""
    args = [str(arg) for arg in args]
    if os.path.basename(args[0]) == "timeout":
        assert args[1].isdigit(), f"timeout without seconds: {args}"
        args = args[2:]
    return [os.path.basename(args[0]), *args[1:]]


class RecordedCommands:
    """A run_command stand-in that answers from recordings, each one once, and remembers every call.

    A call is answered by the first unused recording with the same argv; a command that has no recording left fails
    the test. `unused` is what the code under test did not run.
    """

    def __init__(self, recordings: list[dict]):
        self.unused = list(recordings)
        self.calls: list[list[str]] = []
        self.environments: list[dict] = []

    def __call__(self, args, environ_update=None, **_kwargs):
        argv = plain_argv(args)
        self.calls.append(argv)
        self.environments.append(dict(environ_update or {}))
        for index, recording in enumerate(self.unused):
            if recording["argv"] == argv:
                del self.unused[index]
                return recording["rc"], recording["stdout"], recording["stderr"]
        pytest.fail(f"no recording (left) for the command: {shlex.join(argv)}", pytrace=False)

    @property
    def writes(self) -> list[list[str]]:
        """The calls that change Slurm (`sacctmgr -i ...`)."""
        return [argv for argv in self.calls if argv[:2] == ["sacctmgr", "-i"]]

    @property
    def unused_names(self) -> list[str]:
        return [shlex.join(recording["argv"]) for recording in self.unused]


@dataclass
class SlurmVersion:
    """The recordings of one Slurm version."""

    version: str
    cluster: str

    def recording(self, name: str) -> dict:
        return json.loads((FIXTURES / f"slurm-{self.version}" / f"{name}.json").read_text())

    def commands(self, *names: str) -> RecordedCommands:
        return RecordedCommands([self.recording(name) for name in names])


@pytest.fixture(params=sorted(CLUSTERS), ids=lambda version: f"slurm-{version}")
def slurm(request) -> SlurmVersion:
    return SlurmVersion(request.param, CLUSTERS[request.param])
