"""slurm_node against scontrol answers recorded from Slurm 22.05 and 24.11 (fixtures/slurm-*/scontrol_node*.json).

The recorded history of the capture's two idle nodes n1 and n2 (tools/capture_slurm_fixtures.py): n1 drained, given
a new reason, resumed, drained again and undrained; both drained and resumed; n2 down and resumed; n1 draining under
a job, then drained when it has ended. The tests take the nodes' names from the recordings.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from ansible_collections.hpcstack.cluster.plugins.modules import slurm_node

HOSTLIST_RULE = (
    "is not a valid Slurm hostlist (names of letters, digits, '_', '-', '.', ranges such as compute[01-04,07], "
    "separated by ',')"
)
HOSTLISTS = {"22.05": "hpc-compute[01-02]", "24.11": "slurm13-c[1-2]"}  # the two nodes of scontrol_show_node


@dataclass
class Nodes:
    n1: str
    n2: str
    hostlist: str  # n1 and n2

    def show(self, name: str) -> list[str]:
        return ["scontrol", "-o", "show", "node", name]

    def update(self, names: str, *settings: str) -> list[str]:
        return ["scontrol", "update", f"NodeName={names}", *settings]


@pytest.fixture
def nodes(slurm) -> Nodes:
    """The recorded cluster's two nodes, as the capture chose them."""
    return Nodes(
        slurm.recording("scontrol_node_show_idle")["argv"][-1],
        slurm.recording("scontrol_node_show_n2_idle")["argv"][-1],
        slurm.recording("scontrol_nodes_show_idle")["argv"][-1],
    )


def test_the_recordings_are_of_two_nodes(slurm, nodes):
    assert nodes.n1 != nodes.n2
    assert slurm.recording("scontrol_reservation_hostnames")["stdout"].split() == [nodes.n1, nodes.n2]


# --- drain ------------------------------------------------------------------------------------------------------
def test_drain_sends_the_update_and_reads_the_node_back(slurm, nodes, run_module):
    commands = slurm.commands("scontrol_node_show_idle", "scontrol_node_drain", "scontrol_node_show_drained")
    run = run_module(slurm_node, {"name": nodes.n1, "state": "drain", "reason": "fx disk swap"}, commands)
    assert not run.failed
    assert run.result["changed"] is True
    assert run.commands == [f"scontrol update NodeName={nodes.n1} State=DRAIN 'Reason=fx disk swap'"]
    update = nodes.update(nodes.n1, "State=DRAIN", "Reason=fx disk swap")  # the reason is one argument
    assert commands.calls == [nodes.show(nodes.n1), update, nodes.show(nodes.n1)]
    assert run.scontrol_writes == [update]
    # as read back: Slurm's [user@time] stamp after the reason is left out
    assert run.result["nodes"] == {nodes.n1: {"state": "IDLE+DRAIN", "reason": "fx disk swap"}}


def test_a_drained_node_with_the_same_reason_is_left_alone(slurm, nodes, run_module):
    commands = slurm.commands("scontrol_node_show_drained")
    run = run_module(slurm_node, {"name": nodes.n1, "state": "drain", "reason": "fx disk swap"}, commands)
    assert run.result["changed"] is False
    assert run.commands == []
    assert commands.calls == [nodes.show(nodes.n1)]  # no update, no second read
    assert run.result["nodes"] == {nodes.n1: {"state": "IDLE+DRAIN", "reason": "fx disk swap"}}


def test_a_drained_node_gets_a_new_reason(slurm, nodes, run_module):
    commands = slurm.commands(
        "scontrol_node_show_drained", "scontrol_node_drain_new_reason", "scontrol_node_show_new_reason"
    )
    run = run_module(slurm_node, {"name": nodes.n1, "state": "drain", "reason": "fx new disk"}, commands, diff=True)
    assert run.result["changed"] is True
    assert run.scontrol_writes == [nodes.update(nodes.n1, "State=DRAIN", "Reason=fx new disk")]
    assert run.result["diff"] == {
        "before": {nodes.n1: {"state": "IDLE+DRAIN", "reason": "fx disk swap"}},
        "after": {nodes.n1: {"state": "IDLE+DRAIN", "reason": "fx new disk"}},
    }


