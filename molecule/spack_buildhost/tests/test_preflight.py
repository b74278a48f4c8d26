"""Bad input stops the run in preflight, naming the variable, before any host is changed."""

from __future__ import annotations

import pytest
from conftest import CONFIG_DIR, ENVIRONMENTS_DIR, MODULES_ROOT

PLAYBOOK = [{"ansible.builtin.import_playbook": "hpcstack.cluster.spack"}]
WATCHED = [
    f"{CONFIG_DIR}/*.yaml",
    f"{ENVIRONMENTS_DIR}/*/spack.yaml",
    f"{MODULES_ROOT}/Core/gcc/*.lua",
    f"{MODULES_ROOT}/gcc/*/openmpi/*.lua",
    "/etc/rsyncd.conf",
    "/etc/lmod/modulespath",
]


def snapshot(host) -> str:
    """Checksums of the role's files (those the host has) and the list of installed packages."""
    files = host.run(f"sha256sum {' '.join(WATCHED)} 2>/dev/null").stdout
    return files + host.check_output("dpkg-query -W -f '${Package} ${Version}\\n'")


@pytest.mark.parametrize(
    ("extra_vars", "message"),
    [
        (
            {"spack_buildhost_enabled_environments": ["production", "prod"]},
            'spack_buildhost_enabled_environments names unknown environments ["prod"]; the environments of '
            'spack_buildhost_environments are ["production", "gpu", "debug"]',
        ),
        ({"spack_buildhost_spack_version": "develop"}, "spack_buildhost_spack_version is 'develop'"),
        ({"spack_buildhost_spack_version": "v0.23"}, "spack_buildhost_spack_version is 'v0.23'"),
        ({"spack_buildhost_spack_version": "abc123"}, "spack_buildhost_spack_version is 'abc123'"),
        (
            {"spack_buildhost_compiler_packages": ["gcc", "gfortran", "ifx-nonexistent"]},
            'spack_buildhost_compiler_packages ["gcc", "gfortran", "ifx-nonexistent"]: a compiler package is missing',
        ),
        ({"spack_buildhost_compiler_commands": {"cc": "gcc", "cxx": "g++"}}, "spack_buildhost_compiler_commands must"),
        ({"spack_buildhost_spack_source": "archive"}, "spack_buildhost_spack_archive is empty"),
    ],
    ids=["unknown-environment", "branch", "short-tag", "short-commit", "missing-compiler", "no-fortran", "no-archive"],
)
def test_bad_variable_fails_preflight_naming_it(build_host, compute_host, run_playbook, extra_vars, message):
    before = {host: snapshot(host) for host in (build_host, compute_host)}
    result = run_playbook(PLAYBOOK, extra_vars)
    output = result.stdout + result.stderr
    assert result.returncode != 0, "the run succeeded"
    assert message in " ".join(output.split()), output[-3000:]
    assert "Install the compilers" not in output, "a host was touched before the check failed"
    assert "Install Lmod, rsync and OpenMPI" not in output, "a compute node was touched before the check failed"
    for host, state in before.items():
        assert snapshot(host) == state, f"{host.backend.hostname} changed"


def test_missing_compiler_command_fails_before_spack_is_configured(build_host, run_playbook):
    """A compiler command no package provides is caught once the packages are installed, before Spack's files."""
    before = snapshot(build_host)
    result = run_playbook(PLAYBOOK, {"spack_buildhost_compiler_commands": {"cc": "gcc", "cxx": "g++", "fc": "ifx"}})
    output = result.stdout + result.stderr
    assert result.returncode != 0, "the run succeeded"
    assert 'spack_buildhost_compiler_commands: no command ["ifx"]' in " ".join(output.split()), output[-3000:]
    assert snapshot(build_host) == before
