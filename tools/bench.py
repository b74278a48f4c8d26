"""Benchmarks of the local cluster, run by `make bench`: wall-clock figures, not pass/fail tests.

For each size N: create fresh Debian 12 containers, one Slurm controller and N compute nodes, converge site.yml
on them (munge, slurmctld, slurmd: first run), converge again (no-op run, must report changed=0), and count the
.deb bytes the shared apt cache fetched upstream against the bytes it served. Then remove the containers.
A size written N+db also puts slurmdbd and MariaDB on the controller. Prints one row per size, then the targets
of the Slurm core issue: against galaxyproject.slurm doing the same on this machine kind (89-95 s first converge,
28-35 s no-op), first converge <= 0.8x and no-op <= 0.5x of the reference's best; N=16 <= 1.5x N=2.

Usage: python tools/bench.py [N|N+db ...]     (default: 2 16 2+db)
"""

from __future__ import annotations

import re
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
APT_CACHE = "hpcstack-apt-cache"
APT_LOG = "/var/cache/apt-cacher-ng/apt-cacher.log"


REFERENCE_FIRST_S, REFERENCE_NOOP_S = 89.0, 28.0  # galaxyproject.slurm on this machine kind, best case


def inventory(size: int, accounting: bool) -> dict:
    """Return an inventory of a controller and `size` compute containers (slurmdbd on the controller if asked)."""
    computes = [f"bench-c{i:02d}" for i in range(1, size + 1)]
    children = {
        "slurm_controller": {"hosts": {"bench-ctl": None}},
        "slurm_compute": {"hosts": {name: None for name in computes}},
        "cluster": {"children": {"slurm_controller": None, "slurm_compute": None}},
    }
    variables = {
        "ansible_connection": "community.docker.docker",
        "ansible_python_interpreter": "/usr/bin/python3",
        "docker_node_image": "hpcstack/debian:bookworm",
    }
    if accounting:
        children["slurmdbd"] = {"hosts": {"bench-ctl": None}}
        variables["slurmdbd_db_password"] = secrets.token_hex(16)
    return {"all": {"vars": variables, "children": children}}


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


def bench(spec: str) -> dict:
    size, accounting = int(spec.removesuffix("+db")), spec.endswith("+db")
    with tempfile.TemporaryDirectory() as scratch:
        inventory_file = Path(scratch) / "hosts.yml"
        inventory_file.write_text(yaml.safe_dump(inventory(size, accounting)))
        playbook(inventory_file, "playbooks/docker_nodes.yml")
        try:
            epoch = int(time.time())
            first = playbook(inventory_file, "site.yml")[0]
            again, output = playbook(inventory_file, "site.yml")
            fetched, served = deb_bytes_since(epoch)
        finally:
            playbook(inventory_file, "playbooks/docker_nodes.yml", "-e", "docker_nodes_state=absent")
    return {
        "nodes": spec,
        "first_s": first,
        "noop_s": again,
        "noop_changed": changed_total(output),
        "fetched_kib": fetched // 1024,
        "served_kib": served // 1024,
    }


def main(argv: list[str]) -> int:
    specs = argv[1:] or ["2", "16", "2+db"]
    header = ("compute", "first converge", "no-op re-run", "changed", "debs upstream", "debs served")
    print("{:>7} {:>15} {:>13} {:>8} {:>14} {:>12}".format(*header), flush=True)
    rows = {}
    for spec in specs:
        row = rows[spec] = bench(spec)
        print(
            f"{row['nodes']:>7} {row['first_s']:>14.1f}s {row['noop_s']:>12.1f}s {row['noop_changed']:>8}"
            f" {row['fetched_kib']:>10} KiB {row['served_kib']:>8} KiB",
            flush=True,
        )
    if "2" in rows:
        first, noop = rows["2"]["first_s"], rows["2"]["noop_s"]
        print(f"2 compute: first {first:.1f} s = {first / REFERENCE_FIRST_S:.2f}x the reference (target <= 0.8x),")
        print(f"           no-op {noop:.1f} s = {noop / REFERENCE_NOOP_S:.2f}x the reference (target <= 0.5x)")
        if "16" in rows:
            ratio = rows["16"]["first_s"] / first
            print(f"16 compute: first converge {ratio:.2f}x that of 2 (target <= 1.5x)")
    return 0 if all(row["noop_changed"] == 0 for row in rows.values()) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
