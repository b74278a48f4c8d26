"""slurm_partition against scontrol answers recorded from Slurm 22.05 and 24.11 (fixtures/slurm-*/scontrol_partition*).

The recorded history of partition fxbatch, which the capture (tools/capture_slurm_fixtures.py) made on two nodes with
Slurm's defaults: up -> down -> drain -> up -> limited -> unlimited again -> an unknown QOS allowed; then deleted.
"""

from __future__ import annotations

import pytest
from ansible_collections.hpcstack.cluster.plugins.modules import slurm_partition

NAME_RULE = "is not a valid Slurm name (letters, digits, '_', '-', '.', '@')"
SHOW = ["scontrol", "-o", "show", "partition", "fxbatch"]
UPDATE = ["scontrol", "update", "PartitionName=fxbatch"]
DEFAULTS = {
    "name": "fxbatch",
    "state": "up",
    "max_time": None,
    "default_time": None,
    "max_nodes": None,
    "priority_tier": 1,
    "allow_accounts": ["ALL"],
    "allow_qos": ["ALL"],
}
LIMITS = {
    "max_time": "1:00:00",
    "default_time": 30,
    "max_nodes": 1,
    "priority_tier": 5,
    "allow_accounts": ["fxphys", "FXCHEM"],
}
LIMITED = {
    **DEFAULTS,
    "max_time": 60,
    "default_time": 30,
    "max_nodes": 1,
    "priority_tier": 5,
    "allow_accounts": ["fxchem", "fxphys"],
}
UNLIMITED = {
    "max_time": -1,
    "default_time": "UNLIMITED",
    "max_nodes": -1,
    "priority_tier": 1,
    "allow_accounts": ["ALL"],
}


def test_the_partition_as_read(slurm, run_module):
    commands = slurm.commands("scontrol_partition_show")
    run = run_module(slurm_partition, {"name": "fxbatch"}, commands)
    assert run.result["changed"] is False
    assert run.result["partition"] == DEFAULTS
    assert commands.calls == [SHOW]


@pytest.mark.parametrize(
    ("state", "before", "update", "after"),
    [
        ("down", "scontrol_partition_show", "scontrol_partition_down", "scontrol_partition_show_down"),
        ("drain", "scontrol_partition_show_down", "scontrol_partition_drain", "scontrol_partition_show_drain"),
        ("up", "scontrol_partition_show_drain", "scontrol_partition_up", "scontrol_partition_show_up"),
    ],
)
def test_a_state_is_sent_and_read_back(slurm, run_module, state, before, update, after):
    commands = slurm.commands(before, update, after)
    run = run_module(slurm_partition, {"name": "fxbatch", "state": state}, commands)
    assert not run.failed
    assert run.result["changed"] is True
    assert run.commands == [f"scontrol update PartitionName=fxbatch State={state.upper()}"]
    assert commands.calls == [SHOW, [*UPDATE, f"State={state.upper()}"], SHOW]
    assert run.result["partition"] == {**DEFAULTS, "state": state}


@pytest.mark.parametrize(
    ("state", "recording"), [("up", "scontrol_partition_show"), ("down", "scontrol_partition_show_down")]
)
def test_the_state_it_has_changes_nothing(slurm, run_module, state, recording):
    commands = slurm.commands(recording)
    run = run_module(slurm_partition, {"name": "fxbatch", "state": state}, commands)
    assert run.result["changed"] is False
    assert run.commands == []
    assert commands.calls == [SHOW]


def test_check_mode_reports_the_update_and_writes_nothing(slurm, run_module):
    commands = slurm.commands("scontrol_partition_show")
    run = run_module(slurm_partition, {"name": "fxbatch", "state": "down"}, commands, check_mode=True, diff=True)
    assert run.result["changed"] is True
    assert run.commands == ["scontrol update PartitionName=fxbatch State=DOWN"]
    assert commands.calls == [SHOW]
    assert run.scontrol_writes == []
    assert run.result["diff"] == {"before": DEFAULTS, "after": {**DEFAULTS, "state": "down"}}


def test_limits_go_in_one_update_and_are_read_back(slurm, run_module):
    commands = slurm.commands(
        "scontrol_partition_show_up", "scontrol_partition_limits", "scontrol_partition_show_limits"
    )
    run = run_module(slurm_partition, {"name": "fxbatch", **LIMITS}, commands, diff=True)
    assert not run.failed
    assert run.result["changed"] is True
    settings = ["MaxTime=60", "DefaultTime=30", "MaxNodes=1", "PriorityTier=5", "AllowAccounts=fxchem,fxphys"]
    assert run.commands == ["scontrol update PartitionName=fxbatch " + " ".join(settings)]
    assert run.scontrol_writes == [[*UPDATE, *settings]]
    assert run.result["partition"] == LIMITED
    assert run.result["diff"] == {"before": DEFAULTS, "after": LIMITED}


