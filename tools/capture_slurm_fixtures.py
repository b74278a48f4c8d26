"""Capture real sacctmgr/scontrol answers from a running Slurm cluster as fixtures for the Slurm modules' tests.

The unit tests of slurm_cluster, slurm_account, slurm_qos and slurm_user answer the modules' commands from these
recordings instead of a live slurmdbd. This tool drives a cluster in a Docker container through well-defined
states and records, for each state or write, the exact argument list the modules issue (as `sacctmgr ...` or
`scontrol ...`, without the `timeout N` prefix and the binary's directory) with Slurm's exit code and output:
one JSON file `{"argv": [...], "rc": int, "stdout": str, "stderr": str}` per state or step.

It only ever creates, changes and deletes objects whose names start with `fx` (QOS fxshort and fxlong, accounts
fxphys, fxchem and fxgeo, users fxalice, fxbob, fxcarol and fxdave, cluster fxcluster), removes every such object
before and after the capture, and never touches anything else in the (shared) accounting database.

Reads that list every object of a kind (all users, all accounts, all QOS) are filtered to the fx* rows plus
`root` (users, accounts) or `normal` (QOS), so that the fixtures, and the tests, do not depend on the other
objects other people keep in the database. The filtering is the only change made to Slurm's output.

Usage: python tools/capture_slurm_fixtures.py CONTAINER OUTPUT_DIR
  e.g. python tools/capture_slurm_fixtures.py hpc-controller tests/unit/plugins/modules/fixtures/slurm-22.05
       python tools/capture_slurm_fixtures.py slurm13-ctl tests/unit/plugins/modules/fixtures/slurm-24.11
The *.json files in OUTPUT_DIR are replaced.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

# The modules' read formats (plugins/modules/*.py FIELDS; plugins/module_utils/_slurm.py ASSOCIATION_FIELDS).
ASSOCIATION_FIELDS = (
    "Share,GrpJobs,GrpSubmit,GrpTRES,GrpTRESMins,GrpTRESRunMins,GrpWall,MaxJobs,MaxSubmit,MaxTRES,MaxTRESPerNode,"
    "MaxTRESMins,MaxWall,QOS,DefaultQOS"
)
QOS_FIELDS = (
    "Name,Description,Priority,Preempt,PreemptMode,Flags,UsageFactor,GraceTime,GrpJobs,GrpSubmit,GrpTRES,"
    "GrpTRESMins,GrpWall,MaxTRES,MaxTRESPerNode,MaxTRESPU,MaxTRESPA,MaxJobsPU,MaxJobsPA,MaxSubmitPU,MaxSubmitPA,"
    "MinTRES,MaxWall"
)
ACCOUNT_FIELDS = "Account,Description,Organization,Cluster,ParentName,User,Partition," + ASSOCIATION_FIELDS
USER_FIELDS = "User,DefaultAccount,Admin,Cluster,Account,Partition," + ASSOCIATION_FIELDS

# The environment SlurmRunner runs every command under.
ENVIRONMENT = {"LC_ALL": "C", "LANG": "C", "SLURM_TIME_FORMAT": "standard"}
PREFIX = "fx"
# The kinds of object the capture creates, in the order they must be deleted, with their name field.
KINDS = (("user", "User"), ("account", "Account"), ("qos", "Name"), ("cluster", "Cluster"))


def keep_rows(*names: str) -> Callable[[str], bool]:
    """A filter for the rows of a read of all objects: the fx* ones and the named ones (first field)."""

    def keep(line: str) -> bool:
        first = line.rstrip("\n").split("|", 1)[0]
        return first.startswith(PREFIX) or first in names

    return keep


class Capture:
    """Runs Slurm's commands in one container and writes the recordings into one directory."""

    def __init__(self, container: str, output: Path):
        self.container = container
        self.output = output
        self.recorded: list[str] = []
        self.cluster = ""

    def run(self, argv: list[str], user: str | None = None) -> dict:
        """Run argv in the container under the modules' environment; the recording of it."""
        docker = ["docker", "exec", *(f"--env={key}={value}" for key, value in ENVIRONMENT.items())]
        docker += [f"--user={user}"] if user else []
        command = [*docker, self.container, *argv]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        return {"argv": argv, "rc": done.returncode, "stdout": done.stdout, "stderr": done.stderr}

    def record(self, name: str, argv: list[str], keep: Callable[[str], bool] | None = None, user: str | None = None):
        """Run argv and write its recording as NAME.json (stdout filtered to the rows `keep` accepts)."""
        if name in self.recorded:
            raise SystemExit(f"fixture {name} recorded twice")
        recording = self.run(argv, user)
        if keep is not None:
            recording["stdout"] = "".join(line for line in recording["stdout"].splitlines(True) if keep(line))
        (self.output / f"{name}.json").write_text(json.dumps(recording, indent=2) + "\n")
        self.recorded.append(name)
        print(f"{name:45} rc={recording['rc']}  {' '.join(argv)}")

    def read(self, name: str, *args: str, keep: Callable[[str], bool] | None = None) -> None:
        self.record(name, ["sacctmgr", *args], keep)

    def write(self, name: str, *args: str, user: str | None = None) -> None:
        self.record(name, ["sacctmgr", "-i", *args], user=user)

    def setup(self, *args: str) -> None:
        """A write that prepares a state (not recorded); it must succeed."""
        done = self.run(["sacctmgr", "-i", *args])
        if done["rc"] != 0:
            raise SystemExit(f"set-up step failed: sacctmgr -i {' '.join(args)}: {done['stdout']}{done['stderr']}")

    def names(self, entity: str, field: str) -> list[str]:
        """The fx* names of one kind of object in the database."""
        done = self.run(["sacctmgr", "-nP", "show", entity, f"format={field}"])
        return sorted({line for line in done["stdout"].split() if line.startswith(PREFIX)})

    def cleanup(self) -> None:
        """Delete every fx* user, account, QOS and cluster (and nothing else): users first, clusters last."""
        for entity, field in KINDS:
            names = self.names(entity, field)
            if entity == "cluster":
                for name in names:
                    self.run(["sacctmgr", "-i", "delete", "cluster", name])
            elif names:
                self.run(["sacctmgr", "-i", "delete", entity, "where", "name=" + ",".join(names)])
        left = [name for entity, field in KINDS for name in self.names(entity, field)]
        if left:
            raise SystemExit(f"could not remove {', '.join(left)} from {self.container}")


