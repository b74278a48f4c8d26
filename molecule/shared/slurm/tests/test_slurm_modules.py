"""The collection's Slurm modules against the scenario's real slurmctld and slurmdbd.

The converge applied the accounting tree of ../converge.yml through playbooks/accounts.yml (and idempotence ran it
again with changed=0); these tests drive the modules ad hoc on the controller, as an operator's playbook would.
"""

from __future__ import annotations

import functools
import json
import os
import re
import subprocess

import pytest

NO_ASSOCIATION_UID = 5199


class ModuleFailed(Exception):
    def __init__(self, result: dict):
        super().__init__(result.get("msg", result))
        self.result = result


def run_module(host, name: str, args: dict, check: bool = False) -> dict:
    """Run hpcstack.cluster.<name> ad hoc on the host; returns its result, raises ModuleFailed when it failed."""
    cmd = ["ansible", "-i", os.environ["MOLECULE_INVENTORY_FILE"], host.backend.host, "-m", f"hpcstack.cluster.{name}"]
    cmd += ["-a", json.dumps(args)] if args else []
    cmd += ["--check"] if check else []
    # Only the json callback may write to stdout (molecule's config enables profile_tasks, which writes there too).
    env = {
        **os.environ,
        "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1",
        "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json",
        "ANSIBLE_CALLBACKS_ENABLED": "ansible.posix.json",
    }
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False, timeout=300)
    try:
        result = json.loads(proc.stdout)["plays"][0]["tasks"][0]["hosts"][host.backend.host]
    except (ValueError, KeyError, IndexError) as error:
        raise AssertionError(
            f"no JSON result from {cmd}: {error}\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
        ) from error
    if result.get("failed") or result.get("unreachable"):
        raise ModuleFailed(result)
    return result


def failure(host, name: str, args: dict) -> str:
    with pytest.raises(ModuleFailed) as error:
        run_module(host, name, args)
    return error.value.result["msg"]


def queue_state(controller, job: str) -> str:
    """The job's state in squeue; '' once it has left the queue (squeue then fails)."""
    return controller.run("squeue --noheader --jobs %s --format=%%T", job).stdout.strip()


def wait_until_running(controller, wait_for, job: str) -> None:
    wait_for(
        functools.partial(queue_state, controller, job),
        lambda state: state == "RUNNING",
        60,
        f"job {job}",
    )


def associations(controller) -> str:
    return controller.check_output(
        "sacctmgr -nP show assoc WOPLimits format=Account,User,ParentName,Share,MaxJobs,GrpTRES,QOS,DefaultQOS"
    )


@pytest.fixture(scope="module")
def alice(controller) -> str:
    """alice: a Unix user on every node (made by the converge) with associations in physics and chemistry."""
    assert controller.user("alice").uid == 5101
    return "alice"


def test_converge_built_the_accounting_tree(controller):
    rows = {tuple(line.split("|")[:2]): line.split("|") for line in associations(controller).splitlines()}
    assert rows[("physics", "")][2] == "science"
    assert rows[("physics", "")][3] == "60"
    assert rows[("physics", "")][5] == "cpu=64,mem=64G"
    assert rows[("physics", "")][6:8] == ["long,normal,short", "normal"]
    assert rows[("chemistry", "alice")][4] == "2"
    assert ("chemistry", "bob") in rows
    qos = controller.check_output("sacctmgr -nP show qos short format=Name,MaxWall,MaxJobsPU,MaxTRESPU,Priority")
    assert qos.strip() == "short|00:30:00|1|cpu=2,mem=2G|100"
    assert controller.check_output("sacctmgr -nP show qos long format=Preempt").strip() == "scavenger"


