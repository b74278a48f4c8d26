"""The role's Spack steps, run against a stand-in `spack` (a script recording its calls) where Spack's source is
missing: the archive source is unpacked, each enabled environment is concretized, installed, pushed to the build
cache and the modules refreshed once; a second run changes nothing and only asks what is missing.

This proves the role's orchestration (order, conditions, idempotence), not Spack: test_spack.py does that with
SPACK_SOURCE, and this test is skipped there (the real Spack's environments must not get stand-in lock files).
"""

from __future__ import annotations

import hashlib
import os
import re
import tarfile
from pathlib import Path

import pytest
from conftest import ENVIRONMENTS_DIR

STANDIN = """#!/bin/sh
# Stand-in for Spack: records its calls, and answers what the role asks.
[ "$1" = "--version" ] && { echo "0.23.1"; exit 0; }
echo "$*" >> /root/spack-standin.log
case "$*" in
  *" python -c"*) if [ -f "$2/standin-installed" ]; then echo 0; else echo 2; fi ;;
  *" install --fail-fast"*) touch "$2/standin-installed" ;;
  *" concretize --force"*) touch "$2/spack.lock" ;;
esac
"""
PLAYBOOK = [{"ansible.builtin.import_playbook": "hpcstack.cluster.spack"}]
ROOT = "/opt/spack-standin"
ENVIRONMENTS = ["production", "debug"]


@pytest.fixture
def standin_archive(tmp_path: Path, build_host):
    """A release-like tarball (spack-0.23.1/bin/spack) on the controller; the build host is cleaned afterwards."""
    if os.environ.get("SPACK_SOURCE"):
        pytest.skip("Spack's source is given: test_spack.py runs the real Spack instead of the stand-in")
    script = tmp_path / "spack"
    script.write_text(STANDIN)
    script.chmod(0o755)
    archive = tmp_path / "spack-0.23.1.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(script, arcname="spack-0.23.1/bin/spack")
    yield str(archive)
    locks = " ".join(
        f"{ENVIRONMENTS_DIR}/{name}/spack.lock {ENVIRONMENTS_DIR}/{name}/standin-installed" for name in ENVIRONMENTS
    )
    build_host.run(f"rm -rf {ROOT} /root/spack-standin.log {locks}")


def changed(output: str, host: str) -> int:
    """The changed count of a host in a playbook's recap (colours stripped)."""
    plain = re.sub(r"\x1b\[[0-9;]*m", "", output)
    match = re.search(rf"^{re.escape(host)}\s+:.*changed=(\d+)", plain, re.MULTILINE)
    assert match, output[-2000:]
    return int(match.group(1))


def test_spack_steps_run_once_and_are_idempotent(build_host, run_playbook, standin_archive):
    digest = hashlib.sha256(Path(standin_archive).read_bytes()).hexdigest()
    extra_vars = {
        "spack_buildhost_spack_source": "archive",
        "spack_buildhost_spack_archive": standin_archive,
        "spack_buildhost_spack_archive_checksum": f"sha256:{digest}",
        "spack_buildhost_spack_root": ROOT,
        "spack_buildhost_enabled_environments": ENVIRONMENTS,
    }
    # An archive that is not the one pinned (a swapped mirror) is never unpacked.
    swapped = run_playbook(PLAYBOOK, {**extra_vars, "spack_buildhost_spack_archive_checksum": f"sha256:{'0' * 64}"})
    assert swapped.returncode != 0
    refusal = f"has the digest {digest}, not spack_buildhost_spack_archive_checksum"
    output = swapped.stdout + swapped.stderr
    assert refusal in " ".join(output.split()), output[-3000:]
    assert not build_host.file(ROOT).exists

    first = run_playbook(PLAYBOOK, extra_vars)
    assert first.returncode == 0, (first.stdout + first.stderr)[-3000:]
    calls = build_host.file("/root/spack-standin.log").content_string
    for name in ENVIRONMENTS:
        env = f"-e {ENVIRONMENTS_DIR}/{name}"
        steps = [f"{env} concretize --force", f"{env} install --fail-fast", f"{env} buildcache push --unsigned"]
        positions = [calls.find(step) for step in steps]
        assert -1 not in positions, calls
        assert positions == sorted(positions), calls
    assert calls.count("module lmod refresh -y") == 1, calls
    assert build_host.file(f"{ROOT}/.hpcstack-version").content_string == "v0.23.1\n"

    build_host.run_expect([0], "truncate -s 0 /root/spack-standin.log")
    second = run_playbook(PLAYBOOK, extra_vars)
    assert second.returncode == 0, (second.stdout + second.stderr)[-3000:]
    assert changed(second.stdout, build_host.backend.hostname) == 0, second.stdout[-3000:]
    calls = build_host.file("/root/spack-standin.log").content_string
    assert "concretize --force" not in calls, calls
    assert "install --fail-fast" not in calls, calls
    assert "buildcache push" not in calls, calls
    assert "module lmod refresh" not in calls, calls
    assert calls.count("python -c") == len(ENVIRONMENTS), calls
