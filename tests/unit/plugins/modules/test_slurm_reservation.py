"""slurm_reservation against scontrol answers recorded from Slurm 22.05 and 24.11 (fixtures/slurm-*/scontrol_reserv*).

The recorded history (tools/capture_slurm_fixtures.py) of reservation fxmaint on the capture's two nodes n1 and n2:
absent -> created (MAINT, root, 60 minutes) -> updated (120 minutes, users nobody and root, IGNORE_JOBS added) ->
refused an unknown user -> deleted. Beside it: fxbusy (the same nodes: refused), fxbad (an unknown user: refused),
fxcount (one node of partition fxbatch) and fxfuture (an absolute start time). The tests take the nodes' names from
the recordings.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from ansible_collections.hpcstack.cluster.plugins.modules import slurm_reservation

NAME_RULE = "is not a valid Slurm name (letters, digits, '_', '-', '.', '@')"
HOSTLIST_RULE = (
    "is not a valid Slurm hostlist (names of letters, digits, '_', '-', '.', ranges such as compute[01-04,07], "
    "separated by ',')"
)
BASE = {"name": "maint", "nodes": "hpc-compute[01-02]", "users": ["root"], "duration": 60}
SHOW = ["scontrol", "-o", "show", "reservation", "fxmaint"]
FUTURE = "2036-12-01T08:00:00"
# the nodes asked for expanded, fxfuture read, and its Nodes= expanded
FUTURE_PRESENT = (
    "scontrol_reservation_future_hostnames",
    "scontrol_reservation_future_present",
    "scontrol_reservation_future_hostnames",
)


@dataclass
class Nodes:
    n1: str
    n2: str
    hostlist: str  # n1 and n2, as the capture gave them (fx22-c[1-2])

    @property
    def hostnames(self) -> list[str]:
        return ["scontrol", "show", "hostnames", self.hostlist]


@pytest.fixture
def nodes(slurm) -> Nodes:
    hostnames = slurm.recording("scontrol_reservation_hostnames")
    n1, n2 = hostnames["stdout"].split()
    return Nodes(n1, n2, hostnames["argv"][-1])


@pytest.fixture
def fxmaint(nodes) -> dict:
    """The task that creates fxmaint."""
    return {"name": "fxmaint", "nodes": nodes.hostlist, "users": ["root"], "duration": 60, "flags": ["maint"]}


def create_argv(nodes: Nodes) -> list[str]:
    return [
        "scontrol",
        "create",
        "reservation",
        "ReservationName=fxmaint",
        "StartTime=now",
        "Duration=60",
        f"Nodes={nodes.n1},{nodes.n2}",
        "Users=root",
        "Flags=MAINT",
    ]


# --- create -----------------------------------------------------------------------------------------------------
def test_create_sends_every_setting_and_reads_the_reservation_back(slurm, nodes, fxmaint, run_module):
    commands = slurm.commands(
        "scontrol_reservation_hostnames",  # the nodes asked for, expanded by Slurm
        "scontrol_reservation_absent",
        "scontrol_reservation_create",
        "scontrol_reservation_present",
        "scontrol_reservation_present_hostnames",  # the reservation's Nodes=, expanded
    )
    run = run_module(slurm_reservation, fxmaint, commands)
    assert not run.failed
    assert run.result["changed"] is True
    assert run.commands == [" ".join(create_argv(nodes))]
    assert run.scontrol_writes == [create_argv(nodes)]
    assert commands.calls == [nodes.hostnames, SHOW, create_argv(nodes), SHOW, commands.calls[-1]]
    reservation = run.result["reservation"]
    assert reservation["name"] == "fxmaint"
    assert reservation["duration"] == 60
    assert reservation["nodes"] == [nodes.n1, nodes.n2]
    assert reservation["node_count"] == 2
    assert reservation["users"] == ["root"]
    assert reservation["accounts"] == []
    assert "MAINT" in reservation["flags"]
    assert reservation["start_time"].startswith("20")  # the time Slurm gave `now`


def test_the_same_reservation_again_changes_nothing(slurm, fxmaint, run_module):
    commands = slurm.commands(
        "scontrol_reservation_hostnames", "scontrol_reservation_present", "scontrol_reservation_present_hostnames"
    )
    run = run_module(slurm_reservation, fxmaint, commands)
    assert run.result["changed"] is False
    assert run.commands == []
    assert run.scontrol_writes == []


def test_check_mode_reports_the_create_and_writes_nothing(slurm, nodes, fxmaint, run_module):
    commands = slurm.commands("scontrol_reservation_hostnames", "scontrol_reservation_absent")
    run = run_module(slurm_reservation, fxmaint, commands, check_mode=True, diff=True)
    assert run.result["changed"] is True
    assert run.commands == [" ".join(create_argv(nodes))]
    assert commands.calls == [nodes.hostnames, SHOW]
    assert run.result["diff"]["before"] == {}
    assert run.result["diff"]["after"]["nodes"] == [nodes.n1, nodes.n2]


def test_create_by_node_count_and_partition(slurm, run_module):
    commands = slurm.commands(
        "scontrol_reservation_count_absent",
        "scontrol_reservation_count_create",
        "scontrol_reservation_count_present",
        "scontrol_reservation_count_hostnames",
    )
    args = {"name": "fxcount", "node_count": 1, "partition": "fxbatch", "users": ["root"], "duration": 30}
    run = run_module(slurm_reservation, args, commands)
    assert run.result["changed"] is True
    create = "scontrol create reservation ReservationName=fxcount StartTime=now Duration=30 NodeCnt=1"
    assert run.commands == [f"{create} PartitionName=fxbatch Users=root"]
    assert run.result["reservation"]["node_count"] == 1
    assert run.result["reservation"]["partition"] == "fxbatch"
    assert len(run.result["reservation"]["nodes"]) == 1


def test_an_absolute_start_time_is_sent_and_compared(slurm, nodes, run_module):
    args = {"name": "fxfuture", "start_time": FUTURE, "duration": "1-00:00:00", "nodes": nodes.n2, "users": ["root"]}
    commands = slurm.commands(
        "scontrol_reservation_future_hostnames",
        "scontrol_reservation_future_absent",
        "scontrol_reservation_future_create",
        "scontrol_reservation_future_present",
        "scontrol_reservation_future_hostnames",
    )
    run = run_module(slurm_reservation, args, commands)
    assert run.result["changed"] is True
    assert run.scontrol_writes == [
        [
            "scontrol",
            "create",
            "reservation",
            "ReservationName=fxfuture",
            f"StartTime={FUTURE}",
            "Duration=1440",
            f"Nodes={nodes.n2}",
            "Users=root",
        ]
    ]
    assert run.result["reservation"]["start_time"] == FUTURE
    assert run.result["reservation"]["duration"] == 1440
    # the second run: the start time as Slurm shows it is the one asked for
    commands = slurm.commands(*FUTURE_PRESENT)
    run = run_module(slurm_reservation, {**args, "duration": 1440}, commands)
    assert run.result["changed"] is False


def test_a_new_start_time_is_sent(slurm, nodes, run_module):
    args = {"name": "fxfuture", "start_time": "2036-12-02T08:00:00", "nodes": nodes.n2, "users": ["root"]}
    commands = slurm.commands(*FUTURE_PRESENT)
    run = run_module(slurm_reservation, args, commands, check_mode=True)
    assert run.result["changed"] is True
    assert run.commands == ["scontrol update ReservationName=fxfuture StartTime=2036-12-02T08:00:00"]
    assert run.scontrol_writes == []


# --- update -----------------------------------------------------------------------------------------------------
def test_update_sends_only_what_differs(slurm, nodes, fxmaint, run_module):
    commands = slurm.commands(
        "scontrol_reservation_hostnames",
        "scontrol_reservation_present",
        "scontrol_reservation_present_hostnames",
        "scontrol_reservation_update",
        "scontrol_reservation_updated",
        "scontrol_reservation_present_hostnames",
    )
    args = {**fxmaint, "duration": 120, "users": ["root", "nobody"], "flags": ["MAINT", "IGNORE_JOBS"]}
    run = run_module(slurm_reservation, args, commands)
    assert not run.failed
    assert run.result["changed"] is True
    update = ["scontrol", "update", "ReservationName=fxmaint", "Duration=120", "Users=nobody,root", "Flags=IGNORE_JOBS"]
    assert run.scontrol_writes == [update]
    assert run.result["reservation"]["duration"] == 120
    assert run.result["reservation"]["users"] == ["nobody", "root"]
    assert {"MAINT", "IGNORE_JOBS"} <= set(run.result["reservation"]["flags"])


def test_flags_slurm_adds_are_left_alone(slurm, fxmaint, run_module):
    # fxmaint has MAINT and SPEC_NODES (Slurm's own): asking for MAINT only changes nothing
    commands = slurm.commands(
        "scontrol_reservation_hostnames", "scontrol_reservation_present", "scontrol_reservation_present_hostnames"
    )
    run = run_module(slurm_reservation, {**fxmaint, "flags": ["MAINT"]}, commands)
    assert run.result["changed"] is False


# --- delete -----------------------------------------------------------------------------------------------------
def test_absent_deletes_the_reservation(slurm, run_module):
    commands = slurm.commands(
        "scontrol_reservation_present",
        "scontrol_reservation_present_hostnames",
        "scontrol_reservation_delete",
        "scontrol_reservation_deleted",
    )
    run = run_module(slurm_reservation, {"name": "fxmaint", "state": "absent"}, commands, diff=True)
    assert run.result["changed"] is True
    assert run.commands == ["scontrol delete ReservationName=fxmaint"]
    assert run.scontrol_writes == [["scontrol", "delete", "ReservationName=fxmaint"]]
    assert run.result["reservation"] == {}
    assert run.result["diff"]["after"] == {}
    assert run.result["diff"]["before"]["name"] == "fxmaint"


def test_absent_when_already_deleted_changes_nothing(slurm, run_module):
    commands = slurm.commands("scontrol_reservation_deleted")
    run = run_module(slurm_reservation, {"name": "fxmaint", "state": "absent"}, commands)
    assert run.result["changed"] is False
    assert run.commands == []
    assert commands.calls == [SHOW]
    assert run.result["reservation"] == {}


def test_check_mode_absent_writes_nothing(slurm, run_module):
    commands = slurm.commands("scontrol_reservation_present", "scontrol_reservation_present_hostnames")
    run = run_module(slurm_reservation, {"name": "fxmaint", "state": "absent"}, commands, check_mode=True)
    assert run.result["changed"] is True
    assert run.commands == ["scontrol delete ReservationName=fxmaint"]
    assert run.scontrol_writes == []


# --- Slurm's errors ---------------------------------------------------------------------------------------------
def test_a_reservation_beside_a_maint_one_is_what_slurm_took(slurm, nodes, run_module):
    # the module's create is the recorded one, which Slurm took although fxmaint (a MAINT reservation) holds the nodes
    commands = slurm.commands("scontrol_reservation_hostnames", "scontrol_reservation_busy_absent")
    args = {"name": "fxbusy", "nodes": nodes.hostlist, "users": ["root"], "duration": 60}
    run = run_module(slurm_reservation, args, commands, check_mode=True)
    assert run.result["changed"] is True
    recorded = slurm.recording("scontrol_reservation_create_busy")
    assert run.commands == [" ".join(recorded["argv"])]
    assert (recorded["rc"], recorded["stdout"]) == (0, "Reservation created: fxbusy\n")
    assert run.scontrol_writes == []


def test_an_unknown_user_fails_the_create_with_slurms_message(slurm, nodes, run_module):
    commands = slurm.commands(
        "scontrol_reservation_bad_hostnames",
        "scontrol_reservation_bad_absent",
        "scontrol_reservation_create_unknown_user",
    )
    args = {"name": "fxbad", "nodes": nodes.n1, "users": ["fxnouser"], "duration": 60}
    run = run_module(slurm_reservation, args, commands)
    assert run.failed
    assert run.result["msg"].startswith("Failed to create reservation fxbad: ")
    assert run.result["cmd"] == (
        f"scontrol create reservation ReservationName=fxbad StartTime=now Duration=60 Nodes={nodes.n1} Users=fxnouser"
    )


def test_an_unknown_user_fails_the_update_with_slurms_message(slurm, fxmaint, run_module):
    commands = slurm.commands(
        "scontrol_reservation_hostnames",
        "scontrol_reservation_present",
        "scontrol_reservation_present_hostnames",
        "scontrol_reservation_update_unknown_user",
    )
    run = run_module(slurm_reservation, {**fxmaint, "users": ["fxnouser"]}, commands)
    assert run.failed
    assert run.result["msg"].startswith("Failed to update reservation fxmaint: ")
    assert run.commands == ["scontrol update ReservationName=fxmaint Users=fxnouser"]


def test_a_new_reservation_needs_nodes(slurm, run_module):
    commands = slurm.commands("scontrol_reservation_absent")
    run = run_module(slurm_reservation, {"name": "fxmaint", "users": ["root"], "duration": 60}, commands)
    assert run.failed
    assert run.result["msg"] == "slurm_reservation: a new reservation needs nodes or node_count"
    assert commands.calls == [SHOW]
    assert run.commands == []


# --- options ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "msg"),
    [
        ({**BASE, "name": "maint Flags=MAINT"}, f"slurm_reservation.name: 'maint Flags=MAINT' {NAME_RULE}"),
        ({"name": "maint,other", "state": "absent"}, f"slurm_reservation.name: 'maint,other' {NAME_RULE}"),
        (
            {**BASE, "nodes": "hpc-compute01 Users=alice"},
            f"slurm_reservation.nodes: 'hpc-compute01 Users=alice' {HOSTLIST_RULE}",
        ),
        (
            {**BASE, "nodes": None, "node_count": 2, "partition": "batch debug"},
            f"slurm_reservation.partition: 'batch debug' {NAME_RULE}",
        ),
        ({**BASE, "users": ["root", "alice=bob"]}, f"slurm_reservation.users: 'alice=bob' {NAME_RULE}"),
        ({**BASE, "accounts": ["fx phys"]}, f"slurm_reservation.accounts: 'fx phys' {NAME_RULE}"),
        (
            {**BASE, "flags": ["MAINT", "IGNORE_JOBS Users=alice"]},
            f"slurm_reservation.flags: 'IGNORE_JOBS Users=alice' {NAME_RULE}",
        ),
        (
            {**BASE, "start_time": "now Nodes=ALL"},
            "slurm_reservation.start_time: 'now Nodes=ALL' is not a Slurm time (now, now+1hour, 2026-12-01T08:00:00)",
        ),
        ({**BASE, "nodes": None, "node_count": -1}, "slurm_reservation.node_count: must be at least 1, got -1"),
        ({**BASE, "timeout": -1}, "slurm_reservation.timeout: must be a positive number of seconds, got -1"),
        ({**BASE, "node_count": 2}, "slurm_reservation: give nodes or node_count, not both"),
        ({**BASE, "users": None}, "slurm_reservation: Slurm needs users or accounts for a reservation"),
        ({**BASE, "users": []}, "slurm_reservation: Slurm needs users or accounts for a reservation"),
        (
            {**BASE, "duration": "2 hours"},
            "slurm_reservation.duration: '2 hours' is not a Slurm duration (minutes, [D-]HH:MM:SS or D-HH)",
        ),
    ],
)
def test_a_bad_option_fails_naming_it_before_any_command(refused_before_any_command, args, msg):
    refused_before_any_command(slurm_reservation, args, msg)