@pytest.mark.parametrize(
    ("module", "args", "undo"),
    [
        (
            "slurm_user",
            {
                "users": [
                    {"name": "carol", "accounts": ["chemistry"]},
                    {"name": "alice", "accounts": [{"name": "chemistry", "limits": {"max_jobs": 3}}]},
                ]
            },
            {
                "users": [
                    {"name": "carol", "state": "absent"},
                    {"name": "alice", "accounts": [{"name": "chemistry", "limits": {"max_jobs": 2}}]},
                ]
            },
        ),
        (
            "slurm_account",
            {"name": "biology", "parent": "science", "fairshare": 10, "limits": {"max_wall": "1-00:00:00"}},
            {"name": "biology", "state": "absent"},
        ),
        (
            "slurm_qos",
            {"name": "short", "limits": {"max_tres_per_user": "cpu=4", "max_wall": -1}},
            {"name": "short", "limits": {"max_tres_per_user": "cpu=2,mem=2G", "max_wall": 30}},
        ),
    ],
)
def test_check_mode_predicts_exactly_what_the_real_run_does(controller, module, args, undo):
    before = associations(controller) + controller.check_output("sacctmgr -nP show qos")
    predicted = run_module(controller, module, args, check=True)
    assert associations(controller) + controller.check_output("sacctmgr -nP show qos") == before
    try:
        applied = run_module(controller, module, args)
        assert predicted["changed"] is applied["changed"] is True
        assert predicted["commands"] == applied["commands"]
        again = run_module(controller, module, args)
        assert (again["changed"], again["commands"]) == (False, [])
    finally:
        run_module(controller, module, undo)
    assert associations(controller) + controller.check_output("sacctmgr -nP show qos") == before


def test_a_qos_limit_holds_the_second_job_as_slurm_would(controller, alice, wait_for):
    sbatch = f"runuser -u {alice} -- sbatch --chdir=/tmp --output=/dev/null --parsable --account=physics --qos=short"
    first = controller.check_output(f"{sbatch} --time=5 --mem=100M --wrap='sleep 120'").strip()
    second = controller.check_output(f"{sbatch} --time=5 --mem=100M --wrap='sleep 120'").strip()
    try:

        def reasons():
            return controller.check_output("squeue --noheader --jobs %s,%s --format='%%i %%T %%r'", first, second)

        out = wait_for(reasons, lambda out: f"{first} RUNNING" in out, 60, "squeue")
        assert re.search(rf"^{second} PENDING QOSMaxJobsPerUserLimit$", out, re.M), out
    finally:
        controller.run("scancel %s %s", first, second)
    # Longer than the QOS's MaxWall of 30 minutes: held with that reason (the QOS has no DenyOnLimit flag).
    too_long = controller.check_output(f"{sbatch} --time=60 --mem=100M --wrap=true").strip()
    try:
        held = wait_for(
            lambda: controller.check_output("squeue --noheader --jobs %s --format=%%r", too_long).strip(),
            lambda reason: reason not in ("None", "Priority", ""),
            30,
            f"pending reason of job {too_long}",
        )
        assert held == "QOSMaxWallDurationPerJobLimit"
    finally:
        controller.run("scancel %s", too_long)


def test_a_user_without_association_cannot_submit(controller):
    controller.run(f"id mallory || useradd --uid {NO_ASSOCIATION_UID} mallory")
    job = controller.run("runuser -u mallory -- sbatch --time=1 --wrap=true")
    assert job.rc != 0
    assert "Invalid account" in job.stderr


def test_drain_waits_for_nothing_on_idle_nodes_then_resume_returns_them(controller, computes, wait_for):
    target = computes[0]
    drained = run_module(
        controller,
        "slurm_node",
        {"name": target, "state": "drain", "reason": "molecule drain", "wait": True, "wait_timeout": 60},
    )
    try:
        assert drained["changed"] is True
        assert drained["nodes"][target]["state"] in ("IDLE+DRAIN", "DRAINED")
        reasons = controller.check_output("sinfo --noheader --list-reasons --format='%%n|%%T|%%E'")
        assert f"{target}|drained|molecule drain" in reasons.splitlines()
        again = run_module(controller, "slurm_node", {"name": target, "state": "drain", "reason": "molecule drain"})
        assert (again["changed"], again["commands"]) == (False, [])
    finally:
        resumed = run_module(controller, "slurm_node", {"name": ",".join(computes), "state": "resume"})
    assert resumed["commands"] == [f"scontrol update NodeName={target} State=RESUME"]
    state = wait_for(
        lambda: controller.check_output("sinfo --noheader --nodes=%s --format=%%T", target).strip(),
        lambda state: state == "idle",
        30,
        f"state of {target}",
    )
    assert state == "idle"
    again = run_module(controller, "slurm_node", {"name": ",".join(computes), "state": "resume"})
    assert (again["changed"], again["commands"]) == (False, [])