def test_check_mode_predicts_the_drain_and_writes_nothing(slurm, nodes, run_module):
    commands = slurm.commands("scontrol_node_show_idle")
    args = {"name": nodes.n1, "state": "drain", "reason": "fx disk swap"}
    run = run_module(slurm_node, args, commands, check_mode=True)
    assert run.result["changed"] is True
    assert run.commands == [f"scontrol update NodeName={nodes.n1} State=DRAIN 'Reason=fx disk swap'"]
    assert commands.calls == [nodes.show(nodes.n1)]
    assert run.scontrol_writes == []
    # what the real run read back (test above)
    assert run.result["nodes"] == {nodes.n1: {"state": "IDLE+DRAIN", "reason": "fx disk swap"}}


def test_a_hostlist_is_drained_with_one_update_and_read_as_one_argument(slurm, nodes, run_module):
    commands = slurm.commands("scontrol_nodes_show_idle", "scontrol_nodes_drain", "scontrol_nodes_show_drained")
    run = run_module(slurm_node, {"nodes": nodes.hostlist, "state": "drain", "reason": "fx disk swap"}, commands)
    assert run.result["changed"] is True
    both = f"{nodes.n1},{nodes.n2}"
    assert commands.calls == [
        nodes.show(nodes.hostlist),
        nodes.update(both, "State=DRAIN", "Reason=fx disk swap"),
        nodes.show(nodes.hostlist),
    ]
    drained = {"state": "IDLE+DRAIN", "reason": "fx disk swap"}
    assert run.result["nodes"] == {nodes.n1: drained, nodes.n2: drained}


# --- resume, undrain, down --------------------------------------------------------------------------------------
def test_resume_returns_a_drained_node_to_service(slurm, nodes, run_module):
    commands = slurm.commands("scontrol_node_show_new_reason", "scontrol_node_resume", "scontrol_node_show_resumed")
    run = run_module(slurm_node, {"name": nodes.n1, "state": "resume"}, commands)
    assert run.result["changed"] is True
    assert run.commands == [f"scontrol update NodeName={nodes.n1} State=RESUME"]
    assert run.scontrol_writes == [nodes.update(nodes.n1, "State=RESUME")]
    # as read at once: 22.05 says IDLE+NOT_RESPONDING until the node's slurmd answers, 24.11 still shows the reason
    assert run.result["nodes"][nodes.n1]["state"].split("+")[0] == "IDLE"
    assert "DRAIN" not in run.result["nodes"][nodes.n1]["state"]


def test_resume_of_a_hostlist_updates_only_the_drained_node(slurm, nodes, run_module):
    # n1 drained, n2 idle: Slurm refuses RESUME for an idle node, so n2 must not be named
    commands = slurm.commands("scontrol_nodes_show_one_drained", "scontrol_node_resume", "scontrol_nodes_show_idle")
    run = run_module(slurm_node, {"name": nodes.hostlist, "state": "resume"}, commands)
    assert run.result["changed"] is True
    assert run.scontrol_writes == [nodes.update(nodes.n1, "State=RESUME")]
    idle = {"state": "IDLE", "reason": ""}
    assert run.result["nodes"] == {nodes.n1: idle, nodes.n2: idle}


def test_resume_of_both_drained_nodes(slurm, nodes, run_module):
    commands = slurm.commands("scontrol_nodes_show_drained", "scontrol_nodes_resume", "scontrol_nodes_show_resumed")
    run = run_module(slurm_node, {"name": nodes.hostlist, "state": "resume"}, commands)
    assert run.result["changed"] is True
    assert run.scontrol_writes == [nodes.update(f"{nodes.n1},{nodes.n2}", "State=RESUME")]
    assert {node["state"].split("+")[0] for node in run.result["nodes"].values()} == {"IDLE"}
    assert not any("DRAIN" in node["state"] for node in run.result["nodes"].values())


