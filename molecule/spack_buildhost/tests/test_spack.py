"""Spack itself on the build host: only with SPACK_SOURCE (a local Spack checkout), skipped with the reason without.

Spack reads the role's files (system scope /etc/spack and each environment) and checks them against its own
schema: `spack config get` fails on any file its schema rejects.
"""

from __future__ import annotations

import os

import pytest
from conftest import ENVIRONMENTS_DIR, MODULES_ROOT

NOT_INSTALLED = (
    "import spack.environment as ev; "
    "print(len([s for _, s in ev.active_environment().concretized_specs() if not s.installed]))"
)
SECTIONS = ["config", "compilers", "packages", "mirrors", "modules"]


@pytest.mark.parametrize("section", SECTIONS)
def test_spack_accepts_the_configuration(build_host, spack, section):
    result = build_host.run(f"{spack} config get {section}")
    assert result.rc == 0, result.stderr


@pytest.mark.parametrize("name", ["production", "gpu", "debug"])
def test_spack_accepts_the_environment(build_host, spack, name):
    result = build_host.run(f"{spack} -e {ENVIRONMENTS_DIR}/{name} config get")
    assert result.rc == 0, result.stderr


def test_spack_finds_the_system_compiler(build_host, spack):
    version = build_host.check_output("gcc -dumpfullversion")
    assert f"gcc@{version}" in build_host.check_output(f"{spack} compilers")


def test_spack_uses_debians_openmpi(build_host, spack):
    output = build_host.check_output(f"{spack} spec -I openmpi")
    assert "[e]" in output, output


def test_enabled_environments_are_installed_with_modules(build_host, spack):
    """Where the scenario built environments (SPACK_ENVIRONMENTS), every root spec is installed and has a module."""
    enabled = [name for name in os.environ.get("SPACK_ENVIRONMENTS", "").split(",") if name]
    if not enabled:
        pytest.skip("no environment built: set SPACK_ENVIRONMENTS (e.g. production) to build one")
    for name in enabled:
        missing = build_host.check_output("%s -e %s python -c %s", spack, f"{ENVIRONMENTS_DIR}/{name}", NOT_INSTALLED)
        assert missing.strip() == "0", f"environment {name}: {missing} root specs not installed"
    spack_modules = build_host.check_output(
        f"find {MODULES_ROOT} -name '*.lua' ! -path '*/Core/gcc/*' ! -path '*/openmpi/*.lua' | wc -l"
    )
    assert int(spack_modules) > 0, "Spack wrote no module"
