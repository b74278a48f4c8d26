"""slurm_node's checks of its options, which run before any scontrol command (fixtures/slurm-*/scontrol_show_node)."""

from __future__ import annotations

import pytest
from ansible_collections.hpcstack.cluster.plugins.modules import slurm_node

HOSTLIST_RULE = (
    "is not a valid Slurm hostlist (names of letters, digits, '_', '-', '.', ranges such as compute[01-04,07], "
    "separated by ',')"
)
HOSTLISTS = {"22.05": "hpc-compute[01-02]", "24.11": "slurm13-c[1-2]"}  # the two nodes of each recorded cluster


def test_a_hostlist_is_taken_and_given_to_scontrol_as_one_argument(slurm, run_module):
    # the recorded answer of `scontrol -o show node` (both nodes, idle), replayed for the hostlist of those nodes
    hostlist = HOSTLISTS[slurm.version]
    commands = slurm.commands()
    commands.unused.append(
        {**slurm.recording("scontrol_show_node"), "argv": ["scontrol", "-o", "show", "node", hostlist]}
    )
    run = run_module(slurm_node, {"name": hostlist, "state": "resume"}, commands)
    assert not run.failed
    assert run.result["changed"] is False  # idle nodes need no resume
    assert commands.calls == [["scontrol", "-o", "show", "node", hostlist]]


@pytest.mark.parametrize(
    ("args", "msg"),
    [
        (
            {"name": "hpc-compute01 State=DOWN", "state": "resume"},
            f"slurm_node.name: 'hpc-compute01 State=DOWN' {HOSTLIST_RULE}",
        ),
        ({"nodes": "hpc-compute01=x", "state": "undrain"}, f"slurm_node.name: 'hpc-compute01=x' {HOSTLIST_RULE}"),
        ({"name": "a,,b", "state": "resume"}, f"slurm_node.name: 'a,,b' {HOSTLIST_RULE}"),
        ({"name": "", "state": "resume"}, f"slurm_node.name: '' {HOSTLIST_RULE}"),
        (
            {"name": "hpc-compute01", "state": "drain", "reason": "disk swap\nState=RESUME"},
            "slurm_node.reason: 'disk swap\\nState=RESUME' must be one line without control characters",
        ),
        (
            {"name": "hpc-compute01", "state": "drain", "reason": "disk", "wait": True, "wait_timeout": -1},
            "slurm_node.wait_timeout: must be zero or more seconds, got -1",
        ),
        (
            {"name": "hpc-compute01", "state": "resume", "timeout": -1},
            "slurm_node.timeout: must be a positive number of seconds, got -1",
        ),
    ],
)
def test_a_bad_option_fails_naming_it_before_any_command(refused_before_any_command, args, msg):
    refused_before_any_command(slurm_node, args, msg)