def capture_scontrol(cap: Capture) -> None:
    cap.record("scontrol_version", ["scontrol", "--version"])
    cap.record("scontrol_show_node", ["scontrol", "-o", "show", "node"])


def capture_qos(cap: Capture) -> None:
    """slurm_qos: fxshort created, updated, cleared, flagged, deleted; fxlong is the QOS it may preempt."""
    show = ["-nP", "show", "qos", f"format={QOS_FIELDS}", "where", "name=fxshort"]
    cap.setup("add", "qos", "fxlong")
    cap.read("qos_absent", *show)
    cap.read("qos_list_without_fxshort", "-nP", "show", "qos", "format=Name", keep=keep_rows("normal"))
    # {priority: 10, preempt: [fxlong], limits: {max_wall: "1:00:00", max_tres_per_user: "cpu=4,mem=1G"}}
    cap.write("qos_add", "add", "qos", "fxshort", "Priority=10", "Preempt=fxlong", "MaxTRESPerUser=cpu=4,mem=1024",
              "MaxWall=60")  # fmt: skip
    cap.read("qos_present", *show)
    cap.write("qos_add_existing", "add", "qos", "fxshort", "Priority=10")
    # limits: {max_wall: "2:00:00", max_tres_per_user: "cpu=8"} (a TRES limit replaces the whole list)
    cap.write("qos_modify_limits", "modify", "qos", "where", "name=fxshort", "set", "MaxTRESPerUser=cpu=8,mem=-1",
              "MaxWall=120")  # fmt: skip
    cap.read("qos_present_limits_updated", *show)
    cap.write("qos_clear_max_wall", "modify", "qos", "where", "name=fxshort", "set", "MaxWall=-1")  # max_wall: -1
    cap.read("qos_present_max_wall_cleared", *show)
    cap.write("qos_set_flags", "modify", "qos", "where", "name=fxshort", "set", "Flags=denyonlimit,noreserve")
    cap.read("qos_present_flags", *show)
    cap.write("qos_clear_preempt_flags", "modify", "qos", "where", "name=fxshort", "set", "Preempt=", "Flags=-1")
    cap.read("qos_present_preempt_flags_cleared", *show)
    cap.write("qos_set_unknown_flag", "modify", "qos", "where", "name=fxshort", "set", "Flags=nosuchflag")
    cap.read("qos_present_after_unknown_flag", *show)
    cap.write("qos_delete", "delete", "qos", "where", "name=fxshort")
    cap.read("qos_deleted", *show)
    cap.write("qos_delete_absent", "delete", "qos", "where", "name=fxshort")


