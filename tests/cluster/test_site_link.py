"""The hybrid cluster: two sites on two Docker networks with no route between them, joined only by the WireGuard
site link the collection builds (playbooks/site_link.yml: the bastion is the hub, hpc-compute02 a spoke).

Run by `make cluster-test` on the cluster `make cluster` converged, after tests/cluster/test_local_cluster.py (whose
health suite runs the job across the sites and the MPI hello on one node of each site, both checked in sacct there):
- the sites reach each other over the overlay only, and Slurm knows the on-prem node at its overlay address;
- Prometheus scrapes the on-prem node's exporter over the link;
- the hub refuses a peer that is not in the inventory, and drops the peer of a spoke removed from it; private keys are
  root's only, 0600, and never in -vvv output;
- the link drops: the on-prem node goes NOT_RESPONDING while a cloud-side job keeps running; it comes back: the node
  is idle again with no operator action.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from pathlib import Path

import pytest
from test_local_cluster import CONTROLLER, fetch, tunnel

INVENTORY = Path(os.environ["HPCSTACK_TEST_INVENTORY"])
HUB = "hpc-bastion"
CLOUD = "hpc-compute01"
ONPREM = "hpc-compute02"
KEY = "/etc/wireguard/wg0.key"


@pytest.fixture
def onprem_address(node) -> str:
    return node(ONPREM).ansible.get_variables()["bastion_site_link_address"]


def reaches(host, address: str, port: int) -> bool:
    return host.run(f"timeout 4 bash -c '</dev/tcp/{address}/{port}'").rc == 0


def test_the_sites_reach_each_other_over_the_link_only(node, onprem_address):
    cloud, onprem = node(CLOUD), node(ONPREM)
    site_address = onprem.check_output("ip -4 -o addr show dev eth0 | awk '{print $4}' | cut -d/ -f1")
    # The on-prem node's own network is not routed to the VPC: only its overlay address answers (its slurmd).
    assert not reaches(cloud, site_address, 6818), f"the VPC reaches the on-prem network at {site_address}"
    assert reaches(cloud, onprem_address, 6818)
    assert reaches(onprem, node(CONTROLLER).ansible.get_variables()["docker_node_vpc_address"], 6817)
    # No NAT on the link: the controller sees the on-prem node's overlay address.
    established = node(CONTROLLER).check_output("ss -Htn state established '( sport = :6817 or dport = :6818 )'")
    assert onprem_address in established or reaches(cloud, onprem_address, 6818)


def test_slurm_knows_each_site(node, onprem_address):
    ctl = node(CONTROLLER)
    onprem = ctl.check_output(f"scontrol show node {ONPREM} --oneliner")
    assert f"NodeAddr={onprem_address} " in onprem, onprem
    assert "AvailableFeatures=onprem " in onprem, onprem
    assert "AvailableFeatures=cloud " in ctl.check_output(f"scontrol show node {CLOUD} --oneliner")
    assert ctl.check_output("sinfo --noheader --partition=onprem --format=%N").strip() == ONPREM
    config = dict(line.split("=", 1) for line in ctl.check_output("scontrol show config").splitlines() if " = " in line)
    assert {key.strip(): value.strip() for key, value in config.items()}["SrunPortRange"] == "60001-63000"


def test_prometheus_scrapes_the_onprem_exporter_over_the_link(onprem_address):
    with tunnel(CONTROLLER, 9090) as port:
        answer = json.loads(fetch(f"http://127.0.0.1:{port}/api/v1/query?query=up%7Bhost%3D%22{ONPREM}%22%7D"))
    samples = {s["metric"]["instance"]: s["value"][1] for s in answer["data"]["result"]}
    assert samples.get(f"{onprem_address}:9100") == "1", samples


def test_the_hub_refuses_a_peer_that_is_not_in_the_inventory(node):
    hub, onprem = node(HUB), node(ONPREM)
    hub_overlay = hub.check_output("ip -4 -o addr show dev wg0 | awk '{print $4}' | cut -d/ -f1")
    # The hub's peers are exactly the inventory's spokes.
    assert hub.check_output("wg show wg0 peers").split() == [onprem.check_output(f"wg pubkey < {KEY}")]
    # A node with a key of its own (not in the inventory) dials the hub as a spoke would, at its real endpoint.
    endpoint = onprem.check_output("wg show wg0 endpoints").split()[1]
    rogue = f"""[Interface]
