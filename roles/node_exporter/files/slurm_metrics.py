"""Slurm metrics for node_exporter's textfile collector (installed by the hpcstack.cluster.node_exporter role).

Runs sinfo, squeue, sdiag and `scontrol ping` once, turns their output into Prometheus gauges and replaces the
.prom file atomically (prometheus_client writes a temporary file beside it and renames it), so node_exporter
never reads half a file. The metric names are those of the widely used prometheus-slurm-exporter, so its
dashboards work; a few more (per-node state and reason, jobs per partition and state, the oldest pending job,
the controller's ping) are added under the same prefix.

A Slurm command that fails or times out yields `slurm_collector_success{collector="..."} 0` and none of that
command's metrics: old values are never presented as fresh. The script exits 0 whenever it wrote the file.
Run by the hpcstack-slurm-metrics.timer systemd timer (`/usr/bin/python3 slurm_metrics.py --output ...`).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime

from prometheus_client import CollectorRegistry, write_to_textfile
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

SINFO = [
    "sinfo",
    "--noheader",
    "--Node",
    "--Format=NodeList:|,Partition:|,StateLong:|,CPUsState:|,Memory:|,AllocMem:|,Reason:|",
]
SQUEUE = ["squeue", "--noheader", "--all", "--array", "--states=all", "--format=%i|%P|%T|%V|%C|%r"]
SDIAG = ["sdiag"]
PING = ["scontrol", "ping"]

# prometheus-slurm-exporter's node buckets: the metric slurm_nodes_<bucket> counts the nodes whose state starts so.
NODE_BUCKETS = {
    "alloc": ("allocated",),
    "comp": ("completing",),
    "down": ("down",),
    "drain": ("drained", "draining"),
    "err": ("error",),
    "fail": ("fail",),  # fail and failing
    "idle": ("idle",),
    "maint": ("maint",),
    "mix": ("mixed",),
    "resv": ("reserved",),
}
# prometheus-slurm-exporter's job states: slurm_queue_<name>, always present (0 when no job is in the state).
QUEUE_STATES = (
    "pending",
    "pending_dependency",
    "running",
    "suspended",
    "cancelled",
    "completing",
    "completed",
    "configuring",
    "failed",
    "timeout",
    "preempted",
    "node_fail",
)
# sdiag line (within its section) -> metric; 0 when sdiag does not print the line (e.g. no backfill cycle yet).
SDIAG_METRICS = {
    ("", "Server thread count"): ("slurm_scheduler_threads", "slurmctld server threads"),
    ("", "Agent queue size"): ("slurm_scheduler_queue_size", "Length of the agent (RPC) queue"),
    ("", "DBD Agent queue size"): ("slurm_scheduler_dbd_queue_size", "Messages waiting to be sent to slurmdbd"),
    ("main", "Last cycle"): ("slurm_scheduler_last_cycle", "Last main scheduling cycle (microseconds)"),
    ("main", "Mean cycle"): ("slurm_scheduler_mean_cycle", "Mean main scheduling cycle (microseconds)"),
    ("main", "Cycles per minute"): ("slurm_scheduler_cycle_per_minute", "Main scheduling cycles per minute"),
    ("backfill", "Last cycle"): ("slurm_scheduler_backfill_last_cycle", "Last backfill cycle (microseconds)"),
    ("backfill", "Mean cycle"): ("slurm_scheduler_backfill_mean_cycle", "Mean backfill cycle (microseconds)"),
    ("backfill", "Depth Mean"): ("slurm_scheduler_backfill_depth_mean", "Mean jobs considered per backfill cycle"),
    ("backfill", "Total backfilled jobs (since last slurm start)"): (
        "slurm_scheduler_backfilled_jobs_since_start_total",
        "Jobs started by backfill since slurmctld started",
    ),
    ("backfill", "Total backfilled jobs (since last stats cycle start)"): (
        "slurm_scheduler_backfilled_jobs_since_cycle_total",
        "Jobs started by backfill since the statistics were reset",
    ),
    ("backfill", "Total backfilled heterogeneous job components"): (
        "slurm_scheduler_backfilled_heterogeneous_total",
        "Heterogeneous job components started by backfill since slurmctld started",
    ),
}
# sinfo's suffixes of a node's power state (power saving, elastic nodes): slurm_nodes_<name> and slurm_node_power.
POWER_SUFFIXES = {"~": "powered_down", "#": "powering_up", "%": "powering_down"}
# The reason the collection's power programs give a node whose launch failed or was refused (max_nodes).
LAUNCH_REASON = "hpcstack-power: launch"
# The counters the controller's reconciler (hpcstack-power reconcile) keeps; absent where there are no elastic nodes.
RECONCILE_STATE = "/var/lib/hpcstack-power/reconcile.json"
RECONCILE_COUNTERS = {
    "removed": "Instances of elastic nodes Slurm had powered down that the reconciler removed (leaks)",
    "powered_down": "Elastic nodes Slurm had powered up whose instance vanished, powered down by the reconciler",
    "reset": "Elastic nodes left powering up with no resume at work, powered down by the reconciler",
}
PING_LINE = re.compile(r"Slurmctld\((?P<role>[^)]+)\) at (?P<host>\S+) is (?P<state>UP|DOWN)")


class SlurmCommandError(Exception):
    """A Slurm command failed, timed out, or printed something this script cannot read."""


@dataclass(frozen=True)
class NodeRow:
    """One line of `sinfo --Node`: a node in one of its partitions."""

    node: str
    partition: str
    state: str
    cpus_alloc: int
    cpus_idle: int
    cpus_other: int
    cpus_total: int
    mem_total: int
    mem_alloc: int
    reason: str
    power: str = ""  # powered_down, powering_up, powering_down (sinfo's ~ # %), or "" for a node that is up


@dataclass(frozen=True)
class Job:
    """One line of squeue: a job (or an array element)."""

    partitions: tuple[str, ...]
    state: str
    submitted: float
    reason: str


def base_state(state: str) -> str:
    """Return sinfo's long state without its flag suffixes ('idle*' -> 'idle', 'down~' -> 'down')."""
    return state.strip().lower().rstrip("*~#!%$@^-+")


