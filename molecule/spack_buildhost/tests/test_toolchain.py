"""The toolchain compiles and runs programs: C, Fortran, and MPI across two ranks; on the build host, and on the compute
node with the modules of its synced tree (what a user's batch job does there)."""

from __future__ import annotations

import re

import pytest
import testinfra

C_HELLO = '#include <stdio.h>\nint main(void) { printf("hello from C\\n"); return 0; }\n'
FORTRAN_HELLO = "program hello\n  print '(a)', 'hello from Fortran'\nend program hello\n"
MPI_HELLO = """#include <mpi.h>
#include <stdio.h>
int main(int argc, char **argv) {
    int rank, size;
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    printf("rank %d of %d\\n", rank, size);
    MPI_Finalize();
    return 0;
}
"""
# Open MPI refuses root; the program runs as a plain user in a directory of its own.
USER = "nobody"
WORK = "/var/tmp/spack-buildhost-test"


def compile_and_run(host: testinfra.host.Host, source: str, name: str, build: str, run: str) -> str:
    """Write a source file, build it as USER with `build`, run it with `run`, return its output."""
    host.run_expect([0], f"install -d -o {USER} {WORK}")
    path = f"{WORK}/{name}"
    host.run_expect([0], "printf '%%s' %s > %s && chown %s %s", source, path, USER, path)
    script = f"cd {WORK} && {build} && {run}"
    result = host.run("runuser -u %s -- bash -lc %s", USER, script)
    assert result.rc == 0, f"{script}: {result.stdout}{result.stderr}"
    return result.stdout


def test_c_hello_compiles_and_runs(build_host):
    output = compile_and_run(build_host, C_HELLO, "hello.c", "gcc -Wall -o hello-c hello.c", "./hello-c")
    assert output.strip() == "hello from C"


def test_fortran_hello_compiles_and_runs(build_host):
    output = compile_and_run(build_host, FORTRAN_HELLO, "hello.f90", "gfortran -o hello-f hello.f90", "./hello-f")
    assert output.strip() == "hello from Fortran"


@pytest.mark.parametrize("which", ["build_host", "compute_host"])
def test_mpi_hello_runs_two_ranks(request, which):
    """Through the openmpi module: Lmod's PATH gives mpicc and mpirun of Debian's Open MPI. On the compute node too:
    every module its tree lists loads something that works there (issue 22: `module load gcc openmpi && mpicc`)."""
    output = compile_and_run(
        request.getfixturevalue(which),
        MPI_HELLO,
        "hello-mpi.c",
        "module load gcc openmpi && mpicc -o hello-mpi hello-mpi.c",
        # Containers: no CMA between processes (ptrace is confined), so shared memory copies instead.
        "OMPI_MCA_btl_vader_single_copy_mechanism=none mpirun --oversubscribe -np 2 ./hello-mpi",
    )
    ranks = sorted(re.findall(r"^rank (\d+) of 2$", output, re.MULTILINE))
    assert ranks == ["0", "1"], output
