"""Elastic nodes (Slurm power saving) on the local cluster: inventories/local declares the partition `cloud` of two
State=CLOUD nodes, hpc-burst[01-02], started by the controller's ResumeProgram as containers of the docker provider
(an image baked from the converged hpc-compute01) and removed by its SuspendProgram after 30 idle seconds.

Run by `make cluster-test` on the cluster `make cluster` converged, before the health suite (which bursts once more):
- the elastic nodes start powered down, with no container;
- one job asking for both makes both containers appear (one ResumeProgram call), the nodes register at the
  containers' addresses, the job runs on them and is COMPLETED in sacct; idle, they are powered down and their
  containers go;
- a container removed behind Slurm's back has its node powered down, and a container of a powered-down node is
  removed, by the reconciler;
- a launch that fails (the group's image does not exist) leaves the node DOWN with the provider's reason and the job
  queued; once the cause is fixed the node is powered down after the back-off and the job runs;
- a node left powering up when slurmctld restarted during its resume is powered down by the reconciler, and its job
  requeued.
"""

from __future__ import annotations

import json
import re
import subprocess
import time

import pytest
from test_local_cluster import CONTROLLER

NODES = ["hpc-burst01", "hpc-burst02"]
CONFIG = "/etc/slurm/hpcstack-power.json"
SLURM_METRICS = "/var/lib/prometheus/node-exporter/slurm.prom"  # node_exporter_textfile_dir
HANG = "/usr/local/sbin/hpcstack-resume-hang"  # a ResumeProgram that hangs (the restart test), and what it runs
HANG_COMMAND = "sleep 601"


