"""Fixtures of the main job's tests: the molecule scenarios' fixtures (molecule/conftest.py), on the local cluster.

`make cluster-test` (part of `make test`) brings up the local cluster with `make cluster` and runs these tests on it,
with HPCSTACK_TEST_INVENTORY naming its inventory (inventories/local unless set).
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
os.environ.setdefault("HPCSTACK_TEST_INVENTORY", str(ROOT / "inventories/local"))

_SPEC = importlib.util.spec_from_file_location("hpcstack_molecule_fixtures", ROOT / "molecule/conftest.py")
_FIXTURES = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(_FIXTURES)

node = _FIXTURES.node
group_hosts = _FIXTURES.group_hosts
run_playbook = _FIXTURES.run_playbook
wait_for = _FIXTURES.wait_for