def test_drain_waits_until_the_running_job_has_ended(controller, computes, wait_for):
    target = computes[1]
    job = controller.check_output(
        "sbatch --parsable --nodelist=%s --time=2 --mem=100M --wrap='sleep 8'", target
    ).strip()
    wait_until_running(controller, wait_for, job)
    try:
        drained = run_module(
            controller,
            "slurm_node",
            {"name": target, "state": "drain", "reason": "after job", "wait": True, "wait_timeout": 90},
        )
        assert drained["nodes"][target]["state"] in ("IDLE+DRAIN", "DRAINED")
        assert controller.check_output("sacct -nP -X -j %s --format=State", job).strip() == "COMPLETED"
    finally:
        run_module(controller, "slurm_node", {"name": target, "state": "resume"})


def test_reservation_is_created_updated_and_deleted(controller, computes):
    args = {"name": "molecule", "duration": 30, "nodes": computes[0], "users": ["root"], "flags": ["MAINT"]}
    created = run_module(controller, "slurm_reservation", args)
    try:
        assert created["changed"] is True
        shown = controller.check_output("scontrol -o show reservation molecule")
        assert "Duration=00:30:00" in shown
        assert f"Nodes={computes[0]} " in shown
        assert run_module(controller, "slurm_reservation", args)["changed"] is False
        hostlist = controller.check_output("scontrol show hostlist %s", ",".join(computes)).strip()
        updated = run_module(controller, "slurm_reservation", {**args, "duration": "01:00:00", "nodes": hostlist})
        assert updated["changed"] is True
        shown = controller.check_output("scontrol -o show reservation molecule")
        assert "Duration=01:00:00" in shown
        assert f"Nodes={hostlist} " in shown
    finally:
        deleted = run_module(controller, "slurm_reservation", {"name": "molecule", "state": "absent"})
    assert deleted["commands"] == ["scontrol delete ReservationName=molecule"]
    assert "not found" in controller.run("scontrol show reservation molecule").stdout
    assert run_module(controller, "slurm_reservation", {"name": "molecule", "state": "absent"})["changed"] is False


def test_partition_state_change_and_back(controller):
    closed = run_module(controller, "slurm_partition", {"name": "batch", "state": "drain", "max_time": "02:00:00"})
    try:
        assert closed["commands"] == ["scontrol update PartitionName=batch State=DRAIN MaxTime=120"]
        shown = controller.check_output("scontrol -o show partition batch")
        assert " State=DRAIN " in f" {shown} "
        assert "MaxTime=02:00:00" in shown
        job = controller.run("sbatch --partition=batch --time=1 --wrap=true")
        assert job.rc != 0
    finally:
        run_module(controller, "slurm_partition", {"name": "batch", "state": "up", "max_time": -1})
    assert "MaxTime=UNLIMITED" in controller.check_output("scontrol -o show partition batch")


def test_slurm_info_reports_the_cluster(controller, computes, cloud_nodes):
    info = run_module(controller, "slurm_info", {}, check=True)
    assert info["version"] == controller.check_output("scontrol --version").split()[-1]
    # The elastic nodes too, powered down (test_slurm_elastic.py waited until they were).
    assert sorted(info["nodes"]) == sorted(computes + cloud_nodes)
    assert all("POWERED_DOWN" in info["nodes"][name]["flags"] for name in cloud_nodes), info["nodes"]
    assert info["partitions"]["batch"]["total_nodes"] == len(computes)
    assert info["jobs"]["total"] == len(controller.check_output("squeue --noheader --all").splitlines())


