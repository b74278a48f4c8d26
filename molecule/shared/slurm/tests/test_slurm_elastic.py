"""Elastic nodes on each Slurm release: molecule.yml's group of two State=CLOUD nodes, which the controller's power
programs (hpcstack-power, docker provider) start as containers on this machine's engine from the image the converge
baked from c1, and remove once idle.

One cycle: no container at first; a job asking for both nodes makes both containers appear, the nodes take the
containers' addresses, the job and its srun step run on them and are COMPLETED in the accounting; idle past the
group's suspend_time, the nodes are powered down and the containers gone. Both releases give the ResumeProgram the
nodes as a hostlist argument and the jobs it resumes them for in SLURM_RESUME_FILE (Debian 12's 22.05.8 too, as this
test found), which the program logs.
"""

from __future__ import annotations

import json
import re
import subprocess

import pytest

JOURNAL = "journalctl --identifier=hpcstack-power --output=cat --no-pager --since=@%s"
POWERED_DOWN = "IDLE+CLOUD+POWERED_DOWN"


def docker(*args: str) -> str:
    return subprocess.run(["docker", *args], check=True, capture_output=True, text=True, timeout=60).stdout


@pytest.fixture(scope="module")
def group(power_config) -> dict:
    """The scenario's one node group (its name is its partition's) and the cluster its containers are labelled with."""
    (only,) = power_config["groups"]
    assert only["provider"] == "docker", only
    return {**only, "cluster": power_config["cluster"]}


def containers(group: dict) -> dict[str, str]:
    """The group's containers on the engine, as the power programs label them: name -> state (running, ...)."""
    labels = [f"org.hpcstack.cluster={group['cluster']}", f"org.hpcstack.elastic={group['name']}"]
    out = docker("ps", "--all", *(f"--filter=label={label}" for label in labels), "--format={{.Names}} {{.State}}")
    return dict(line.split() for line in out.splitlines())


def shown(controller, node: str) -> dict[str, str]:
    """scontrol's fields of a node (State, NodeAddr, NodeHostName, ...)."""
    line = controller.check_output("scontrol --oneliner show node %s", node)
    return dict(word.split("=", 1) for word in line.split() if "=" in word)


def states(controller, group: dict) -> list[str]:
    return [shown(controller, node)["State"] for node in group["nodes"]]


def test_the_elastic_nodes_start_powered_down_with_no_container(controller, group, wait_for):
    assert containers(group) == {}
    # (a converge in the tests before may have just restarted slurmctld: the nodes are powered down once it is up)
    wait_for(lambda: states(controller, group), lambda now: now == [POWERED_DOWN] * 2, 60, "the elastic nodes")
    partition = controller.check_output("scontrol --oneliner show partition %s", group["name"])
    hostlist = controller.check_output("scontrol show hostlist %s", ",".join(group["nodes"])).strip()
    assert f" Nodes={hostlist} " in f" {partition} ", partition
    assert " SuspendTime=20 " in f" {partition} ", partition
    # The image the converge baked, that each node's container is made from.
    assert docker("image", "ls", "--quiet", group["docker"]["image"]).strip()


def test_a_job_starts_both_nodes_runs_there_and_they_go_when_idle(controller, group, wait_for):
    wait_for(lambda: states(controller, group), lambda now: now == [POWERED_DOWN] * 2, 60, "the elastic nodes")
    since = controller.check_output("date +%s").strip()
    nodes = group["nodes"]
    job = controller.check_output(
        "sbatch --parsable --partition=%s --nodes=2 --ntasks-per-node=1 --time=5 --chdir=/tmp --output=/dev/null "
        "--job-name=burst --wrap='srun hostname'",
        group["name"],
    ).strip()
    try:
        # Both containers appear, and each node is given its container's address on the group's network.
        started = wait_for(
            lambda: containers(group),
            lambda now: now == dict.fromkeys(nodes, "running"),
            120,
            f"the containers of job {job}'s nodes",
        )
        assert started == dict.fromkeys(nodes, "running")
        for name in nodes:
            info = json.loads(docker("inspect", name))[0]
            assert info["Config"]["Hostname"] == name
            assert info["Config"]["Image"] == group["docker"]["image"]
            address = info["NetworkSettings"]["Networks"][group["docker"]["network"]]["IPAddress"]
            assert address
            fields = wait_for(
                lambda name=name: shown(controller, name),
                lambda now, address=address: now["NodeAddr"] == address,
                60,
                f"{name}'s address in slurmctld",
            )
            assert fields["NodeHostName"] == name
        # slurmd registers there (the job runs), and the job and its srun step are accounted to both nodes.
        hostlist = controller.check_output("scontrol show hostlist %s", ",".join(nodes)).strip()
        steps = (job, f"{job}.0")
        record = wait_for(
            lambda: controller.check_output(
                "sacct --noheader --parsable2 --jobs %s --format=JobID,State,ExitCode,NodeList", ",".join(steps)
            ),
            lambda now: all(re.search(rf"^{re.escape(step)}\|COMPLETED\|", now, re.MULTILINE) for step in steps),
            240,
            f"the accounting of job {job} and its step",
        )
        rows = dict(line.split("|", 1) for line in record.splitlines())
        assert rows[job] == rows[f"{job}.0"] == f"COMPLETED|0:0|{hostlist}", record
    finally:
        controller.run("scancel %s", job)
    # What the power programs logged: each node's container started at its address.
    journal = wait_for(
        lambda: controller.check_output(JOURNAL, since),
        lambda now: all(f"resume {name}: container started at " in now for name in nodes),
        30,
        "the resume's journal",
    )
    resumes = re.findall(r"^resume (\S+): for jobs (.*)$", journal, re.MULTILINE)
    # The jobs the nodes are resumed for, from the JSON file SLURM_RESUME_FILE names.
    assert any(job in ids.split(", ") for _nodes, ids in resumes), journal
    assert "cannot read SLURM_RESUME_FILE" not in journal, journal
    # Idle past suspend_time (20 s), Slurm powers both down, and the SuspendProgram removes their containers.
    wait_for(
        lambda: f"{' '.join(states(controller, group))} containers={sorted(containers(group))}",
        lambda now: now == f"{POWERED_DOWN} {POWERED_DOWN} containers=[]",
        150,
        "the idle elastic nodes powered down",
    )
    journal = controller.check_output(JOURNAL, since)
    for name in nodes:
        assert f"suspend {name}: container removed" in journal, journal
    assert " launch failed" not in journal, journal
