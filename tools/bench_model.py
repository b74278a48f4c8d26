"""Scale benchmark of the Slurm model, run by `make bench`: synthetic clusters of 100, 1,000 and 5,000 compute hosts.

No container is made and no host is contacted: every host of the synthetic inventory uses the local connection and
gives its hardware in `slurm_node` (no facts are gathered), the way a site with thousands of nodes describes them.
The compute hosts are mixed, as real clusters are: CPU nodes in two sizes, large-memory nodes and GPU nodes with
hand-set Gres (their gres.conf lines in slurm_gres_conf_extra), in three partitions besides the default one.

For each size, one `ansible-playbook --check` run is timed, start-up included:
1. the Slurm model check of playbooks/slurm.yml, on every cluster member (hosts: cluster), as slurm.yml runs it;
2. slurm.conf and gres.conf rendered for the controller (the slurm_common role's config entry point, check mode:
   nothing is written on this machine).

Targets of the issue that moved the model into Python: 5,000 nodes in <= 15 s, and 5,000 <= 6x the 1,000 figure.
A run that takes longer than --timeout is stopped and reported as such (the Jinja model grew with hosts x nodes).
Usage: python tools/bench_model.py [--timeout S] [--checkout DIR] [SIZE ...]     (default: 100 1000 5000)
--checkout times another checkout of the collection (e.g. a git worktree of an earlier commit) with the same
inventories, for before/after figures from one run.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SIZES = (100, 1000, 5000)
TARGET_5000_S = 15.0
GROWTH_TARGET = 6.0  # 5,000 nodes against 1,000

PLAYBOOK = [
    {
        "name": "The Slurm model check of playbooks/slurm.yml, on every cluster member",
        "hosts": "cluster",
        "gather_facts": False,
        "tasks": [
            {
                "name": "Compute and check the Slurm model",
                "ansible.builtin.include_role": {"name": "hpcstack.cluster.slurm_common", "rolespec_validate": False},
                "run_once": True,
            }
        ],
    },
    {
        "name": "slurm.conf and gres.conf for the controller",
        "hosts": "slurm_controller",
        "gather_facts": False,
        "tasks": [
            {
                "name": "The Slurm model",
                "ansible.builtin.import_role": {"name": "hpcstack.cluster.slurm_common", "rolespec_validate": False},
            },
            {
                "name": "Write slurm.conf, cgroup.conf and gres.conf",
                "ansible.builtin.import_role": {"name": "hpcstack.cluster.slurm_common", "tasks_from": "config.yml"},
            },
        ],
        # The daemon roles' handlers would reconfigure or restart; here nothing runs.
        "handlers": [
            {"name": f"No daemon to {what}", "ansible.builtin.meta": "noop", "listen": topic}
            for what, topic in (("reconfigure", "slurm config changed"), ("restart", "slurm restart needed"))
        ],
    },
]

# Hardware of the synthetic node kinds: share of the nodes, slurm_node, partition.
KINDS = (
    (0.70, {"CPUs": 64, "Sockets": 2, "CoresPerSocket": 32, "ThreadsPerCore": 1, "RealMemory": 256000}, "batch"),
    (0.15, {"CPUs": 128, "Sockets": 2, "CoresPerSocket": 64, "ThreadsPerCore": 1, "RealMemory": 512000}, "batch"),
    (0.10, {"CPUs": 64, "RealMemory": 2048000, "Feature": ["bigmem"]}, "bigmem"),
    (0.05, {"CPUs": 96, "RealMemory": 1024000, "Gres": "gpu:a100:4", "Feature": ["a100"]}, "gpu"),
)


def inventory(size: int) -> dict:
    """Return the synthetic inventory of `size` compute hosts."""
    hosts: dict[str, dict] = {}
    partitions: dict[str, list[str]] = {"bigmem": [], "gpu": []}
    start = 0
    for index, (share, node, partition) in enumerate(KINDS):
        count = size - start if index == len(KINDS) - 1 else max(1, round(size * share))
        for number in range(start + 1, start + count + 1):
            name = f"cn{number:05d}"
            hosts[name] = {"slurm_node": node}
            if partition != "batch":
                partitions[partition].append(name)
        start += count
    gpu_nodes = partitions["gpu"]
    variables = {
        "ansible_connection": "local",
        "ansible_python_interpreter": sys.executable,
        "slurm_cluster_name": "bench",
        "slurm_partitions": [
            {"name": "batch", "default": True, "options": {"MaxTime": "2-00:00:00"}},
            {"name": "bigmem", "nodes": partitions["bigmem"], "options": {"MaxTime": "7-00:00:00"}},
            {"name": "gpu", "nodes": gpu_nodes, "options": {"MaxTime": "1-00:00:00"}},
            {"name": "debug", "nodes": list(hosts)[:2], "options": {"MaxTime": "00:30:00"}},
        ],
        "slurm_gres_conf_extra": [f"NodeName={name} Name=gpu Type=a100 File=/dev/nvidia[0-3]" for name in gpu_nodes],
    }
    return {
        "all": {
            "vars": variables,
            "children": {
                "slurm_controller": {"hosts": {"bench-ctl": None}},
                "slurmdbd": {"hosts": {"bench-ctl": None}},
                "slurm_compute": {"hosts": hosts},
                "cluster": {"children": {"slurm_controller": None, "slurmdbd": None, "slurm_compute": None}},
            },
        }
    }


def run(checkout: Path, size: int, timeout: float) -> float | None:
    """Return the wall seconds of one check-mode run on `size` compute hosts, None when it passed the timeout."""
    with tempfile.TemporaryDirectory() as scratch:
        inventory_file = Path(scratch) / "hosts.yml"
        inventory_file.write_text(yaml.safe_dump(inventory(size), sort_keys=False))
        playbook = Path(scratch) / "model.yml"
        playbook.write_text(yaml.safe_dump(PLAYBOOK, sort_keys=False))
        env = dict(os.environ, ANSIBLE_CONFIG=str(checkout / "ansible.cfg"))
        for name in ("ANSIBLE_CALLBACKS_ENABLED", "ANSIBLE_STRATEGY"):
            env.pop(name, None)
        command = ["ansible-playbook", "--check", "-i", str(inventory_file), str(playbook)]
        start = time.monotonic()
        # A session of its own, so that a run past the timeout is stopped with all of its worker processes.
        process = subprocess.Popen(
            command, cwd=checkout, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            start_new_session=True,
        )  # fmt: skip
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            return None
        wall = time.monotonic() - start
    if process.returncode != 0:
        raise RuntimeError(f"{size} nodes: the run failed:\n{stdout[-3000:]}\n{stderr[-2000:]}")
    return wall


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="*", type=int, default=list(DEFAULT_SIZES))
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds before a run is stopped")
    parser.add_argument("--checkout", type=Path, default=ROOT, help="the collection checkout to time")
    args = parser.parse_args(argv[1:])
    print(f"Slurm model check + slurm.conf/gres.conf for the controller ({args.checkout}):", flush=True)
    print("{:>14} {:>10}".format("compute hosts", "wall"), flush=True)
    figures: dict[int, float | None] = {}
    for size in args.sizes:
        try:
            figures[size] = run(args.checkout.resolve(), size, args.timeout)
        except RuntimeError as error:
            print(f"bench_model: {error}", file=sys.stderr)
            return 2
        wall = figures[size]
        print(
            f"{size:>14} {wall:>9.1f}s" if wall is not None else f"{size:>14} > {args.timeout:.0f} s (stopped)",
            flush=True,
        )
    big, base = figures.get(5000), figures.get(1000)
    if 5000 in figures:
        met = big is not None and big <= TARGET_5000_S
        shown = f"{big:.1f} s" if big is not None else "stopped"
        print(
            f"5,000 nodes: {shown} (target <= {TARGET_5000_S:.0f} s on this machine kind): {'met' if met else 'MISSED'}"
        )
    if big is not None and base is not None:
        ratio = big / base
        print(f"5,000 nodes: {ratio:.2f}x the 1,000 figure (target <= {GROWTH_TARGET:.0f}x): "
              f"{'met' if ratio <= GROWTH_TARGET else 'MISSED'}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
