"""slurm_user against sacctmgr answers recorded from Slurm 22.05 and 24.11 (fixtures/slurm-*/user*_*.json).

The module reads every user at once; the recordings hold the fx* users and root. The recorded history: no fx user
-> fxalice in fxphys -> none -> fxalice, fxbob, fxcarol in fxphys and fxcarol also in fxchem (in one batch, then
in batches of two) -> MaxJobs set and cleared on fxcarol's fxchem association -> a default QOS outside the
association's QOS refused -> fxcarol taken out of fxchem -> fxbob moved to fxchem as default account, operator
-> fxbob's default association (fxchem) deleted: 22.05 does it and leaves him without default account, which the
module then gives him (fxphys); 24.11 refuses. Accounts fxphys and fxchem (under root) and QOS fxshort and fxlong
exist throughout.
"""

from __future__ import annotations

import pytest
from ansible_collections.hpcstack.cluster.plugins.modules import slurm_user

READ = [
    "sacctmgr",
    "-nP",
    "show",
    "user",
    "withassoc",
    "WOPLimits",
    "format=User,DefaultAccount,Admin,Cluster,Account,Partition,Share,GrpJobs,GrpSubmit,GrpTRES,GrpTRESMins,"
    "GrpTRESRunMins,GrpWall,MaxJobs,MaxSubmit,MaxTRES,MaxTRESPerNode,MaxTRESMins,MaxWall,QOS,DefaultQOS",
]
ALICE = {"name": "fxalice", "accounts": ["fxphys"]}
THREE = {
    "users": [
        {"name": "fxalice", "accounts": ["fxphys"]},
        {"name": "fxbob", "accounts": ["fxphys"]},
        {"name": "fxcarol", "accounts": ["fxphys", "fxchem"]},
    ]
}
NEW_ASSOCIATION = {"fairshare": 1, "qos": [], "default_qos": None, "limits": {}}


def carol_in_fxchem(**settings) -> dict:
    return {"name": "fxcarol", "accounts": [{"name": "fxchem", **settings}]}


def test_create_adds_the_user_with_its_first_account_as_default(slurm, run_module):
    commands = slurm.commands("users_none", "user_account_list", "user_add_fxalice", "users_fxalice")
    run = run_module(slurm_user, ALICE, commands, diff=True)
    assert not run.failed
    assert run.result["changed"] is True
    assert run.commands == [
        f"sacctmgr -i add user name=fxalice account=fxphys cluster={slurm.cluster} DefaultAccount=fxphys"
    ]
    assert run.result["changed_users"] == ["fxalice"]
    assert run.result["diff"] == {
        "before": {"fxalice": {}},
        "after": {
            "fxalice": {"default_account": "fxphys", "admin_level": "none", "associations": {"fxphys": NEW_ASSOCIATION}}
        },
    }


def test_the_same_user_again_changes_nothing(slurm, run_module):
    run = run_module(slurm_user, ALICE, slurm.commands("users_fxalice"))
    assert run.result["changed"] is False
    assert run.commands == []
    assert run.result["changed_users"] == []


def test_check_mode_reports_the_add_and_writes_nothing(slurm, run_module):
    run = run_module(slurm_user, ALICE, slurm.commands("users_none", "user_account_list"), check_mode=True)
    assert run.result["changed"] is True
    assert run.commands == [
        f"sacctmgr -i add user name=fxalice account=fxphys cluster={slurm.cluster} DefaultAccount=fxphys"
    ]
    assert run.sacctmgr.writes == []


def test_absent_deletes_the_user(slurm, run_module):
    commands = slurm.commands("users_fxalice", "user_delete_fxalice", "users_fxalice_deleted")
    run = run_module(slurm_user, {"name": "fxalice", "state": "absent"}, commands)
    assert run.result["changed"] is True
    assert run.commands == ["sacctmgr -i delete user where name=fxalice"]  # on every cluster: no cluster=
    assert run.result["changed_users"] == ["fxalice"]


def test_absent_when_already_deleted_changes_nothing(slurm, run_module):
    run = run_module(slurm_user, {"name": "fxalice", "state": "absent"}, slurm.commands("users_fxalice_deleted"))
    assert run.result["changed"] is False
    assert run.commands == []


