"""slurm_qos against sacctmgr answers recorded from Slurm 22.05 and 24.11 (fixtures/slurm-*/qos_*.json).

The recorded history of QOS fxshort: absent -> created -> limits updated -> max_wall cleared -> flags set ->
preempt and flags cleared -> an unknown flag refused -> deleted. fxlong exists throughout (the QOS it preempts).
"""

from __future__ import annotations

import pytest
from ansible_collections.hpcstack.cluster.plugins.modules import slurm_qos

CREATE = {
    "name": "fxshort",
    "priority": 10,
    "preempt": ["fxlong"],
    "limits": {"max_wall": "1:00:00", "max_tres_per_user": "cpu=4,mem=1G"},
}
ADD = "sacctmgr -i add qos fxshort Priority=10 Preempt=fxlong MaxTRESPerUser=cpu=4,mem=1024 MaxWall=60"
PRESENT = {
    "name": "fxshort",
    "description": "fxshort",
    "priority": 10,
    "preempt": ["fxlong"],
    "preempt_mode": "cluster",
    "flags": [],
    "usage_factor": 1.0,
    "grace_time": 0,
    "limits": {"max_tres_per_user": {"cpu": 4, "mem": 1024}, "max_wall": 60},
}
UPDATE = {"name": "fxshort", "limits": {"max_wall": "2:00:00", "max_tres_per_user": "cpu=8"}}
MODIFY = "sacctmgr -i modify qos where name=fxshort set "
UPDATED = {**PRESENT, "limits": {"max_tres_per_user": {"cpu": 8}, "max_wall": 120}}


def test_create_adds_the_qos_with_its_limits(slurm, run_module):
    commands = slurm.commands("qos_absent", "qos_list_without_fxshort", "qos_add", "qos_present")
    run = run_module(slurm_qos, CREATE, commands)
    assert not run.failed
    assert run.result["changed"] is True
    assert run.commands == [ADD]
    assert run.sacctmgr.writes == [ADD.split()]
    assert run.result["qos"] == PRESENT  # as read back from Slurm: 1G read as mem=1G, 1:00:00 as 01:00:00


def test_the_same_qos_again_changes_nothing(slurm, run_module):
    run = run_module(slurm_qos, CREATE, slurm.commands("qos_present"))
    assert run.result["changed"] is False
    assert run.commands == []
    assert len(run.sacctmgr.calls) == 1
    assert run.result["qos"] == PRESENT


def test_check_mode_predicts_what_slurm_reads_back_and_writes_nothing(slurm, run_module):
    run = run_module(slurm_qos, CREATE, slurm.commands("qos_absent", "qos_list_without_fxshort"), check_mode=True)
    assert run.result["changed"] is True
    assert run.commands == [ADD]
    assert run.sacctmgr.writes == []
    assert run.result["qos"] == PRESENT


def test_updating_limits_replaces_the_whole_tres_list(slurm, run_module):
    run = run_module(
        slurm_qos, UPDATE, slurm.commands("qos_present", "qos_modify_limits", "qos_present_limits_updated")
    )
    assert run.result["changed"] is True
    assert run.commands == [MODIFY + "MaxTRESPerUser=cpu=8,mem=-1 MaxWall=120"]
    assert run.result["qos"] == UPDATED


def test_diff_shows_the_changed_limits(slurm, run_module):
    run = run_module(
        slurm_qos, UPDATE, slurm.commands("qos_present", "qos_modify_limits", "qos_present_limits_updated"), diff=True
    )
    assert run.result["diff"] == {"before": PRESENT, "after": UPDATED}


@pytest.mark.parametrize("cleared", [-1, "-1", "unlimited"])
def test_minus_one_clears_a_limit(slurm, run_module, cleared):
    commands = slurm.commands("qos_present_limits_updated", "qos_clear_max_wall", "qos_present_max_wall_cleared")
    run = run_module(slurm_qos, {"name": "fxshort", "limits": {"max_wall": cleared}}, commands)
    assert run.commands == [MODIFY + "MaxWall=-1"]
    assert run.result["qos"]["limits"] == {"max_tres_per_user": {"cpu": 8}}


