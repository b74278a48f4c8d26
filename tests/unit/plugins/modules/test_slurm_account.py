"""slurm_account against sacctmgr answers recorded from Slurm 22.05 and 24.11 (fixtures/slurm-*/account_*.json).

The recorded history of account fxphys: absent -> created under root -> max_wall updated -> grp_tres cleared ->
description changed -> a default QOS outside its QOS refused -> deleted. fxchem: created under fxphys, moved to
root. fxgeo: the only account of user fxdave, deleted. QOS fxshort and fxlong exist throughout.
"""

from __future__ import annotations

import pytest
from ansible_collections.hpcstack.cluster.plugins.modules import slurm_account

CREATE = {
    "name": "fxphys",
    "description": "Physics Dept",
    "organization": "Science",
    "fairshare": 100,
    "qos": ["fxshort", "normal"],
    "default_qos": "normal",
    "limits": {"grp_tres": "cpu=8,mem=2G", "max_wall": "2-12:30:00"},
}
ADD = (
    "sacctmgr -i add account fxphys Parent=root 'Description=Physics Dept' Organization=Science Fairshare=100 "
    "QOS=fxshort,normal DefaultQOS=normal GrpTRES=cpu=8,mem=2048 MaxWall=3630"
)
ASSOCIATION = {
    "parent": "root",
    "fairshare": 100,
    "qos": ["fxshort", "normal"],
    "default_qos": "normal",
    "limits": {"grp_tres": {"cpu": 8, "mem": 2048}, "max_wall": 3630},
}


def present(cluster: str, **association) -> dict:
    """fxphys as read back after its creation, with some association settings replaced."""
    return {
        "name": "fxphys",
        "description": "physics dept",
        "organization": "science",
        "associations": {cluster: {**ASSOCIATION, **association}},
    }


def modify(cluster: str, *settings: str) -> str:
    return f"sacctmgr -i modify account where name=fxphys cluster={cluster} set " + " ".join(settings)


def test_create_adds_the_account_under_root(slurm, run_module):
    commands = slurm.commands("account_absent", "qos_list", "account_add", "account_present")
    run = run_module(slurm_account, CREATE, commands)
    assert not run.failed
    assert run.result["changed"] is True
    assert run.commands == [ADD]
    assert "Description=Physics Dept" in run.sacctmgr.writes[0]  # one argument: no shell, no quoting
    assert run.result["account"] == present(slurm.cluster)  # Slurm stores description and organization lower case


def test_the_same_account_again_changes_nothing(slurm, run_module):
    run = run_module(slurm_account, CREATE, slurm.commands("account_present"))
    assert run.result["changed"] is False
    assert run.commands == []
    assert len(run.sacctmgr.calls) == 1


def test_check_mode_reports_the_add_and_writes_nothing(slurm, run_module):
    run = run_module(slurm_account, CREATE, slurm.commands("account_absent", "qos_list"), check_mode=True)
    assert run.result["changed"] is True
    assert run.commands == [ADD]
    assert run.sacctmgr.writes == []
    # before the account exists the module cannot know its cluster: the predicted association is under "all"
    assert run.result["account"] == present("all")


def test_updating_a_limit_modifies_the_association(slurm, run_module):
    commands = slurm.commands("account_present", "account_modify_max_wall", "account_present_max_wall")
    run = run_module(slurm_account, {"name": "fxphys", "limits": {"max_wall": "3-00:00:00"}}, commands, diff=True)
    assert run.result["changed"] is True
    assert run.commands == [modify(slurm.cluster, "MaxWall=4320")]
    wanted_limits = {"grp_tres": {"cpu": 8, "mem": 2048}, "max_wall": 4320}
    assert run.result["diff"] == {
        "before": present(slurm.cluster),
        "after": present(slurm.cluster, limits=wanted_limits),
    }


def test_minus_one_clears_a_tres_limit_item_by_item(slurm, run_module):
    commands = slurm.commands("account_present_max_wall", "account_clear_grp_tres", "account_present_grp_tres_cleared")
    run = run_module(slurm_account, {"name": "fxphys", "limits": {"grp_tres": -1}}, commands)
    assert run.commands == [modify(slurm.cluster, "GrpTRES=cpu=-1,mem=-1")]
    assert run.result["account"]["associations"][slurm.cluster]["limits"] == {"max_wall": 4320}


def test_description_is_changed_on_the_account_and_compared_case_insensitively(slurm, run_module):
    commands = slurm.commands(
        "account_present_grp_tres_cleared", "account_modify_description", "account_present_description"
    )
    run = run_module(slurm_account, {"name": "fxphys", "description": "Physics Department"}, commands)
    assert run.commands == ["sacctmgr -i modify account where name=fxphys set 'Description=Physics Department'"]
    assert run.result["account"]["description"] == "physics department"

    again = run_module(
        slurm_account,
        {"name": "fxphys", "description": "PHYSICS department"},
        slurm.commands("account_present_description"),
    )
    assert again.result["changed"] is False


