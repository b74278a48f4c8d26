"""slurm_partition's checks of its options, which run before any scontrol command."""

from __future__ import annotations

import pytest
from ansible_collections.hpcstack.cluster.plugins.modules import slurm_partition

NAME_RULE = "is not a valid Slurm name (letters, digits, '_', '-', '.', '@')"


@pytest.mark.parametrize(
    ("args", "msg"),
    [
        # scontrol reads the argument `PartitionName=batch State=UP` as the partition `batch State=UP`
        ({"name": "batch State=UP", "state": "down"}, f"slurm_partition.name: 'batch State=UP' {NAME_RULE}"),
        ({"name": "batch,debug", "state": "down"}, f"slurm_partition.name: 'batch,debug' {NAME_RULE}"),
        ({"name": "", "state": "down"}, f"slurm_partition.name: '' {NAME_RULE}"),
        (
            {"name": "batch", "allow_accounts": ["fxphys", "fx phys"]},
            f"slurm_partition.allow_accounts: 'fx phys' {NAME_RULE}",
        ),
        ({"name": "batch", "allow_qos": ["normal=x"]}, f"slurm_partition.allow_qos: 'normal=x' {NAME_RULE}"),
        ({"name": "batch", "priority_tier": -1}, "slurm_partition.priority_tier: must be zero or more, got -1"),
        (
            {"name": "batch", "max_time": "1 day"},
            "slurm_partition.max_time: '1 day' is not a Slurm duration (minutes, [D-]HH:MM:SS or D-HH)",
        ),
        (
            {"name": "batch", "state": "up", "timeout": -1},
            "slurm_partition.timeout: must be a positive number of seconds, got -1",
        ),
    ],
)
def test_a_bad_option_fails_naming_it_before_any_command(refused_before_any_command, args, msg):
    refused_before_any_command(slurm_partition, args, msg)