def parse_sinfo(text: str) -> list[NodeRow]:
    """Read the SINFO command's output."""
    rows = []
    for line in text.splitlines():
        if not line.strip():
            continue
        fields = line.split("|", 6)
        if len(fields) != 7:
            raise SlurmCommandError(f"sinfo: unexpected line {line!r}")
        node, partition, state, cpus, mem_total, mem_alloc, reason = fields
        suffixes = state.strip()[len(base_state(state)) :]
        power = next((name for suffix, name in POWER_SUFFIXES.items() if suffix in suffixes), "")
        try:
            alloc, idle, other, total = (int(n) for n in cpus.split("/"))
            rows.append(
                NodeRow(
                    node=node.strip(),
                    partition=partition.strip().rstrip("*"),
                    state=base_state(state),
                    cpus_alloc=alloc,
                    cpus_idle=idle,
                    cpus_other=other,
                    cpus_total=total,
                    mem_total=int(mem_total.strip() or 0),
                    mem_alloc=int(mem_alloc.strip() or 0),
                    reason="" if reason.rstrip("|").strip() == "none" else reason.rstrip("|").strip(),
                    power=power,
                )
            )
        except ValueError as exc:
            raise SlurmCommandError(f"sinfo: unexpected line {line!r}") from exc
    return rows


def parse_squeue(text: str) -> list[Job]:
    """Read the SQUEUE command's output (submit times are the controller's local time, as squeue prints them)."""
    jobs = []
    for line in text.splitlines():
        if not line.strip():
            continue
        fields = line.split("|", 5)
        if len(fields) != 6:
            raise SlurmCommandError(f"squeue: unexpected line {line!r}")
        partitions, state, submitted, reason = fields[1], fields[2], fields[3], fields[5]
        try:
            submit_time = datetime.fromisoformat(submitted.strip()).timestamp()
        except ValueError as exc:
            raise SlurmCommandError(f"squeue: unexpected submit time in {line!r}") from exc
        jobs.append(
            Job(
                partitions=tuple(p for p in partitions.strip().split(",") if p),
                state=state.strip().lower(),
                submitted=submit_time,
                reason=reason.strip(),
            )
        )
    return jobs


