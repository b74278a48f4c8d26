"""slurm_info against scontrol and squeue answers recorded from Slurm 22.05 and 24.11 (fixtures/slurm-*/scontrol_info*).

Recorded (tools/capture_slurm_fixtures.py) in two states of the capture's cluster: busy (a job of root's running on
n1, which is draining, a job pending until its begin time, reservation fxinfo on n2, partition fxbatch beside the
default one) and quiet (the nodes idle, no reservation, no job); and, with slurmctld stopped, the reads' failures.
"""

from __future__ import annotations

import re

import pytest
from ansible_collections.hpcstack.cluster.plugins.modules import slurm_info

VERSION = ["scontrol", "--version"]
NODES = ["scontrol", "-o", "show", "node"]
PARTITIONS = ["scontrol", "-o", "show", "partition"]
RESERVATIONS = ["scontrol", "-o", "show", "reservation"]
SQUEUE = ["squeue", "--noheader", "--all", "--format=%T|%P"]
BUSY = (
    "scontrol_info_version",
    "scontrol_info_nodes",
    "scontrol_info_partitions",
    "scontrol_info_reservations",
    "scontrol_info_squeue",
)
QUIET = (
    "scontrol_info_nodes_idle",
    "scontrol_info_partitions_default",
    "scontrol_info_reservations_none",
    "scontrol_info_squeue_empty",
)


@pytest.fixture
def nodes(slurm) -> tuple[str, str]:
    """The capture's two nodes n1 (the busy one) and n2 (reserved)."""
    n1, n2 = slurm.recording("scontrol_reservation_hostnames")["stdout"].split()
    return n1, n2


def default_partition(slurm) -> str:
    """The partition the capture's jobs ran in (the cluster's default one)."""
    return slurm.recording("scontrol_info_squeue")["stdout"].split("|")[1].split()[0]


def test_everything_is_read_by_default(slurm, nodes, run_module):
    commands = slurm.commands(*BUSY)
    run = run_module(slurm_info, {}, commands)
    assert not run.failed
    assert run.result["changed"] is False
    assert commands.calls == [VERSION, NODES, PARTITIONS, RESERVATIONS, SQUEUE]
    # the version as `scontrol --version` says it ("slurm 22.05.8"), minor part in two digits
    said = re.search(r"\d+\.\d+\.\d+", slurm.recording("scontrol_info_version")["stdout"]).group()
    assert run.result["version"] == said
    assert run.result["version"].startswith(f"{slurm.version}.")


def test_nodes_with_their_state_drain_and_reason(slurm, nodes, run_module):
    n1, n2 = nodes
    run = run_module(slurm_info, {"gather": ["nodes"]}, slurm.commands("scontrol_info_nodes"))
    assert set(run.result) >= {"nodes", "changed"}
    assert "version" not in run.result
    busy, reserved = run.result["nodes"][n1], run.result["nodes"][n2]
    assert busy["drain"] == "draining"  # a job still runs on it
    assert "DRAIN" in busy["flags"]
    assert busy["reason"] == "fx disk swap"
    assert busy["cpus_allocated"] >= 1
    assert busy["down"] is False
    assert busy["responding"] is True
    assert reserved["drain"] is None
    assert reserved["cpus_allocated"] == 0
    for node in (busy, reserved):
        assert node["cpus"] >= 1
        assert node["real_memory"] >= 1
        assert "fxbatch" in node["partitions"]


def test_partitions(slurm, run_module):
    run = run_module(slurm_info, {"gather": ["partitions"]}, slurm.commands("scontrol_info_partitions"))
    partitions = run.result["partitions"]
    default = default_partition(slurm)
    assert set(partitions) == {default, "fxbatch"}
    assert partitions[default]["default"] is True
    assert partitions["fxbatch"] == {**partitions["fxbatch"], "state": "UP", "default": False, "total_nodes": 2}
    assert partitions["fxbatch"]["max_time"] is None  # UNLIMITED


