"""The bastion works as the cluster's only door: keys only, no root, ProxyJump to the private node, fail2ban
counting failures, and an on-prem node's reverse tunnel that only its own key can open.

The runner plays the operator's machine: it reaches the bastion on 127.0.0.1:22122 with the key and the ssh_config
that prepare and converge made in the ephemeral directory.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import time
from pathlib import Path

import pytest

BASTION = "bastion-gw"
PRIVATE = "bastion-priv"
ONPREM = "bastion-onprem"
PRIVATE_NETWORK = "hpcstack-bastion-private"
PORT = "22122"
EPHEMERAL = Path(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/nonexistent"))
KEY = EPHEMERAL / "id_operator"
SSH_CONFIG = EPHEMERAL / "ssh_config"
SSHD_CONFIG = "/etc/ssh/sshd_config"
TUNNEL_UNIT = "/etc/systemd/system/hpcstack-reverse-tunnel.service"
# Options for a login that must not depend on what earlier tests left in a known_hosts file.
NO_HOST_KEY_CHECK = ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR"]


def ssh(*args: str, timeout: int = 30) -> subprocess.CompletedProcess[str]:
    """Run ssh on the runner with the operator's ssh_config, without ever asking for input."""
    cmd = ["ssh", "-F", str(SSH_CONFIG), "-o", "BatchMode=yes", "-o", "ConnectTimeout=10", *args]
    # stdin from /dev/null: ssh sets its stdin non-blocking and, when it exits on an error (a refused forward), leaves
    # it so; the ansible-playbook runs of later tests would then share that stdin and refuse to start.
    return subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False, timeout=timeout)


def container_ip(name: str, network: str) -> str:
    """Return a container's address on a Docker network."""
    template = "{{(index .NetworkSettings.Networks " + f'"{network}"' + ").IPAddress}}"
    return subprocess.run(
        ["docker", "inspect", "-f", template, name], capture_output=True, text=True, check=True
    ).stdout.strip()


def sshd_settings(host) -> dict[str, str]:
    """Return sshd's effective settings (`sshd -T`), keyword to value."""
    output = host.check_output("sshd -T")
    return dict(line.split(" ", 1) for line in output.splitlines() if " " in line)


def fail2ban_total_failed(host) -> int:
    """Return the sshd jail's count of failures since fail2ban started."""
    status = host.check_output("fail2ban-client status sshd")
    return int(re.search(r"Total failed:\s*(\d+)", status).group(1))


def wait_for(predicate, seconds: int, what: str) -> None:
    """Poll a predicate once a second until it holds; fail naming what did not happen."""
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not happen within {seconds} s")
        time.sleep(1)


def test_hardened_settings_win_over_a_weakening_drop_in(node):
    bastion = node(BASTION)
    # prepare put a cloud-init style drop-in there that says the opposite.
    assert "PasswordAuthentication yes" in bastion.file("/etc/ssh/sshd_config.d/50-cloud-init.conf").content_string
    settings = sshd_settings(bastion)
    assert settings["permitrootlogin"] == "no"
    assert settings["passwordauthentication"] == "no"
    assert settings["kbdinteractiveauthentication"] == "no"
    assert settings["pubkeyauthentication"] == "yes"
    assert settings["x11forwarding"] == "no"
    assert settings["allowagentforwarding"] == "no"
    # Operators forward locally only (ProxyJump, ssh -L); nobody forwards Unix sockets.
    assert settings["allowtcpforwarding"] == "local"
    assert settings["allowstreamlocalforwarding"] == "no"
    assert settings["permitopen"] == "any"
    # Modern algorithms only: no SHA-1 key exchange, no CBC, no encrypt-and-MAC.
    assert settings["kexalgorithms"].split(",")[0] == "sntrup761x25519-sha512@openssh.com"
    assert not [kex for kex in settings["kexalgorithms"].split(",") if kex.endswith("-sha1")]
    assert not [cipher for cipher in settings["ciphers"].split(",") if "cbc" in cipher]
    assert all("-etm@" in mac for mac in settings["macs"].split(",")), settings["macs"]
    assert settings["loglevel"] == "VERBOSE"
    assert settings["maxauthtries"] == "3"
    assert settings["port"] == "22"