def parse_sdiag(text: str) -> dict[str, float]:
    """Read sdiag's report: {metric name: value} for SDIAG_METRICS, 0 for lines sdiag left out."""
    found: dict[tuple[str, str], float] = {}
    section = ""
    for line in text.splitlines():
        if line.startswith("Main schedule statistics"):
            section = "main"
        elif line.startswith("Backfilling stats"):
            section = "backfill"
        elif line and not line[0].isspace() and ":" not in line:
            section = "other"
        if ":" not in line:
            continue
        key, value = line.split(":", 1)
        scope = section if line[0].isspace() else ""
        try:
            found.setdefault((scope, key.strip()), float(value.split()[0]))
        except (ValueError, IndexError):
            continue
    if ("", "Server thread count") not in found:
        raise SlurmCommandError("sdiag: no 'Server thread count' in its output")
    return {metric[0]: found.get(key, 0.0) for key, metric in SDIAG_METRICS.items()}


def parse_ping(text: str) -> list[tuple[str, str, bool]]:
    """Read `scontrol ping`: [(controller host, role, up)]."""
    controllers = [(m["host"], m["role"], m["state"] == "UP") for m in PING_LINE.finditer(text)]
    if not controllers:
        raise SlurmCommandError(f"scontrol ping: no controller in {text.strip()!r}")
    return controllers


def run_command(argv: list[str], timeout: float) -> str:
    """Run a Slurm command and return its standard output; SlurmCommandError when it fails or times out."""
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise SlurmCommandError(f"{argv[0]}: no answer within {timeout:g} s") from exc
    except OSError as exc:
        raise SlurmCommandError(f"{argv[0]}: {exc}") from exc
    # scontrol ping exits non-zero when a controller is down: that answer is the metric, not a failure.
    if result.returncode != 0 and argv != PING:
        raise SlurmCommandError(f"{argv[0]}: exit {result.returncode}: {result.stderr.strip()[:300]}")
    return result.stdout


def gauge(name: str, documentation: str, labels: list[str] | None = None) -> GaugeMetricFamily:
    """A gauge family with labels (prometheus_client wants labels=None for a plain gauge)."""
    return GaugeMetricFamily(name, documentation, labels=labels)


def node_metrics(rows: list[NodeRow]) -> Iterator[GaugeMetricFamily]:
    """Node counts by state, CPUs, per-node and per-partition figures."""
    nodes = {row.node: row for row in rows}  # a node in several partitions counts once
    buckets = Counter()
    for row in nodes.values():
        bucket = next((b for b, prefixes in NODE_BUCKETS.items() if row.state.startswith(prefixes)), "other")
        buckets[bucket] += 1
    for bucket in [*NODE_BUCKETS, "other"]:
        family = gauge(f"slurm_nodes_{bucket}", f"Slurm nodes in state {bucket}")
        family.add_metric([], buckets[bucket])
        yield family
    # Power saving (elastic nodes): how many are powered down, powering up, powering down; which, per node; and how
    # many are DOWN after a launch that failed or was refused.
    powers = Counter(row.power for row in nodes.values())
    for name in POWER_SUFFIXES.values():
        family = gauge(f"slurm_nodes_{name}", f"Slurm nodes {name.replace('_', ' ')} (power saving)")
        family.add_metric([], powers[name])
        yield family
    family = gauge("slurm_node_power", "1 for each node in a power saving state", ["node", "power"])
    for row in nodes.values():
        if row.power:
            family.add_metric([row.node, row.power], 1)
    yield family
    family = gauge("slurm_nodes_launch_failed", "Elastic nodes DOWN after a failed or refused launch")
    family.add_metric([], sum(1 for row in nodes.values() if row.reason.startswith(LAUNCH_REASON)))
    yield family
    for field, name in (("alloc", "alloc"), ("idle", "idle"), ("other", "other"), ("total", "total")):
        family = gauge(f"slurm_cpus_{name}", f"Slurm CPUs {name}")
        family.add_metric([], sum(getattr(row, f"cpus_{field}") for row in nodes.values()))
        yield family

    per_node = [
        ("slurm_node_cpu_alloc", "Allocated CPUs per node", "cpus_alloc"),
        ("slurm_node_cpu_idle", "Idle CPUs per node", "cpus_idle"),
        ("slurm_node_cpu_other", "Unavailable CPUs per node", "cpus_other"),
        ("slurm_node_cpu_total", "CPUs per node", "cpus_total"),
        ("slurm_node_mem_alloc", "Allocated memory per node (MiB)", "mem_alloc"),
        ("slurm_node_mem_total", "Memory per node (MiB)", "mem_total"),
    ]
    for name, documentation, field in per_node:
        family = gauge(name, documentation, ["node", "status"])
        for row in nodes.values():
            family.add_metric([row.node, row.state], getattr(row, field))
        yield family
    state = gauge("slurm_node_state", "1 for each node in its state (flags such as * stripped)", ["node", "state"])
    reason = gauge(
        "slurm_node_reason", "1 for each node with a reason set (drained, down)", ["node", "state", "reason"]
    )
    for row in nodes.values():
        state.add_metric([row.node, row.state], 1)
        if row.reason:
            reason.add_metric([row.node, row.state, row.reason], 1)
    yield state
    yield reason

    partitions: dict[str, list[NodeRow]] = defaultdict(list)
    for row in rows:
        partitions[row.partition].append(row)
    for field, name in (("alloc", "allocated"), ("idle", "idle"), ("other", "other"), ("total", "total")):
        family = gauge(f"slurm_partition_cpus_{name}", f"CPUs {name} per partition", ["partition"])
        for partition, members in sorted(partitions.items()):
            family.add_metric([partition], sum(getattr(row, f"cpus_{field}") for row in members))
        yield family
    family = gauge("slurm_partition_nodes", "Nodes per partition and state", ["partition", "state"])
    for partition, members in sorted(partitions.items()):
        for node_state, count in sorted(Counter(row.state for row in members).items()):
            family.add_metric([partition, node_state], count)
    yield family


