"""slurm_reservation's checks of its options, which run before any scontrol command."""

from __future__ import annotations

import pytest
from ansible_collections.hpcstack.cluster.plugins.modules import slurm_reservation

NAME_RULE = "is not a valid Slurm name (letters, digits, '_', '-', '.', '@')"
HOSTLIST_RULE = (
    "is not a valid Slurm hostlist (names of letters, digits, '_', '-', '.', ranges such as compute[01-04,07], "
    "separated by ',')"
)
BASE = {"name": "maint", "nodes": "hpc-compute[01-02]", "users": ["root"], "duration": 60}


@pytest.mark.parametrize(
    ("args", "msg"),
    [
        ({**BASE, "name": "maint Flags=MAINT"}, f"slurm_reservation.name: 'maint Flags=MAINT' {NAME_RULE}"),
        ({"name": "maint,other", "state": "absent"}, f"slurm_reservation.name: 'maint,other' {NAME_RULE}"),
        (
            {**BASE, "nodes": "hpc-compute01 Users=alice"},
            f"slurm_reservation.nodes: 'hpc-compute01 Users=alice' {HOSTLIST_RULE}",
        ),
        (
            {**BASE, "nodes": None, "node_count": 2, "partition": "batch debug"},
            f"slurm_reservation.partition: 'batch debug' {NAME_RULE}",
        ),
        ({**BASE, "users": ["root", "alice=bob"]}, f"slurm_reservation.users: 'alice=bob' {NAME_RULE}"),
        ({**BASE, "accounts": ["fx phys"]}, f"slurm_reservation.accounts: 'fx phys' {NAME_RULE}"),
        (
            {**BASE, "flags": ["MAINT", "IGNORE_JOBS Users=alice"]},
            f"slurm_reservation.flags: 'IGNORE_JOBS Users=alice' {NAME_RULE}",
        ),
        (
            {**BASE, "start_time": "now Nodes=ALL"},
            "slurm_reservation.start_time: 'now Nodes=ALL' is not a Slurm time (now, now+1hour, 2026-12-01T08:00:00)",
        ),
        ({**BASE, "nodes": None, "node_count": -1}, "slurm_reservation.node_count: must be at least 1, got -1"),
        ({**BASE, "timeout": -1}, "slurm_reservation.timeout: must be a positive number of seconds, got -1"),
    ],
)
def test_a_bad_option_fails_naming_it_before_any_command(refused_before_any_command, args, msg):
    refused_before_any_command(slurm_reservation, args, msg)
