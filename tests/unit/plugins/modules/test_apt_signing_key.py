"""apt_signing_key writes a key only when its primary fingerprint is pinned; everything else leaves dest untouched.

The module runs as Ansible runs it (a Python process reading its arguments from a file), with this machine's real gpg,
on keys made for the test in a throw-away GnuPG home: one the caller pins, one it does not (as a swapped key would be).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

MODULE = Path(__file__).resolve().parents[4] / "plugins" / "modules" / "apt_signing_key.py"

pytestmark = pytest.mark.skipif(shutil.which("gpg") is None, reason="needs gpg (Debian's gpg package)")


def make_key(home: Path, name: str) -> tuple[bytes, str]:
    """An ed25519 signing key: (its armored public key, its fingerprint)."""
    home.mkdir(mode=0o700)
    gpg = ["gpg", "--batch", "--no-tty", "--homedir", str(home)]
    subprocess.run(
        [*gpg, "--passphrase", "", "--quick-generate-key", f"{name} <{name}@example.org>", "ed25519", "sign", "never"],
        check=True,
        capture_output=True,
    )
    listing = subprocess.run([*gpg, "--with-colons", "--list-keys"], check=True, capture_output=True, text=True).stdout
    fingerprint = next(line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr:"))
    armored = subprocess.run([*gpg, "--armor", "--export", fingerprint], check=True, capture_output=True).stdout
    return armored, fingerprint


@pytest.fixture(scope="module")
def keys(tmp_path_factory) -> dict[str, tuple[Path, str]]:
    """vendor: the key the repository is signed with; attacker: another one. Each as (armored file, fingerprint)."""
    root = tmp_path_factory.mktemp("keys")
    made = {}
    for name in ("vendor", "attacker"):
        armored, fingerprint = make_key(root / f"{name}-home", name)
        path = root / f"{name}.asc"
        path.write_bytes(armored)
        made[name] = (path, fingerprint)
    both = root / "both.asc"
    both.write_bytes(made["vendor"][0].read_bytes() + made["attacker"][0].read_bytes())
    made["both"] = (both, "")
    return made


def run(tmp_path: Path, check_mode: bool = False, **args) -> dict:
    """Run the module with args; return its JSON result."""
    module_args = {"_ansible_check_mode": check_mode, "_ansible_remote_tmp": str(tmp_path / "remote-tmp"), **args}
    args_file = tmp_path / "args.json"
    args_file.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": module_args}))
    done = subprocess.run([sys.executable, str(MODULE), str(args_file)], capture_output=True, text=True, check=False)
    return json.loads(done.stdout)


def test_a_pinned_key_is_installed_once_and_then_left_alone(tmp_path, keys):
    source, fingerprint = keys["vendor"]
    dest = tmp_path / "keyrings" / "vendor.asc"
    # Spaced and lower case, as vendors print them.
    pinned = " ".join(fingerprint[i : i + 4] for i in range(0, 40, 4)).lower()

    first = run(tmp_path, url=f"file://{source}", dest=str(dest), fingerprints=[pinned])
    assert first.get("failed") is not True, first
    assert first["changed"] is True
    assert first["fingerprints"] == [fingerprint]
    assert dest.read_bytes() == source.read_bytes()
    assert oct(dest.stat().st_mode & 0o777) == "0o644"

    second = run(tmp_path, url=f"file://{source}", dest=str(dest), fingerprints=[fingerprint])
    assert second["changed"] is False, second


def test_a_key_with_another_fingerprint_leaves_the_keyring_as_it_was(tmp_path, keys):
    vendor, fingerprint = keys["vendor"]
    attacker, attacker_fingerprint = keys["attacker"]
    dest = tmp_path / "vendor.asc"
    dest.write_bytes(vendor.read_bytes())

    result = run(tmp_path, url=f"file://{attacker}", dest=str(dest), fingerprints=[fingerprint])

    assert result["failed"] is True
    assert attacker_fingerprint in result["msg"]
    assert "not in fingerprints" in result["msg"]
    assert dest.read_bytes() == vendor.read_bytes()


def test_a_pinned_key_with_a_foreign_key_beside_it_is_refused(tmp_path, keys):
    _vendor, fingerprint = keys["vendor"]
    both = keys["both"][0]
    dest = tmp_path / "vendor.asc"

    result = run(tmp_path, url=f"file://{both}", dest=str(dest), fingerprints=[fingerprint])

    assert result["failed"] is True
    assert keys["attacker"][1] in result["msg"]
    assert not dest.exists()


def test_check_mode_reports_the_change_and_writes_nothing(tmp_path, keys):
    source, fingerprint = keys["vendor"]
    dest = tmp_path / "vendor.asc"

    result = run(tmp_path, check_mode=True, url=f"file://{source}", dest=str(dest), fingerprints=[fingerprint])

    assert result["changed"] is True
    assert not dest.exists()


def test_a_gpg_dest_gets_the_binary_key(tmp_path, keys):
    source, fingerprint = keys["vendor"]
    dest = tmp_path / "vendor.gpg"

    result = run(tmp_path, url=f"file://{source}", dest=str(dest), fingerprints=[fingerprint])

    assert result["changed"] is True, result
    assert not dest.read_bytes().startswith(b"-----BEGIN")
    (tmp_path / "show").mkdir(mode=0o700)
    shown = subprocess.run(
        ["gpg", "--batch", "--homedir", str(tmp_path / "show"), "--with-colons", "--show-keys", str(dest)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert fingerprint in shown.stdout


@pytest.mark.parametrize(
    ("args", "named"),
    [
        ({"url": "http://apt.example.org/gpg.key"}, "url is 'http://apt.example.org/gpg.key'"),
        ({"url": "ftp://apt.example.org/gpg.key"}, "url is"),
        ({"url": "https:///gpg.key"}, "url is"),
        ({"dest": "/etc/apt/keyrings/vendor.key"}, "dest is"),
        ({"fingerprints": ["B53AE77B"]}, "fingerprints must be"),
        ({"fingerprints": []}, "fingerprints must be"),
        ({"fingerprints": ["Z" * 40]}, "fingerprints must be"),
    ],
)
def test_bad_options_are_refused_by_name_before_anything_is_fetched(tmp_path, args, named):
    good = {
        "url": "https://apt.example.org/gpg.key",
        "dest": str(tmp_path / "vendor.asc"),
        "fingerprints": ["B53AE77BADB630A683046005963FA27710458545"],
    }
    result = run(tmp_path, **{**good, **args})
    assert result["failed"] is True
    assert named in result["msg"]
    assert not (tmp_path / "vendor.asc").exists()


def test_data_that_is_no_key_is_refused(tmp_path, keys):
    not_a_key = tmp_path / "index.html"
    not_a_key.write_text("<html>moved</html>\n")
    result = run(tmp_path, url=f"file://{not_a_key}", dest=str(tmp_path / "v.asc"), fingerprints=[keys["vendor"][1]])
    assert result["failed"] is True
    assert "not an OpenPGP public key" in result["msg"]
