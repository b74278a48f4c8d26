"""Benchmarks of site.yml on fresh containers, run by `make bench`: wall-clock figures, not pass/fail tests.

A spec N is the local topology of inventories/local with N compute nodes: bench-bastion (bastion), bench-ctl
(slurm_controller, slurmdbd, monitoring), bench-c01..bench-cNN (slurm_compute) and bench-build (spack_buildhost),
the bastion outside `cluster`. Its variables are those of the local group_vars: the local accounting tree, Grafana
provisioned but not installed, Spack only from SPACK_ARCHIVE, except that no Spack environment is built and the
slurmdbd, Grafana and rsync share passwords are made up for each run. No port is published on this machine, so the
running local cluster keeps 9090 and 3000, and the containers are labelled cluster `bench`, out of the local
cluster's hybrid inventory. A spec slurm:N is the Slurm-only topology of the earlier figures: bench-ctl and N compute
nodes (munge, slurmctld, slurmd); slurm:N+db also puts slurmdbd and MariaDB on the controller.

For each spec and executor (Mitogen, which the checkout's ansible.cfg selects, and Ansible's default one), --runs
times: create the containers, converge site.yml (first run), converge again (no-op run, must report changed=0),
count the .deb bytes the shared apt cache fetched upstream against the bytes it served (the cache is shared: other
runs at the same time count too), then remove the containers, also when a run fails. Prints one row per run (with
the time of the CPU loop just before it: the host's speed drifts within one bench run) and,
with several runs, their median; then the targets of what was measured, judged on the medians, and Mitogen against
the default executor where both ran. Every ratio it prints is between figures of this run; the targets
are seconds on this machine kind (2 cores, 24 GiB), not a comparison with a figure measured on another day:
  full topology (issue 8): no-op re-run of 2 <= 60 s with changed=0; first converge of 16 <= 1.5x that of 2;
  the Slurm core, slurm:N (issue 18): slurm:2 first converge <= 40 s and no-op <= 8 s (0.8x and 0.5x of what
  galaxyproject.slurm took beside it on this machine kind: 46.8-53.1 s and 14.9-15.4 s); slurm:16 <= 1.5x slurm:2.
Exits 1 when a no-op run changed something, 2 when a spec is malformed or a run fails.

Usage: python tools/bench.py [--runs R] [--executor mitogen|default|both] [N|slurm:N|slurm:N+db ...]
       (default: 2 8 16, one run, both executors). BENCH_LOG_DIR=dir keeps every playbook's output there.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

import yaml

ROOT = Path(__file__).resolve().parents[1]
APT_CACHE = "hpcstack-apt-cache"
APT_LOG = "/var/cache/apt-cacher-ng/apt-cacher.log"
DEFAULT_SPECS = ("2", "8", "16")
CONTAINERS_LABEL = "bench"  # org.hpcstack.cluster of the bench containers

NOOP_TARGET_S = 60.0  # issue 8: no-op re-run of the full 2-node topology, seconds on this machine kind
SLURM_FIRST_TARGET_S, SLURM_NOOP_TARGET_S = 40.0, 8.0  # issue 18: slurm:2, seconds on this machine kind
SCALING_TARGET = 1.5  # first converge of 16 compute nodes against 2
LOG_DIR = os.environ.get("BENCH_LOG_DIR")  # where to keep each playbook run's output (e.g. with profile_tasks on)
# The executors: the strategy each one sets (ANSIBLE_STRATEGY). `mitogen` is the one the checkout's ansible.cfg selects.
EXECUTORS = {"mitogen": "hpcstack.cluster.mitogen_linear", "default": "linear"}

# The accounting tree of inventories/local/group_vars/slurm_controller.yml, applied by playbooks/accounts.yml.
ACCOUNTING_TREE = {
    "slurm_accounting_qos": [
        {
            "name": "short",
            "description": "Short jobs",
            "priority": 100,
            "limits": {"max_wall": "04:00:00", "max_jobs_per_user": 10},
        }
    ],
    "slurm_accounting_accounts": [
        {
            "name": "research",
            "description": "Research groups",
            "fairshare": 100,
            "qos": ["normal", "short"],
            "default_qos": "normal",
        }
    ],
    "slurm_accounting_users": [{"name": "root", "default_account": "root", "accounts": ["root", "research"]}],
}
# inventories/local/group_vars/spack_buildhost.yml, without SPACK_ENVIRONMENTS: a whole environment takes hours.
SPACK_BUILDHOST = {
    "spack_buildhost_spack_source": "{{ 'archive' if lookup('ansible.builtin.env', 'SPACK_ARCHIVE') else 'none' }}",
    "spack_buildhost_spack_archive": "{{ lookup('ansible.builtin.env', 'SPACK_ARCHIVE') }}",
    "spack_buildhost_spack_version": "{{ lookup('ansible.builtin.env', 'SPACK_VERSION') or 'v0.23.1' }}",
    "spack_buildhost_enabled_environments": [],
}

SPEC = re.compile(r"(?P<slurm>slurm:)?(?P<size>[1-9][0-9]?)(?P<db>\+db)?")


class BenchError(Exception):
    """A spec that cannot be benchmarked, or a playbook run that failed."""


class Spec(NamedTuple):
    """One topology to benchmark: the full local one (slurm_only False) or the Slurm-only one."""

    name: str
    size: int
    slurm_only: bool
    accounting: bool


def parse_spec(text: str) -> Spec:
    """Return the topology that a command-line spec (N, slurm:N or slurm:N+db, N from 1 to 99) names."""
    match = SPEC.fullmatch(text)
    if not match:
        raise BenchError(f"bad spec {text!r}: give N, slurm:N or slurm:N+db, N from 1 to 99")
    slurm_only = bool(match["slurm"])
    if match["db"] and not slurm_only:
        raise BenchError(f"bad spec {text!r}: the full topology always has slurmdbd; slurm:N+db is the Slurm-only one")
    return Spec(text, int(match["size"]), slurm_only, slurm_only and bool(match["db"]))


def inventory(spec: Spec) -> dict:
    """Return the inventory of the spec's containers."""
    computes = {f"bench-c{i:02d}": None for i in range(1, spec.size + 1)}
    variables = {
        "ansible_connection": "docker",
        "ansible_python_interpreter": "/usr/bin/python3",
        "docker_node_image": "hpcstack/debian:bookworm",
    }
    if spec.slurm_only:
        children = {
            "slurm_controller": {"hosts": {"bench-ctl": None}},
            "slurm_compute": {"hosts": computes},
            "cluster": {"children": {"slurm_controller": None, "slurm_compute": None}},
        }
        if spec.accounting:
            children["slurmdbd"] = {"hosts": {"bench-ctl": None}}
            variables["slurmdbd_db_password"] = secrets.token_hex(16)
        return {"all": {"vars": variables, "children": children}}
    variables["ansible_pipelining"] = True
    # The rsync share's password: the build host serves with it and the compute nodes pull with it.
    variables["spack_buildhost_rsync_password"] = secrets.token_hex(16)
    children = {
        "bastion": {"hosts": {"bench-bastion": None}},
        "slurm_controller": {"hosts": {"bench-ctl": None}, "vars": ACCOUNTING_TREE},
        "slurmdbd": {"hosts": {"bench-ctl": None}, "vars": {"slurmdbd_db_password": secrets.token_hex(16)}},
        "monitoring": {
            "hosts": {"bench-ctl": None},
            "vars": {"grafana_admin_password": secrets.token_hex(12), "grafana_install_package": False},
        },
        "slurm_compute": {"hosts": computes},
        "spack_buildhost": {"hosts": {"bench-build": None}, "vars": SPACK_BUILDHOST},
        # As in inventories/local/hosts.yml: the bastion holds no munge key.
        "cluster": {
            "children": {"slurm_controller": None, "slurmdbd": None, "slurm_compute": None, "spack_buildhost": None}
        },
    }
    return {"all": {"vars": variables, "children": children}}


