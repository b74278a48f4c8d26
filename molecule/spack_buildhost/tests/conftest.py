"""Fixtures of the spack_buildhost scenario: its build host and compute node, and whether Spack is there.

The Spack tests need Spack's source, which the test machines cannot reach: they run when SPACK_SOURCE names a local
Spack checkout (molecule.yml mounts it on the build host) and are skipped, with that reason, otherwise.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest
import testinfra

NO_SPACK = "no Spack source: set SPACK_SOURCE to a local Spack checkout"

INSTALL_ROOT = "/opt/hpcstack/spack"
MODULES_ROOT = f"{INSTALL_ROOT}/modules"
SPACK = "/opt/spack/bin/spack"
CONFIG_DIR = "/etc/spack"
ENVIRONMENTS_DIR = "/etc/hpcstack/spack/environments"


@pytest.fixture(scope="session")
def build_host(node: Callable, group_hosts: Callable[[str], list[str]]) -> testinfra.host.Host:
    """The scenario's Spack build host."""
    hosts = group_hosts("spack_buildhost")
    assert len(hosts) == 1, f"the scenario has one build host, not {hosts}"
    return node(hosts[0])


@pytest.fixture(scope="session")
def compute_host(node: Callable, group_hosts: Callable[[str], list[str]]) -> testinfra.host.Host:
    """The scenario's compute node (no Slurm runs there: it only pulls the stack)."""
    hosts = group_hosts("slurm_compute")
    assert hosts, "the scenario has no compute node"
    return node(hosts[0])


@pytest.fixture(scope="session")
def spack(build_host: testinfra.host.Host) -> str:
    """The build host's spack command; skips the test where the scenario ran without Spack's source."""
    if not os.environ.get("SPACK_SOURCE"):
        pytest.skip(NO_SPACK)
    assert build_host.file(SPACK).exists, f"SPACK_SOURCE is set but {SPACK} was not installed"
    return SPACK


def login_shell(host: testinfra.host.Host, script: str) -> str:
    """Run a script in a login shell (where /etc/profile.d sets up Lmod) and return stdout and stderr together."""
    result = host.run("bash -lc %s 2>&1", script)
    assert result.rc == 0, f"{script!r} failed on {host.backend.hostname}: {result.stdout}"
    return result.stdout