def test_reservations(slurm, nodes, run_module):
    run = run_module(slurm_info, {"gather": ["reservations"]}, slurm.commands("scontrol_info_reservations"))
    assert list(run.result["reservations"]) == ["fxinfo"]
    fxinfo = run.result["reservations"]["fxinfo"]
    assert fxinfo["state"] == "ACTIVE"
    assert fxinfo["nodes"] == nodes[1]
    assert fxinfo["users"] == ["root"]
    assert fxinfo["accounts"] == []
    assert fxinfo["start_time"] < fxinfo["end_time"]


def test_jobs_counted_by_state_and_partition(slurm, run_module):
    run = run_module(slurm_info, {"gather": ["jobs"]}, slurm.commands("scontrol_info_squeue"))
    default = default_partition(slurm)
    assert run.result["jobs"] == {
        "total": 2,
        "by_state": {"RUNNING": 1, "PENDING": 1},
        "by_partition": {default: {"RUNNING": 1, "PENDING": 1}},
    }


def test_a_quiet_cluster(slurm, nodes, run_module):
    commands = slurm.commands(*QUIET)
    run = run_module(slurm_info, {"gather": ["nodes", "partitions", "reservations", "jobs"]}, commands)
    assert commands.calls == [NODES, PARTITIONS, RESERVATIONS, SQUEUE]
    assert {name: node["state"] for name, node in run.result["nodes"].items() if name in nodes} == {
        nodes[0]: "IDLE",
        nodes[1]: "IDLE",
    }
    assert all(node["drain"] is None for node in run.result["nodes"].values())
    assert list(run.result["partitions"]) == [default_partition(slurm)]
    assert run.result["reservations"] == {}
    assert run.result["jobs"] == {"total": 0, "by_state": {}, "by_partition": {}}


def test_check_mode_reads_the_same(slurm, run_module):
    commands = slurm.commands("scontrol_info_squeue")
    run = run_module(slurm_info, {"gather": ["jobs"]}, commands, check_mode=True)
    assert run.result["jobs"]["total"] == 2
    assert commands.calls == [SQUEUE]


# --- Slurm's errors ---------------------------------------------------------------------------------------------
def test_no_controller_fails_with_slurms_message(slurm, run_module):
    commands = slurm.commands("scontrol_info_nodes_no_controller")
    run = run_module(slurm_info, {"gather": ["nodes", "partitions"]}, commands)
    assert run.failed
    assert run.result["msg"].startswith("Failed to read Slurm node: ")
    assert "Unable to contact slurm controller" in run.result["msg"]
    assert "\n" not in run.result["msg"]
    assert run.result["cmd"] == "scontrol -o show node"
    assert commands.calls == [NODES]  # stops at the first failure


def test_no_controller_fails_the_queue_read(slurm, run_module):
    run = run_module(slurm_info, {"gather": ["jobs"]}, slurm.commands("scontrol_info_squeue_no_controller"))
    assert run.failed
    assert run.result["msg"].startswith("Failed to read the job queue: ")
    assert run.result["rc"] != 0


# --- options ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "msg"),
    [
        ({"timeout": -1}, "slurm_info.timeout: must be a positive number of seconds, got -1"),
        ({"timeout": 0}, "slurm_info.timeout: must be a positive number of seconds, got 0"),
    ],
)
def test_a_bad_option_fails_naming_it_before_any_command(refused_before_any_command, args, msg):
    refused_before_any_command(slurm_info, args, msg)


def test_an_unknown_gather_fails_before_any_command(slurm, run_module):
    commands = slurm.commands()
    run = run_module(slurm_info, {"gather": ["nodes", "licenses"]}, commands)
    assert run.failed
    assert "value of gather must be one or more of: version, nodes, partitions, reservations, jobs" in run.result["msg"]
    assert commands.calls == []
