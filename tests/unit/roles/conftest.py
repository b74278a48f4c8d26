"""Fixtures of the role tests that run ansible-playbook on this machine (preflight checks, no managed host)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def ansible_playbook_json() -> Callable[..., subprocess.CompletedProcess[str]]:
    """Return a function running ansible-playbook with the given arguments from the checkout, with this checkout's
    ansible.cfg, the json callback (one JSON report on stdout) and Ansible's linear strategy; not checked."""

    def run(*arguments: str) -> subprocess.CompletedProcess[str]:
        env = dict(
            os.environ,
            ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
            ANSIBLE_STDOUT_CALLBACK="json",
            ANSIBLE_STRATEGY="linear",
            ANSIBLE_NOCOLOR="1",
        )
        return subprocess.run(
            ["ansible-playbook", *arguments],
            cwd=ROOT, env=env, capture_output=True, text=True, check=False, timeout=300,
        )  # fmt: skip

    return run