def capture_account(cap: Capture) -> None:
    """slurm_account: fxphys created, updated, cleared, refused a default QOS, deleted; fxchem below it; fxgeo."""
    show = ["-nP", "show", "account", "withassoc", "WOPLimits", f"format={ACCOUNT_FIELDS}", "where"]
    where = ["where", "name=fxphys", f"cluster={cap.cluster}"]
    accounts = ["-nP", "show", "account", "format=Account"]
    cap.setup("add", "qos", "fxshort")
    cap.setup("add", "qos", "fxlong")
    cap.read("account_absent", *show, "name=fxphys")
    cap.read("qos_list", "-nP", "show", "qos", "format=Name", keep=keep_rows("normal"))
    # {description: Physics Dept, organization: Science, fairshare: 100, qos: [fxshort, normal], default_qos: normal,
    #  limits: {grp_tres: "cpu=8,mem=2G", max_wall: "2-12:30:00"}}
    cap.write("account_add", "add", "account", "fxphys", "Parent=root", "Description=Physics Dept",
              "Organization=Science", "Fairshare=100", "QOS=fxshort,normal", "DefaultQOS=normal",
              "GrpTRES=cpu=8,mem=2048", "MaxWall=3630")  # fmt: skip
    cap.read("account_present", *show, "name=fxphys")
    cap.write("account_add_existing", "add", "account", "fxphys", "Parent=root")
    cap.write("account_modify_max_wall", "modify", "account", *where, "set", "MaxWall=4320")  # "3-00:00:00"
    cap.read("account_present_max_wall", *show, "name=fxphys")
    cap.write("account_clear_grp_tres", "modify", "account", *where, "set", "GrpTRES=cpu=-1,mem=-1")  # grp_tres: -1
    cap.read("account_present_grp_tres_cleared", *show, "name=fxphys")
    cap.write("account_modify_description", "modify", "account", "where", "name=fxphys", "set",
              "Description=Physics Department")  # fmt: skip
    cap.read("account_present_description", *show, "name=fxphys")
    # default_qos: fxlong, which is not among the account's QOS: 22.05 exits 0 and changes nothing, 24.11 exits 1.
    cap.write("account_default_qos_not_allowed", "modify", "account", *where, "set", "DefaultQOS=fxlong")
    cap.read("account_present_after_default_qos", *show, "name=fxphys")
    # fxchem: {parent: fxphys}, then {parent: root}
    cap.read("account_fxchem_absent", *show, "name=fxchem")
    cap.read("account_list", *accounts, keep=keep_rows("root"))
    cap.write("account_fxchem_add", "add", "account", "fxchem", "Parent=fxphys")
    cap.read("account_fxchem_present", *show, "name=fxchem")
    cap.read("account_list_with_fxchem", *accounts, keep=keep_rows("root"))
    cap.write("account_fxchem_reparent", "modify", "account", "where", "name=fxchem", f"cluster={cap.cluster}", "set",
              "Parent=root")  # fmt: skip
    cap.read("account_fxchem_present_under_root", *show, "name=fxchem")
    cap.setup("delete", "account", "where", "name=fxchem")
    # state: absent of fxphys
    cap.write("account_delete", "delete", "account", "where", "name=fxphys")
    cap.read("account_deleted", *show, "name=fxphys")
    # state: absent of fxgeo, the default account of user fxdave: 24.11 refuses, 22.05 deletes it all the same.
    cap.setup("add", "account", "fxgeo", "Parent=root")
    cap.setup("add", "user", "name=fxdave", "account=fxgeo", f"cluster={cap.cluster}", "DefaultAccount=fxgeo")
    cap.read("account_fxgeo_with_user", *show, "name=fxgeo")
    cap.write("account_fxgeo_delete", "delete", "account", "where", "name=fxgeo")
    cap.read("account_fxgeo_after_delete", *show, "name=fxgeo")
    cap.run(["sacctmgr", "-i", "delete", "user", "where", "name=fxdave"])
    cap.run(["sacctmgr", "-i", "delete", "account", "where", "name=fxgeo"])


