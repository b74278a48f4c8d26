"""nft_allowlist lets only the listed sources reach a port, in a table of its own, and refuses bad input first.

The module runs as Ansible runs it, with this machine's real nft, inside a network namespace made for each test
(`unshare --net`): the machine's own firewall is never touched. The traffic test gives that namespace a peer, a second
namespace joined by a veth pair, and connects from it for real.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

TOP = Path(__file__).resolve().parents[4]
MODULE = TOP / "plugins" / "modules" / "nft_allowlist.py"

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("nft") is None or shutil.which("unshare") is None,
    reason="needs root, nft (Debian's nftables) and unshare for a network namespace of its own",
)

# Runs inside the namespace: each line of stdin is one run's module arguments, or a shell command after '$ '.
# Prints one JSON line per run ({"result": ...}) or command ({"rc", "out"}).
DRIVER = r"""
import json, subprocess, sys
subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
for n, line in enumerate(sys.stdin):
    if line.startswith("$ "):
        done = subprocess.run(line[2:], shell=True, capture_output=True, text=True)
        print(json.dumps({"rc": done.returncode, "out": done.stdout + done.stderr}), flush=True)
        continue
    path = f"{sys.argv[2]}/args-{n}.json"
    with open(path, "w") as handle:
        handle.write(json.dumps({"ANSIBLE_MODULE_ARGS": json.loads(line)}))
    done = subprocess.run([sys.executable, sys.argv[1], path], capture_output=True, text=True)
    print(json.dumps({"result": json.loads(done.stdout)}), flush=True)
