"""Elastic nodes (Slurm power saving) on the local cluster: inventories/local declares the partition `cloud` of eight
State=CLOUD nodes, hpc-burst[01-08], started by the controller's ResumeProgram as containers of the docker provider
(an image baked from the converged hpc-compute01) and removed by its SuspendProgram after 30 idle seconds.

Run by `make cluster-test` on the cluster `make cluster` converged, before the health suite (which bursts once more):
- the elastic nodes start powered down, with no container;
- one job asking for four makes four containers appear (one ResumeProgram call), the nodes register at the
  containers' addresses, the job and its srun step run on all four and are COMPLETED in sacct; idle, they are
  powered down and their containers go;
- a container removed behind Slurm's back has its node powered down, and a container of a powered-down node is
  removed, by the reconciler;
- a launch that fails (the group's image does not exist) leaves the node DOWN with the provider's reason and the job
  queued; once the cause is fixed the node is powered down after the back-off and the job runs;
- a node left powering up when slurmctld restarted during its resume is powered down by the reconciler, and its job
  requeued;
- a node whose launch succeeds but which never registers (its image has no slurmd) is, after ResumeTimeout, removed
  and powered down by the ResumeFailProgram, and its job requeued runs once the image is right; meanwhile a resume
  beyond slurm_power_max_nodes is refused (the node DOWN with the reason, its job requeued), and its job runs once the
  cap allows it.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import time

import pytest
from test_local_cluster import CONTROLLER

NODES = [f"hpc-burst{number:02d}" for number in range(1, 9)]
CONFIG = "/etc/slurm/hpcstack-power.json"
# The local cluster's base image (docker_node_image): systemd boots in it, but it has no slurmd.
NO_SLURMD_IMAGE = "hpcstack/debian:bookworm"
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
    """The elastic nodes' states, in NODES' order, by one scontrol call."""
    lines = ctl.check_output("scontrol --oneliner show node " + ",".join(NODES)).splitlines()
    states = dict(re.search(r"^NodeName=(\S+) .*? State=(\S+)", line).groups() for line in lines)
    return " ".join(states[name] for name in NODES)


def all_powered_down(ctl) -> str:
    """The elastic nodes' states and their containers, to wait for "all powered down, no container"."""
    return f"{powered_down(ctl)} containers={sorted(containers())}"


ALL_POWERED_DOWN = " ".join(["IDLE+CLOUD+POWERED_DOWN"] * len(NODES)) + " containers=[]"


def now(ctl) -> str:
    """The controller's clock, for journalctl --since (seconds since the epoch)."""
    return ctl.check_output("date +%s")


def journal(ctl, since: str) -> str:
    """The power programs' journal lines since a time of now()."""
    return ctl.check_output(f"journalctl -t hpcstack-power --since=@{since} --no-pager --output=cat")


def hostnames(ctl, expression: str) -> list[str]:
    return ctl.check_output(f"scontrol show hostnames {shlex.quote(expression)}").split()


def write_config(ctl, config: dict) -> None:
    """Replace the power programs' configuration, which they read at each call (the caller keeps the original)."""
    text = json.dumps(config, indent=2, sort_keys=True)
    ctl.check_output(f"printf '%s\\n' {shlex.quote(text)} > {CONFIG}")


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
    assert states.split() == ["IDLE+CLOUD+POWERED_DOWN"] * len(NODES), states
    assert containers() == {}
    partition = ctl.check_output("scontrol --oneliner show partition cloud")
    assert "Nodes=hpc-burst[01-08]" in partition, partition
    assert "SuspendTime=30" in partition, partition
    # The other partitions never power save: the cluster's SuspendTime is INFINITE, and only `cloud` has its own.
    assert re.search(r"^SuspendTime\s*=\s*(INFINITE|NONE)$", ctl.check_output("scontrol show config"), re.MULTILINE)
    assert not re.search(r"SuspendTime=\d", ctl.check_output("scontrol --oneliner show partition batch"))
    # The Slurm metrics collector reads the power states off sinfo.
    ctl.check_output("systemctl start hpcstack-slurm-metrics.service")
    metrics = ctl.check_output(f"cat {SLURM_METRICS}")
    for name in NODES:
        assert f'slurm_node_power{{node="{name}",power="powered_down"}} 1.0' in metrics, metrics
    assert f"slurm_nodes_powered_down {len(NODES)}.0" in metrics, metrics