def capture_user(cap: Capture) -> None:
    """slurm_user: fxalice alone, fxalice+fxbob+fxcarol in batches, limits on fxcarol's fxchem association, ..."""
    show = ["-nP", "show", "user", "withassoc", "WOPLimits", f"format={USER_FIELDS}"]
    users = keep_rows("root")  # every user is read: keep the fx* ones and root
    cluster = f"cluster={cap.cluster}"
    cap.setup("add", "account", "fxphys", "Parent=root")
    cap.setup("add", "account", "fxchem", "Parent=root")
    cap.read("users_none", *show, keep=users)
    cap.read("user_account_list", "-nP", "show", "account", "format=Account", keep=keep_rows("root"))
    cap.read("user_qos_list", "-nP", "show", "qos", "format=Name", keep=keep_rows("normal"))
    # {name: fxalice, accounts: [fxphys]}, then {name: fxalice, state: absent}
    cap.write("user_add_fxalice", "add", "user", "name=fxalice", "account=fxphys", cluster, "DefaultAccount=fxphys")
    cap.read("users_fxalice", *show, keep=users)
    cap.write("user_add_nothing_new", "add", "user", "name=fxalice", "account=fxphys", cluster,
              "DefaultAccount=fxphys")  # fmt: skip
    # whole users are deleted without cluster= (slurm_user: 22.05 refuses cluster= for a user with several
    # associations, "You can not remove the default account of a user")
    cap.write("user_delete_fxalice", "delete", "user", "where", "name=fxalice")
    cap.read("users_fxalice_deleted", *show, keep=users)
    # users: [{fxalice: [fxphys]}, {fxbob: [fxphys]}, {fxcarol: [fxphys, fxchem]}]
    cap.write("user_add_three_fxphys", "add", "user", "name=fxalice,fxbob,fxcarol", "account=fxphys", cluster,
              "DefaultAccount=fxphys")  # fmt: skip
    cap.write("user_add_three_fxchem", "add", "user", "name=fxcarol", "account=fxchem", cluster)
    cap.read("users_three", *show, keep=users)
    # what the module would write for a user of an account that does not exist (it checks before it writes)
    cap.write("user_add_unknown_account", "add", "user", "name=fxdave", "account=fxnope", cluster,
              "DefaultAccount=fxnope")  # fmt: skip
    # {users: [...the three..., state: absent]}: fxcarol has two associations; both versions delete all three
    cap.write("user_delete_three", "delete", "user", "where", "name=fxalice,fxbob,fxcarol")
    cap.read("users_three_deleted", *show, keep=users)
    # the same three users with batch_size: 2
    cap.write("user_add_batch2_fxphys_1", "add", "user", "name=fxalice,fxbob", "account=fxphys", cluster,
              "DefaultAccount=fxphys")  # fmt: skip
    cap.write("user_add_batch2_fxphys_2", "add", "user", "name=fxcarol", "account=fxphys", cluster,
              "DefaultAccount=fxphys")  # fmt: skip
    cap.write("user_add_batch2_fxchem", "add", "user", "name=fxcarol", "account=fxchem", cluster)
    cap.read("users_three_batch2", *show, keep=users)
    # {name: fxcarol, accounts: [{name: fxchem, limits: {max_jobs: 5}}]}, then max_jobs: -1
    where_carol_chem = ["where", "name=fxcarol", "account=fxchem", cluster]
    cap.write("user_modify_max_jobs", "modify", "user", *where_carol_chem, "set", "MaxJobs=5")
    cap.read("users_carol_max_jobs", *show, keep=users)
    cap.write("user_clear_max_jobs", "modify", "user", *where_carol_chem, "set", "MaxJobs=-1")
    cap.read("users_carol_max_jobs_cleared", *show, keep=users)
    # {name: fxcarol, accounts: [{name: fxchem, default_qos: fxlong}]}: fxlong is not among the association's QOS
    cap.write("user_default_qos_not_allowed", "modify", "user", *where_carol_chem, "set", "DefaultQOS=fxlong")
    cap.read("users_after_default_qos", *show, keep=users)
    # {name: fxcarol, accounts: [{name: fxchem, state: absent}]}
    cap.write("user_remove_association", "delete", "user", *where_carol_chem)
    cap.read("users_carol_fxchem_removed", *show, keep=users)
    # {name: fxbob, default_account: fxchem, admin_level: operator, accounts: [fxchem]}
    cap.write("user_bob_add_fxchem", "add", "user", "name=fxbob", "account=fxchem", cluster)
    cap.write("user_bob_admin_level", "modify", "user", "where", "name=fxbob", "set", "AdminLevel=Operator")
    cap.write("user_bob_default_account", "modify", "user", "where", "name=fxbob", cluster, "set",
              "DefaultAccount=fxchem")  # fmt: skip
    cap.read("users_bob_moved", *show, keep=users)
    # what the module refuses to write: removing fxbob's default account, while he has another one (22.05 does it
    # and leaves him without a default account, 24.11 refuses)
    cap.write("user_remove_default_association", "delete", "user", "where", "name=fxbob", "account=fxchem", cluster)
    cap.read("users_after_default_association_removed", *show, keep=users)
    # {name: fxbob, accounts: [fxphys]} for a user without default account (only 22.05 gets there): the module gives
    # him his first listed account
    if any(line.startswith("fxbob||") for line in cap.run(["sacctmgr", *show])["stdout"].splitlines()):
        cap.write("user_give_default_account", "modify", "user", "where", "name=fxbob", cluster, "set",
                  "DefaultAccount=fxphys")  # fmt: skip
        cap.read("users_default_account_given", *show, keep=users)


