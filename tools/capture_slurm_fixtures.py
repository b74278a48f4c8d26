"""Capture real sacctmgr/scontrol answers from a running Slurm cluster as fixtures for the Slurm modules' tests.

The unit tests of slurm_cluster, slurm_account, slurm_qos and slurm_user answer the modules' commands from these
recordings instead of a live slurmdbd, those of slurm_node, slurm_partition, slurm_reservation and slurm_info
instead of a live slurmctld. This tool drives a cluster in a Docker container through well-defined
states and records, for each state or write, the exact argument list the modules issue (as `sacctmgr ...` or
`scontrol ...`, without the `timeout N` prefix and the binary's directory) with Slurm's exit code and output:
one JSON file `{"argv": [...], "rc": int, "stdout": str, "stderr": str}` per state or step.

It only ever creates, changes and deletes objects whose names start with `fx` (QOS fxshort and fxlong, accounts
fxphys, fxchem and fxgeo, users fxalice, fxbob, fxcarol and fxdave, cluster fxcluster), removes every such object
before and after the capture, and never touches anything else in the (shared) accounting database.

Reads that list every object of a kind (all users, all accounts, all QOS) are filtered to the fx* rows plus
`root` (users, accounts) or `normal` (QOS), so that the fixtures, and the tests, do not depend on the other
objects other people keep in the database. The filtering is the only change made to Slurm's output.

The scontrol part (scontrol_*.json but scontrol_version and scontrol_show_node, see capture_scontrol_modules) drives
two idle nodes of the cluster's default partition through drain, new reason, undrain, resume, down, a draining node
under a job; a partition fxbatch it creates on them through state and limit updates; reservations fxmaint, fxcount,
fxfuture (and the refused fxbusy and fxbad) through create, update and delete; and records slurm_info's reads of
the whole cluster (nodes, partitions, reservations, squeue) with a running and a pending job (named fxjob, root's).
It refuses to start unless both nodes are idle and not drained, and at the end deletes the fx* reservations and
partition, cancels the fxjob jobs and resumes the two nodes. With --controller-down it also stops slurmctld for the
few seconds it takes to record the reads' failure, and starts it again: only on a cluster of your own.

Usage: python tools/capture_slurm_fixtures.py [--scontrol-only [--controller-down]] CONTAINER OUTPUT_DIR
  e.g. python tools/capture_slurm_fixtures.py hpc-controller tests/unit/plugins/modules/fixtures/slurm-22.05
       python tools/capture_slurm_fixtures.py slurm-trixie-ctl tests/unit/plugins/modules/fixtures/slurm-24.11
       python tools/capture_slurm_fixtures.py --scontrol-only --controller-down fx22-ctl \\
           tests/unit/plugins/modules/fixtures/slurm-22.05
The *.json files in OUTPUT_DIR are replaced; with --scontrol-only (for a cluster without slurmdbd) only the
recordings of the scontrol part are written, and the other files are left as they are.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
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

    def record(
        self, name: str, argv: list[str], keep: Callable[[str], bool] | None = None, user: str | None = None
    ) -> dict:
        """Run argv and write its recording as NAME.json (stdout filtered to the rows `keep` accepts)."""
        if name in self.recorded:
            raise SystemExit(f"fixture {name} recorded twice")
        recording = self.run(argv, user)
        if keep is not None:
            recording["stdout"] = "".join(line for line in recording["stdout"].splitlines(True) if keep(line))
        (self.output / f"{name}.json").write_text(json.dumps(recording, indent=2) + "\n")
        self.recorded.append(name)
        print(f"{name:45} rc={recording['rc']}  {' '.join(argv)}")
        return recording

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


# --- the scontrol modules: slurm_node, slurm_partition, slurm_reservation, slurm_info ------------------------------
PARTITION = "fxbatch"  # the partition the capture creates on its two nodes (and deletes)
FUTURE = "2036-12-01T08:00:00"  # fxfuture's absolute start time
JOB_NAME = "fxjob"
SQUEUE = ["squeue", "--noheader", "--all", "--format=%T|%P"]  # slurm_info's read of the queue
ACTIVE_JOB_STATES = {"PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "SUSPENDED"}


def field(line: str, key: str) -> str:
    """The value of `Key=` in one `scontrol -o show` record (up to the next space: for fields without spaces)."""
    match = re.search(rf"(?:^|\s){re.escape(key)}=(\S*)", line)
    return match.group(1) if match else ""


@dataclass
class Targets:
    """The two nodes the scontrol part works on: n1 and n2, their hostlist (fx22-c[1-2]) and their partition."""

    n1: str
    n2: str
    hostlist: str
    partition: str


class Scontrol:
    """scontrol, sbatch, scancel and systemctl steps of the capture that are not recorded (set-up and clean-up)."""

    def __init__(self, cap: Capture):
        self.cap = cap

    def __call__(self, *args: str, tool: str = "scontrol", check: bool = True) -> str:
        done = self.cap.run([tool, *args])
        if check and done["rc"] != 0:
            raise SystemExit(f"set-up step failed: {tool} {' '.join(args)}: {done['stdout']}{done['stderr']}")
        return done["stdout"]

    def records(self, entity: str, name: str | None = None) -> list[str]:
        done = self.cap.run(["scontrol", "-o", "show", entity, *([name] if name else [])])
        return [line for line in done["stdout"].splitlines() if "=" in line] if done["rc"] == 0 else []

    def node_state(self, node: str) -> str:
        lines = self.records("node", node)
        return field(lines[0], "State") if lines else ""

    def wait(self, what: str, ready: Callable[[], bool], seconds: int = 90) -> None:
        deadline = time.monotonic() + seconds
        while not ready():
            if time.monotonic() > deadline:
                raise SystemExit(f"{self.cap.container}: no {what} after {seconds} s")
            time.sleep(1)

    def wait_idle(self, *nodes: str) -> None:
        for node in nodes:
            self.wait(f"idle {node}", lambda node=node: self.node_state(node) == "IDLE")

    def submit(self, *args: str) -> str:
        return self("--parsable", f"--job-name={JOB_NAME}", "--output=/dev/null", *args, tool="sbatch").strip()

    def job_state(self, job: str) -> str:
        return self("--noheader", "--states=all", "--format=%T", f"--jobs={job}", tool="squeue", check=False).strip()

    def job_ended(self, job: str) -> bool:
        return self.job_state(job) not in ACTIVE_JOB_STATES

    def cleanup(self, targets: Targets | None) -> None:
        """Cancel the fxjob jobs, delete the fx* reservations and partition, resume the two nodes."""
        self("--name", JOB_NAME, tool="scancel", check=False)
        for line in self.records("reservation"):
            name = field(line, "ReservationName")
            if name.startswith(PREFIX):
                self("delete", f"ReservationName={name}")
        if self.records("partition", PARTITION):
            self("delete", f"PartitionName={PARTITION}")
        if targets is None:
            return
        self.wait("end of the fxjob jobs", lambda: not self("--noheader", f"--name={JOB_NAME}", tool="squeue").strip())
        for node in (targets.n1, targets.n2):
            state = self.node_state(node)
            if "DRAIN" in state or state.startswith("DOWN"):
                self("update", f"NodeName={node}", "State=RESUME")
        self.wait_idle(targets.n1, targets.n2)


def scontrol_targets(sc: Scontrol) -> Targets:
    """The first two nodes of the default partition; both must be idle (neither drained nor down)."""
    partitions = sc.records("partition")
    default = next(
        (line for line in partitions if field(line, "Default") == "YES"), partitions[0] if partitions else ""
    )
    nodes = sc("show", "hostnames", field(default, "Nodes")).split()[:2] if default else []
    if len(nodes) < 2:
        raise SystemExit(f"{sc.cap.container}: the capture needs a partition of two nodes or more")
    for node in nodes:
        if sc.node_state(node) != "IDLE":
            raise SystemExit(f"{sc.cap.container}: node {node} is {sc.node_state(node)}; the capture needs it IDLE")
    hostlist = sc("show", "hostlist", ",".join(nodes)).strip()
    return Targets(nodes[0], nodes[1], hostlist, field(default, "PartitionName"))


def capture_node(cap: Capture, sc: Scontrol, t: Targets) -> None:
    """slurm_node: n1 drained, given a new reason, undrained; n1 and n2 drained and resumed; n2 down and resumed."""
    one, two, both = (["scontrol", "-o", "show", "node", name] for name in (t.n1, t.n2, t.hostlist))
    update = ["scontrol", "update", f"NodeName={t.n1}"]
    cap.record("scontrol_node_show_idle", one)
    cap.record("scontrol_nodes_show_idle", both)
    # what the module does not send: resume of a node that is neither drained nor down
    cap.record("scontrol_node_resume_idle", [*update, "State=RESUME"])
    # {name: n1, state: drain, reason: fx disk swap}, then reason: fx new disk; then state: resume
    cap.record("scontrol_node_drain", [*update, "State=DRAIN", "Reason=fx disk swap"])
    cap.record("scontrol_node_show_drained", one)
    cap.record("scontrol_nodes_show_one_drained", both)
    cap.record("scontrol_node_drain_new_reason", [*update, "State=DRAIN", "Reason=fx new disk"])
    cap.record("scontrol_node_show_new_reason", one)
    cap.record("scontrol_node_resume", [*update, "State=RESUME"])
    cap.record("scontrol_node_show_resumed", one)
    sc.wait_idle(t.n1)
    # drained again, then state: undrain
    sc("update", f"NodeName={t.n1}", "State=DRAIN", "Reason=fx disk swap")
    cap.record("scontrol_node_undrain", [*update, "State=UNDRAIN"])
    cap.record("scontrol_node_show_undrained", one)
    # {name: hostlist, state: drain, reason: fx disk swap}, then state: resume
    cap.record(
        "scontrol_nodes_drain", ["scontrol", "update", f"NodeName={t.n1},{t.n2}", "State=DRAIN", "Reason=fx disk swap"]
    )
    cap.record("scontrol_nodes_show_drained", both)
    cap.record("scontrol_nodes_resume", ["scontrol", "update", f"NodeName={t.n1},{t.n2}", "State=RESUME"])
    cap.record("scontrol_nodes_show_resumed", both)
    sc.wait_idle(t.n1, t.n2)
    # {name: n2, state: down, reason: fx power cut}, then state: resume
    cap.record("scontrol_node_show_n2_idle", two)
    cap.record("scontrol_node_down", ["scontrol", "update", f"NodeName={t.n2}", "State=DOWN", "Reason=fx power cut"])
    cap.record("scontrol_node_show_down", two)
    cap.record("scontrol_node_resume_down", ["scontrol", "update", f"NodeName={t.n2}", "State=RESUME"])
    cap.record("scontrol_node_show_down_resumed", two)
    sc.wait_idle(t.n2)
    # a node name the cluster does not have
    cap.record("scontrol_node_show_unknown", ["scontrol", "-o", "show", "node", "fxnope"])
    cap.record(
        "scontrol_node_drain_unknown", ["scontrol", "update", "NodeName=fxnope", "State=DRAIN", "Reason=fx disk swap"]
    )


def capture_partition(cap: Capture, sc: Scontrol, t: Targets) -> None:
    """slurm_partition: fxbatch (made on n1 and n2) down, drain, up, limited, unlimited; a partition that is not."""
    sc("create", f"PartitionName={PARTITION}", f"Nodes={t.n1},{t.n2}", "State=UP")
    show = ["scontrol", "-o", "show", "partition", PARTITION]
    update = ["scontrol", "update", f"PartitionName={PARTITION}"]
    cap.record("scontrol_partition_show", show)
    cap.record("scontrol_partition_down", [*update, "State=DOWN"])  # state: down
    cap.record("scontrol_partition_show_down", show)
    cap.record("scontrol_partition_drain", [*update, "State=DRAIN"])  # state: drain
    cap.record("scontrol_partition_show_drain", show)
    cap.record("scontrol_partition_up", [*update, "State=UP"])  # state: up
    cap.record("scontrol_partition_show_up", show)
    # {max_time: "1:00:00", default_time: 30, max_nodes: 1, priority_tier: 5, allow_accounts: [fxphys, fxchem]}
    cap.record(
        "scontrol_partition_limits",
        [*update, "MaxTime=60", "DefaultTime=30", "MaxNodes=1", "PriorityTier=5", "AllowAccounts=fxchem,fxphys"],
    )
    cap.record("scontrol_partition_show_limits", show)
    # {max_time: -1, default_time: -1, max_nodes: -1, priority_tier: 1, allow_accounts: [ALL]}
    cap.record(
        "scontrol_partition_unlimited",
        [
            *update,
            "MaxTime=UNLIMITED",
            "DefaultTime=UNLIMITED",
            "MaxNodes=UNLIMITED",
            "PriorityTier=1",
            "AllowAccounts=ALL",
        ],
    )
    cap.record("scontrol_partition_show_unlimited", show)
    # {allow_qos: [fxnoqos]}: a QOS Slurm does not know
    cap.record("scontrol_partition_allow_qos_unknown", [*update, "AllowQos=fxnoqos"])
    cap.record("scontrol_partition_show_after_allow_qos", show)
    cap.record("scontrol_partition_show_unknown", ["scontrol", "-o", "show", "partition", "fxnope"])


def capture_reservation(cap: Capture, sc: Scontrol, t: Targets) -> None:
    """slurm_reservation: fxmaint created, updated, refused a user, deleted; fxcount; fxfuture; fxbusy and fxbad."""
    show = ["scontrol", "-o", "show", "reservation", "fxmaint"]
    nodes = f"Nodes={t.n1},{t.n2}"
    create = ["scontrol", "create", "reservation"]
    update = ["scontrol", "update", "ReservationName=fxmaint"]
    cap.record("scontrol_reservation_absent", show)
    # {name: fxmaint, nodes: hostlist, users: [root], duration: 60, flags: [MAINT]}
    cap.record("scontrol_reservation_hostnames", ["scontrol", "show", "hostnames", t.hostlist])
    cap.record(
        "scontrol_reservation_create",
        [*create, "ReservationName=fxmaint", "StartTime=now", "Duration=60", nodes, "Users=root", "Flags=MAINT"],
    )
    present = cap.record("scontrol_reservation_present", show)
    cap.record(
        "scontrol_reservation_present_hostnames", ["scontrol", "show", "hostnames", field(present["stdout"], "Nodes")]
    )
    # ... duration: 120, users: [root, nobody], flags: [MAINT, IGNORE_JOBS]
    cap.record("scontrol_reservation_update", [*update, "Duration=120", "Users=nobody,root", "Flags=IGNORE_JOBS"])
    cap.record("scontrol_reservation_updated", show)
    # ... users: [fxnouser], a user the system does not have
    cap.record("scontrol_reservation_update_unknown_user", [*update, "Users=fxnouser"])
    cap.record("scontrol_reservation_after_unknown_user", show)
    # another reservation of the same nodes (taken: fxmaint is a MAINT one), and one for a user the system does not
    # have (refused)
    cap.record("scontrol_reservation_busy_absent", ["scontrol", "-o", "show", "reservation", "fxbusy"])
    cap.record(
        "scontrol_reservation_create_busy",
        [*create, "ReservationName=fxbusy", "StartTime=now", "Duration=60", nodes, "Users=root"],
    )
    sc("delete", "ReservationName=fxbusy", check=False)
    cap.record("scontrol_reservation_bad_absent", ["scontrol", "-o", "show", "reservation", "fxbad"])
    cap.record("scontrol_reservation_bad_hostnames", ["scontrol", "show", "hostnames", t.n1])
    cap.record(
        "scontrol_reservation_create_unknown_user",
        [*create, "ReservationName=fxbad", "StartTime=now", "Duration=60", f"Nodes={t.n1}", "Users=fxnouser"],
    )
    # state: absent, twice
    cap.record("scontrol_reservation_delete", ["scontrol", "delete", "ReservationName=fxmaint"])
    cap.record("scontrol_reservation_deleted", show)
    cap.record("scontrol_reservation_delete_absent", ["scontrol", "delete", "ReservationName=fxmaint"])
    # {name: fxcount, node_count: 1, partition: fxbatch, users: [root], duration: 30}
    show_count = ["scontrol", "-o", "show", "reservation", "fxcount"]
    cap.record("scontrol_reservation_count_absent", show_count)
    cap.record(
        "scontrol_reservation_count_create",
        [
            *create,
            "ReservationName=fxcount",
            "StartTime=now",
            "Duration=30",
            "NodeCnt=1",
            f"PartitionName={PARTITION}",
            "Users=root",
        ],
    )
    counted = cap.record("scontrol_reservation_count_present", show_count)
    cap.record(
        "scontrol_reservation_count_hostnames", ["scontrol", "show", "hostnames", field(counted["stdout"], "Nodes")]
    )
    sc("delete", "ReservationName=fxcount", check=False)
    # {name: fxfuture, start_time: FUTURE, duration: "1-00:00:00", nodes: n2, users: [root]}
    show_future = ["scontrol", "-o", "show", "reservation", "fxfuture"]
    cap.record("scontrol_reservation_future_absent", show_future)
    cap.record("scontrol_reservation_future_hostnames", ["scontrol", "show", "hostnames", t.n2])
    cap.record(
        "scontrol_reservation_future_create",
        [*create, "ReservationName=fxfuture", f"StartTime={FUTURE}", "Duration=1440", f"Nodes={t.n2}", "Users=root"],
    )
    cap.record("scontrol_reservation_future_present", show_future)
    sc("delete", "ReservationName=fxfuture", check=False)


def capture_info(cap: Capture, sc: Scontrol, t: Targets) -> None:
    """slurm_info: the reads with a job running on a draining n1, a pending job and reservation fxinfo on n2; then
    with none of them. slurm_node: n1 draining under the job, then drained when the job has ended."""
    running = sc.submit(f"--partition={t.partition}", f"--nodelist={t.n1}", "--wrap=sleep 600")
    sc.wait(f"job {running} running", lambda: sc.job_state(running) == "RUNNING")
    pending = sc.submit(f"--partition={t.partition}", "--begin=now+1hour", "--wrap=true")
    sc("create", "reservation", "ReservationName=fxinfo", "StartTime=now", "Duration=60", f"Nodes={t.n2}", "Users=root")
    # {name: n1, state: drain, reason: fx disk swap, wait: true}
    cap.record("scontrol_node_show_busy", ["scontrol", "-o", "show", "node", t.n1])
    cap.record(
        "scontrol_node_drain_busy", ["scontrol", "update", f"NodeName={t.n1}", "State=DRAIN", "Reason=fx disk swap"]
    )
    cap.record("scontrol_node_show_draining", ["scontrol", "-o", "show", "node", t.n1])
    cap.record("scontrol_info_version", ["scontrol", "--version"])
    cap.record("scontrol_info_nodes", ["scontrol", "-o", "show", "node"])
    cap.record("scontrol_info_partitions", ["scontrol", "-o", "show", "partition"])
    cap.record("scontrol_info_reservations", ["scontrol", "-o", "show", "reservation"])
    cap.record("scontrol_info_squeue", SQUEUE)
    sc("--name", JOB_NAME, tool="scancel")
    sc.wait(f"end of jobs {running} and {pending}", lambda: sc.job_ended(running) and sc.job_ended(pending))
    sc.wait(f"{t.n1} drained", lambda: sc.node_state(t.n1) == "IDLE+DRAIN")
    cap.record("scontrol_node_show_drained_after_job", ["scontrol", "-o", "show", "node", t.n1])
    sc("update", f"NodeName={t.n1}", "State=RESUME")
    sc("delete", "ReservationName=fxinfo")
    sc("delete", f"PartitionName={PARTITION}")
    sc.wait_idle(t.n1, t.n2)
    cap.record("scontrol_info_nodes_idle", ["scontrol", "-o", "show", "node"])
    cap.record("scontrol_info_partitions_default", ["scontrol", "-o", "show", "partition"])
    cap.record("scontrol_info_reservations_none", ["scontrol", "-o", "show", "reservation"])
    cap.record("scontrol_info_squeue_empty", SQUEUE)


def capture_controller_down(cap: Capture, sc: Scontrol, t: Targets) -> None:
    """The reads of slurm_info and slurm_node while slurmctld is stopped; it is started again at once."""
    sc("stop", "slurmctld", tool="systemctl")
    try:
        cap.record("scontrol_info_nodes_no_controller", ["scontrol", "-o", "show", "node"])
        cap.record("scontrol_info_squeue_no_controller", SQUEUE)
        cap.record("scontrol_node_show_no_controller", ["scontrol", "-o", "show", "node", t.n1])
    finally:
        sc("start", "slurmctld", tool="systemctl")
        sc.wait("answer of slurmctld", lambda: cap.run(["scontrol", "ping"])["rc"] == 0)
        sc.wait_idle(t.n1, t.n2)


def capture_scontrol_modules(cap: Capture, controller_down: bool = False) -> None:
    """The recordings of slurm_node, slurm_partition, slurm_reservation and slurm_info, from two idle nodes."""
    sc = Scontrol(cap)
    sc.cleanup(None)
    targets = scontrol_targets(sc)
    print(f"nodes {targets.n1} and {targets.n2} ({targets.hostlist}) of partition {targets.partition}")
    try:
        capture_node(cap, sc, targets)
        capture_partition(cap, sc, targets)
        capture_reservation(cap, sc, targets)
        capture_info(cap, sc, targets)
        if controller_down:
            capture_controller_down(cap, sc, targets)
    finally:
        sc.cleanup(targets)


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
    parser.add_argument(
        "--scontrol-only",
        action="store_true",
        help="record only the scontrol modules' commands (no slurmdbd needed) and leave the other files alone",
    )
    parser.add_argument(
        "--controller-down",
        action="store_true",
        help="also record the reads while slurmctld is stopped (it is started again): on your own cluster only",
    )
    args = parser.parse_args(argv)
    args.output.mkdir(parents=True, exist_ok=True)
    cap = Capture(args.container, args.output)
    cap.cluster = cluster_name(cap)
    if args.scontrol_only:
        capture_scontrol_modules(cap, args.controller_down)
        print(f"{len(cap.recorded)} recordings of {args.container} (cluster {cap.cluster}) in {args.output}")
        return 0
    for stale in args.output.glob("*.json"):
        stale.unlink()
    cap.cleanup()
    try:
        capture_scontrol(cap)
        capture_scontrol_modules(cap, args.controller_down)
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