def test_the_tunnel_account_may_only_forward_remotely(node):
    output = node(BASTION).check_output("sshd -T -C user=tunnel,host=x,addr=192.0.2.9")
    tunnel = dict(line.split(" ", 1) for line in output.splitlines() if " " in line)
    assert tunnel["allowtcpforwarding"] == "remote"
    assert tunnel["permitopen"] == "none"
    assert tunnel["allowstreamlocalforwarding"] == "no"
    assert tunnel["permittty"] == "no"
    assert tunnel["forcecommand"] == "/usr/sbin/nologin"


def test_password_login_is_refused():
    result = ssh(
        "-o", "PreferredAuthentications=password,keyboard-interactive", "-o", "PubkeyAuthentication=no",
        "operator@bastion", "true",
    )  # fmt: skip
    assert result.returncode == 255
    # The server offers public keys and nothing else (with passwords on, the list would say publickey,password).
    assert "Permission denied (publickey)." in result.stderr, result.stderr


def test_root_login_is_refused_even_with_a_valid_key(node):
    public_key = KEY.with_suffix(".pub").read_text().split()[1]
    assert public_key in node(BASTION).file("/root/.ssh/authorized_keys").content_string
    result = ssh("-l", "root", "bastion", "true")
    assert result.returncode == 255
    assert "Permission denied (publickey)." in result.stderr, result.stderr
    log = node(BASTION).check_output("journalctl -u ssh --no-pager -q -o cat | tail -n 200")
    assert "ROOT LOGIN REFUSED" in log


def test_operator_reaches_the_private_node_through_the_bastion():
    result = ssh(f"operator@{PRIVATE}", "hostname; echo $SSH_CLIENT")
    assert result.returncode == 0, result.stderr
    hostname, ssh_client = result.stdout.splitlines()[:2]
    assert hostname == PRIVATE
    # The private node saw the connection come from the bastion's address on the private network.
    assert ssh_client.split()[0] == container_ip(BASTION, PRIVATE_NETWORK)


def test_an_operator_cannot_listen_on_the_bastion():
    # A remote forward would open a port on the bastion into the operator's machine: refused for operators.
    result = ssh("-o", "ExitOnForwardFailure=yes", "-R", "127.0.0.1:23456:127.0.0.1:22", "operator@bastion", "true")
    assert result.returncode == 255
    assert "remote port forwarding failed" in result.stderr, result.stderr