def test_one_job_starts_four_nodes_runs_there_and_they_go_when_idle(ctl, wait_for):
    wait_for(lambda: all_powered_down(ctl), lambda value: value == ALL_POWERED_DOWN, 120, "the nodes powered down")
    since = now(ctl)
    job = ctl.check_output(
        "sbatch --parsable --wait --partition=cloud --nodes=4 --ntasks-per-node=1 --time=5 --chdir=/tmp "
        "--output=/dev/null --job-name=burst --wrap='srun hostname'"
    )
    # The job and its srun step, on the same four nodes, in the accounting.
    record = wait_for(
        lambda: ctl.check_output(f"sacct -n -P -j {job},{job}.0 --format=JobID,State,ExitCode,NTasks,NodeList"),
        lambda value: all(re.search(rf"^{re.escape(step)}\|COMPLETED\|", value, re.M) for step in (job, f"{job}.0")),
        60,
        "the burst job's accounting records",
    )
    steps = {line.split("|", 1)[0]: line.split("|")[1:] for line in record.splitlines()}
    assert steps[job][:2] == steps[f"{job}.0"][:2] == ["COMPLETED", "0:0"], record
    assert steps[f"{job}.0"][2] == "4", record  # srun ran a task on each node
    assert steps[job][3] == steps[f"{job}.0"][3], record
    used = hostnames(ctl, steps[job][3])
    assert len(used) == 4, record
    assert set(used) <= set(NODES), record
    # One ResumeProgram call started the four: a container each, where Slurm has the node's address.
    resumes = re.findall(r"^resume (\S+): (\d+) node\(s\), working in the background$", journal(ctl, since), re.M)
    assert len(resumes) == 1, resumes
    assert hostnames(ctl, resumes[0][0]) == used, resumes
    assert resumes[0][1] == "4", resumes
    started = containers()
    assert started == dict.fromkeys(used, "running"), started
    for name in used:
        info = json.loads(subprocess.run(["docker", "inspect", name], check=True, capture_output=True).stdout)[0]
        assert info["Config"]["Labels"]["org.hpcstack.elastic"] == "cloud"
        address = info["NetworkSettings"]["Networks"]["hpcstack-vpc"]["IPAddress"]
        assert f"NodeAddr={address} " in ctl.check_output(f"scontrol --oneliner show node {name}")
    # A container removed behind Slurm's back: the reconciler (every minute; run now) powers its node down.
    gone = used[1]
    subprocess.run(["docker", "rm", "--force", gone], check=True, capture_output=True)
    ctl.check_output("systemctl start hpcstack-power-reconcile.service")
    assert "POWER" in node_state(ctl, gone), node_state(ctl, gone)
    # 30 idle seconds later Slurm powers the others down: the SuspendProgram removes their containers.
    wait_for(lambda: all_powered_down(ctl), lambda value: value == ALL_POWERED_DOWN, 180, "the idle nodes powered down")


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
    """slurmctld restarts while a resume works, and the resume ends with it (systemd stops all of slurmctld's processes,
    KillMode=control-group; the test ends the stand-in itself, below): nothing starts the node, which Slurm would keep
    powering up until ResumeTimeout (90 s here). The reconciler powers it down and its job is requeued, as after a
    failed launch (the test above follows such a job until it runs). A ResumeProgram that hangs stands in for the resume
    at work, so that the restart comes while it works; the reconciler's timer waits meanwhile (it would reset the node,
    which nothing claims, on its own). hpc-burst02, which the test above left powered down."""
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
        # The restart, and the resume's end within it. systemd stops slurmctld's whole control group, but SIGTERM does
        # not end the hanging stand-in here (only the SIGKILL after TimeoutStopSec, 90 s, did: as long as ResumeTimeout,
        # which would then fail the node before the reconciler could): the test ends it itself once the stop began.
        ctl.check_output("systemctl restart --no-block slurmctld")
        wait_for(
            lambda: ctl.check_output("systemctl show --property=ActiveState slurmctld"),
            lambda value: "deactivating" in value or "activating" in value,
            30,
            "slurmctld stopping",
        )
        ctl.run(f"pkill --signal KILL --full '^{HANG_COMMAND}$'")
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