def reconcile_metrics(path: str) -> list[GaugeMetricFamily | CounterMetricFamily]:
    """The elastic nodes' reconciler's counters and last run, from the file it keeps; none where there is no file."""
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as exc:
        raise SlurmCommandError(f"reconcile: cannot read {path}: {exc}") from exc
    values = [data.get(key) if isinstance(data, dict) else None for key in [*RECONCILE_COUNTERS, "last_run"]]
    if not all(isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0 for value in values):
        raise SlurmCommandError(f"reconcile: unexpected content in {path}")
    families: list[GaugeMetricFamily | CounterMetricFamily] = []
    for (key, documentation), value in zip(RECONCILE_COUNTERS.items(), values, strict=False):
        family = CounterMetricFamily(f"hpcstack_power_reconcile_{key}", documentation)
        family.add_metric([], value)
        families.append(family)
    last = gauge("hpcstack_power_reconcile_last_run_timestamp_seconds", "When the reconciler last ran (Unix time)")
    last.add_metric([], values[-1])
    families.append(last)
    return families


def job_metrics(jobs: list[Job], partitions: list[str], now: float) -> Iterator[GaugeMetricFamily]:
    """Jobs by state, overall (prometheus-slurm-exporter's names) and per partition, and the oldest pending job."""
    queue = Counter()
    for job in jobs:
        queue["pending_dependency" if job.state == "pending" and job.reason == "Dependency" else job.state] += 1
    for state in QUEUE_STATES:
        family = gauge(f"slurm_queue_{state}", f"Slurm jobs in state {state}")
        family.add_metric([], queue[state])
        yield family

    per_partition: Counter[tuple[str, str]] = Counter()
    oldest: dict[str, float] = dict.fromkeys(partitions, 0.0)
    for job in jobs:
        for partition in job.partitions:
            per_partition[partition, job.state] += 1
            if job.state == "pending":
                oldest[partition] = max(oldest.get(partition, 0.0), now - job.submitted)
    names = sorted(set(partitions) | {pair[0] for pair in per_partition})
    pending = gauge("slurm_partition_jobs_pending", "Pending jobs per partition", ["partition"])
    by_state = gauge("slurm_partition_jobs", "Jobs per partition and state", ["partition", "state"])
    age = gauge(
        "slurm_partition_jobs_pending_oldest_seconds",
        "Seconds since the oldest pending job of the partition was submitted (0: none pending)",
        ["partition"],
    )
    for partition in names:
        pending.add_metric([partition], per_partition[partition, "pending"])
        states = {s for p, s in per_partition if p == partition} | {"pending", "running"}
        for state in sorted(states):
            by_state.add_metric([partition, state], per_partition[partition, state])
        age.add_metric([partition], max(oldest.get(partition, 0.0), 0.0))
    yield pending
    yield by_state
    yield age


