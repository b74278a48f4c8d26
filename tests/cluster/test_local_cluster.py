"""The main job's cluster works: the health suite passes, and an operator reaches its services through the bastion.

Run by `make cluster-test` (part of `make test`) on the local cluster that `make cluster` converged (inventories/local:
the hybrid reference design: bastion, controller with slurmdbd and monitoring, hpc-compute01 and a build host in
"the VPC", hpc-compute02 with two emulated GPUs at "the on-prem site", joined by the WireGuard site link), after a
`site.yml --check --diff` preview on its fresh containers; a no-op re-run follows.
One converge of that topology serves the main job and these tests.

- the ReFrame health suite (playbooks/health.yml, `make health`) passes every check, the GPU job on hpc-compute02
  included;
- the Streamlit-on-Slurm job runs on a compute node, and its page answers through an SSH tunnel via the bastion, made
  with the operator's key and ssh_config that the bastion role's client_config made (run by playbooks/bastion.yml);
- Prometheus, on the private controller, answers a query through the same kind of tunnel, with data from every node.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

INVENTORY = Path(os.environ["HPCSTACK_TEST_INVENTORY"])  # set by conftest.py
# The operator's ssh_config, made by the bastion role's client_config (inventories/local/group_vars/bastion.yml).
SSH_CONFIG = INVENTORY / ".secrets/ssh_config"
CONTROLLER = "hpc-controller"
COMPUTE = ["hpc-compute01", "hpc-compute02"]


def free_port() -> int:
    """Return a TCP port free on this machine's loopback."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def tunnel(target: str, port: int) -> Iterator[int]:
    """Forward a local loopback port to target:port through the bastion, as the operator does; yield the local port."""
    local = free_port()
    ssh = subprocess.Popen(
        ["ssh", "-F", str(SSH_CONFIG), "-o", "BatchMode=yes", "-o", "ExitOnForwardFailure=yes",
         "-N", "-L", f"127.0.0.1:{local}:{target}:{port}", "bastion"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", local), timeout=1):
                break
            if ssh.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"no tunnel to {target}:{port} through the bastion: {ssh.communicate()[1]}")
            time.sleep(0.5)
        yield local
    finally:
        ssh.terminate()
        try:
            ssh.wait(timeout=10)
        except subprocess.TimeoutExpired:
            # ssh can miss a SIGTERM that lands just before it waits for input, and then sleeps until the server's
            # next keepalive (5 minutes; seen once in CI): the tunnel's work is done, so it is killed.
            ssh.kill()
            ssh.wait(timeout=10)


def fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as answer:
        return answer.read().decode()


@pytest.fixture
def busy_node(node, wait_for) -> Iterator[str]:
    """A user's job holds one CPU of the first compute node for the test; yield the node, then cancel the job."""
    ctl = node(CONTROLLER)
    job = ctl.check_output(f"sbatch --parsable --nodelist={COMPUTE[0]} --ntasks=1 --job-name=busy --wrap='sleep 600'")
    try:
        wait_for(lambda: ctl.check_output(f"squeue --noheader --jobs={job} --format=%T"), lambda s: s == "RUNNING", 60,
                 f"job {job}")  # fmt: skip
        yield COMPUTE[0]
    finally:
        ctl.run(f"scancel {job}")


def test_health_suite_passes_every_check_on_a_busy_cluster(node, busy_node):
    # A healthy cluster runs users' jobs: a node running one is mixed (or allocated), and the suite still passes.
    state = node(CONTROLLER).check_output(f"sinfo --noheader --nodes={busy_node} --Format=StateLong")
    assert state.strip() in ("mixed", "allocated"), state
    result = subprocess.run(
        ["ansible-playbook", "-i", str(INVENTORY), str(INVENTORY.parents[1] / "playbooks/health.yml")],
        capture_output=True, text=True, check=False, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    checks = ("SlurmNodesHealthy", "MungeAcrossNodes", "MpiHelloAcrossNodes", "AccountingRecordsJob", "JobAcrossSites",
              "ElasticBurst", "GpuJob")  # fmt: skip
    for check in checks:
        assert re.search(rf"\[ +OK \] \(\d/7\) {check} ", result.stdout), f"{check} did not pass:\n{result.stdout}"
    assert "Ran 7/7 test case(s) from 7 check(s) (0 failure(s), 0 expected failure(s), 0 skipped" in result.stdout


def test_nodes_check_fails_on_a_drained_node(node, wait_for):
    # The other side of the check above: a drained node is not healthy. Only that check runs, as playbooks/health.yml
    # runs the suite.
    ctl = node(CONTROLLER)
    ctl.check_output(f"scontrol update nodename={COMPUTE[1]} state=drain reason=hpcstack-test")
    try:
        wait_for(lambda: ctl.check_output(f"sinfo --noheader --nodes={COMPUTE[1]} --Format=StateLong").strip(),
                 lambda s: s == "drained", 30, f"{COMPUTE[1]}'s state")  # fmt: skip
        result = ctl.run(
            "/opt/hpcstack/reframe/bin/reframe --config-file=/opt/hpcstack/health/settings.py"
            " --checkpath=/opt/hpcstack/health/hpcstack_health.py --prefix=/var/lib/hpcstack/health-test --nocolor"
            f" --setvar=expected_nodes={','.join(COMPUTE)} --name=SlurmNodesHealthy --run"
        )
    finally:
        ctl.check_output(f"scontrol update nodename={COMPUTE[1]} state=resume")
    assert result.rc != 0, result.stdout
    assert re.search(r"\[ +FAIL \] \(1/1\) SlurmNodesHealthy ", result.stdout), result.stdout
    assert "a node is not healthy" in result.stdout


def test_health_suite_jobs_are_in_accounting(node, wait_for):
    # slurmctld sends finished jobs to slurmdbd in the background: the suite's last jobs may take a moment to arrive.
    records = wait_for(
        lambda: node(CONTROLLER).check_output(
            "sacct --noheader --allocations --parsable2 --starttime=now-1hour --format=JobName,State,NodeList"
        ),
        lambda text: "rfm_across_sites|" in text and "rfm_accounting|" in text,
        60,
        "the health suite's jobs in sacct",
    )
    lines = records.splitlines()
    assert "rfm_accounting|COMPLETED|" in "\n".join(lines)
    mpi = [line for line in lines if line.startswith("rfm_mpi_hello|COMPLETED|")]
    assert mpi, records
    # One node in each site (hpc-compute01 in the VPC, hpc-compute02 on-prem): both jobs crossed the site link.
    assert mpi[-1].split("|")[2] == "hpc-compute[01-02]"
    across = [line for line in lines if line.startswith("rfm_across_sites|COMPLETED|")]
    assert across, records
    assert across[-1].split("|")[2] == "hpc-compute[01-02]"


# What HPC users do in a batch job: load the compiler and MPI modules on the compute node, compile there, and run across
# the job's nodes. No file system is shared between the compute nodes: sbcast copies the program to each of them.
COMPILE_JOB = """#!/bin/bash -l
#SBATCH --job-name=hpcstack_compile_run --nodes=2 --ntasks-per-node=1 --time=5
#SBATCH --output=/var/tmp/hpcstack-compile-run-%j.out
set -euo pipefail
module load gcc openmpi
work=$(mktemp -d /var/tmp/hpcstack-compile-run.XXXXXX)
trap 'rm -rf "$work"' EXIT
printf '%s' "$SOURCE" > "$work/hello.c"
echo "compiled on $(hostname) with $(command -v mpicc)"
mpicc -o "$work/hello" "$work/hello.c"
sbcast --force "$work/hello" /var/tmp/hpcstack-compile-run-hello
srun --mpi=pmix /var/tmp/hpcstack-compile-run-hello
"""
MPI_HELLO = Path(__file__).resolve().parents[2] / "roles/workloads/files/reframe/src/mpi_hello.c"
JOB_ENDED = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY"}


def test_a_batch_job_compiles_with_the_modules_and_runs_across_both_sites(node, wait_for):
    """`module load gcc openmpi && mpicc` in a job on a compute node (issue 22: the listed modules work there)."""
    ctl = node(CONTROLLER)
    script = "/var/tmp/hpcstack-compile-run.sbatch"
    ctl.run_expect([0], "printf '%%s' %s > %s", COMPILE_JOB, script)
    job = ctl.check_output(
        "SOURCE=%s sbatch --parsable --export=ALL --nodelist=%s %s", MPI_HELLO.read_text(), ",".join(COMPUTE), script
    ).strip()
    state = wait_for(
        lambda: ctl.check_output(f"sacct --noheader --allocations --parsable2 --jobs={job} --format=State,NodeList"),
        lambda value: value.split("|")[0] in JOB_ENDED,
        120,
        f"compile-and-run job {job} in sacct",
    )
    batch_host = node(COMPUTE[0])
    output = batch_host.run("cat /var/tmp/hpcstack-compile-run-%s.out", job).stdout
    batch_host.run("rm -f /var/tmp/hpcstack-compile-run-%s.out", job)
    # The ranks' host names say where it ran (sacct's NodeList can lag behind its State for a moment).
    assert state.split("|")[0] == "COMPLETED", f"{state}\n{output}"
    assert f"compiled on {COMPUTE[0]} with /opt/hpcstack/spack/system/openmpi-" in output, output
    ranks = sorted(re.findall(r"^rank (\d) of 2 on (\S+)$", output, re.MULTILINE))
    assert ranks == [("0", COMPUTE[0]), ("1", COMPUTE[1])], output


@pytest.fixture
def streamlit_job(node, wait_for) -> Iterator[tuple[str, str]]:
    """Submit the Streamlit job on the controller; yield (job id, node) once it runs; cancel it afterwards."""
    ctl = node(CONTROLLER)
    job = ctl.check_output("sbatch --parsable /opt/hpcstack/examples/streamlit/streamlit.sbatch").strip()
    try:
        state = wait_for(
            lambda: ctl.check_output(f"squeue --noheader --jobs={job} --format='%T %N'"),
            lambda value: value.startswith("RUNNING "), 60, f"Streamlit job {job}",
        )  # fmt: skip
        yield job, state.split()[1]
    finally:
        ctl.run(f"scancel {job}")


def test_streamlit_page_through_the_bastion(node, wait_for, streamlit_job):
    job, compute = streamlit_job
    assert compute in COMPUTE
    log = f"/tmp/streamlit_{job}.out"
    wait_for(lambda: node(compute).run(f"cat {log}").stdout, lambda text: "view your Streamlit app" in text, 60,
             f"Streamlit's start in {log}")  # fmt: skip
    with tunnel(compute, 8501) as port:
        assert fetch(f"http://127.0.0.1:{port}/_stcore/health") == "ok"
        page = fetch(f"http://127.0.0.1:{port}/")
    assert "<title>Streamlit</title>" in page
    assert "You need to enable JavaScript to run this app." in page
    # The tunnel went through the bastion: its sshd logged the operator's forward to the node.
    journal = node("hpc-bastion").check_output("journalctl -u ssh --no-pager -q -o cat --since=-5min")
    assert re.search(r"Accepted publickey for operator ", journal), journal[-2000:]


def test_streamlit_app_renders(node):
    # The page above is Streamlit's shell; the app itself runs per browser session. Streamlit's AppTest runs the
    # app's script as a session would, with the node's installed packages.
    script = (
        "from streamlit.testing.v1 import AppTest; "
        "at = AppTest.from_file('/opt/hpcstack/examples/streamlit/app.py').run(timeout=60); "
        "assert not at.exception, at.exception; "
        "print(at.title[0].value); print(at.markdown[0].value)"
    )
    output = node(COMPUTE[0]).check_output(f'/opt/hpcstack/streamlit/bin/python -c "{script}"')
    title, text = output.splitlines()[:2]
    assert title == "Streamlit on Slurm"
    assert f"on node {COMPUTE[0]}" in text


def pins(text: str) -> dict[str, str]:
    """{package: version} of the name==version lines of a lock file or of `pip freeze`, names normalised as pip does."""
    return {
        re.sub(r"[-_.]+", "-", name).lower(): version
        for name, version in re.findall(r"^([A-Za-z0-9._-]+)==(\S+)", text, re.MULTILINE)
    }


@pytest.mark.parametrize(("host", "app"), [(COMPUTE[0], "streamlit"), (CONTROLLER, "reframe")])
def test_workload_virtualenvs_hold_exactly_their_locked_packages(node, host, app):
    # Installed with --require-hashes from roles/workloads/files/<app>/requirements.lock: every package it pins,
    # at its version, and nothing else (pip, which the virtualenv brings, aside).
    lock = Path(__file__).resolve().parents[2] / "roles/workloads/files" / app / "requirements.lock"
    frozen = node(host).check_output(f"/opt/hpcstack/{app}/bin/python -m pip freeze --all --disable-pip-version-check")
    installed = {name: version for name, version in pins(frozen).items() if name not in ("pip", "setuptools", "wheel")}
    assert installed == pins(lock.read_text())


def test_prometheus_answers_through_the_bastion(group_hosts):
    with tunnel(CONTROLLER, 9090) as port:
        answer = json.loads(fetch(f"http://127.0.0.1:{port}/api/v1/query?query=up%3D%3D1"))
    assert answer["status"] == "success"
    hosts = {sample["metric"].get("host") for sample in answer["data"]["result"]}
    expected = set(group_hosts("cluster")) | set(group_hosts("bastion"))
    assert expected <= hosts, f"no node_exporter data from {sorted(expected - hosts)}"


# Connects to each address:port from a node, side by side, for at most 3 s: "open" (connected), "closed" (refused:
# let through, nothing listens there) or "dropped" (no answer: a host firewall).
PROBE = """
import socket, sys
from concurrent.futures import ThreadPoolExecutor
def seen(target):
    address, port = target.rsplit(":", 1)
    try:
        socket.create_connection((address, int(port)), timeout=3).close()
        return "open"
    except socket.timeout:
        return "dropped"
    except OSError:
        return "closed"
with ThreadPoolExecutor(len(sys.argv) - 1) as pool:
    for target, outcome in zip(sys.argv[1:], pool.map(seen, sys.argv[1:])):
        print(target, outcome)
"""
# The hosts' addresses (inventories/local/host_vars): hpc-compute02 is reached over the site link's overlay.
ADDRESS = {CONTROLLER: "10.100.1.11", "hpc-compute01": "10.100.1.21", "hpc-build": "10.100.1.31",
           "hpc-compute02": "10.254.0.22"}  # fmt: skip


def probe(node, source: str, targets: list[tuple[str, int]]) -> dict[str, str]:
    """What source sees of each (host, port): open, closed or dropped."""
    argv = " ".join(f"{ADDRESS[host]}:{port}" for host, port in targets)
    lines = node(source).check_output(f"python3 -c '{PROBE}' {argv}").splitlines()
    seen = dict(line.split() for line in lines)
    return {f"{host}:{port}": seen[f"{ADDRESS[host]}:{port}"] for host, port in targets}


def test_host_firewalls_keep_users_jobs_away_from_the_monitoring_ports(node):
    # A user's job on a compute node reaches neither Prometheus nor Grafana (whose data and dashboards show the whole
    # cluster), nor another node's node_exporter; Slurm is still open to it. The bastion, through which operators
    # forward them, reaches Prometheus and Grafana's port (Grafana is not installed here: refused, not dropped); the
    # monitoring host's Prometheus scrapes every node_exporter, the on-prem node's through the site link.
    from_compute = probe(node, "hpc-compute01", [(CONTROLLER, 9090), (CONTROLLER, 3000), (CONTROLLER, 9100),
                                                 ("hpc-build", 9100), (CONTROLLER, 6817)])  # fmt: skip
    assert from_compute == {
        f"{CONTROLLER}:9090": "dropped",
        f"{CONTROLLER}:3000": "dropped",
        f"{CONTROLLER}:9100": "dropped",
        "hpc-build:9100": "dropped",
        f"{CONTROLLER}:6817": "open",
    }
    assert probe(node, "hpc-compute02", [(CONTROLLER, 9090)]) == {f"{CONTROLLER}:9090": "dropped"}
    from_bastion = probe(node, "hpc-bastion", [(CONTROLLER, 9090), (CONTROLLER, 3000), ("hpc-compute01", 9100)])
    assert from_bastion[f"{CONTROLLER}:9090"] == "open"
    assert from_bastion[f"{CONTROLLER}:3000"] in ("open", "closed"), from_bastion
    assert from_bastion["hpc-compute01:9100"] == "dropped"
    from_prometheus = probe(node, CONTROLLER, [("hpc-compute01", 9100), ("hpc-build", 9100), ("hpc-compute02", 9100)])
    assert set(from_prometheus.values()) == {"open"}, from_prometheus
    # The drops were the allowlists' (counted in their own tables), not something else on the path.
    rules = node(CONTROLLER).check_output("nft list chain inet hpcstack_prometheus guarded")
    assert re.search(r"counter packets [1-9]\d* bytes \d+ drop", rules), rules
    # A host's restart empties its firewall; node_exporter's unit loads the allowlist again before it starts.
    build = node("hpc-build")
    build.check_output("nft delete table inet hpcstack_node_exporter && systemctl restart prometheus-node-exporter")
    assert "hpcstack_node_exporter" in build.check_output("nft list tables")
    assert probe(node, "hpc-compute01", [("hpc-build", 9100)]) == {"hpc-build:9100": "dropped"}


def test_check_mode_on_the_converged_cluster_reports_no_change(run_playbook, group_hosts):
    # The preview an operator runs before a change: on the converged cluster it must complete and change nothing.
    # (The same preview on the fresh containers is the scenario's `check` step, before converge.)
    result = run_playbook([{"ansible.builtin.import_playbook": "hpcstack.cluster.site"}], options=("--check", "--diff"))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    recap = {
        host: {"ok": int(ok), "changed": int(changed)}
        for host, ok, changed in re.findall(r"^(\S+)\s+: ok=(\d+)\s+changed=(\d+)", result.stdout, re.MULTILINE)
    }
    assert set(recap) == set(group_hosts("all")), result.stdout[-3000:]
    assert all(counts["ok"] > 0 for counts in recap.values()), recap
    changed = [line for line in result.stdout.splitlines() if line.startswith("changed:")]
    assert not changed, result.stdout[-3000:]
    assert all(counts["changed"] == 0 for counts in recap.values()), recap