def test_resume_of_an_idle_node_changes_nothing(slurm, nodes, run_module):
    commands = slurm.commands("scontrol_node_show_idle")
    run = run_module(slurm_node, {"name": nodes.n1, "state": "resume"}, commands)
    assert run.result["changed"] is False
    assert run.commands == []
    assert commands.calls == [nodes.show(nodes.n1)]


def test_undrain_clears_the_drain_flag(slurm, nodes, run_module):
    commands = slurm.commands("scontrol_node_show_drained", "scontrol_node_undrain", "scontrol_node_show_undrained")
    run = run_module(slurm_node, {"name": nodes.n1, "state": "undrain"}, commands)
    assert run.result["changed"] is True
    assert run.commands == [f"scontrol update NodeName={nodes.n1} State=UNDRAIN"]
    assert run.scontrol_writes == [nodes.update(nodes.n1, "State=UNDRAIN")]
    assert run.result["nodes"][nodes.n1]["state"].split("+") in (["IDLE"], ["IDLE", "NOT_RESPONDING"])


def test_undrain_of_an_idle_node_changes_nothing(slurm, nodes, run_module):
    run = run_module(slurm_node, {"name": nodes.n1, "state": "undrain"}, slurm.commands("scontrol_node_show_idle"))
    assert run.result["changed"] is False
    assert run.sacctmgr.calls == [nodes.show(nodes.n1)]  # every command the module ran, scontrol's too


def test_down_then_resume(slurm, nodes, run_module):
    args = {"name": nodes.n2, "state": "down", "reason": "fx power cut"}
    commands = slurm.commands("scontrol_node_show_n2_idle", "scontrol_node_down", "scontrol_node_show_down")
    run = run_module(slurm_node, args, commands)
    assert run.result["changed"] is True
    assert run.scontrol_writes == [nodes.update(nodes.n2, "State=DOWN", "Reason=fx power cut")]
    assert run.result["nodes"] == {nodes.n2: {"state": "DOWN", "reason": "fx power cut"}}

    commands = slurm.commands("scontrol_node_show_down", "scontrol_node_resume_down", "scontrol_node_show_down_resumed")
    run = run_module(slurm_node, {"name": nodes.n2, "state": "resume"}, commands)
    assert not run.failed
    assert run.scontrol_writes == [nodes.update(nodes.n2, "State=RESUME")]
    assert run.result["nodes"][nodes.n2]["state"].split("+")[0] == "IDLE"
    if slurm.recording("scontrol_node_resume_down")["rc"] == 0:  # 22.05 resumed it
        assert run.result["changed"] is True
    else:  # 24.11 had returned the node to service itself between the read and the RESUME, and refused it
        assert run.result["changed"] is False


def test_a_down_node_with_the_same_reason_is_left_alone(slurm, nodes, run_module):
    args = {"name": nodes.n2, "state": "down", "reason": "fx power cut"}
    run = run_module(slurm_node, args, slurm.commands("scontrol_node_show_down"))
    assert run.result["changed"] is False
    assert run.commands == []