@pytest.mark.parametrize(
    ("module", "args", "expected"),
    [
        ("slurm_user", {"name": "dave", "accounts": ["nosuch"]}, "account 'nosuch' of user 'dave' does not exist"),
        ("slurm_user", {"name": "dave", "accounts": [{"name": "physics", "qos": ["gold"]}]}, "unknown QOS gold"),
        ("slurm_account", {"name": "geo", "limits": {"grp_tres": "cpu=x"}}, "'cpu=x' is not a TRES item"),
        ("slurm_account", {"name": "geo", "limits": {"max_wall": "1 day"}}, "'1 day' is not a Slurm duration"),
        ("slurm_qos", {"name": "gold", "limits": {"max_jobs": 3}}, "unknown limit(s) max_jobs"),
        (
            "slurm_user",
            {"name": "alice", "accounts": [{"name": "physics", "state": "absent"}]},
            "cannot remove 'alice' from its default account 'physics'",
        ),
        ("slurm_node", {"name": "nosuchnode", "state": "resume"}, "Node nosuchnode not found"),
    ],
)
def test_bad_input_fails_in_one_line_and_changes_nothing(controller, module, args, expected):
    before = associations(controller) + controller.check_output("sacctmgr -nP show qos")
    message = failure(controller, module, args)
    assert expected in message
    assert "\n" not in message
    assert associations(controller) + controller.check_output("sacctmgr -nP show qos") == before


def test_drain_without_reason_is_refused_before_slurm_is_asked(controller, computes):
    message = failure(controller, "slurm_node", {"name": computes[0], "state": "drain"})
    assert "reason" in message
    assert "DRAIN" not in controller.check_output("scontrol -o show node %s", computes[0])


def test_deleting_a_user_with_a_running_job_fails_with_slurms_reason(controller, alice, wait_for):
    sbatch = f"runuser -u {alice} -- sbatch --chdir=/tmp --output=/dev/null --parsable --account=physics"
    job = controller.check_output(f"{sbatch} --time=5 --mem=100M --wrap='sleep 120'").strip()
    try:
        wait_until_running(controller, wait_for, job)
        message = failure(controller, "slurm_user", {"name": alice, "state": "absent"})
        assert message.startswith("Failed to delete users: ")
        assert "job" in message.lower()
        assert f"{alice}|physics" in controller.check_output(
            "sacctmgr -nP show assoc user=%s format=User,Account", alice
        )
    finally:
        controller.run("scancel %s", job)


def test_deleting_an_account_with_a_running_job_fails_and_a_rerun_finishes(controller, alice, wait_for):
    run_module(controller, "slurm_account", {"name": "shortlived", "parent": "science"})
    run_module(controller, "slurm_user", {"name": alice, "accounts": ["shortlived"]})
    sbatch = f"runuser -u {alice} -- sbatch --chdir=/tmp --output=/dev/null --parsable --account=shortlived"
    job = controller.check_output(f"{sbatch} --time=5 --mem=100M --wrap='sleep 120'").strip()
    try:
        wait_until_running(controller, wait_for, job)
        message = failure(controller, "slurm_account", {"name": "shortlived", "state": "absent"})
        assert message.startswith("Failed to delete account shortlived: Error with request: Job(s) active")
        assert "shortlived" in controller.check_output("sacctmgr -nP show account format=Account")
    finally:
        controller.run("scancel %s", job)
    wait_for(
        functools.partial(queue_state, controller, job),
        lambda state: state == "",
        60,
        f"end of job {job}",
    )
    assert run_module(controller, "slurm_account", {"name": "shortlived", "state": "absent"})["changed"] is True
    assert "shortlived" not in controller.check_output("sacctmgr -nP show account format=Account")


def test_unreachable_slurmdbd_is_one_clear_error(controller, wait_for):
    controller.check_output("systemctl stop slurmdbd")
    try:
        message = failure(controller, "slurm_user", {"name": "dave", "accounts": ["physics"]})
        assert message.startswith("Failed to read Slurm user records: ")
        assert "\n" not in message
    finally:
        controller.check_output("systemctl start slurmdbd")
    wait_for(lambda: controller.run("sacctmgr -nP show cluster").rc, lambda rc: rc == 0, 60, "sacctmgr after restart")
