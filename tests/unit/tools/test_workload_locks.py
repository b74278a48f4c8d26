"""Each workload's lock file pins what its requirements.txt asks for, and every package in it with hashes.

The nodes install from the locks with --require-hashes (roles/workloads/tasks/venv.yml), so a package missing here,
or pinned without hashes, would stop the install; a lock that drifted from requirements.txt would install other
versions than the ones reviewed. `make workloads-lock` makes them again.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

WORKLOADS = Path(__file__).resolve().parents[3] / "roles" / "workloads" / "files"
APPS = sorted(path.parent.name for path in WORKLOADS.glob("*/requirements.txt"))


def locked(app: str) -> dict[str, tuple[str, list[str]]]:
    """{package: (version, [hashes])} of an app's lock file; fails on anything but name==version and hashes."""
    text = (WORKLOADS / app / "requirements.lock").read_text()
    entries: dict[str, tuple[str, list[str]]] = {}
    # One entry: its requirement line and its continuation lines, up to the comments pip-compile adds.
    for block in re.split(r"\n(?=\S)", re.sub(r"^\s*#.*\n?", "", text, flags=re.MULTILINE).strip()):
        head, *rest = [part.strip() for part in block.split("\\\n")]
        match = re.fullmatch(r"([A-Za-z0-9._-]+)==([A-Za-z0-9.+!-]+)(\s*;.*)?", head)
        assert match, f"{app}: not an exact pin: {head!r}"
        hashes = [re.fullmatch(r"--hash=sha256:([0-9a-f]{64})", part).group(1) for part in rest]
        entries[canonicalize_name(match.group(1))] = (match.group(2), hashes)
    return entries


def test_there_are_workloads_to_check():
    assert APPS == ["reframe", "streamlit"]


@pytest.mark.parametrize("app", APPS)
def test_every_locked_package_has_hashes(app: str):
    entries = locked(app)
    assert entries
    assert {name: hashes for name, (_version, hashes) in entries.items() if not hashes} == {}


@pytest.mark.parametrize("app", APPS)
def test_the_lock_pins_what_requirements_txt_asks_for(app: str):
    entries = locked(app)
    for line in (WORKLOADS / app / "requirements.txt").read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        requirement = Requirement(line)
        name = canonicalize_name(requirement.name)
        assert name in entries, f"{app}: {name} is in requirements.txt but not in the lock (make workloads-lock)"
        assert requirement.specifier.contains(entries[name][0]), (
            f"{app}: the lock has {name}=={entries[name][0]}, requirements.txt asks for {requirement.specifier}"
        )


@pytest.mark.parametrize("app", APPS)
def test_the_lock_names_no_index_of_this_machine(app: str):
    text = (WORKLOADS / app / "requirements.lock").read_text()
    assert not re.search(r"^\s*-(-index-url|-extra-index-url|-find-links|i|f)\b", text, re.MULTILINE)
