"""munge works as a cluster service: credentials cross nodes, foreign keys are refused, bad input changes nothing."""

from __future__ import annotations

import base64
import itertools
import os

import pytest

NODES = ["munge-ctl", "munge-c1", "munge-c2"]
KEY = "/etc/munge/munge.key"


@pytest.mark.parametrize(("encoder", "decoder"), list(itertools.permutations(NODES, 2)))
def test_credential_made_on_one_node_decodes_on_another(node, encoder, decoder):
    credential = node(encoder).check_output("munge --no-input")
    result = node(decoder).run("echo %s | unmunge", credential)
    assert result.rc == 0, result.stderr
    assert "STATUS:          Success (0)" in result.stdout
    # The credential really came from the other node, not from a local round trip.
    fields = dict(line.split(":", 1) for line in result.stdout.splitlines() if ":" in line)
    assert fields["ENCODE_HOST"].split()[0].split(".")[0] == encoder


def test_credential_from_a_foreign_key_is_rejected(node):
    """A munged with another key (a node that missed the key) cannot talk to the cluster."""
    rogue = node("munge-c1")
    setup = (
        "set -e; d=$(mktemp -d /run/rogue-munge.XXXXXX); chown munge: $d; chmod 0711 $d; "
        "mungekey --create --keyfile $d/key; chown munge: $d/key; "
        "runuser -u munge -- munged --key-file=$d/key --socket=$d/sock --pid-file=$d/pid "
        "--seed-file=$d/seed --log-file=$d/log; echo $d"
    )
    rundir = rogue.check_output(setup)
    try:
        credential = rogue.check_output("munge --no-input --socket %s/sock", rundir)
        result = node("munge-ctl").run("echo %s | unmunge", credential)
        assert result.rc != 0
        assert "Invalid credential" in result.stderr
    finally:
        rogue.run("kill $(cat %s/pid); rm -rf %s", rundir, rundir)


@pytest.mark.parametrize("name", NODES)
def test_key_and_service_are_in_place(node, name):
    host = node(name)
    key = host.file(KEY)
    assert (key.user, key.group, key.mode) == ("munge", "munge", 0o400)
    assert host.file("/etc/munge").mode == 0o700
    munge = host.service("munge")
    assert munge.is_enabled
    assert munge.is_running
    # Every node holds the one cluster key.
    assert host.file(KEY).sha256sum == node(NODES[0]).file(KEY).sha256sum


@pytest.mark.parametrize(
    ("munge_key", "encoding", "message"),
    [
        ("c2hvcnQ=", "base64", "munge_key is 5 bytes long"),
        ("not base64 at all!", "base64", "munge_key is not valid base64"),
        ("too short for a key", "raw", "munge_key is 19 bytes long"),
    ],
)
def test_bad_key_fails_in_preflight_and_changes_nothing(node, run_playbook, munge_key, encoding, message):
    before = {name: node(name).file(KEY).sha256sum for name in NODES}
    result = run_playbook(
        [{"hosts": "cluster", "roles": ["hpcstack.cluster.munge"]}],
        extra_vars={"munge_key": munge_key, "munge_key_encoding": encoding},
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert message in output, output[-2000:]
    assert munge_key not in output
    # It stopped at the preflight asserts: no later task of the role ran.
    assert "TASK [hpcstack.cluster.munge : Assert that the munge variables are valid]" in result.stdout
    assert "Install the munge packages" not in result.stdout
    assert {name: node(name).file(KEY).sha256sum for name in NODES} == before


def test_a_given_key_replaces_the_generated_one_and_restarts_munged(node, run_playbook):
    """Rotating to a key from a variable (e.g. vault) reaches every node, and munged uses it at once."""
    new_key = base64.b64encode(os.urandom(512)).decode()
    pids = {name: node(name).check_output("systemctl show -P MainPID munge") for name in NODES}
    result = run_playbook(
        [{"hosts": "cluster", "roles": ["hpcstack.cluster.munge"]}],
        extra_vars={"munge_key": new_key},
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    assert new_key not in result.stdout + result.stderr
    assert "RUNNING HANDLER [hpcstack.cluster.munge : Restart munge]" in result.stdout
    for name in NODES:
        assert node(name).check_output("base64 -w0 %s", KEY) == new_key
        assert node(name).check_output("systemctl show -P MainPID munge") != pids[name], f"{name}: munged not restarted"
    credential = node("munge-c2").check_output("munge --no-input")
    assert node("munge-ctl").run("echo %s | unmunge", credential).rc == 0


def test_a_drifted_key_is_put_back_by_the_next_run(node, run_playbook):
    """A re-run skips the key when all nodes agree; a node whose key was changed or opened up gets it back."""
    node("munge-c2").check_output("head -c 1024 /dev/urandom > %s && chmod 0644 %s", KEY, KEY)
    result = run_playbook([{"hosts": "cluster", "roles": ["hpcstack.cluster.munge"]}])
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    drifted = node("munge-c2").file(KEY)
    assert (drifted.mode, drifted.user) == (0o400, "munge")
    assert drifted.sha256sum == node("munge-ctl").file(KEY).sha256sum
    credential = node("munge-c2").check_output("munge --no-input")
    assert node("munge-ctl").run("echo %s | unmunge", credential).rc == 0