"""


def in_namespace(tmp_path: Path, *steps, hide_nft: bool = False) -> list[dict]:
    """Run steps (module argument dicts, or '$ command' strings) in one fresh network namespace; their outcomes.

    hide_nft: as on a host without nftables (nft is not executable there, in a mount namespace of the run's own).
    """
    lines = []
    for step in steps:
        if isinstance(step, str):
            lines.append(step)
        else:
            args = {
                "_ansible_remote_tmp": str(tmp_path / "remote-tmp"),
                "config_dir": str(tmp_path / "firewall"),
                "unit_dir": str(tmp_path / "units"),
                **step,
            }
            lines.append(json.dumps(args))
    driver = [sys.executable, "-c", DRIVER, str(MODULE), str(tmp_path)]
    if hide_nft:
        hide = f'mount --bind /dev/null {shutil.which("nft")} && exec "$@"'
        driver = ["unshare", "--mount", "sh", "-c", hide, "hide-nft", *driver]
    done = subprocess.run(
        ["unshare", "--net", *driver],
        input="\n".join(lines) + "\n",
        capture_output=True,
        text=True,
        check=True,
        # The module's module_utils, as ansible_collections.hpcstack.cluster (the checkout's .collections link).
        env={**os.environ, "PYTHONPATH": str(TOP / ".collections")},
    )
    outcomes = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(outcomes) == len(steps), done.stderr
    return [outcome.get("result", outcome) for outcome in outcomes]


PROMETHEUS = {"name": "prometheus", "ports": [9090], "unit": "prometheus.service"}


def test_the_table_is_loaded_once_with_its_sources_merged_and_then_left_alone(tmp_path):
    sources = ["10.100.1.10", "10.100.1.0/24", "192.0.2.7", " 192.0.2.8 ", "fd00::/64", "fd00::1"]
    first, second, listing = in_namespace(
        tmp_path,
        {**PROMETHEUS, "sources": sources},
        {**PROMETHEUS, "sources": sources},
        "$ nft list table inet hpcstack_prometheus",
    )
    assert first.get("failed") is not True, first
    assert first["changed"] is True
    # Overlaps merged (an interval set refuses them), duplicates dropped, hosts bare.
    assert first["sources"] == ["10.100.1.0/24", "192.0.2.7", "192.0.2.8", "fd00::/64"]
    assert second["changed"] is False, second
    assert listing["rc"] == 0
    assert " ".join(listing["out"].split()).count("elements = { 10.100.1.0/24, 192.0.2.7, 192.0.2.8 }") == 1
    assert "tcp dport 9090 jump guarded" in listing["out"]
    assert 'iifname "lo" accept' in listing["out"]
    drop_in = tmp_path / "units" / "prometheus.service.d" / "hpcstack-allowlist-prometheus.conf"
    assert drop_in.read_text().splitlines()[1:] == [
        "[Service]",
        f"ExecStartPre=+{shutil.which('nft')} -f {tmp_path}/firewall/prometheus.nft",
    ]


def test_a_table_missing_from_the_running_ruleset_is_loaded_again(tmp_path):
    first, flushed, again, listing = in_namespace(
        tmp_path,
        {**PROMETHEUS, "sources": ["10.100.1.10"]},
        "$ nft flush ruleset",
        {**PROMETHEUS, "sources": ["10.100.1.10"]},
        "$ nft list tables",
    )
    assert first["changed"] is True
    assert flushed["rc"] == 0
    assert again["changed"] is True, again
    assert listing["out"].split() == ["table", "inet", "hpcstack_prometheus"]


def test_tables_of_other_services_and_other_owners_are_left_alone(tmp_path):
    outcomes = in_namespace(
        tmp_path,
        "$ nft add table inet f2b-table",
        {**PROMETHEUS, "sources": ["10.100.1.10"]},
        {"name": "node_exporter", "ports": [9100], "sources": ["10.100.1.11"]},
        {**PROMETHEUS, "sources": ["10.100.1.10", "10.100.1.1"]},
        {"name": "node_exporter", "state": "absent"},
        "$ nft list tables",
    )
    assert [outcome.get("changed") for outcome in outcomes[1:5]] == [True, True, True, True]
    assert outcomes[5]["out"].splitlines() == ["table inet f2b-table", "table inet hpcstack_prometheus"]
    assert not (tmp_path / "firewall" / "node_exporter.nft").exists()


def test_absent_removes_the_table_its_file_and_the_drop_in_once(tmp_path):
    present, absent, again, listing = in_namespace(
        tmp_path,
        {**PROMETHEUS, "sources": []},
        {**PROMETHEUS, "state": "absent"},
        {**PROMETHEUS, "state": "absent"},
        "$ nft list tables",
    )
    assert present["changed"] is True
    assert present["sources"] == []
    assert absent["changed"] is True
    assert again["changed"] is False
    assert listing["out"] == ""
    assert list((tmp_path / "firewall").iterdir()) == []
    assert not (tmp_path / "units" / "prometheus.service.d" / "hpcstack-allowlist-prometheus.conf").exists()


def test_check_mode_changes_nothing(tmp_path):
    checked, listing = in_namespace(
        tmp_path,
        {**PROMETHEUS, "sources": ["10.100.1.10"], "_ansible_check_mode": True},
        "$ nft list tables",
    )
    assert checked["changed"] is True
    assert listing["out"] == ""
    assert not (tmp_path / "firewall").exists()


def test_a_host_without_nft_is_previewed_in_check_mode_and_named_otherwise(tmp_path):
    # site.yml --check on a fresh host: the role's apt task only says it would install nftables.
    wanted = {**PROMETHEUS, "sources": ["10.100.1.10"]}
    checked, absent, applied = in_namespace(
        tmp_path, {**wanted, "_ansible_check_mode": True}, {**PROMETHEUS, "state": "absent"}, wanted, hide_nft=True
    )
    assert checked.get("failed") is not True, checked
    assert checked["changed"] is True
    assert absent.get("failed") is not True, absent
    assert absent["changed"] is False
    assert applied.get("failed") is True
    assert 'Failed to find required executable "nft"' in applied["msg"]
    assert not (tmp_path / "firewall").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"sources": ["10.100.1.10", "10.100.1.0/24\n}"]}, "sources[1] is '10.100.1.0/24\\n}', not an IPv4"),
        ({"sources": ["10.100.1.1/24"]}, "sources[0] is '10.100.1.1/24'"),
        ({"sources": ["hpc-bastion"]}, "sources[0] is 'hpc-bastion'"),
        ({"sources": ["10.100.1.10", "::/0"]}, "sources[1] is '::/0': every address"),
        ({"ports": [9090, 70000]}, "ports[1] is 70000"),
        ({"ports": []}, "ports is empty"),
        ({"name": "prometheus; flush ruleset"}, "name is 'prometheus; flush ruleset'"),
        ({"unit": "prometheus.service\nExecStartPre=/bin/sh"}, "unit is 'prometheus.service\\nExecStartPre=/bin/sh'"),
    ],
)
def test_bad_input_is_refused_by_name_before_anything_changes(tmp_path, args, message):
    good = {**PROMETHEUS, "sources": ["10.100.1.10"]}
    listing = "$ nft list table inet hpcstack_prometheus"
    loaded, refused, listing = in_namespace(tmp_path, good, {**good, **args}, listing)
    assert loaded["changed"] is True
    assert refused.get("failed") is True, refused
    assert message in refused["msg"]
    # The allowlist that was loaded is still there, unchanged, and so is its file.
    assert "elements = { 10.100.1.10 }" in listing["out"]
    assert "10.100.1.10" in (tmp_path / "firewall" / "prometheus.nft").read_text()


# A second namespace (the peer, 10.9.0.2) joined to the test's namespace (10.9.0.1) by a veth pair; a TCP server on
# 10.9.0.1:9090 in the test's namespace; the peer connects with a 2-second timeout.
PEER = (
    "$ unshare --net sleep 60 > /dev/null 2>&1 & echo $! > peer.pid; sleep 0.3; "
    "ip link add hpc0 type veth peer name hpc1 netns $(cat peer.pid) && ip addr add 10.9.0.1/24 dev hpc0 && "
    "ip link set hpc0 up && nsenter -t $(cat peer.pid) -n sh -c "
    "'ip addr add 10.9.0.2/24 dev hpc1 && ip link set hpc1 up && ip link set lo up' && "
    f"({sys.executable} -m http.server --bind 10.9.0.1 9090 > /dev/null 2>&1 & echo $! > server.pid); sleep 1"
)
FROM_PEER = (
    f"$ nsenter -t $(cat peer.pid) -n {sys.executable} -c "
    "\"import socket; socket.create_connection(('10.9.0.1', 9090), timeout=2).close(); print('connected')\""
)
LOCALLY = f"$ {sys.executable} -c \"import socket; socket.create_connection(('10.9.0.1', 9090), timeout=2)\""
STOP = "$ kill $(cat server.pid) $(cat peer.pid)"


def test_only_the_listed_sources_get_through(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    outcomes = in_namespace(
        tmp_path,
        PEER,
        FROM_PEER,
        {**PROMETHEUS, "sources": ["10.9.0.3", "192.0.2.0/24"]},
        FROM_PEER,
        LOCALLY,
        "$ nft list chain inet hpcstack_prometheus guarded",
        {**PROMETHEUS, "sources": ["10.9.0.3", "10.9.0.2"]},
        FROM_PEER,
        STOP,
    )
    setup, open_before, closed, local, counters, allowed = (outcomes[index] for index in (0, 1, 3, 4, 5, 7))
    assert setup["rc"] == 0, setup
    assert open_before["out"].strip() == "connected", open_before
    assert "timed out" in closed["out"], closed
    assert local["rc"] == 0, local  # the host's own address comes in through the loopback
    assert "counter packets 0 " not in counters["out"], counters  # the peer's packets were dropped, and counted
    assert allowed["out"].strip() == "connected", allowed
