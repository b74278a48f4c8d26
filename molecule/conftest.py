"""Fixtures shared by the testinfra tests of every molecule scenario, and of the main job's cluster (tests/cluster).

Molecule runs the tests with its inventory in MOLECULE_INVENTORY_FILE and its Ansible settings in the
environment; tests/cluster/conftest.py loads these fixtures with HPCSTACK_TEST_INVENTORY (inventories/local) instead.
They reach any node of the inventory by name and run playbooks against it.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import testinfra
import testinfra.utils.ansible_runner
import yaml

INVENTORY = os.environ.get("MOLECULE_INVENTORY_FILE") or os.environ.get("HPCSTACK_TEST_INVENTORY", "")


@pytest.fixture(scope="session")
def node() -> Callable[[str], testinfra.host.Host]:
    """Return a function giving the testinfra host of a scenario node by inventory name."""
    if not INVENTORY:
        pytest.fail("no inventory: run these tests through molecule verify, or make cluster-test")
    hosts: dict[str, testinfra.host.Host] = {}

    def get(name: str) -> testinfra.host.Host:
        if name not in hosts:
            hosts[name] = testinfra.get_host(f"ansible://{name}?ansible_inventory={INVENTORY}")
        return hosts[name]

    return get


@pytest.fixture(scope="session")
def group_hosts() -> Callable[[str], list[str]]:
    """Return a function listing the scenario's hosts of an inventory group."""
    runner = testinfra.utils.ansible_runner.AnsibleRunner(INVENTORY)
    return runner.get_hosts


@pytest.fixture
def run_playbook(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Return a function running a playbook (given as data) against the scenario; the result is not checked.

    `options` are more ansible-playbook options, e.g. ("--limit", "c1") or ("--check", "--diff").
    """

    def run(
        plays: list[dict], extra_vars: dict | None = None, options: tuple[str, ...] = ()
    ) -> subprocess.CompletedProcess[str]:
        playbook = tmp_path / "playbook.yml"
        playbook.write_text(yaml.safe_dump(plays))
        cmd = ["ansible-playbook", "-i", INVENTORY, str(playbook), *options]
        if extra_vars:
            vars_file = Path(tempfile.mkstemp(dir=tmp_path, suffix=".yml")[1])
            vars_file.write_text(yaml.safe_dump(extra_vars))
            cmd += ["-e", f"@{vars_file}"]
        return subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False, timeout=600)

    return run


@pytest.fixture(scope="session")
def wait_for() -> Callable[..., str]:
    """Return a function polling `probe()` until `done(value)` holds; it returns the last value or fails the test."""

    def wait(probe: Callable[[], str], done: Callable[[str], bool], timeout: float, what: str) -> str:
        deadline = time.monotonic() + timeout
        while True:
            value = probe()
            if done(value):
                return value
            if time.monotonic() > deadline:
                pytest.fail(f"{what}: still {value!r} after {timeout:.0f} s")
            time.sleep(2)

    return wait