# --- drain and wait ---------------------------------------------------------------------------------------------
def test_drain_with_wait_waits_until_the_job_has_ended(slurm, nodes, run_module, monkeypatch):
    monkeypatch.setattr(slurm_node, "POLL_SECONDS", 0)
    commands = slurm.commands(
        "scontrol_node_show_busy",  # a job runs on n1
        "scontrol_node_drain_busy",
        "scontrol_node_show_draining",  # first poll: the job still runs
        "scontrol_node_show_drained_after_job",  # second poll: it has ended
    )
    args = {"name": nodes.n1, "state": "drain", "reason": "fx disk swap", "wait": True}
    run = run_module(slurm_node, args, commands)
    assert not run.failed
    assert run.result["changed"] is True
    assert run.scontrol_writes == [nodes.update(nodes.n1, "State=DRAIN", "Reason=fx disk swap")]
    assert commands.calls.count(nodes.show(nodes.n1)) == 3
    assert run.result["nodes"] == {nodes.n1: {"state": "IDLE+DRAIN", "reason": "fx disk swap"}}


def test_drain_with_wait_fails_when_the_job_outlasts_the_timeout(slurm, nodes, run_module):
    # already draining with this reason: nothing to send, but the wait still applies
    commands = slurm.commands("scontrol_node_show_draining", "scontrol_node_show_draining")
    args = {"name": nodes.n1, "state": "drain", "reason": "fx disk swap", "wait": True, "wait_timeout": 0}
    run = run_module(slurm_node, args, commands)
    assert run.failed
    assert run.result["msg"] == f"Nodes still draining after 0 s (jobs still running): {nodes.n1}"
    assert run.scontrol_writes == []


def test_a_draining_node_is_not_drained_again(slurm, nodes, run_module):
    commands = slurm.commands("scontrol_node_show_draining")
    run = run_module(slurm_node, {"name": nodes.n1, "state": "drain", "reason": "fx disk swap"}, commands)
    assert run.result["changed"] is False
    assert run.result["nodes"][nodes.n1]["state"].endswith("+DRAIN")
    assert commands.calls == [nodes.show(nodes.n1)]


# --- Slurm's errors ---------------------------------------------------------------------------------------------
def test_an_unknown_node_fails_with_slurms_message(slurm, run_module):
    commands = slurm.commands("scontrol_node_show_unknown")
    run = run_module(slurm_node, {"name": "fxnope", "state": "drain", "reason": "fx disk swap"}, commands)
    assert run.failed
    assert run.result["msg"] == "Failed to read Slurm node: Node fxnope not found"
    assert run.result["cmd"] == "scontrol -o show node fxnope"
    assert run.scontrol_writes == []
    assert run.commands == []


def test_a_node_returned_to_service_meanwhile_is_not_a_failure(slurm, nodes, run_module):
    # read drained, but idle when the update arrives (Slurm or someone returned it in between): Slurm refuses the
    # RESUME; read again, the node is in service, as asked, and this run changed nothing
    commands = slurm.commands("scontrol_node_show_drained", "scontrol_node_resume_idle", "scontrol_node_show_idle")
    run = run_module(slurm_node, {"name": nodes.n1, "state": "resume"}, commands)
    assert not run.failed
    assert run.result["changed"] is False
    assert commands.calls == [nodes.show(nodes.n1), nodes.update(nodes.n1, "State=RESUME"), nodes.show(nodes.n1)]
    assert run.result["nodes"] == {nodes.n1: {"state": "IDLE", "reason": ""}}


def test_slurm_refusing_the_resume_fails_with_its_message(slurm, nodes, run_module):
    # refused, and the node still reads drained: Slurm's refusal stands
    commands = slurm.commands("scontrol_node_show_drained", "scontrol_node_resume_idle", "scontrol_node_show_drained")
    run = run_module(slurm_node, {"name": nodes.n1, "state": "resume"}, commands)
    assert run.failed
    assert run.result["msg"].startswith(f"Failed to set nodes {nodes.n1} to resume: ")
    assert "Invalid node state specified" in run.result["msg"]
    assert "\n" not in run.result["msg"]
    assert run.result["rc"] != 0
    assert run.commands == [f"scontrol update NodeName={nodes.n1} State=RESUME"]