def test_several_users_share_one_add_per_account(slurm, run_module):
    commands = slurm.commands(
        "users_fxalice_deleted", "user_account_list", "user_add_three_fxphys", "user_add_three_fxchem", "users_three"
    )
    run = run_module(slurm_user, THREE, commands)
    assert run.result["changed"] is True
    assert run.commands == [
        f"sacctmgr -i add user name=fxalice,fxbob,fxcarol account=fxphys cluster={slurm.cluster} DefaultAccount=fxphys",
        f"sacctmgr -i add user name=fxcarol account=fxchem cluster={slurm.cluster}",
    ]
    assert run.result["changed_users"] == ["fxalice", "fxbob", "fxcarol"]


def test_batch_size_splits_the_names(slurm, run_module):
    commands = slurm.commands(
        "users_three_deleted",
        "user_account_list",
        "user_add_batch2_fxphys_1",
        "user_add_batch2_fxphys_2",
        "user_add_batch2_fxchem",
        "users_three_batch2",
    )
    run = run_module(slurm_user, {**THREE, "batch_size": 2}, commands)
    assert run.commands == [
        f"sacctmgr -i add user name=fxalice,fxbob account=fxphys cluster={slurm.cluster} DefaultAccount=fxphys",
        f"sacctmgr -i add user name=fxcarol account=fxphys cluster={slurm.cluster} DefaultAccount=fxphys",
        f"sacctmgr -i add user name=fxcarol account=fxchem cluster={slurm.cluster}",
    ]


def test_nothing_to_do_for_several_users_is_one_read(slurm, run_module):
    run = run_module(slurm_user, THREE, slurm.commands("users_three"))
    assert run.result["changed"] is False
    assert run.commands == []
    assert run.sacctmgr.calls == [READ]


def test_deleting_users_with_several_associations(slurm, run_module):
    # fxcarol has a second association besides her default one: with cluster= 22.05 would refuse to delete her
    # ("You can not remove the default account of a user"); without it both versions delete all three.
    absent = {"users": [{"name": name, "state": "absent"} for name in ("fxalice", "fxbob", "fxcarol")]}
    commands = slurm.commands("users_three", "user_delete_three", "users_three_deleted")
    run = run_module(slurm_user, absent, commands, diff=True)
    assert not run.failed
    assert run.result["commands"] == ["sacctmgr -i delete user where name=fxalice,fxbob,fxcarol"]
    assert run.result["changed"] is True
    assert run.result["changed_users"] == ["fxalice", "fxbob", "fxcarol"]
    assert run.result["diff"]["after"] == {"fxalice": {}, "fxbob": {}, "fxcarol": {}}
    assert list(run.result["diff"]["before"]["fxcarol"]["associations"]) == ["fxchem", "fxphys"]


def test_deleting_users_goes_in_batches(slurm, run_module):
    absent = {"users": [{"name": name, "state": "absent"} for name in ("fxalice", "fxbob", "fxcarol")]}
    run = run_module(slurm_user, {**absent, "batch_size": 2}, slurm.commands("users_three"), check_mode=True)
    assert run.commands == [
        "sacctmgr -i delete user where name=fxalice,fxbob",
        "sacctmgr -i delete user where name=fxcarol",
    ]
    assert run.sacctmgr.writes == []


def test_updating_a_limit_of_one_association(slurm, run_module):
    commands = slurm.commands("users_three_batch2", "user_modify_max_jobs", "users_carol_max_jobs")
    run = run_module(slurm_user, carol_in_fxchem(limits={"max_jobs": 5}), commands, diff=True)
    assert run.commands == [
        f"sacctmgr -i modify user where name=fxcarol account=fxchem cluster={slurm.cluster} set MaxJobs=5"
    ]
    assert run.result["changed_users"] == ["fxcarol"]
    before = {
        "default_account": "fxphys",
        "admin_level": "none",
        "associations": {"fxchem": NEW_ASSOCIATION, "fxphys": NEW_ASSOCIATION},
    }
    after = {
        **before,
        "associations": {**before["associations"], "fxchem": {**NEW_ASSOCIATION, "limits": {"max_jobs": 5}}},
    }
    assert run.result["diff"] == {"before": {"fxcarol": before}, "after": {"fxcarol": after}}

    again = run_module(slurm_user, carol_in_fxchem(limits={"max_jobs": 5}), slurm.commands("users_carol_max_jobs"))
    assert again.result["changed"] is False


