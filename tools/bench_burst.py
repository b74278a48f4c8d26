"""Bursting benchmark, run by `make bench`: how long a job waits for powered-down elastic nodes (issue 20, item 7).

On the local cluster of `make cluster` (brought up here when hpc-controller is not running, and removed again at the
end), partition `cloud` (inventories/local: eight State=CLOUD nodes, the docker provider):

1. one node: `sbatch` of a one-node job while every node of the partition is powered down, to the job's start; the
   median of --runs runs (3), each after the nodes have powered down again (30 idle seconds, then SuspendTimeout);
2. eight nodes resumed by one job, the same way.

The figures are Slurm's own: sacct's Submit and Start (Start is reset when the powered-up nodes are ready, so it is
the batch script's start). Each run is split where the parts come from: slurmctld's call of the ResumeProgram and
the last container's start (the power programs' journal, tag hpcstack-power), the last slurmd's start (the nodes'
BootTime: slurmd -b reports its own start). Targets: one node <= 30 s; eight nodes <= 2 x one node.
Usage: python tools/bench_burst.py [--runs N] [--partition NAME] [--nodes N]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONTROLLER = "hpc-controller"
TARGET_ONE = 30.0  # seconds, sbatch to start on one powered-down node
TARGET_RATIO = 2.0  # many nodes / one node
# The power programs' journal lines (journalctl -o short-unix): slurmctld's call, and each container's start.
LINE = r"^(\d+\.\d+) \S+ hpcstack-power(?:\[\d+\])?: "
RESUME = re.compile(LINE + r"resume (\S+): (\d+) node\(s\), working in the background$")
STARTED = re.compile(LINE + r"resume (\S+): container started at \S+$")


def sh(command: str, check: bool = True) -> str:
    """A command on the controller (Slurm's times as seconds since the epoch); its stdout."""
    result = subprocess.run(
        ["docker", "exec", "--env", "SLURM_TIME_FORMAT=%s", CONTROLLER, "bash", "-c", command],
        capture_output=True,
        text=True,
        check=False,
    )
    if check and result.returncode != 0:
        raise RuntimeError(f"{CONTROLLER}: {command}: {result.stderr.strip() or result.stdout.strip()}")
    return result.stdout.strip()


def cluster_is_up() -> bool:
    names = subprocess.run(
        ["docker", "ps", "-q", "--filter", f"name=^{CONTROLLER}$"], capture_output=True, text=True, check=True
    ).stdout
    return bool(names.split())


def make_cluster() -> None:
    """`make cluster`, its output in a log file shown only if it fails (as tools/bench_site_link.py does)."""
    with tempfile.TemporaryFile(mode="w+") as log:
        result = subprocess.run(
            ["make", "--no-print-directory", "cluster"], cwd=ROOT, stdout=log, stderr=log, check=False
        )
        if result.returncode != 0:
            log.seek(0)
            sys.stderr.write(log.read()[-4000:])
            raise SystemExit(f"bench-burst: make cluster failed (exit {result.returncode})")


def containers() -> list[str]:
    """The elastic nodes' containers on this machine's engine."""
    out = subprocess.run(
        ["docker", "ps", "--all", "--filter", "label=org.hpcstack.elastic", "--format", "{{.Names}}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return out.split()


def hostnames(expression: str) -> list[str]:
    return sh(f"scontrol show hostnames '{expression}'").split()


def states(nodes: list[str]) -> dict[str, str]:
    lines = sh("scontrol --oneliner show node " + ",".join(nodes)).splitlines()
    return dict(re.search(r"^NodeName=(\S+) .*? State=(\S+)", line).groups() for line in lines)


def wait(done, timeout: float, what: str, show) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: still {show()!r} after {timeout:.0f} s")
        time.sleep(1)


def wait_powered_down(nodes: list[str]) -> None:
    """Every node of the partition powered down (and idle: not DOWN), with no container."""

    def done() -> bool:
        return not containers() and all(state == "IDLE+CLOUD+POWERED_DOWN" for state in states(nodes).values())

    wait(done, 600, "the elastic nodes powered down", lambda: (states(nodes), containers()))


def burst(partition: str, count: int) -> dict[str, float]:
    """One job on `count` powered-down nodes, to its end; Slurm's times and the parts of the wait (seconds)."""
    since = sh("date +%s.%N")
    job = sh(
        f"sbatch --parsable --partition={partition} --nodes={count} --ntasks-per-node=1 --time=5 --chdir=/tmp"
        " --output=/dev/null --job-name=bench-burst --wrap='srun hostname'"
    )
    record: list[str] = []

    def completed() -> bool:
        nonlocal record
        out = sh(f"sacct -X -n -P -j {job} --format=State,Submit,Start,NodeList")
        record = out.split("|")
        return out.startswith(("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL"))

    wait(completed, 600, f"job {job}", lambda: record)
    state, submit, start, nodelist = record
    if state != "COMPLETED":
        raise RuntimeError(f"job {job}: {record}")
    nodes = hostnames(nodelist)
    steps = sh(f"sacct -n -P -j {job}.0 --format=State,NTasks")
    if steps != f"COMPLETED|{count}":
        raise RuntimeError(f"job {job}'s srun step: {steps!r}, not COMPLETED on {count} nodes")
    # Read before the nodes power down (30 idle seconds): each slurmd's start (slurmd -b: its BootTime).
    boots = [
        float(re.search(r" BootTime=(\d+) ", line).group(1))
        for line in sh("scontrol --oneliner show node " + ",".join(nodes)).splitlines()
    ]
    resumes, started = [], {}
    log = sh(f"journalctl -t hpcstack-power --since=@{since.split('.')[0]} -o short-unix --no-pager")
    for line in log.splitlines():
        if (match := RESUME.match(line)) and float(match.group(1)) >= float(since):
            resumes.append((float(match.group(1)), hostnames(match.group(2))))
        elif (match := STARTED.match(line)) and match.group(2) in nodes:
            started[match.group(2)] = float(match.group(1))
    called = [when for when, names in resumes if set(names) & set(nodes)]
    if not called or sorted(started) != sorted(nodes):
        raise RuntimeError(f"job {job}: the journal has resumes {resumes} and starts {started} for {nodes}")
    return {
        "job": float(job),
        "nodes": float(len(nodes)),
        "calls": float(len(called)),
        "to_resume": min(called) - float(submit),
        "to_containers": max(started.values()) - min(called),
        "to_slurmd": max(boots) - max(started.values()),
        "to_start": float(start) - max(boots),
        "total": float(start) - float(submit),
    }


def row(label: str, result: dict[str, float]) -> str:
    return (
        f"{label:<22} {int(result['job']):>6} {int(result['nodes']):>5} {int(result['calls']):>5}"
        f" {result['to_resume']:>8.1f} {result['to_containers']:>8.1f} {result['to_slurmd']:>8.1f}"
        f" {result['to_start']:>8.1f} {result['total']:>8.0f}"
    )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--runs", type=int, default=3, help="one-node runs; the median is reported")
    parser.add_argument("--partition", default="cloud", help="the elastic partition (default cloud)")
    parser.add_argument("--nodes", type=int, default=8, help="nodes of the many-node job (default 8)")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv[1:])
    made_cluster = not cluster_is_up()
    if made_cluster:
        print("bench-burst: no local cluster; make cluster first", flush=True)
        make_cluster()
    try:
        partition = sh(f"scontrol --oneliner show partition {args.partition}")
        nodes = hostnames(re.search(r" Nodes=(\S+)", partition).group(1))
        if len(nodes) < args.nodes:
            raise SystemExit(f"bench-burst: partition {args.partition} has {len(nodes)} nodes, not {args.nodes}")
        settings = sh("scontrol show config | grep -E '^(SlurmctldParameters|SchedulerParameters|ResumeTimeout) '")
        ones = []
        for run in range(args.runs):
            wait_powered_down(nodes)
            ones.append(burst(args.partition, 1))
            print(f"bench-burst: one node, run {run + 1}: {ones[-1]['total']:.0f} s", flush=True)
        wait_powered_down(nodes)
        many = burst(args.partition, args.nodes)
        print(f"bench-burst: {args.nodes} nodes: {many['total']:.0f} s", flush=True)
    finally:
        if made_cluster:
            subprocess.run(["make", "--no-print-directory", "cluster-down"], cwd=ROOT, check=False)

    one = statistics.median(result["total"] for result in ones)
    ratio = many["total"] / one if one else float("inf")
    print()
    print(f"machine: {os.cpu_count()} CPUs; slurmctld: {' '.join(settings.split())}")
    print(
        f"{'sbatch -> job start':<22} {'job':>6} {'nodes':>5} {'calls':>5} {'->resume':>8} {'->ctrs':>8}"
        f" {'->slurmd':>8} {'->start':>8} {'total s':>8}"
    )
    for number, result in enumerate(ones, 1):
        print(row(f"one node, run {number}", result))
    print(row(f"{args.nodes} nodes, one job", many))
    print(
        "(calls: ResumeProgram calls for the job; ->resume: sbatch to slurmctld's ResumeProgram call; ->ctrs: to the"
        " last container's start; ->slurmd: to the last slurmd's start; ->start: to the job's start)"
    )
    print(
        f"one node (median of {len(ones)}): {one:.0f} s   target <= {TARGET_ONE:.0f} s: "
        f"{'met' if one <= TARGET_ONE else 'NOT MET'}"
    )
    print(
        f"{args.nodes} nodes, one job: {many['total']:.0f} s = {ratio:.2f} x one node   target <= {TARGET_RATIO:g} x: "
        f"{'met' if ratio <= TARGET_RATIO else 'NOT MET'}"
    )
    if args.json:
        Path(args.json).write_text(json.dumps({"one": ones, "many": many, "median_one": one, "ratio": ratio}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
