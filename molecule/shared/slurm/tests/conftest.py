"""Fixtures of the Slurm scenarios (slurm_bookworm, slurm_trixie): the controller, the compute nodes, polling."""

from __future__ import annotations

from collections.abc import Callable

import pytest


@pytest.fixture(scope="session")
def controller(node, group_hosts):
    return node(group_hosts("slurm_controller")[0])


@pytest.fixture(scope="session")
def computes(group_hosts) -> list[str]:
    return sorted(group_hosts("slurm_compute"))


@pytest.fixture(scope="session")
def node_states(controller) -> Callable[[], dict[str, str]]:
    """Return a function giving {node: State} as scontrol reports it (e.g. IDLE, IDLE+NOT_RESPONDING, DOWN+...)."""

    def states() -> dict[str, str]:
        out = controller.check_output("scontrol show node --oneliner")
        result = {}
        for line in out.splitlines():
            fields = dict(word.split("=", 1) for word in line.split() if "=" in word)
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
