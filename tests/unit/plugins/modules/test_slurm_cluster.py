"""slurm_cluster against sacctmgr answers recorded from Slurm 22.05 and 24.11 (fixtures/slurm-*/cluster_*.json)."""

from __future__ import annotations

import pytest
from ansible_collections.hpcstack.cluster.plugins.modules import slurm_cluster

READ = ["sacctmgr", "-nP", "show", "cluster", "format=Cluster", "where", "cluster=fxcluster"]
ADD = "sacctmgr -i add cluster fxcluster"
DELETE = "sacctmgr -i delete cluster fxcluster"


def test_create_adds_the_cluster_and_reads_it_back(slurm, run_module):
    run = run_module(
        slurm_cluster, {"name": "fxcluster"}, slurm.commands("cluster_absent", "cluster_add", "cluster_present")
    )
    assert not run.failed
    assert run.result["changed"] is True
    assert run.commands == [ADD]
    assert run.result["cluster"] == {"name": "fxcluster"}
    assert run.sacctmgr.calls == [READ, ["sacctmgr", "-i", "add", "cluster", "fxcluster"], READ]


def test_the_name_is_compared_in_the_lower_case_slurm_stores(slurm, run_module):
    run = run_module(
        slurm_cluster, {"name": "FXCluster"}, slurm.commands("cluster_absent", "cluster_add", "cluster_present")
    )
    assert run.commands == [ADD]
    assert run.result["cluster"] == {"name": "fxcluster"}


def test_an_existing_cluster_is_left_alone(slurm, run_module):
    run = run_module(slurm_cluster, {"name": "fxcluster"}, slurm.commands("cluster_present"))
    assert run.result["changed"] is False
    assert run.commands == []
    assert run.sacctmgr.calls == [READ]


def test_check_mode_reports_the_add_and_writes_nothing(slurm, run_module):
    run = run_module(slurm_cluster, {"name": "fxcluster"}, slurm.commands("cluster_absent"), check_mode=True)
    assert run.result["changed"] is True
    assert run.commands == [ADD]
    assert run.sacctmgr.writes == []


def test_diff_shows_the_new_cluster(slurm, run_module):
    run = run_module(
        slurm_cluster,
        {"name": "fxcluster"},
        slurm.commands("cluster_absent", "cluster_add", "cluster_present"),
        diff=True,
    )
    assert run.result["diff"] == {"before": {}, "after": {"name": "fxcluster"}}


def test_absent_deletes_the_cluster(slurm, run_module):
    run = run_module(
        slurm_cluster,
        {"name": "fxcluster", "state": "absent"},
        slurm.commands("cluster_present", "cluster_delete", "cluster_deleted"),
        diff=True,
    )
    assert run.result["changed"] is True
    assert run.commands == [DELETE]
    assert run.result["cluster"] == {}
    assert run.result["diff"] == {"before": {"name": "fxcluster"}, "after": {}}


def test_absent_when_already_deleted_changes_nothing(slurm, run_module):
    run = run_module(slurm_cluster, {"name": "fxcluster", "state": "absent"}, slurm.commands("cluster_deleted"))
    assert run.result["changed"] is False
    assert run.commands == []


def test_slurmdbd_refusing_the_add_fails_with_its_message(slurm, run_module):
    # recorded as the unprivileged user nobody: slurmdbd answers "Access/permission denied"
    run = run_module(slurm_cluster, {"name": "fxcluster"}, slurm.commands("cluster_absent", "cluster_add_denied"))
    assert run.failed
    assert run.result["msg"].startswith("Failed to add cluster fxcluster: Problem adding clusters: ")
    assert "Access/permission denied" in run.result["msg"]
    assert "\n" not in run.result["msg"]
    assert run.result["rc"] == 1
    assert run.result["cmd"] == ADD
    assert run.result["commands"] == [ADD]


def test_an_add_slurm_did_not_apply_fails_naming_the_pending_command(slurm, run_module):
    # sacctmgr said it added the cluster, but the read back does not show it: verify reports the add still pending
    # (it raised TypeError before: the steps were lists, not strings)
    commands = slurm.commands("cluster_absent", "cluster_add", "cluster_absent")
    run = run_module(slurm_cluster, {"name": "fxcluster"}, commands)
    assert run.failed
    assert run.result["msg"] == (
        "Slurm did not apply all changes to cluster fxcluster: still differing after the run: add cluster fxcluster"
    )
    assert run.result["commands"] == [ADD]
    assert run.sacctmgr.calls == [READ, ["sacctmgr", "-i", "add", "cluster", "fxcluster"], READ]


def test_a_delete_slurm_did_not_apply_fails_naming_the_pending_command(slurm, run_module):
    commands = slurm.commands("cluster_present", "cluster_delete", "cluster_present")
    run = run_module(slurm_cluster, {"name": "fxcluster", "state": "absent"}, commands)
    assert run.failed
    assert run.result["msg"].endswith("still differing after the run: delete cluster fxcluster")


NAME_RULE = "is not a valid Slurm name (letters, digits, '_', '-', '.', '@')"


@pytest.mark.parametrize(
    ("args", "msg"),
    [
        # sacctmgr reads `add cluster fxcluster,hpc` as two clusters, and `delete cluster a,hpc` deletes hpc too
        ({"name": "fxcluster,hpc"}, f"slurm_cluster.name: 'fxcluster,hpc' {NAME_RULE}"),
        ({"name": "fxcluster,hpc", "state": "absent"}, f"slurm_cluster.name: 'fxcluster,hpc' {NAME_RULE}"),
        ({"name": "fx cluster"}, f"slurm_cluster.name: 'fx cluster' {NAME_RULE}"),
        ({"name": "fxcluster", "timeout": -1}, "slurm_cluster.timeout: must be a positive number of seconds, got -1"),
    ],
)
def test_a_bad_option_fails_naming_it_before_any_command(refused_before_any_command, args, msg):
    refused_before_any_command(slurm_cluster, args, msg)