def capture_cluster(cap: Capture) -> None:
    """slurm_cluster: fxcluster added (first by an unprivileged user), added again, deleted."""
    show = ["-nP", "show", "cluster", "format=Cluster", "where", "cluster=fxcluster"]
    cap.read("cluster_absent", *show)
    cap.write("cluster_add_denied", "add", "cluster", "fxcluster", user="nobody")
    cap.write("cluster_add", "add", "cluster", "fxcluster")
    cap.read("cluster_present", *show)
    cap.write("cluster_add_existing", "add", "cluster", "fxcluster")
    cap.write("cluster_delete", "delete", "cluster", "fxcluster")
    cap.read("cluster_deleted", *show)


def cluster_name(cap: Capture) -> str:
    """The ClusterName of the container's slurm.conf (the name its associations are under)."""
    for line in cap.run(["scontrol", "show", "config"])["stdout"].splitlines():
        key, _sep, value = line.partition("=")
        if key.strip() == "ClusterName":
            return value.strip()
    raise SystemExit(f"no ClusterName in scontrol show config of {cap.container}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("container", help="the Docker container of the Slurm controller with slurmdbd")
    parser.add_argument("output", type=Path, help="the directory for the JSON recordings")
    args = parser.parse_args(argv)
    args.output.mkdir(parents=True, exist_ok=True)
    for stale in args.output.glob("*.json"):
        stale.unlink()
    cap = Capture(args.container, args.output)
    cap.cluster = cluster_name(cap)
    cap.cleanup()
    try:
        capture_scontrol(cap)
        capture_qos(cap)
        cap.cleanup()
        capture_account(cap)
        cap.cleanup()
        cap.setup("add", "qos", "fxshort")
        cap.setup("add", "qos", "fxlong")
        capture_user(cap)
        cap.cleanup()
        # last: while fxcluster exists, root has an association in it and the database holds two clusters
        capture_cluster(cap)
    finally:
        cap.cleanup()
    print(f"{len(cap.recorded)} recordings of {args.container} (cluster {cap.cluster}) in {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