def test_a_node_that_never_registers_is_removed_by_resume_fail_and_a_resume_beyond_the_cap_is_refused(ctl, wait_for):
    """hpc-burst07 starts from an image with no slurmd: its launch succeeds, but it never registers. After ResumeTimeout
    (90 s here) slurmctld sets it DOWN, requeues its job and runs the ResumeFailProgram, which removes the container and
    powers the node down; the job runs once the group's image is right again. While hpc-burst07 waits, powered up,
    a cap of one powered-up node (slurm_power_max_nodes; the programs read their configuration at each call) refuses
    hpc-burst08's resume: the node is DOWN with the reason and its job requeued; with the cap lifted the node is
    powered down after the back-off and the job runs. The configuration is restored as soon as the two resumes have
    read it. The reconciler's timer waits meanwhile: it would remove hpc-burst07's container (its node powered down)
    on its own if it ran between slurmctld's ResumeTimeout and the ResumeFailProgram."""
    never, capped = "hpc-burst07", "hpc-burst08"
    timeout = int(re.search(r"^ResumeTimeout\s*=\s*(\d+) sec", ctl.check_output("scontrol show config"), re.M).group(1))
    wait_for(
        lambda: f"{node_state(ctl, never)} {node_state(ctl, capped)}",
        lambda value: value.count("POWERED_DOWN") == 2,
        120,
        "the two nodes powered down",
    )
    since = now(ctl)
    original = json.loads(ctl.check_output(f"cat {CONFIG}"))
    ctl.check_output("systemctl stop hpcstack-power-reconcile.timer")
    try:
        never_job, capped_job = start_one_that_never_registers_and_one_beyond_the_cap(
            ctl, wait_for, since, original, never, capped
        )
        assert "POWERING_UP" in node_state(ctl, never), node_state(ctl, never)
        # The cap lifted: after the back-off (30 s) the node is powered down and Slurm resumes it for the job. (The
        # hold on a requeued job is lifted as in the failed launch's test.)
        ctl.check_output(f"scontrol update jobid={capped_job} starttime=now")
        state = wait_for(
            lambda: ctl.check_output(f"sacct -X -n -P -j {capped_job} --format=State,ExitCode,NodeList"),
            lambda value: value.startswith("COMPLETED"),
            180,
            "the capped job once the cap allows it",
        )
        assert state == f"COMPLETED|0:0|{capped}", state
        # hpc-burst07 never registered: the ResumeFailProgram removed its container and powered it down.
        wait_for(
            lambda: journal(ctl, since),
            lambda value: f"resume-fail {never}: powered down (POWER_DOWN_FORCE)" in value,
            timeout + 60,
            f"the ResumeFailProgram on {never}",
        )
    finally:
        ctl.check_output("systemctl start hpcstack-power-reconcile.timer")
    log = journal(ctl, since)
    assert f"resume-fail {never}: did not register within ResumeTimeout" in log, log
    assert f"resume-fail {never}: container removed" in log, log
    assert never not in containers()
    assert re.search(
        rf"node {never} not resumed by ResumeTimeout\({timeout}\)",
        ctl.check_output("tail -n 2000 /var/log/slurm/slurmctld.log"),
    )
    # Its job requeued (slurmctld did so at ResumeTimeout; it may be pending or started again by now), then run on
    # the node started again, from the group's image.
    job = wait_for(
        lambda: ctl.check_output(f"scontrol --oneliner show job {never_job}"),
        lambda value: re.search(r" Restarts=[1-9]", value),
        30,
        f"job {never_job} requeued",
    )
    if " JobState=PENDING " in job:
        ctl.run(f"scontrol update jobid={never_job} starttime=now")  # may have started meanwhile
    state = wait_for(
        lambda: ctl.check_output(f"sacct -X -n -P -j {never_job} --format=State,ExitCode,NodeList"),
        lambda value: value.startswith("COMPLETED"),
        180,
        "the requeued job on a node that registers",
    )
    assert state == f"COMPLETED|0:0|{never}", state


def start_one_that_never_registers_and_one_beyond_the_cap(ctl, wait_for, since, original, never, capped):
    """The test above's two resumes, each under a configuration of its own; the original is back when they have read
    theirs. Return the two jobs."""
    ctl.check_output(f"cp -p {CONFIG} {CONFIG}.orig")
    try:
        broken = json.loads(json.dumps(original))
        for group in broken["groups"]:
            group["docker"]["image"] = NO_SLURMD_IMAGE
        write_config(ctl, broken)
        never_job = ctl.check_output(
            f"sbatch --parsable --partition=cloud --nodelist={never} --time=5 --chdir=/tmp --output=/dev/null "
            "--job-name=burst-no-slurmd --wrap=hostname"
        )
        wait_for(
            lambda: journal(ctl, since),
            lambda value: f"resume {never}: container started at" in value,
            60,
            f"{never}'s container started",
        )
        image = subprocess.run(
            ["docker", "inspect", "--format", "{{.Config.Image}} {{.State.Status}}", never],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.split()
        assert image == [NO_SLURMD_IMAGE, "running"], image
        # At most one elastic node powered up, and hpc-burst07 is.
        write_config(ctl, {**original, "max_nodes": 1})
        capped_job = ctl.check_output(
            f"sbatch --parsable --partition=cloud --nodelist={capped} --time=5 --chdir=/tmp --output=/dev/null "
            "--job-name=burst-capped --wrap=hostname"
        )
        down = wait_for(
            lambda: ctl.check_output(f"scontrol --oneliner show node {capped}"),
            lambda value: "launch refused" in value and re.search(r" State=DOWN\S*", value),
            60,
            f"{capped} set DOWN with the cap's reason",
        )
        assert "Reason=hpcstack-power: launch refused: max_nodes (1) nodes are powered up" in down, down
        assert capped not in containers()
        wait_requeued(ctl, wait_for, capped_job)
    finally:
        ctl.check_output(f"mv {CONFIG}.orig {CONFIG}")
    return never_job, capped_job
