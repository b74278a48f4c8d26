"""Lmod's hierarchy for the system toolchain, on the build host and on the compute node (its synced copy)."""

from __future__ import annotations

import re

import pytest
from conftest import INSTALL_ROOT, MODULES_ROOT, login_shell

HOSTS = ["build_host", "compute_host"]


@pytest.mark.parametrize("which", HOSTS)
def test_module_avail_lists_the_core_compiler(request, which):
    host = request.getfixturevalue(which)
    output = login_shell(host, "module -t avail")
    assert re.search(r"^gcc/\d+\.\d+\.\d+$", output, re.MULTILINE), output
    assert f"{MODULES_ROOT}/Core" in login_shell(host, "echo $MODULEPATH")


@pytest.mark.parametrize("which", HOSTS)
def test_loading_gcc_and_openmpi_puts_open_mpi_first(request, which):
    host = request.getfixturevalue(which)
    before = login_shell(host, "echo $PATH; echo $MODULEPATH").split()
    after = login_shell(
        host, "module load gcc openmpi && echo $PATH && echo $MODULEPATH && command -v mpicc mpirun && module -t list"
    ).split()
    path, modulepath, mpicc, mpirun = after[:4]
    assert path != before[0]
    assert path.startswith(f"{INSTALL_ROOT}/system/openmpi-"), path
    assert modulepath != before[1]
    assert re.search(rf"{MODULES_ROOT}/gcc/[\d.]+(:|$)", modulepath), modulepath
    openmpi_bin = path.split(":")[0]
    assert mpicc == f"{openmpi_bin}/mpicc", after
    assert mpirun == f"{openmpi_bin}/mpirun", after
    loaded = after[4:]
    assert [module.split("/")[0] for module in loaded] == ["gcc", "openmpi"], loaded


def test_openmpi_is_hidden_until_a_compiler_is_loaded(build_host):
    """The hierarchy: OpenMPI is built for gcc, so it appears once gcc is loaded."""
    assert "openmpi/" not in login_shell(build_host, "module -t avail")
    assert "openmpi/" in login_shell(build_host, "module load gcc && module -t avail")


@pytest.mark.parametrize("which", HOSTS)
def test_gcc_module_sets_the_compilers(request, which):
    host = request.getfixturevalue(which)
    output = login_shell(host, 'module load gcc && echo "$CC $CXX $FC" && $FC --version | head -n1')
    assert output.split()[:3] == ["/usr/bin/gcc", "/usr/bin/g++", "/usr/bin/gfortran"], output
    assert "GNU Fortran" in output