def container_names(spec: Spec) -> list[str]:
    """Return the names of the spec's containers."""
    computes = [f"bench-c{i:02d}" for i in range(1, spec.size + 1)]
    return ["bench-ctl", *computes] if spec.slurm_only else ["bench-bastion", "bench-ctl", *computes, "bench-build"]


def playbook(inventory_file: Path, name: str, *extra: str, executor: str = "mitogen") -> tuple[float, str]:
    """Run a playbook of the checkout; return its wall-clock seconds and output. Raises BenchError if it fails."""
    start = time.monotonic()
    result = subprocess.run(
        ["ansible-playbook", "-i", str(inventory_file), name, *extra],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "ANSIBLE_STRATEGY": EXECUTORS[executor]},
    )
    if LOG_DIR:
        log = Path(LOG_DIR) / f"{time.strftime('%H%M%S')}-{executor}-{Path(name).stem}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(result.stdout + result.stderr)
    if result.returncode != 0:
        raise BenchError(f"{name} failed:\n{result.stdout[-3000:]}\n{result.stderr[-2000:]}")
    return time.monotonic() - start, result.stdout


def changed_total(output: str) -> int:
    """Return the sum of changed= over the PLAY RECAP lines."""
    return sum(int(n) for n in re.findall(r"\bchanged=(\d+)", output))