def test_a_child_account_goes_under_its_parent(slurm, run_module):
    commands = slurm.commands("account_fxchem_absent", "account_list", "account_fxchem_add", "account_fxchem_present")
    run = run_module(slurm_account, {"name": "fxchem", "parent": "fxphys"}, commands)
    assert run.commands == ["sacctmgr -i add account fxchem Parent=fxphys"]
    association = run.result["account"]["associations"][slurm.cluster]
    assert association["parent"] == "fxphys"
    assert run.result["account"]["description"] == "fxchem"


def test_changing_the_parent_moves_the_account(slurm, run_module):
    commands = slurm.commands(
        "account_fxchem_present",
        "account_list_with_fxchem",
        "account_fxchem_reparent",
        "account_fxchem_present_under_root",
    )
    run = run_module(slurm_account, {"name": "fxchem", "parent": "root"}, commands)
    assert run.commands == [f"sacctmgr -i modify account where name=fxchem cluster={slurm.cluster} set Parent=root"]
    assert run.result["account"]["associations"][slurm.cluster]["parent"] == "root"


def test_absent_deletes_the_account(slurm, run_module):
    commands = slurm.commands("account_present_after_default_qos", "account_delete", "account_deleted")
    run = run_module(slurm_account, {"name": "fxphys", "state": "absent"}, commands)
    assert run.result["changed"] is True
    assert run.commands == ["sacctmgr -i delete account where name=fxphys"]
    assert run.result["account"] == {}


def test_absent_when_already_deleted_changes_nothing(slurm, run_module):
    run = run_module(slurm_account, {"name": "fxphys", "state": "absent"}, slurm.commands("account_deleted"))
    assert run.result["changed"] is False
    assert run.commands == []


def test_user_rows_of_the_account_are_not_its_association(slurm, run_module):
    # `show account withassoc` lists fxdave's association under fxgeo too; the account's own row is the one
    # without a user. Deleting the account takes fxdave's association (his only one) along on both versions.
    commands = slurm.commands("account_fxgeo_with_user", "account_fxgeo_delete", "account_fxgeo_after_delete")
    run = run_module(slurm_account, {"name": "fxgeo", "state": "absent"}, commands, diff=True)
    assert run.result["changed"] is True
    assert list(run.result["diff"]["before"]["associations"]) == [slurm.cluster]
    assert run.result["diff"]["before"]["associations"][slurm.cluster]["parent"] == "root"


def test_a_default_qos_outside_the_accounts_qos_fails(slurm, run_module):
    # Slurm refuses a default QOS the association may not use: 24.11 exits 1 with its reason, 22.05 prints the
    # reason but exits 0 having changed nothing, which the module finds by reading the account back.
    names = ["account_present_description", "qos_list", "account_default_qos_not_allowed"]
    if slurm.version == "22.05":
        names.append("account_present_after_default_qos")
    run = run_module(slurm_account, {"name": "fxphys", "default_qos": "fxlong"}, slurm.commands(*names))
    assert run.failed
    assert run.result["commands"] == [modify(slurm.cluster, "DefaultQOS=fxlong")]
    if slurm.version == "22.05":
        # the message quotes what Slurm wrote on stderr of the write that exited 0
        assert run.result["msg"] == (
            "Slurm did not apply all changes to account fxphys: still differing after the run: "
            f"modify account where name=fxphys cluster={slurm.cluster} set DefaultQOS=fxlong (Slurm said: These "
            "associations don't have access to their default qos.; Please give them access before they the default "
            f"can be set to this.; DefQOS = fxlong     C = {slurm.cluster}        A = fxphys)"
        )
        assert "\n" not in run.result["msg"]
    else:
        assert run.result["msg"].startswith("Failed to modify account fxphys: sacctmgr: error:; ")
        assert run.result["msg"].endswith(
            "; Error with request: This request would make it so some associations would not have access to their "
            "default qos."
        )
        assert "\n" not in run.result["msg"]
        assert run.result["rc"] == 1


def test_an_unknown_qos_fails_before_any_write(slurm, run_module):
    commands = slurm.commands("account_present", "qos_list")
    run = run_module(slurm_account, {"name": "fxphys", "qos": ["fxshort", "fxnope"]}, commands)
    assert run.failed
    assert run.result["msg"] == "slurm_account.qos: unknown QOS fxnope (create them with slurm_qos first)"
    assert run.sacctmgr.writes == []


def test_an_unknown_parent_fails_before_any_write(slurm, run_module):
    commands = slurm.commands("account_fxchem_absent", "account_list")
    run = run_module(slurm_account, {"name": "fxchem", "parent": "fxnope"}, commands)
    assert run.failed
    assert run.result["msg"] == "slurm_account.parent: account 'fxnope' does not exist"
    assert run.sacctmgr.writes == []