def test_clearing_a_limit_that_is_not_set_changes_nothing(slurm, run_module):
    run = run_module(
        slurm_qos, {"name": "fxshort", "limits": {"max_wall": -1}}, slurm.commands("qos_present_max_wall_cleared")
    )
    assert run.result["changed"] is False


def test_flags_are_written_and_compared_case_insensitively(slurm, run_module):
    commands = slurm.commands("qos_present_max_wall_cleared", "qos_set_flags", "qos_present_flags")
    run = run_module(slurm_qos, {"name": "fxshort", "flags": ["NoReserve", "DenyOnLimit"]}, commands)
    assert run.commands == [MODIFY + "Flags=denyonlimit,noreserve"]
    assert run.result["qos"]["flags"] == ["denyonlimit", "noreserve"]  # Slurm shows DenyOnLimit,NoReserve

    again = run_module(
        slurm_qos, {"name": "fxshort", "flags": ["DENYONLIMIT", "noreserve"]}, slurm.commands("qos_present_flags")
    )
    assert again.result["changed"] is False


def test_empty_lists_clear_preempt_and_flags(slurm, run_module):
    commands = slurm.commands("qos_present_flags", "qos_clear_preempt_flags", "qos_present_preempt_flags_cleared")
    run = run_module(slurm_qos, {"name": "fxshort", "preempt": [], "flags": []}, commands)
    assert run.commands == [MODIFY + "Preempt= Flags=-1"]
    assert run.result["qos"]["preempt"] == []
    assert run.result["qos"]["flags"] == []


def test_absent_deletes_the_qos(slurm, run_module):
    commands = slurm.commands("qos_present_after_unknown_flag", "qos_delete", "qos_deleted")
    run = run_module(slurm_qos, {"name": "fxshort", "state": "absent"}, commands, diff=True)
    assert run.result["changed"] is True
    assert run.commands == ["sacctmgr -i delete qos where name=fxshort"]
    assert run.result["qos"] == {}
    assert run.result["diff"]["after"] == {}
    assert run.result["diff"]["before"]["name"] == "fxshort"


def test_absent_when_already_deleted_changes_nothing(slurm, run_module):
    run = run_module(slurm_qos, {"name": "fxshort", "state": "absent"}, slurm.commands("qos_deleted"))
    assert run.result["changed"] is False
    assert run.commands == []


VALID_FLAGS = (
    "DenyOnLimit, EnforceUsageThreshold, NoDecay, NoReserve, OverPartQOS, PartitionMaxNodes, PartitionMinNodes, "
    "PartitionTimeLimit, Relative, RequiresReservation, UsageFactorSafe"
)


def test_a_flag_slurm_does_not_know_fails_naming_the_valid_ones_before_any_command(slurm, run_module):
    # Slurm itself refuses it only after the write has started (qos_set_unknown_flag: "Unknown QOS flag used in")
    run = run_module(slurm_qos, {"name": "fxshort", "flags": ["NoReserve", "NoSuchFlag"]}, slurm.commands())
    assert run.failed
    assert run.result["msg"] == f"slurm_qos.flags: unknown QOS flag(s) nosuchflag; valid: {VALID_FLAGS}"
    assert run.sacctmgr.calls == []
    assert run.result["commands"] == []


def test_the_known_flags_are_those_slurm_lists(slurm):
    said = slurm.recording("qos_set_unknown_flag")["stdout"]
    listed = set(said.split("Valid QOS flags are")[1].strip().strip("'").split(","))
    assert set(slurm_qos.FLAGS) - listed == ({"Relative"} if slurm.version == "22.05" else set())
    assert listed <= set(slurm_qos.FLAGS)


def test_an_unknown_preempted_qos_fails_before_any_write(slurm, run_module):
    commands = slurm.commands("qos_absent", "qos_list_without_fxshort")
    run = run_module(slurm_qos, {"name": "fxshort", "preempt": ["fxlong", "fxnope"]}, commands)
    assert run.failed
    assert run.result["msg"] == "slurm_qos.preempt: unknown QOS fxnope"
    assert run.sacctmgr.writes == []
    assert run.result["commands"] == []


