"""Benchmarks of the local cluster, run by `make bench`: wall-clock figures, not pass/fail tests.

For each cluster size N: create N fresh Debian 12 containers, converge site.yml on them (first run), converge
again (no-op run, must report changed=0), and count the .deb bytes the shared apt cache fetched upstream
against the bytes it served to the nodes. Then remove the containers. Prints one table row per size.

Usage: python tools/bench.py [N ...]     (default: 2 8)
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
APT_CACHE = "hpcstack-apt-cache"
APT_LOG = "/var/cache/apt-cacher-ng/apt-cacher.log"


def inventory(size: int) -> dict:
    """Return an inventory of `size` container nodes: the first is the controller, all are cluster members."""
    names = [f"bench{i:02d}" for i in range(1, size + 1)]
    return {
        "all": {
            "vars": {
                "ansible_connection": "community.docker.docker",
                "ansible_python_interpreter": "/usr/bin/python3",
                "docker_node_image": "hpcstack/debian:bookworm",
            },
            "children": {
                "slurm_controller": {"hosts": {names[0]: None}},
                "slurm_compute": {"hosts": {name: None for name in names[1:]}},
                "cluster": {"children": {"slurm_controller": None, "slurm_compute": None}},
            },
        }
    }


def playbook(inventory_file: Path, name: str, *extra: str) -> tuple[float, str]:
    """Run a playbook of the checkout; return its wall-clock seconds and output. Fails loudly."""
    start = time.monotonic()
    result = subprocess.run(
        ["ansible-playbook", "-i", str(inventory_file), name, *extra],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        sys.exit(f"bench: {name} failed:\n{result.stdout[-3000:]}\n{result.stderr[-2000:]}")
    return time.monotonic() - start, result.stdout


def changed_total(output: str) -> int:
    """Return the sum of changed= over the PLAY RECAP lines."""
    return sum(int(n) for n in re.findall(r"\bchanged=(\d+)", output))


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


def bench(size: int) -> dict:
    with tempfile.TemporaryDirectory() as scratch:
        inventory_file = Path(scratch) / "hosts.yml"
        inventory_file.write_text(yaml.safe_dump(inventory(size)))
        playbook(inventory_file, "playbooks/docker_nodes.yml")
        try:
            epoch = int(time.time())
            first = playbook(inventory_file, "site.yml")[0]
            again, output = playbook(inventory_file, "site.yml")
            fetched, served = deb_bytes_since(epoch)
        finally:
            playbook(inventory_file, "playbooks/docker_nodes.yml", "-e", "docker_nodes_state=absent")
    return {
        "nodes": size,
        "first_s": first,
        "noop_s": again,
        "noop_changed": changed_total(output),
        "fetched_kib": fetched // 1024,
        "served_kib": served // 1024,
    }


def main(argv: list[str]) -> int:
    sizes = [int(arg) for arg in argv[1:]] or [2, 8]
    rows = [bench(size) for size in sizes]
    header = ("nodes", "first converge", "no-op re-run", "changed", "debs upstream", "debs served")
    print("{:>5} {:>15} {:>13} {:>8} {:>14} {:>12}".format(*header))
    for row in rows:
        print(
            f"{row['nodes']:>5} {row['first_s']:>14.1f}s {row['noop_s']:>12.1f}s {row['noop_changed']:>8}"
            f" {row['fetched_kib']:>10} KiB {row['served_kib']:>8} KiB"
        )
    return 0 if all(row["noop_changed"] == 0 for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