class SlurmCollector:
    """A prometheus_client collector: runs the Slurm commands on every collect()."""

    def __init__(
        self,
        run: Callable[[list[str]], str],
        now: Callable[[], float] = time.time,
        reconcile_state: str = RECONCILE_STATE,
    ) -> None:
        self.run = run
        self.now = now
        self.reconcile_state = reconcile_state
        self.errors: list[str] = []

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """Yield every metric family; a failed command yields its failure, never old values."""
        success = gauge("slurm_collector_success", "1 if the Slurm command of the collector worked", ["collector"])
        duration = gauge("slurm_collector_duration_seconds", "Run time of the collector's command", ["collector"])
        self.errors = []
        families: list[GaugeMetricFamily] = []
        partitions: list[str] = []

        def attempt(collector: str, argv: list[str], build: Callable[[str], list[GaugeMetricFamily]]) -> None:
            started = time.monotonic()
            try:
                families.extend(build(self.run(argv)))
                success.add_metric([collector], 1)
            except SlurmCommandError as exc:
                self.errors.append(str(exc))
                success.add_metric([collector], 0)
            duration.add_metric([collector], round(time.monotonic() - started, 6))

        def nodes(text: str) -> list[GaugeMetricFamily]:
            rows = parse_sinfo(text)
            partitions.extend(sorted({row.partition for row in rows}))
            return list(node_metrics(rows))

        def queue(text: str) -> list[GaugeMetricFamily]:
            return list(job_metrics(parse_squeue(text), partitions, self.now()))

        def scheduler(text: str) -> list[GaugeMetricFamily]:
            result = []
            documentation = dict(SDIAG_METRICS.values())
            for name, value in parse_sdiag(text).items():
                family = gauge(name, documentation[name])
                family.add_metric([], value)
                result.append(family)
            return result

        up = {"any": True}  # a ping that itself fails says nothing about the controllers: try the others

        def ping(text: str) -> list[GaugeMetricFamily]:
            family = gauge("slurm_controller_up", "1 if slurmctld answers scontrol ping", ["controller", "role"])
            controllers = parse_ping(text)
            for host, role, answers in controllers:
                family.add_metric([host, role], 1 if answers else 0)
            up["any"] = any(controller[2] for controller in controllers)
            return [family]

        attempt("ping", PING, ping)
        # With no controller answering, each other command would only fail after Slurm's own retries (~9 s each).
        if up["any"]:
            attempt("sinfo", SINFO, nodes)
            attempt("squeue", SQUEUE, queue)
            attempt("sdiag", SDIAG, scheduler)
        else:
            for collector in ("sinfo", "squeue", "sdiag"):
                self.errors.append(f"{collector}: not run, no slurmctld answers scontrol ping")
                success.add_metric([collector], 0)
        try:
            families.extend(reconcile_metrics(self.reconcile_state))
        except SlurmCommandError as exc:
            self.errors.append(str(exc))
            success.add_metric(["reconcile"], 0)
        yield from families
        yield success
        yield duration


def main(argv: list[str] | None = None) -> int:
    """Write the metrics file once."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", required=True, help="the .prom file in node_exporter's textfile directory")
    parser.add_argument("--timeout", type=float, default=20.0, help="seconds each Slurm command may take")
    parser.add_argument(
        "--reconcile-state", default=RECONCILE_STATE, help="the elastic nodes' reconciler's counters (when present)"
    )
    args = parser.parse_args(argv)

    collector = SlurmCollector(lambda cmd: run_command(cmd, args.timeout), reconcile_state=args.reconcile_state)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    write_to_textfile(args.output, registry)
    for error in collector.errors:
        print(f"collector failed: {error}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