def test_the_same_limits_again_change_nothing(slurm, run_module):
    # 60 minutes as "60", "1:00:00" or "01:00:00"; account names in any order and case
    commands = slurm.commands("scontrol_partition_show_limits")
    run = run_module(
        slurm_partition, {"name": "fxbatch", **LIMITS, "max_time": 60, "default_time": "00:30:00"}, commands
    )
    assert run.result["changed"] is False
    assert run.commands == []
    assert commands.calls == [SHOW]


def test_minus_one_and_unlimited_clear_the_limits(slurm, run_module):
    commands = slurm.commands(
        "scontrol_partition_show_limits", "scontrol_partition_unlimited", "scontrol_partition_show_unlimited"
    )
    run = run_module(slurm_partition, {"name": "fxbatch", **UNLIMITED}, commands)
    assert run.result["changed"] is True
    settings = [
        "MaxTime=UNLIMITED",
        "DefaultTime=UNLIMITED",
        "MaxNodes=UNLIMITED",
        "PriorityTier=1",
        "AllowAccounts=ALL",
    ]
    assert run.scontrol_writes == [[*UPDATE, *settings]]
    assert run.result["partition"] == DEFAULTS


def test_unlimited_limits_of_a_new_partition_change_nothing(slurm, run_module):
    commands = slurm.commands("scontrol_partition_show")
    run = run_module(slurm_partition, {"name": "fxbatch", **UNLIMITED}, commands)
    assert run.result["changed"] is False
    assert commands.calls == [SHOW]


# --- Slurm's errors ---------------------------------------------------------------------------------------------
def test_an_unknown_partition_fails_naming_it(slurm, run_module):
    commands = slurm.commands("scontrol_partition_show_unknown")
    run = run_module(slurm_partition, {"name": "fxnope", "state": "down"}, commands)
    assert run.failed
    assert run.result["msg"] == (
        "slurm_partition.name: partition 'fxnope' does not exist (partitions are defined in slurm.conf; see the "
        "slurm_partitions variable)"
    )
    assert commands.calls == [["scontrol", "-o", "show", "partition", "fxnope"]]
    assert run.commands == []


def test_allow_qos_is_sent_as_given(slurm, run_module):
    # a cluster without accounting (the recorded ones) takes any QOS name
    commands = slurm.commands(
        "scontrol_partition_show_unlimited",
        "scontrol_partition_allow_qos_unknown",
        "scontrol_partition_show_after_allow_qos",
    )
    run = run_module(slurm_partition, {"name": "fxbatch", "allow_qos": ["FXNOQOS"]}, commands)
    assert run.result["changed"] is True
    assert run.commands == ["scontrol update PartitionName=fxbatch AllowQos=fxnoqos"]
    assert run.scontrol_writes == [[*UPDATE, "AllowQos=fxnoqos"]]
    assert run.result["partition"] == {**DEFAULTS, "allow_qos": ["fxnoqos"]}


# --- options ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "msg"),
    [
        # scontrol reads the argument `PartitionName=batch State=UP` as the partition `batch State=UP`
        ({"name": "batch State=UP", "state": "down"}, f"slurm_partition.name: 'batch State=UP' {NAME_RULE}"),
        ({"name": "batch,debug", "state": "down"}, f"slurm_partition.name: 'batch,debug' {NAME_RULE}"),
        ({"name": "", "state": "down"}, f"slurm_partition.name: '' {NAME_RULE}"),
        (
            {"name": "batch", "allow_accounts": ["fxphys", "fx phys"]},
            f"slurm_partition.allow_accounts: 'fx phys' {NAME_RULE}",
        ),
        ({"name": "batch", "allow_qos": ["normal=x"]}, f"slurm_partition.allow_qos: 'normal=x' {NAME_RULE}"),
        ({"name": "batch", "priority_tier": -1}, "slurm_partition.priority_tier: must be zero or more, got -1"),
        (
            {"name": "batch", "max_time": "1 day"},
            "slurm_partition.max_time: '1 day' is not a Slurm duration (minutes, [D-]HH:MM:SS or D-HH)",
        ),
        (
            {"name": "batch", "default_time": "30m"},
            "slurm_partition.default_time: '30m' is not a Slurm duration (minutes, [D-]HH:MM:SS or D-HH)",
        ),
        (
            {"name": "batch", "state": "up", "timeout": -1},
            "slurm_partition.timeout: must be a positive number of seconds, got -1",
        ),
    ],
)
def test_a_bad_option_fails_naming_it_before_any_command(refused_before_any_command, args, msg):
    refused_before_any_command(slurm_partition, args, msg)


@pytest.mark.parametrize(
    ("args", "words"),
    [
        ({"name": "fxbatch", "state": "DRAIN"}, "value of state must be one of: up, down, drain, inactive, got: DRAIN"),
        ({"name": "fxbatch", "max_nodes": "many"}, "max_nodes"),
    ],
)
def test_ansibles_own_checks_come_before_any_command(slurm, run_module, args, words):
    commands = slurm.commands()
    run = run_module(slurm_partition, args, commands)
    assert run.failed
    assert words in run.result["msg"]
    assert commands.calls == []