def test_minus_one_clears_a_limit(slurm, run_module):
    commands = slurm.commands("users_carol_max_jobs", "user_clear_max_jobs", "users_carol_max_jobs_cleared")
    run = run_module(slurm_user, carol_in_fxchem(limits={"max_jobs": -1}), commands)
    assert run.commands == [
        f"sacctmgr -i modify user where name=fxcarol account=fxchem cluster={slurm.cluster} set MaxJobs=-1"
    ]
    again = run_module(
        slurm_user, carol_in_fxchem(limits={"max_jobs": -1}), slurm.commands("users_carol_max_jobs_cleared")
    )
    assert again.result["changed"] is False


def test_a_default_qos_outside_the_associations_qos_fails(slurm, run_module):
    # 24.11 exits 1 with Slurm's reason; 22.05 prints the reason, exits 0 and changes nothing, which the module
    # finds by reading the users back.
    names = ["users_carol_max_jobs_cleared", "user_qos_list", "user_default_qos_not_allowed"]
    if slurm.version == "22.05":
        names.append("users_after_default_qos")
    run = run_module(slurm_user, carol_in_fxchem(default_qos="fxlong"), slurm.commands(*names))
    modify = f"modify user where name=fxcarol account=fxchem cluster={slurm.cluster} set DefaultQOS=fxlong"
    assert run.failed
    assert run.result["commands"] == ["sacctmgr -i " + modify]
    if slurm.version == "22.05":
        # the message quotes what Slurm wrote on stderr of the write that exited 0
        assert run.result["msg"] == (
            f"Slurm did not apply all changes to users: still differing after the run: {modify} (Slurm said: These "
            "associations don't have access to their default qos.; Please give them access before they the default "
            f"can be set to this.; DefQOS = fxlong     C = {slurm.cluster}        A = fxchem               U = fxcarol)"
        )
        assert "\n" not in run.result["msg"]
    else:
        assert run.result["msg"].startswith("Failed to modify users: sacctmgr: error:; These associations don't have")
        assert "Error with request: This request would make it so some associations" in run.result["msg"]
        assert "\n" not in run.result["msg"]


def test_an_association_listed_absent_is_deleted(slurm, run_module):
    commands = slurm.commands("users_after_default_qos", "user_remove_association", "users_carol_fxchem_removed")
    run = run_module(slurm_user, carol_in_fxchem(state="absent"), commands)
    assert run.commands == [f"sacctmgr -i delete user where name=fxcarol account=fxchem cluster={slurm.cluster}"]


def test_a_new_default_account_is_added_before_it_becomes_the_default(slurm, run_module):
    args = {"name": "fxbob", "default_account": "fxchem", "admin_level": "operator", "accounts": ["fxchem"]}
    commands = slurm.commands(
        "users_carol_fxchem_removed",
        "user_account_list",
        "user_bob_add_fxchem",
        "user_bob_admin_level",
        "user_bob_default_account",
        "users_bob_moved",
    )
    run = run_module(slurm_user, args, commands)
    assert run.commands == [
        f"sacctmgr -i add user name=fxbob account=fxchem cluster={slurm.cluster}",
        "sacctmgr -i modify user where name=fxbob set AdminLevel=Operator",
        f"sacctmgr -i modify user where name=fxbob cluster={slurm.cluster} set DefaultAccount=fxchem",
    ]
    again = run_module(slurm_user, args, slurm.commands("users_bob_moved"))
    assert again.result["changed"] is False


def test_a_user_without_default_account_gets_its_first_listed_account(slurm, run_module):
    bob = {"name": "fxbob", "accounts": ["fxphys"]}
    if slurm.version == "24.11":
        # 24.11 refused to delete fxbob's default association: he still has fxchem as default, nothing to do
        run = run_module(slurm_user, bob, slurm.commands("users_after_default_association_removed"))
        assert run.result["changed"] is False
        assert run.commands == []
        return
    commands = slurm.commands(
        "users_after_default_association_removed", "user_give_default_account", "users_default_account_given"
    )
    run = run_module(slurm_user, bob, commands, diff=True)
    assert not run.failed
    assert run.result["changed"] is True
    assert run.commands == [
        f"sacctmgr -i modify user where name=fxbob cluster={slurm.cluster} set DefaultAccount=fxphys"
    ]
    assert run.result["changed_users"] == ["fxbob"]
    before = {"default_account": None, "admin_level": "operator", "associations": {"fxphys": NEW_ASSOCIATION}}
    assert run.result["diff"] == {
        "before": {"fxbob": before},
        "after": {"fxbob": {**before, "default_account": "fxphys"}},
    }
    again = run_module(slurm_user, bob, slurm.commands("users_default_account_given"))
    assert again.result["changed"] is False