def changed_tasks(output: str) -> list[str]:
    """Return 'task: host' for each task result that reported a change, in the order of the output."""
    changes, task = [], "?"
    for line in output.splitlines():
        if line.startswith(("TASK [", "RUNNING HANDLER [")):
            task = line.split("[", 1)[1].rsplit("]", 1)[0]
        elif line.startswith("changed: ["):
            changes.append(f"{task}: {line[len('changed: [') :].split(']')[0]}")
    return changes


def deb_bytes_since(epoch: int) -> tuple[int, int]:
    """Return (.deb bytes fetched upstream, .deb bytes served to nodes) logged by the apt cache since epoch."""
    log = subprocess.run(["docker", "exec", APT_CACHE, "cat", APT_LOG], capture_output=True, text=True, check=True)
    fetched = served = 0
    for line in log.stdout.splitlines():
        fields = line.split("|")
        if len(fields) < 5 or not fields[4].endswith(".deb") or int(fields[0]) < epoch:
            continue
        if fields[1] == "I":
            fetched += int(fields[2])
        elif fields[1] == "O":
            served += int(fields[2])
    return fetched, served


def remove_containers(inventory_file: Path, spec: Spec) -> None:
    """Remove the spec's containers; with `docker rm --force` where the playbook fails."""
    try:
        playbook(inventory_file, "playbooks/docker_nodes.yml", "-e", "docker_nodes_state=absent")
    except BenchError as error:
        print(f"bench: {error}\nbench: removing the containers with docker rm instead", file=sys.stderr)
        subprocess.run(["docker", "rm", "--force", *container_names(spec)], capture_output=True, check=False)


def bench(spec: Spec, executor: str) -> dict:
    """Create the spec's containers, converge site.yml twice on them with the executor and remove them; return the
    figures."""
    with tempfile.TemporaryDirectory() as scratch:
        inventory_file = Path(scratch) / "hosts.yml"
        inventory_file.write_text(yaml.safe_dump(inventory(spec), sort_keys=False))
        try:
            playbook(inventory_file, "playbooks/docker_nodes.yml", "-e", f"docker_nodes_cluster={CONTAINERS_LABEL}")
            epoch = int(time.time())
            first = playbook(inventory_file, "site.yml", executor=executor)[0]
            again, output = playbook(inventory_file, "site.yml", executor=executor)
            fetched, served = deb_bytes_since(epoch)
        finally:
            remove_containers(inventory_file, spec)
    for change in changed_tasks(output):
        print(f"bench: {spec.name} ({executor}): the no-op run changed {change}", file=sys.stderr)
    return {
        "first_s": first,
        "noop_s": again,
        "noop_changed": changed_total(output),
        "fetched_kib": fetched // 1024,
        "served_kib": served // 1024,
    }


def verdict(met: bool) -> str:
    return "met" if met else "MISSED"


def median_row(runs: list[dict]) -> dict:
    """Return the median of each figure over the runs of one spec and executor (changed: the largest)."""
    keys = ("first_s", "noop_s", "fetched_kib", "served_kib", "cpu_s")
    row = {key: statistics.median(run[key] for run in runs) for key in keys if all(key in run for run in runs)}
    row["noop_changed"] = max(run["noop_changed"] for run in runs)
    return row