def test_the_private_node_is_not_reachable_directly():
    address = container_ip(PRIVATE, PRIVATE_NETWORK)
    assert address
    result = subprocess.run(
        ["ssh", "-F", "none", "-i", str(KEY), "-o", "BatchMode=yes", "-o", "ConnectTimeout=5", *NO_HOST_KEY_CHECK,
         f"operator@{address}", "hostname"],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert result.returncode == 255
    assert PRIVATE not in result.stdout


def test_ansible_converged_the_private_node_over_ssh(node):
    """The munge role ran on the private node through the bastion: munged works there."""
    private = node(PRIVATE)
    assert private.service("munge").is_running
    assert private.run("munge --no-input | unmunge").rc == 0


def test_fail2ban_watches_the_journal_and_counts_failures(node):
    bastion = node(BASTION)
    assert bastion.service("fail2ban").is_running
    assert "_SYSTEMD_UNIT=sshd.service" in bastion.check_output("fail2ban-client get sshd journalmatch")
    before = fail2ban_total_failed(bastion)
    for user in ("nosuchuser", "root"):
        ssh("-o", "PasswordAuthentication=no", "-l", user, "bastion", "true")

    def both_counted() -> bool:
        return fail2ban_total_failed(bastion) >= before + 2

    wait_for(both_counted, 30, "fail2ban counting two failed logins")


def banned_addresses(host) -> list[str]:
    """Return the addresses the sshd jail bans now."""
    status = host.check_output("fail2ban-client status sshd")
    return re.search(r"Banned IP list:[ \t]*(.*)", status).group(1).split()


def test_fail2ban_bans_an_address_that_keeps_failing(node):
    bastion = node(BASTION)
    assert "nftables-multiport" in bastion.check_output("fail2ban-client get sshd actions")
    assert "nftables-allports" in bastion.check_output("fail2ban-client get recidive actions")
    # The scenario's maxretry (1000) keeps the other tests' failures from banning the runner; this test lowers it.
    bastion.check_output("fail2ban-client set sshd maxretry 2")
    try:
        for _attempt in range(3):
            if banned_addresses(bastion):
                break
            # Once banned, a login attempt hangs (the packets are dropped): give up on it after a while.
            with contextlib.suppress(subprocess.TimeoutExpired):
                ssh("-o", "PasswordAuthentication=no", "-l", "nosuchuser", "bastion", "true", timeout=15)
        wait_for(lambda: banned_addresses(bastion), 30, "fail2ban banning the runner's address")
        address = banned_addresses(bastion)[0]
        # The ban is a packet filter rule, not only a line in fail2ban's status: sshd no longer hears the address.
        assert address in bastion.check_output("nft list table inet f2b-table")
        try:
            result = ssh("-o", "ConnectTimeout=5", f"operator@{PRIVATE}", "true", timeout=15)
        except subprocess.TimeoutExpired:
            pass  # sshd's banner never came: the address's packets are dropped
        else:
            assert result.returncode == 255
            assert "Permission denied" not in result.stderr, result.stderr
    finally:
        # maxretry first: the dropped connections still reach sshd once the ban is lifted and count as failures.
        bastion.run("fail2ban-client set sshd maxretry 1000")
        bastion.run("fail2ban-client unban --all")
    # The same login (through the bastion to the private node) works again once the ban is lifted.
    wait_for(lambda: ssh(f"operator@{PRIVATE}", "true").returncode == 0, 60, "the operator's login after the unban")


def test_reverse_tunnel_reaches_the_onprem_node():
    # localhost:2222 on the bastion is the on-prem node's sshd: the tunnel is the only way there.
    result = ssh("-J", "bastion", "-p", "2222", "-i", str(KEY), *NO_HOST_KEY_CHECK, "operator@localhost", "hostname")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ONPREM


def test_the_bastion_cannot_reach_the_onprem_node_directly(node):
    probe = "import socket; socket.create_connection(('bastion-onprem', 22), timeout=5)"
    result = node(BASTION).run("python3 -c %s", probe)
    assert result.rc != 0
    assert "Connection refused" in result.stderr


def test_both_forwards_listen_on_the_bastion_loopback_only(node):
    listening = node(BASTION).check_output("ss -Hltn")
    for port in ("2222", "16818"):
        addresses = re.findall(rf"(\S+):{port}\s", listening)
        assert addresses, f"nothing listens on port {port}"
        assert set(addresses) <= {"127.0.0.1", "[::1]"}, addresses


def test_the_tunnel_unit_keeps_the_reference_options(node):
    unit = node(ONPREM).file(TUNNEL_UNIT).content_string
    for option in ("-M 0", "-N", "ExitOnForwardFailure=yes", "ServerAliveInterval=60", "ServerAliveCountMax=3",
                   "StrictHostKeyChecking=yes", "-R localhost:2222:localhost:22", "-R localhost:16818:localhost:6818",
                   "tunnel@bastion-gw"):  # fmt: skip
        assert option in unit
    assert "Restart=always" in unit
    assert node(ONPREM).service("hpcstack-reverse-tunnel").is_enabled


def test_the_tunnel_key_opens_only_its_own_forwards(node):
    """The on-prem node's key on the bastion: no shell, no other listening port."""
    onprem = node(ONPREM)
    base = (
        "runuser -u hpcstack-tunnel -- timeout 20 ssh -o BatchMode=yes -o ExitOnForwardFailure=yes "
        "-o UserKnownHostsFile=/var/lib/hpcstack-tunnel/.ssh/known_hosts -i /var/lib/hpcstack-tunnel/.ssh/id_ed25519 "
    )
    other_port = onprem.run(base + "-N -R localhost:2399:localhost:22 tunnel@bastion-gw")
    assert other_port.rc == 255
    assert "remote port forwarding failed for listen port 2399" in other_port.stderr
    shell = onprem.run(base + "tunnel@bastion-gw id")
    assert "uid=" not in shell.stdout
    assert shell.rc != 0


def test_autossh_brings_the_tunnel_back(node):
    bastion = node(BASTION)
    pids = bastion.check_output("pgrep -u tunnel -x sshd").split()
    assert pids
    bastion.check_output("kill %s", " ".join(pids))

    def tunnel_answers() -> bool:
        return ssh("-J", "bastion", "-p", "2222", "-i", str(KEY), *NO_HOST_KEY_CHECK, "operator@localhost",
                   "hostname").stdout.strip() == ONPREM  # fmt: skip

    wait_for(tunnel_answers, 60, "the reverse tunnel coming back")
    assert set(bastion.check_output("pgrep -u tunnel -x sshd").split()).isdisjoint(pids)


def test_a_key_taken_out_of_bastion_users_is_revoked(run_playbook, tmp_path):
    other = tmp_path / "other_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    play = [{"hosts": "bastion", "roles": ["hpcstack.cluster.bastion"]}]
    swapped = [{"name": "operator", "authorized_keys": [other.with_suffix(".pub").read_text().strip()]}]
    try:
        result = run_playbook(play, extra_vars={"bastion_users": swapped})
        assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
        denied = ssh(f"operator@{PRIVATE}", "true")
        assert denied.returncode == 255
        assert "Permission denied (publickey)" in denied.stderr, denied.stderr
    finally:
        restored = run_playbook(play)
    assert restored.returncode == 0, (restored.stdout + restored.stderr)[-3000:]
    assert ssh(f"operator@{PRIVATE}", "true").returncode == 0


@pytest.mark.parametrize(
    ("extra_vars", "message"),
    [
        ({"bastion_ssh_port": 70000}, "bastion_ssh_port is '70000'"),
        ({"bastion_ssh_port": "ssh"}, "bastion_ssh_port"),
        ({"bastion_allowed_users": "alice"}, "bastion_allowed_users"),
        ({"bastion_users": [{"name": "eve"}]}, "bastion_users"),
    ],
)
def test_bad_input_fails_before_any_change(node, run_playbook, extra_vars, message):
    before = node(BASTION).file(SSHD_CONFIG).sha256sum
    result = run_playbook([{"hosts": "bastion", "roles": ["hpcstack.cluster.bastion"]}], extra_vars=extra_vars)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert message in output, output[-2000:]
    assert "Install openssh-server and fail2ban" not in result.stdout
    assert node(BASTION).file(SSHD_CONFIG).sha256sum == before


def test_bad_tunnel_entry_fails_before_any_change(node, run_playbook):
    before = node(ONPREM).file(TUNNEL_UNIT).sha256sum
    result = run_playbook(
        [{"hosts": "onprem", "tasks": [{"ansible.builtin.include_role": {
            "name": "hpcstack.cluster.bastion", "tasks_from": "reverse_tunnel"}}]}],
        extra_vars={"bastion_reverse_tunnel_forwards": [{"remote_port": 80, "local_port": 22}]},
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "bastion_reverse_tunnel_forwards entry 1" in output, output[-2000:]
    assert "Install autossh" not in result.stdout
    assert node(ONPREM).file(TUNNEL_UNIT).sha256sum == before
