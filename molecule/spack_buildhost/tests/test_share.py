"""The compute node holds a copy of the build host's tree, kept by rsync (at converge and from a timer)."""

from __future__ import annotations

import uuid

import pytest
from conftest import INSTALL_ROOT

SYNC = "hpcstack-spack-sync.service"


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
    """A compute node can pull the tree but never push into the build host's."""
    name = f"push-{uuid.uuid4().hex[:8]}"
    compute_host.run_expect([0], f"echo x > /root/{name}")
    build = build_host.backend.hostname
    result = compute_host.run(f"rsync /root/{name} rsync://{build}/hpcstack-spack/{name}")
    assert result.rc != 0
    assert "read only" in result.stderr.lower() or "read-only" in result.stderr.lower(), result.stderr
    assert not build_host.file(f"{INSTALL_ROOT}/{name}").exists