PrivateKey = {onprem.check_output("wg genkey")}
Address = 10.254.0.250/32
[Peer]
PublicKey = {hub.check_output("wg show wg0 public-key")}
Endpoint = {endpoint}
AllowedIPs = {hub_overlay}/32
PersistentKeepalive = 1
"""
    onprem.check_output(f"umask 077 && printf '%s' '{rogue}' > /etc/wireguard/rogue.conf && wg-quick up rogue")
    try:
        assert not reaches(onprem, hub_overlay, 22), "the hub answered a peer it does not know"
        assert onprem.check_output("wg show rogue latest-handshakes").split()[1] == "0"
    finally:
        onprem.run("wg-quick down rogue; rm -f /etc/wireguard/rogue.conf")
    # The spoke of the inventory reaches the hub's sshd over the link.
    assert reaches(onprem, hub_overlay, 22)


def site_link_run(*options: str) -> str:
    result = subprocess.run(
        ["ansible-playbook", *options, "-i", str(INVENTORY), str(INVENTORY.parents[1] / "playbooks/site_link.yml")],
        capture_output=True, text=True, check=False, timeout=600,
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    return output


def test_a_peer_removed_from_the_inventory_is_dropped_and_keys_stay_secret(node):
    hub = node(HUB)
    # A spoke that was in the inventory and is gone: its peer in the hub's file and on the running link.
    stale = hub.check_output("wg genkey | wg pubkey")
    peer = f"\\n[Peer]\\nPublicKey = {stale}\\nAllowedIPs = 10.254.0.77/32\\n"
    hub.check_output(f"printf '{peer}' >> /etc/wireguard/wg0.conf")
    hub.check_output(f"wg set wg0 peer {stale} allowed-ips 10.254.0.77/32")
    assert stale in hub.check_output("wg show wg0 peers")
    # Private keys: root's only, and in no configuration file.
    keys = {}
    for name in (HUB, ONPREM):
        key = node(name).file(KEY)
        assert (key.user, key.group, key.mode) == ("root", "root", 0o600), name
        keys[name] = node(name).check_output(f"cat {KEY}")
        assert keys[name] not in node(name).check_output("cat /etc/wireguard/wg0.conf")
    # One run, with -vvv: the hub drops the stale peer (its only change) and no private key is in the output.
    output = site_link_run("-vvv")
    for name, key in keys.items():
        assert key not in output, f"{name}'s private key is in the output"
    assert re.search(r"hpc-bastion\s+: ok=\d+\s+changed=[1-9]", output), output[-2000:]
    assert stale not in hub.check_output("wg show wg0 peers")
    assert stale not in hub.check_output("cat /etc/wireguard/wg0.conf")
    # Nothing else changed (the no-op make cluster that follows checks the whole site).
    others = re.findall(r"^(hpc-(?!bastion)\S+)\s+: ok=\d+\s+changed=(\d+)", output, re.MULTILINE)
    assert others, output[-2000:]
    assert all(changed == "0" for _host, changed in others), others


def test_the_node_behind_a_dropped_link_is_not_responding_and_heals_when_it_returns(node, wait_for):
    ctl, onprem = node(CONTROLLER), node(ONPREM)

    def state() -> str:
        return ctl.check_output(f"sinfo --noheader --nodes={ONPREM} --Format=StateLong").strip()

    job = ctl.check_output(f"sbatch --parsable --nodelist={CLOUD} --job-name=cloud-side --wrap='sleep 600'").strip()
    try:
        wait_for(lambda: ctl.check_output(f"squeue --noheader --jobs={job} --format=%T"), lambda s: s == "RUNNING", 60,
                 f"job {job}")  # fmt: skip
        onprem.check_output("systemctl stop wg-quick@wg0")
        try:
            wait_for(state, lambda s: s.endswith("*") or s.startswith("down"), 180, f"{ONPREM} with its link down")
            assert ctl.check_output(f"squeue --noheader --jobs={job} --format=%T").strip() == "RUNNING"
        finally:
            onprem.check_output("systemctl start wg-quick@wg0")
        returned = time.monotonic()
        wait_for(state, lambda s: s == "idle", 240, f"{ONPREM} after its link returned")
        print(f"{ONPREM} idle {time.monotonic() - returned:.0f} s after the link returned")
    finally:
        ctl.run(f"scancel {job}")