@pytest.mark.parametrize("slurm", ["22.05"], indirect=True)  # 24.11 never leaves a user without one
def test_a_user_without_default_account_listing_no_account_gets_one_of_its_associations(slurm, run_module):
    commands = slurm.commands(
        "users_after_default_association_removed", "user_give_default_account", "users_default_account_given"
    )
    run = run_module(slurm_user, {"name": "fxbob"}, commands)
    assert run.commands == [
        f"sacctmgr -i modify user where name=fxbob cluster={slurm.cluster} set DefaultAccount=fxphys"
    ]


@pytest.mark.parametrize("slurm", ["22.05"], indirect=True)  # 24.11 never leaves a user without one
def test_a_user_without_default_account_gets_a_new_first_account_once_it_is_added(slurm, run_module):
    commands = slurm.commands("users_after_default_association_removed", "user_account_list")
    run = run_module(slurm_user, {"name": "fxbob", "accounts": ["fxchem"]}, commands, check_mode=True)
    assert run.commands == [
        f"sacctmgr -i add user name=fxbob account=fxchem cluster={slurm.cluster}",
        f"sacctmgr -i modify user where name=fxbob cluster={slurm.cluster} set DefaultAccount=fxchem",
    ]
    assert run.sacctmgr.writes == []


def test_a_user_of_an_account_that_does_not_exist_fails_before_any_write(slurm, run_module):
    run = run_module(
        slurm_user,
        {"name": "fxdave", "accounts": ["fxnope"]},
        slurm.commands("users_three", "user_account_list"),
    )
    assert run.failed
    assert run.result["msg"] == (
        "slurm_user: account 'fxnope' of user 'fxdave' does not exist (create it with slurm_account first)"
    )
    assert run.sacctmgr.writes == []


def test_removing_a_users_default_account_fails_before_any_write(slurm, run_module):
    # what Slurm does with it differs: 22.05 removes it, leaving no default account (fixture
    # user_remove_default_association), 24.11 refuses (with cluster=: "You can not remove the default account")
    run = run_module(
        slurm_user,
        {"name": "fxalice", "accounts": [{"name": "fxphys", "state": "absent"}]},
        slurm.commands("users_three"),
    )
    assert run.failed
    assert run.result["msg"] == (
        "slurm_user: cannot remove 'fxalice' from its default account 'fxphys'; set default_account to another "
        "account first"
    )
    assert run.sacctmgr.calls == [READ]


def test_an_unknown_qos_fails_before_any_write(slurm, run_module):
    run = run_module(
        slurm_user,
        {"name": "fxalice", "accounts": [{"name": "fxphys", "qos": ["normal", "fxnope"]}]},
        slurm.commands("users_three", "user_qos_list"),
    )
    assert run.failed
    assert run.result["msg"] == "slurm_user: unknown QOS fxnope (create them with slurm_qos first)"
    assert run.sacctmgr.writes == []


@pytest.mark.parametrize(
    ("args", "msg"),
    [
        (
            {"name": "fxalice", "accounts": [{"name": "fxphys", "limits": {"grp_tres": "cpu=x"}}]},
            "slurm_user.accounts[0].limits.grp_tres: 'cpu=x' is not a TRES item (name=count, e.g. cpu=4, mem=8G, "
            "gres/gpu=2)",
        ),
        (
            {
                "users": [
                    ALICE,
                    {"name": "fxbob", "accounts": ["fxphys", {"name": "fxchem", "limits": {"max_wall": "1:2:3:4"}}]},
                ]
            },
            "users[1].accounts[1].limits.max_wall: '1:2:3:4' is not a Slurm duration (minutes, [D-]HH:MM:SS or D-HH)",
        ),
        (
            {"name": "fxalice", "accounts": [{"name": "fxphys", "limits": {"max_wall_per_job": 60}}]},
            "slurm_user.accounts[0].limits: unknown limit(s) max_wall_per_job; known: grp_jobs, grp_submit_jobs, "
            "grp_tres, grp_tres_mins, grp_tres_run_mins, grp_wall, max_jobs, max_submit_jobs, max_tres_mins_per_job, "
            "max_tres_per_job, max_tres_per_node, max_wall",
        ),
        (
            {"name": "fxalice", "accounts": [{"name": "fxphys", "shares": 10}]},
            "slurm_user.accounts[0]: unknown key(s) shares",
        ),
        ({"users": [ALICE, {"name": "FXalice"}]}, "users[1]: user 'fxalice' is listed twice (also users[0])"),
        ({"name": "fxalice", "batch_size": 0}, "slurm_user.batch_size: must be at least 1, got 0"),
    ],
)
def test_bad_input_fails_with_one_line_before_any_command(slurm, run_module, args, msg):
    run = run_module(slurm_user, args, slurm.commands())
    assert run.failed
    assert run.result["msg"] == msg
    assert run.sacctmgr.calls == []