def targets(rows: dict[tuple[str, str], dict]) -> list[str]:
    """Return the lines that compare the measured figures (medians) with the targets, for what was run."""
    lines = []
    for executor in EXECUTORS:
        full = rows.get(("2", executor))
        if full:
            noop, changed = full["noop_s"], full["noop_changed"]
            met = noop <= NOOP_TARGET_S and changed == 0
            lines.append(
                f"full, 2 compute ({executor}): no-op re-run {noop:.1f} s with changed={changed}"
                f" (target <= {NOOP_TARGET_S:.0f} s with changed=0): {verdict(met)}"
            )
        for small, large in (("2", "16"), ("slurm:2", "slurm:16")):
            if (small, executor) in rows and (large, executor) in rows:
                ratio = rows[large, executor]["first_s"] / rows[small, executor]["first_s"]
                lines.append(
                    f"{large} ({executor}): first converge {ratio:.2f}x that of {small}"
                    f" (target <= {SCALING_TARGET}x): {verdict(ratio <= SCALING_TARGET)}"
                )
        core = rows.get(("slurm:2", executor))
        if core:
            first, noop = core["first_s"], core["noop_s"]
            lines.append(
                f"slurm:2 ({executor}): first converge {first:.1f} s, no-op re-run {noop:.1f} s (targets <= "
                f"{SLURM_FIRST_TARGET_S:.0f} s and <= {SLURM_NOOP_TARGET_S:.0f} s on this machine kind):"
                f" {verdict(first <= SLURM_FIRST_TARGET_S)}, {verdict(noop <= SLURM_NOOP_TARGET_S)}"
            )
    # Ratios only between figures of this run.
    for spec in sorted({spec for spec, _executor in rows}):
        if (spec, "mitogen") in rows and (spec, "default") in rows:
            with_m, without = rows[spec, "mitogen"], rows[spec, "default"]
            first, noop = with_m["first_s"] / without["first_s"], with_m["noop_s"] / without["noop_s"]
            lines.append(
                f"{spec}: Mitogen against the default executor, measured side by side here: first converge"
                f" {first:.2f}x, no-op re-run {noop:.2f}x"
            )
    return lines


def cpu_loop_seconds(repeat: int = 3, additions: int = 20_000_000) -> float:
    """Return the best time of a fixed pure-Python loop: how fast this machine's CPUs are just now.

    Machines of one kind differ (and one machine differs from hour to hour when its host is shared): printed beside
    the figures, it tells whether two runs' figures can be set side by side.
    """
    best = float("inf")
    for _attempt in range(repeat):
        start = time.perf_counter()
        total = 0
        for number in range(additions):
            total += number
        best = min(best, time.perf_counter() - start)
    return best


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("specs", nargs="*", default=list(DEFAULT_SPECS), help="N, slurm:N or slurm:N+db")
    parser.add_argument("--runs", type=int, default=1, help="runs of each spec and executor; medians are compared")
    parser.add_argument(
        "--executor", choices=[*EXECUTORS, "both"], default="both", help="Mitogen (ansible.cfg's), default, or both"
    )
    args = parser.parse_args(argv[1:])
    try:
        specs = [parse_spec(text) for text in args.specs]
    except BenchError as error:
        print(f"bench: {error}", file=sys.stderr)
        return 2
    executors = list(EXECUTORS) if args.executor == "both" else [args.executor]
    print(
        f"machine: {os.cpu_count()} CPUs; a fixed pure-Python loop (20 M additions) took {cpu_loop_seconds():.2f} s"
        " (best of 3): figures of runs whose loop times differ are not comparable",
        flush=True,
    )
    header = (
        "spec",
        "executor",
        "run",
        "first converge",
        "no-op re-run",
        "changed",
        "debs upstream",
        "debs served",
        "cpu loop",
    )
    print("{:>11} {:>8} {:>6} {:>15} {:>13} {:>8} {:>14} {:>12} {:>9}".format(*header), flush=True)
    rows: dict[tuple[str, str], dict] = {}
    failed = False
    for spec in specs:
        for executor in executors:
            runs = []
            for run in range(1, args.runs + 1):
                # The host's speed drifts within one bench run too (a shared machine): each row says how fast the
                # CPU was just before it.
                cpu_s = cpu_loop_seconds()
                try:
                    runs.append({**bench(spec, executor), "cpu_s": cpu_s})
                except BenchError as error:
                    print(f"bench: {spec.name} ({executor}): {error}", file=sys.stderr)
                    failed = True
                    break
                print_row(spec.name, executor, str(run), runs[-1])
            if failed:
                break
            row = rows[spec.name, executor] = median_row(runs)
            if args.runs > 1:
                print_row(spec.name, executor, "median", row)
        if failed:
            break
    for line in targets(rows):
        print(line)
    if failed:
        return 2
    return 0 if all(row["noop_changed"] == 0 for row in rows.values()) else 1


def print_row(spec: str, executor: str, run: str, row: dict) -> None:
    print(
        f"{spec:>11} {executor:>8} {run:>6} {row['first_s']:>14.1f}s {row['noop_s']:>12.1f}s {row['noop_changed']:>8}"
        f" {row['fetched_kib']:>10.0f} KiB {row['served_kib']:>8.0f} KiB"
        + (f" {row['cpu_s']:>8.2f}s" if "cpu_s" in row else ""),
        flush=True,
    )


if __name__ == "__main__":
    sys.exit(main(sys.argv))
