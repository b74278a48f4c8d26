"""Site link benchmark, run by `make bench`: the WireGuard link between the local cluster's two sites (issue 19).

On the local cluster of `make cluster` (brought up here when no hpc-* container exists, and removed again at the end):

1. latency (`ping`, 50 echoes 0.1 s apart; median and mean round trip) and throughput (`iperf3`, 5 s, one TCP stream,
   both directions) between hpc-compute01 (the VPC) and hpc-compute02 (the on-prem site) over the link, through the
   hub (the bastion, userspace wireguard-go in containers);
2. the same pair on one Docker network: a network made for the measurement joins both containers and is removed
   after it, so the two figures come from the same run on the same containers;
3. the link's return: WireGuard stopped on hpc-compute02 until slurmctld marks the node not responding, started
   again, and the seconds until the node is idle with no operator action (SlurmdTimeout 60 in inventories/local).

iperf3 and ping are installed on the two nodes for the measurement (from the cluster's apt cache) and purged after.
Usage: python tools/bench_site_link.py [--returns N]     (N link returns, the median reported; default 1)
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLOUD, ONPREM, CONTROLLER = "hpc-compute01", "hpc-compute02", "hpc-controller"
OVERLAY_ADDRESS = "10.254.0.22"  # hpc-compute02's bastion_site_link_address (inventories/local)
BENCH_NETWORK = "hpcstack-bench-one-network"
TOOLS = ["iperf3", "iputils-ping"]


def sh(container: str, command: str, check: bool = True) -> str:
    result = subprocess.run(
        ["docker", "exec", container, "bash", "-c", command], capture_output=True, text=True, check=False
    )
    if check and result.returncode != 0:
        raise RuntimeError(f"{container}: {command}: {result.stderr.strip() or result.stdout.strip()}")
    return result.stdout


def cluster_is_up() -> bool:
    names = subprocess.run(
        ["docker", "ps", "-q", "--filter", "name=^hpc-"], capture_output=True, text=True, check=True
    ).stdout
    return bool(names.split())


def ping(source: str, address: str) -> tuple[float, float]:
    """Median and mean round trip in ms of 50 echoes."""
    output = sh(source, f"ping -n -q -c 5 -i 0.1 {address} >/dev/null; ping -n -c 50 -i 0.1 {address}")
    times = [float(line.split("time=")[1].split()[0]) for line in output.splitlines() if "time=" in line]
    if len(times) < 45:
        raise RuntimeError(f"ping {source} -> {address}: {len(times)} of 50 answered")
    return statistics.median(times), statistics.mean(times)


def iperf(source: str, server: str, address: str, reverse: bool) -> float:
    """Gbit/s of one TCP stream for 5 s from source to server at address (reverse: server to source)."""
    sh(server, "pkill -x iperf3 || true; iperf3 --server --daemon --one-off")
    time.sleep(0.5)
    answer = json.loads(sh(source, f"iperf3 --client {address} --time 5 --json {'--reverse' if reverse else ''}"))
    return answer["end"]["sum_received"]["bits_per_second"] / 1e9


def pair(address: str) -> dict[str, float]:
    median, mean = ping(CLOUD, address)
    return {
        "rtt_median_ms": median,
        "rtt_mean_ms": mean,
        "cloud_to_onprem_gbit_s": iperf(CLOUD, ONPREM, address, reverse=False),
        "onprem_to_cloud_gbit_s": iperf(CLOUD, ONPREM, address, reverse=True),
    }


def node_state() -> str:
    return sh(CONTROLLER, f"sinfo --noheader --nodes={ONPREM} --Format=StateLong").strip()


def wait(done, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: still {node_state()!r} after {timeout:.0f} s")
        time.sleep(1)


def link_return() -> float:
    """Seconds from WireGuard's start on the on-prem node to the node's IDLE in Slurm."""
    sh(ONPREM, "systemctl stop wg-quick@wg0")
    try:
        wait(lambda: node_state().endswith("*") or node_state().startswith("down"), 300, "node with its link down")
    finally:
        sh(ONPREM, "systemctl start wg-quick@wg0")
    started = time.monotonic()
    wait(lambda: node_state() == "idle", 300, "node after its link returned")
    return time.monotonic() - started


def make_cluster() -> None:
    """Bring the local cluster up with `make cluster`, its output in a log file shown only if it fails.

    Not to /dev/null: make's --output-sync (make cluster's prepare stage) takes a POSIX lock on its output file, which
    waits forever where another process holds a lock on /dev/null (a dockerd started with stdin from a locked
    /dev/null did, and `make bench` hung there).
    """
    with tempfile.TemporaryFile(mode="w+") as log:
        result = subprocess.run(
            ["make", "--no-print-directory", "cluster"], cwd=ROOT, stdout=log, stderr=log, check=False
        )
        if result.returncode != 0:
            log.seek(0)
            sys.stderr.write(log.read()[-4000:])
            raise SystemExit(f"bench-site-link: make cluster failed (exit {result.returncode})")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--returns", type=int, default=1, help="link returns measured; the median is reported")
    args = parser.parse_args(argv[1:])
    made_cluster = not cluster_is_up()
    if made_cluster:
        print("bench-site-link: no local cluster; make cluster first", flush=True)
        make_cluster()
    for node in (CLOUD, ONPREM):
        sh(node, f"DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends {' '.join(TOOLS)}")
    try:
        link = pair(OVERLAY_ADDRESS)
        subprocess.run(["docker", "network", "create", BENCH_NETWORK], check=True, stdout=subprocess.DEVNULL)
        try:
            for node in (CLOUD, ONPREM):
                subprocess.run(["docker", "network", "connect", BENCH_NETWORK, node], check=True)
            inspect = subprocess.run(["docker", "inspect", ONPREM], capture_output=True, text=True, check=True).stdout
            direct_address = json.loads(inspect)[0]["NetworkSettings"]["Networks"][BENCH_NETWORK]["IPAddress"]
            direct = pair(direct_address)
        finally:
            for node in (CLOUD, ONPREM):
                subprocess.run(["docker", "network", "disconnect", BENCH_NETWORK, node], check=False)
            subprocess.run(["docker", "network", "rm", BENCH_NETWORK], check=False, stdout=subprocess.DEVNULL)
        returns = [link_return() for _run in range(args.returns)]
    finally:
        for node in (CLOUD, ONPREM):
            sh(node, f"pkill -x iperf3; apt-get purge -y -q {' '.join(TOOLS)} >/dev/null", check=False)
        if made_cluster:
            subprocess.run(["make", "--no-print-directory", "cluster-down"], cwd=ROOT, check=False)

    title = f"pair {CLOUD} <-> {ONPREM}"
    print(f"{title:<44} {'rtt median':>11} {'rtt mean':>9} {'to on-prem':>11} {'to cloud':>9}")
    for label, row in (("over the WireGuard site link (via the hub)", link), ("on one Docker network", direct)):
        print(
            f"{label:<44} {row['rtt_median_ms']:>8.3f} ms {row['rtt_mean_ms']:>6.3f} ms"
            f" {row['cloud_to_onprem_gbit_s']:>6.2f} Gb/s {row['onprem_to_cloud_gbit_s']:>4.2f} Gb/s"
        )
    print(
        f"link / one network: rtt x{link['rtt_median_ms'] / direct['rtt_median_ms']:.1f}, throughput to on-prem"
        f" x{link['cloud_to_onprem_gbit_s'] / direct['cloud_to_onprem_gbit_s']:.2f} (same run, same containers)"
    )
    print(
        f"link return -> {ONPREM} idle: {statistics.median(returns):.0f} s (median of {len(returns)}:"
        f" {', '.join(f'{r:.0f}' for r in returns)})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