NAME_RULE = "is not a valid Slurm name (letters, digits, '_', '-', '.', '@')"


@pytest.mark.parametrize(
    ("args", "msg"),
    [
        # sacctmgr reads `name=fxcarol,root` as two users: the add changed root's default account before it failed
        ({"name": "fxcarol,root", "accounts": ["fxphys"]}, f"slurm_user.name: 'fxcarol,root' {NAME_RULE}"),
        (
            {"users": [ALICE, {"name": "fxbob root", "accounts": ["fxphys"]}]},
            f"users[1].name: 'fxbob root' {NAME_RULE}",
        ),
        ({"users": [{"name": "fxbob=x", "accounts": ["fxphys"]}]}, f"users[0].name: 'fxbob=x' {NAME_RULE}"),
        ({"name": "fxalice\nroot", "accounts": ["fxphys"]}, f"slurm_user.name: 'fxalice\\nroot' {NAME_RULE}"),
        ({"name": "", "accounts": ["fxphys"]}, f"slurm_user.name: '' {NAME_RULE}"),
        (
            {"name": "fxalice", "default_account": "fxphys,root", "accounts": ["fxphys"]},
            f"slurm_user.default_account: 'fxphys,root' {NAME_RULE}",
        ),
        (
            {"name": "fxalice", "accounts": ["fxphys", "fxchem,root"]},
            f"slurm_user.accounts[1].name: 'fxchem,root' {NAME_RULE}",
        ),
        (
            {"users": [{"name": "fxalice", "accounts": [{"name": "fxphys cluster=other"}]}]},
            f"users[0].accounts[0].name: 'fxphys cluster=other' {NAME_RULE}",
        ),
        (
            {"name": "fxalice", "accounts": [{"name": "fxphys", "partition": "batch,debug"}]},
            f"slurm_user.accounts[0].partition: 'batch,debug' {NAME_RULE}",
        ),
        (
            {"name": "fxalice", "accounts": [{"name": "fxphys", "qos": ["normal", "fx short"]}]},
            f"slurm_user.accounts[0].qos: 'fx short' {NAME_RULE}",
        ),
        (
            {"name": "fxalice", "accounts": [{"name": "fxphys", "qos": "normal,fxshort", "default_qos": "normal'"}]},
            f'slurm_user.accounts[0].default_qos: "normal\'" {NAME_RULE}',
        ),
        (
            {"name": "fxalice", "accounts": ["fxphys"], "cluster": "hpc,other"},
            f"slurm_user.cluster: 'hpc,other' {NAME_RULE}",
        ),
        (
            {"name": "fxalice", "accounts": ["fxphys"], "timeout": -1},
            "slurm_user.timeout: must be a positive number of seconds, got -1",
        ),
        (
            {"name": "fxalice", "accounts": ["fxphys"], "timeout": 0},
            "slurm_user.timeout: must be a positive number of seconds, got 0",
        ),
    ],
)
def test_a_bad_name_or_number_fails_naming_the_option_before_any_command(refused_before_any_command, args, msg):
    refused_before_any_command(slurm_user, args, msg)


def test_names_with_dots_dashes_underscores_and_at_signs_and_a_qos_string_are_taken(slurm, run_module):
    args = {"name": "Fx.New-User_2@example.org", "accounts": [{"name": "fxphys", "qos": "fxshort, fxlong"}]}
    commands = slurm.commands("users_none", "user_account_list", "user_qos_list")
    run = run_module(slurm_user, args, commands, check_mode=True)
    assert not run.failed
    assert run.commands == [
        f"sacctmgr -i add user name=fx.new-user_2@example.org account=fxphys cluster={slurm.cluster} "
        "DefaultAccount=fxphys QOS=fxlong,fxshort"
    ]
    assert run.sacctmgr.writes == []