def test_a_change_slurm_does_not_make_fails(slurm, nodes, run_module):
    # the update is answered, but the node reads back idle (the read recorded before the drain, played twice)
    commands = slurm.commands("scontrol_node_show_idle", "scontrol_node_drain", "scontrol_node_show_idle")
    run = run_module(slurm_node, {"name": nodes.n1, "state": "drain", "reason": "fx disk swap"}, commands)
    assert run.failed
    assert run.result["msg"] == f"Slurm did not set nodes {nodes.n1} to drain: read back {nodes.n1}=IDLE"


def test_no_controller_fails_with_slurms_message(slurm, nodes, run_module):
    commands = slurm.commands("scontrol_node_show_no_controller")
    run = run_module(slurm_node, {"name": nodes.n1, "state": "resume"}, commands)
    assert run.failed
    assert run.result["msg"].startswith("Failed to read Slurm node: ")
    assert "Unable to contact slurm controller" in run.result["msg"]


# --- options ----------------------------------------------------------------------------------------------------
def test_a_hostlist_is_taken_and_given_to_scontrol_as_one_argument(slurm, run_module):
    # the recorded answer of `scontrol -o show node` (both nodes, idle), replayed for the hostlist of those nodes
    hostlist = HOSTLISTS[slurm.version]
    commands = slurm.commands()
    commands.unused.append(
        {**slurm.recording("scontrol_show_node"), "argv": ["scontrol", "-o", "show", "node", hostlist]}
    )
    run = run_module(slurm_node, {"name": hostlist, "state": "resume"}, commands)
    assert not run.failed
    assert run.result["changed"] is False  # idle nodes need no resume
    assert commands.calls == [["scontrol", "-o", "show", "node", hostlist]]


@pytest.mark.parametrize(
    ("args", "msg"),
    [
        (
            {"name": "hpc-compute01 State=DOWN", "state": "resume"},
            f"slurm_node.name: 'hpc-compute01 State=DOWN' {HOSTLIST_RULE}",
        ),
        ({"nodes": "hpc-compute01=x", "state": "undrain"}, f"slurm_node.name: 'hpc-compute01=x' {HOSTLIST_RULE}"),
        ({"name": "a,,b", "state": "resume"}, f"slurm_node.name: 'a,,b' {HOSTLIST_RULE}"),
        ({"name": "", "state": "resume"}, f"slurm_node.name: '' {HOSTLIST_RULE}"),
        (
            {"name": "hpc-compute01", "state": "drain", "reason": "disk swap\nState=RESUME"},
            "slurm_node.reason: 'disk swap\\nState=RESUME' must be one line without control characters",
        ),
        (
            {"name": "hpc-compute01", "state": "drain", "reason": "  "},
            "slurm_node.reason: Slurm requires a reason to drain a node",
        ),
        (
            {"name": "hpc-compute01", "state": "down", "reason": ""},
            "slurm_node.reason: Slurm requires a reason to down a node",
        ),
        (
            {"name": "hpc-compute01", "state": "drain", "reason": "disk", "wait": True, "wait_timeout": -1},
            "slurm_node.wait_timeout: must be zero or more seconds, got -1",
        ),
        (
            {"name": "hpc-compute01", "state": "resume", "timeout": -1},
            "slurm_node.timeout: must be a positive number of seconds, got -1",
        ),
        (
            {"name": "hpc-compute01", "state": "resume", "timeout": 0},
            "slurm_node.timeout: must be a positive number of seconds, got 0",
        ),
    ],
)
def test_a_bad_option_fails_naming_it_before_any_command(refused_before_any_command, args, msg):
    refused_before_any_command(slurm_node, args, msg)


@pytest.mark.parametrize("state", ["drain", "down"])
def test_drain_and_down_need_a_reason_before_any_command(slurm, run_module, state):
    commands = slurm.commands()
    run = run_module(slurm_node, {"name": "hpc-compute01", "state": state}, commands)
    assert run.failed
    assert run.result["msg"] == f"state is {state} but all of the following are missing: reason"
    assert commands.calls == []