@pytest.mark.parametrize(
    ("limits", "msg"),
    [
        (
            {"max_tres_per_user": "cpu=x"},
            "slurm_qos.limits.max_tres_per_user: 'cpu=x' is not a TRES item (name=count, e.g. cpu=4, mem=8G, "
            "gres/gpu=2)",
        ),
        (
            {"grp_tres": "cpu=4G"},
            "slurm_qos.limits.grp_tres: 'cpu=4G' has a size unit, which only mem takes",
        ),
        (
            {"max_wall": "1:xx"},
            "slurm_qos.limits.max_wall: '1:xx' is not a Slurm duration (minutes, [D-]HH:MM:SS or D-HH)",
        ),
        (
            {"max_jobs_per_user": "ten"},
            "slurm_qos.limits.max_jobs_per_user: 'ten' is not an integer",
        ),
        (
            {"max_jobs": 5},
            "slurm_qos.limits: unknown limit(s) max_jobs; known: grp_jobs, grp_submit_jobs, grp_tres, grp_tres_mins, "
            "grp_wall, max_jobs_per_account, max_jobs_per_user, max_submit_jobs_per_account, max_submit_jobs_per_user, "
            "max_tres_per_account, max_tres_per_job, max_tres_per_node, max_tres_per_user, max_wall, min_tres_per_job",
        ),
    ],
)
def test_bad_limits_fail_with_one_line_before_any_command(slurm, run_module, limits, msg):
    run = run_module(slurm_qos, {"name": "fxshort", "limits": limits}, slurm.commands())
    assert run.failed
    assert run.result["msg"] == msg
    assert run.sacctmgr.calls == []


NAME_RULE = "is not a valid Slurm name (letters, digits, '_', '-', '.', '@')"


@pytest.mark.parametrize(
    ("args", "msg"),
    [
        # sacctmgr reads `name=fxshort,normal` in a modify or delete as two QOS
        ({"name": "fxshort,normal", "state": "absent"}, f"slurm_qos.name: 'fxshort,normal' {NAME_RULE}"),
        ({"name": "fx short"}, f"slurm_qos.name: 'fx short' {NAME_RULE}"),
        ({"name": "fxshort", "preempt": ["fxlong", "fx=long"]}, f"slurm_qos.preempt: 'fx=long' {NAME_RULE}"),
        (
            {"name": "fxshort", "flags": ["DenyOnLimit Priority=9"]},
            f"slurm_qos.flags: unknown QOS flag(s) denyonlimit priority=9; valid: {VALID_FLAGS}",
        ),
        (
            {"name": "fxshort", "description": "a 'short' one"},
            "slurm_qos.description: \"a 'short' one\" must be one line without control characters or any of ' \" |",
        ),
        ({"name": "fxshort", "priority": -1}, "slurm_qos.priority: must be zero or more, got -1"),
        ({"name": "fxshort", "usage_factor": -0.5}, "slurm_qos.usage_factor: must be zero or more, got -0.5"),
        ({"name": "fxshort", "grace_time": -1}, "slurm_qos.grace_time: must be zero or more seconds, got -1"),
        ({"name": "fxshort", "timeout": -1}, "slurm_qos.timeout: must be a positive number of seconds, got -1"),
    ],
)
def test_a_bad_option_fails_naming_it_before_any_command(refused_before_any_command, args, msg):
    refused_before_any_command(slurm_qos, args, msg)


def test_comma_separated_preempt_and_mixed_case_flags_are_taken(slurm, run_module):
    # Ansible splits "fxlong, normal" at the comma and leaves " normal"; the module strips it, as before
    args = {"name": "fxshort", "preempt": "fxlong, normal", "flags": ["noreserve", "DENYONLIMIT"]}
    run = run_module(slurm_qos, args, slurm.commands("qos_present", "qos_list"), check_mode=True)
    assert not run.failed
    assert run.commands == [MODIFY + "Preempt=fxlong,normal Flags=denyonlimit,noreserve"]
