"""The compute node holds a copy of the build host's tree, kept by rsync (at converge and from a timer).

The pull authenticates (rsync's auth users: anonymous pulls and wrong passwords are refused), runs as an unprivileged
account that owns the copy, and never brings owners or setuid/setgid bits from the build host.
"""

from __future__ import annotations

import uuid

import pytest
from conftest import INSTALL_ROOT

SYNC = "hpcstack-spack-sync.service"
ACCOUNT = "hpcstack-spack"
PASSWORD_FILE = "/etc/hpcstack/spack-rsync.password"


def tree_listing(host) -> str:
    """Paths, sizes, modes and link targets under the install root, sorted."""
    return host.check_output(f"cd {INSTALL_ROOT} && find . -printf '%p %s %m %l\\n' | sort")


def test_compute_tree_is_the_build_hosts(build_host, compute_host):
    assert tree_listing(compute_host) == tree_listing(build_host)


def test_sync_timer_is_active(compute_host):
    assert compute_host.service("hpcstack-spack-sync.timer").is_enabled
    assert compute_host.service("hpcstack-spack-sync.timer").is_running


@pytest.fixture
def marker(build_host):
    """A file made on the build host for one test, removed after it."""
    path = f"{INSTALL_ROOT}/modules/Core/test-{uuid.uuid4().hex[:8]}.txt"
    build_host.run_expect([0], f"echo marker > {path}")
    yield path
    build_host.run(f"rm -f {path}")


def sync_until(compute_host, done) -> None:
    """Start a pull and wait for it. A pull the timer began just before the change joins `systemctl start` and
    misses the change, so up to three pulls; the last state is asserted by the caller."""
    for _attempt in range(3):
        compute_host.run_expect([0], f"systemctl start {SYNC}")
        if done():
            return


def test_sync_brings_new_files_and_removes_deleted_ones(build_host, compute_host, marker):
    sync_until(compute_host, lambda: compute_host.file(marker).exists)
    assert compute_host.file(marker).content_string == "marker\n"
    build_host.run_expect([0], f"rm {marker}")
    sync_until(compute_host, lambda: not compute_host.file(marker).exists)
    assert not compute_host.file(marker).exists
    assert tree_listing(compute_host) == tree_listing(build_host)


def test_share_is_read_only(build_host, compute_host):
    """A compute node can pull the tree but never push into the build host's, even with the password."""
    name = f"push-{uuid.uuid4().hex[:8]}"
    compute_host.run_expect([0], f"echo x > /tmp/{name} && chmod 0644 /tmp/{name}")
    build = build_host.backend.hostname
    result = compute_host.run(
        f"setpriv --reuid={ACCOUNT} --regid={ACCOUNT} --init-groups -- rsync --password-file={PASSWORD_FILE} "
        f"/tmp/{name} rsync://{ACCOUNT}@{build}/hpcstack-spack/{name}"
    )
    compute_host.run(f"rm -f /tmp/{name}")
    assert result.rc != 0
    assert "read only" in result.stderr.lower() or "read-only" in result.stderr.lower(), result.stderr
    assert not build_host.file(f"{INSTALL_ROOT}/{name}").exists


@pytest.mark.parametrize("user", ["root", ACCOUNT], ids=["another-account", "wrong-password"])
def test_a_pull_without_the_password_is_refused(build_host, compute_host, user):
    build = build_host.backend.hostname
    result = compute_host.run(
        f"RSYNC_PASSWORD=not-the-password rsync --list-only rsync://{user}@{build}/hpcstack-spack/ < /dev/null"
    )
    assert result.rc != 0
    assert "auth failed" in result.stderr, result.stderr


def test_the_password_is_the_pulling_accounts_alone(build_host, compute_host):
    assert compute_host.check_output(f"stat -c '%U %a' {PASSWORD_FILE}") == f"{ACCOUNT} 600"
    assert build_host.check_output("stat -c '%U %a' /etc/rsyncd.secrets") == "root 600"
    assert compute_host.check_output(f"systemctl show -P User {SYNC}") == ACCOUNT


def test_the_copy_keeps_no_owner_and_no_setuid_bit(build_host, compute_host):
    name = f"{INSTALL_ROOT}/modules/Core/setuid-{uuid.uuid4().hex[:8]}"
    build_host.run_expect([0], f"cp /usr/bin/true {name} && chown root:root {name} && chmod 6775 {name}")
    try:
        sync_until(compute_host, lambda: compute_host.file(name).exists)
        assert compute_host.check_output(f"stat -c '%U %G %a' {name}") == f"{ACCOUNT} {ACCOUNT} 755"
        # Nothing in the copy (links aside, whose mode is always 777) has another owner, or a setuid/setgid bit or
        # group/other write.
        foreign = f"find {INSTALL_ROOT} ! -type l \\( ! -user {ACCOUNT} -o -perm /6022 \\) | head -5"
        assert compute_host.check_output(foreign) == ""
    finally:
        build_host.run(f"rm -f {name}")
        compute_host.run_expect([0], f"systemctl start {SYNC}")