def containers() -> dict[str, str]:
    """The elastic nodes' containers on this machine's engine: name -> state."""
    out = subprocess.run(
        ["docker", "ps", "--all", "--filter", "label=org.hpcstack.elastic", "--format", "{{.Names}} {{.State}}"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return dict(line.split() for line in out.splitlines())


def node_state(ctl, name: str) -> str:
    line = ctl.check_output(f"scontrol --oneliner show node {name}")
    return re.search(r" State=(\S+)", line).group(1)


def powered_down(ctl) -> str:
    return " ".join(node_state(ctl, name) for name in NODES)


def wait_requeued(ctl, wait_for, job: str) -> None:
    """Wait until a job is PENDING again: requeued after its node failed, not failed with it."""
    wait_for(
        lambda: ctl.check_output(f"squeue --noheader --jobs={job} --format=%T"),
        lambda value: value == "PENDING",
        30,
        f"job {job} requeued",
    )


@pytest.fixture
def ctl(node):
    return node(CONTROLLER)


def test_elastic_nodes_start_powered_down_with_no_container(ctl):
    states = powered_down(ctl)
    assert states.split() == ["IDLE+CLOUD+POWERED_DOWN"] * 2, states
    assert containers() == {}
    partition = ctl.check_output("scontrol --oneliner show partition cloud")
    assert "Nodes=hpc-burst[01-02]" in partition, partition
    assert "SuspendTime=30" in partition, partition
    # The other partitions never power save: the cluster's SuspendTime is INFINITE, and only `cloud` has its own.
    assert re.search(r"^SuspendTime\s*=\s*(INFINITE|NONE)$", ctl.check_output("scontrol show config"), re.MULTILINE)
    assert not re.search(r"SuspendTime=\d", ctl.check_output("scontrol --oneliner show partition batch"))
    # The Slurm metrics collector reads the power states off sinfo.
    ctl.check_output("systemctl start hpcstack-slurm-metrics.service")
    metrics = ctl.check_output(f"cat {SLURM_METRICS}")
    for name in NODES:
        assert f'slurm_node_power{{node="{name}",power="powered_down"}} 1.0' in metrics, metrics
    assert "slurm_nodes_powered_down 2.0" in metrics, metrics


def test_a_job_starts_both_nodes_runs_there_and_they_go_when_idle(ctl, wait_for):
    wait_for(lambda: powered_down(ctl), lambda value: value.count("POWERED_DOWN") == 2, 90, "the nodes powered down")
    job = ctl.check_output(
        "sbatch --parsable --wait --partition=cloud --nodes=2 --ntasks-per-node=1 --time=5 --chdir=/tmp "
        "--output=/dev/null --job-name=burst --wrap='srun hostname'"
    )
    started = containers()
    assert started == dict.fromkeys(NODES, "running"), started
    for name in NODES:
        info = json.loads(subprocess.run(["docker", "inspect", name], check=True, capture_output=True).stdout)[0]
        assert info["Config"]["Labels"]["org.hpcstack.elastic"] == "cloud"
        address = info["NetworkSettings"]["Networks"]["hpcstack-vpc"]["IPAddress"]
        assert f"NodeAddr={address} " in ctl.check_output(f"scontrol --oneliner show node {name}")
    # The job and its srun step, on both nodes, in the accounting.
    record = wait_for(
        lambda: ctl.check_output(f"sacct -n -P -j {job},{job}.0 --format=JobID,State,ExitCode,NodeList"),
        lambda value: all(re.search(rf"^{re.escape(step)}\|COMPLETED\|", value, re.M) for step in (job, f"{job}.0")),
        60,
        "the burst job's accounting records",
    )
    steps = dict(line.split("|", 1) for line in record.splitlines())
    assert steps[job] == steps[f"{job}.0"] == "COMPLETED|0:0|hpc-burst[01-02]", record
    # A container removed behind Slurm's back: the reconciler (every minute; run now) powers its node down.
    subprocess.run(["docker", "rm", "--force", "hpc-burst02"], check=True, capture_output=True)
    ctl.check_output("systemctl start hpcstack-power-reconcile.service")
    assert "POWER" in node_state(ctl, "hpc-burst02"), node_state(ctl, "hpc-burst02")
    # 30 idle seconds later Slurm powers the other down: the SuspendProgram removes its container.
    wait_for(
        lambda: f"{powered_down(ctl)} containers={sorted(containers())}",
        lambda value: value == "IDLE+CLOUD+POWERED_DOWN IDLE+CLOUD+POWERED_DOWN containers=[]",
        180,
        "the idle elastic nodes powered down",
    )


def test_the_reconciler_removes_a_container_slurm_did_not_start(ctl):
    """A leak (e.g. an instance started behind Slurm's back, or a suspend that failed): an elastic node's container
    whose node is powered down goes once it is older than the grace (10 s here)."""
    cluster = json.loads(ctl.check_output(f"cat {CONFIG}"))["cluster"]
    labels = {"owner": "hpcstack", "cluster": cluster, "elastic": "cloud", "node": "hpc-burst01"}
    subprocess.run(
        ["docker", "run", "--detach", "--name", "hpc-burst01", "--network", "hpcstack-vpc"]
        + [f"--label=org.hpcstack.{key}={value}" for key, value in labels.items()]
        + ["--entrypoint", "sleep", "hpcstack/node:hpcstack", "600"],
        check=True,
        capture_output=True,
    )
    time.sleep(11)
    ctl.check_output("systemctl start hpcstack-power-reconcile.service")
    assert containers() == {}
    assert "removed a container Slurm has not powered up" in ctl.check_output(
        "journalctl -t hpcstack-power --since=-1min --no-pager"
    )


def test_a_failed_launch_leaves_the_node_down_and_the_job_runs_once_fixed(ctl, wait_for):
    # The group's image does not exist: every launch fails (the program reads its configuration at each call).
    ctl.check_output(f"cp -p {CONFIG} {CONFIG}.orig")
    try:
        ctl.check_output(f"sed -i 's|hpcstack/node:hpcstack|hpcstack/node:missing|' {CONFIG}")
        job = ctl.check_output(
            "sbatch --parsable --partition=cloud --nodelist=hpc-burst01 --time=5 --chdir=/tmp --output=/dev/null "
            "--job-name=burst-retry --wrap=hostname"
        )
        down = wait_for(
            lambda: ctl.check_output("scontrol --oneliner show node hpc-burst01"),
            # slurmctld sets the reason, requeues the job, then the state
            lambda value: "launch failed" in value and re.search(r" State=DOWN\S*", value),
            90,
            "the node set DOWN with the launch's reason",
        )
        assert "No such image" in down or "hpcstack/node:missing" in down, down
        assert containers() == {}
        wait_requeued(ctl, wait_for, job)
    finally:
        ctl.check_output(f"mv {CONFIG}.orig {CONFIG}")
    # slurmctld holds a requeued job for its credentials' lifetime (BeginTime 120 s on): lift the hold as an operator
    # would, so the test waits for the back-off only.
    ctl.check_output(f"scontrol update jobid={job} starttime=now")
    # After the back-off (30 s) the node is powered down, Slurm resumes it again, and the job runs.
    # (sacct keeps the failed launch's NODE_FAIL record until the job runs again)
    state = wait_for(
        lambda: ctl.check_output(f"sacct -X -n -P -j {job} --format=State,ExitCode"),
        lambda value: value.startswith("COMPLETED"),
        300,
        "the requeued job once the launch works",
    )
    assert state == "COMPLETED|0:0", state


def test_a_node_left_powering_up_by_a_controller_restart_is_reset_and_its_job_requeued(ctl, wait_for):
    """slurmctld restarts while a resume works, and the resume ends with it (systemd stops all of slurmctld's
    processes: KillMode=control-group): nothing starts the node, which Slurm would keep powering up until
    ResumeTimeout (300 s here). The reconciler powers it down and its job is requeued, as after a failed launch (the
    test above follows such a job until it runs). A ResumeProgram that hangs stands in for the resume at work, so that
    the restart comes while it works; the reconciler's timer waits meanwhile (it would reset the node, which nothing
    claims, on its own). hpc-burst02, which the test above left powered down."""
    wait_for(lambda: node_state(ctl, "hpc-burst02"), lambda value: "POWERED_DOWN" in value, 120, "hpc-burst02 down")
    ctl.check_output("systemctl stop hpcstack-power-reconcile.timer")
    ctl.check_output(f"printf '#!/bin/sh\\nexec {HANG_COMMAND}\\n' > {HANG} && chmod 0755 {HANG}")
    try:
        ctl.check_output(f"ln -sfn {HANG.rsplit('/', 1)[1]} /usr/local/sbin/hpcstack-resume")
        job = ctl.check_output(
            "sbatch --parsable --requeue --partition=cloud --nodelist=hpc-burst02 --time=5 --chdir=/tmp "
            "--output=/dev/null --job-name=burst-restart --wrap=hostname"
        )
        wait_for(lambda: node_state(ctl, "hpc-burst02"), lambda value: "POWERING_UP" in value, 30, "powering up")
        wait_for(lambda: ctl.run(f"pgrep --full '^{HANG_COMMAND}$'").rc, lambda rc: rc == 0, 30, "the resume at work")
        ctl.check_output("systemctl restart slurmctld")
        wait_for(lambda: ctl.run("scontrol ping").stdout, lambda value: "UP" in value, 60, "slurmctld's restart")
    finally:
        ctl.check_output(f"ln -sfn hpcstack-power /usr/local/sbin/hpcstack-resume && rm -f {HANG}")
        ctl.check_output("systemctl start hpcstack-power-reconcile.timer")
    assert ctl.run(f"pgrep --full '^{HANG_COMMAND}$'").rc == 1, "the resume outlived slurmctld's restart"
    assert "POWERING_UP" in node_state(ctl, "hpc-burst02"), node_state(ctl, "hpc-burst02")
    assert "hpc-burst02" not in containers()  # (hpc-burst01 may still run the test above's job)
    ctl.check_output("systemctl start hpcstack-power-reconcile.service")
    state = node_state(ctl, "hpc-burst02")
    assert "POWERING_UP" not in state, state
    assert "POWER" in state, state  # POWER_DOWN, POWERING_DOWN or POWERED_DOWN
    assert "hpc-burst02: powering up" in ctl.check_output("journalctl -t hpcstack-power --since=-2min --no-pager")
    # The Slurm metrics collector exports what the reconciler did (SlurmElasticNodesPoweredDownByReconciler).
    ctl.check_output("systemctl start hpcstack-slurm-metrics.service")
    metrics = ctl.check_output(f"cat {SLURM_METRICS}")
    reset = re.search(r"^hpcstack_power_reconcile_reset_total (\S+)$", metrics, re.MULTILINE)
    assert reset, metrics
    assert float(reset.group(1)) >= 1, reset.group(0)
    # The test above follows such a job until it runs.
    try:
        wait_requeued(ctl, wait_for, job)
    finally:
        ctl.run(f"scancel {job}")