@pytest.mark.parametrize(
    ("args", "msg"),
    [
        (
            {"limits": {"grp_tres": "cpu=x"}},
            "slurm_account.limits.grp_tres: 'cpu=x' is not a TRES item (name=count, e.g. cpu=4, mem=8G, gres/gpu=2)",
        ),
        (
            {"limits": {"max_wall": "2-xx"}},
            "slurm_account.limits.max_wall: '2-xx' is not a Slurm duration (minutes, [D-]HH:MM:SS or D-HH)",
        ),
        (
            {"limits": {"max_jobs_per_user": 5}},
            "slurm_account.limits: unknown limit(s) max_jobs_per_user; known: grp_jobs, grp_submit_jobs, grp_tres, "
            "grp_tres_mins, grp_tres_run_mins, grp_wall, max_jobs, max_submit_jobs, max_tres_mins_per_job, "
            "max_tres_per_job, max_tres_per_node, max_wall",
        ),
        (
            {"qos": ["normal"], "default_qos": "fxlong"},
            "slurm_account.default_qos: 'fxlong' is not in slurm_account.qos ['normal']",
        ),
        ({"fairshare": "lots"}, "slurm_account.fairshare: 'lots' is not an integer"),
    ],
)
def test_bad_input_fails_with_one_line_before_any_command(slurm, run_module, args, msg):
    run = run_module(slurm_account, {"name": "fxphys", **args}, slurm.commands())
    assert run.failed
    assert run.result["msg"] == msg
    assert run.sacctmgr.calls == []


def test_check_mode_predicts_the_organization_slurm_gives_a_child_account(slurm, run_module):
    # Slurm gives an account under a parent other than root the parent's name as organization
    # (account_fxchem_add: "Organization = Parent/Account Name")
    args = {"name": "fxchem", "parent": "fxphys"}
    check = run_module(slurm_account, args, slurm.commands("account_fxchem_absent", "account_list"), check_mode=True)
    real = run_module(
        slurm_account,
        args,
        slurm.commands("account_fxchem_absent", "account_list", "account_fxchem_add", "account_fxchem_present"),
    )
    assert check.result["account"]["organization"] == real.result["account"]["organization"] == "fxphys"
    assert check.result["account"]["description"] == real.result["account"]["description"] == "fxchem"


def test_check_mode_predicts_the_organization_slurm_gives_an_account_under_root(slurm, run_module):
    # under root Slurm makes the organization the account's own name, as it did for fxgeo
    fxgeo = slurm.recording("account_fxgeo_with_user")["stdout"].splitlines()[0].split("|")
    assert fxgeo[:5] == ["fxgeo", "fxgeo", "fxgeo", slurm.cluster, "root"]  # Account|Description|Organization|..
    check = run_module(slurm_account, {"name": "fxchem"}, slurm.commands("account_fxchem_absent"), check_mode=True)
    assert check.commands == ["sacctmgr -i add account fxchem Parent=root"]
    assert (check.result["account"]["description"], check.result["account"]["organization"]) == ("fxchem", "fxchem")


NAME_RULE = "is not a valid Slurm name (letters, digits, '_', '-', '.', '@')"
TEXT_RULE = "must be one line without control characters or any of ' \" |"


@pytest.mark.parametrize(
    ("args", "msg"),
    [
        # sacctmgr reads `name=fxphys,root` in a delete or modify as two accounts
        ({"name": "fxphys,root"}, f"slurm_account.name: 'fxphys,root' {NAME_RULE}"),
        ({"name": "fxphys,root", "state": "absent"}, f"slurm_account.name: 'fxphys,root' {NAME_RULE}"),
        ({"name": "fx phys"}, f"slurm_account.name: 'fx phys' {NAME_RULE}"),
        ({"name": ""}, f"slurm_account.name: '' {NAME_RULE}"),
        ({"name": "fxphys", "parent": "root Fairshare=1"}, f"slurm_account.parent: 'root Fairshare=1' {NAME_RULE}"),
        ({"name": "fxphys", "cluster": "hpc,other"}, f"slurm_account.cluster: 'hpc,other' {NAME_RULE}"),
        ({"name": "fxphys", "qos": ["normal", "fxshort,fxlong"]}, f"slurm_account.qos: 'fxshort,fxlong' {NAME_RULE}"),
        (
            {"name": "fxphys", "qos": ["normal"], "default_qos": "nor mal"},
            f"slurm_account.default_qos: 'nor mal' {NAME_RULE}",
        ),
        ({"name": "fxphys", "description": "Physics|Dept"}, f"slurm_account.description: 'Physics|Dept' {TEXT_RULE}"),
        (
            {"name": "fxphys", "description": "Physics\nDept"},
            f"slurm_account.description: 'Physics\\nDept' {TEXT_RULE}",
        ),
        ({"name": "fxphys", "organization": "Bob's lab"}, f'slurm_account.organization: "Bob\'s lab" {TEXT_RULE}'),
        ({"name": "fxphys", "timeout": -1}, "slurm_account.timeout: must be a positive number of seconds, got -1"),
    ],
)
def test_a_bad_name_text_or_number_fails_naming_the_option_before_any_command(refused_before_any_command, args, msg):
    refused_before_any_command(slurm_account, args, msg)
