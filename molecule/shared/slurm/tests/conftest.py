"""Fixtures of the Slurm scenario (molecule/slurm, on each Debian release): the controller, the computes, polling."""

from __future__ import annotations

import json
import os
from collections.abc import Callable

import pytest

# The release molecule/slurm runs on (its MOLECULE_DEBIAN), and the tests that run on bookworm only. These do not
# differ between Debian releases: the collection's restart records under --limit and --tags (five converges, two and a
# half minutes of CI), and the preflight's refusals of bad variables (made in Python before any host is touched). A bad
# slurm.conf, which slurmctld itself rejects, is tested on both.
DEBIAN = os.environ.get("MOLECULE_DEBIAN", "bookworm")
BOOKWORM_ONLY = ("one_part_at_a_time", "fails_preflight")
# What the power programs of the elastic nodes read (the slurm_controller role writes it where there are any).
POWER_CONFIG = "/etc/slurm/hpcstack-power.json"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect (reported as such, never counted as passed) the bookworm-only tests on another release."""
    if DEBIAN == "bookworm":
        return
    deselected = [item for item in items if any(word in item.name for word in BOOKWORM_ONLY)]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [item for item in items if item not in deselected]


@pytest.fixture(scope="session")
def controller(node, group_hosts):
    return node(group_hosts("slurm_controller")[0])


@pytest.fixture(scope="session")
def computes(group_hosts) -> list[str]:
    return sorted(group_hosts("slurm_compute"))


@pytest.fixture(scope="session")
def power_config(controller) -> dict:
    """The elastic node groups (molecule.yml's slurm_cloud_nodes) as the power programs read them on the controller:
    {cluster, groups: [{name, provider, nodes, docker: {image, network, ...}}], ...}; no groups where there are none."""
    if not controller.file(POWER_CONFIG).exists:
        return {"groups": []}
    return json.loads(controller.check_output("cat %s", POWER_CONFIG))


@pytest.fixture(scope="session")
def cloud_nodes(power_config) -> list[str]:
    """The elastic (State=CLOUD) nodes' names: sinfo and scontrol list them too (PrivateData=cloud), powered down."""
    return sorted(node for group in power_config["groups"] for node in group["nodes"])


@pytest.fixture(scope="session")
def node_states(controller, cloud_nodes) -> Callable[[], dict[str, str]]:
    """Return a function giving {node: State} of the static nodes as scontrol reports it (e.g. IDLE,
    IDLE+NOT_RESPONDING, DOWN+...). The elastic nodes are left out: powered down (IDLE+CLOUD+POWERED_DOWN) but while
    a job has them; tests/test_slurm_elastic.py follows them."""

    def states() -> dict[str, str]:
        out = controller.check_output("scontrol show node --oneliner")
        result = {}
        for line in out.splitlines():
            fields = dict(word.split("=", 1) for word in line.split() if "=" in word)
            if fields["NodeName"] not in cloud_nodes:
                result[fields["NodeName"]] = fields["State"]
        return result

    return states


@pytest.fixture(scope="session")
def job_state(controller) -> Callable[[str], str]:
    """Return a function giving a job's state as the accounting database (sacct) records it, '' when unknown."""

    def state(job_id: str) -> str:
        out = controller.check_output("sacct --noheader --parsable2 --jobs %s --format=JobID,State", job_id)
        rows = dict(line.split("|", 1) for line in out.splitlines() if "|" in line)
        return rows.get(job_id, "")

    return state
