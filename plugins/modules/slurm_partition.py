#!/usr/bin/python
# Copyright: (c) 2026, hpcstack maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Change a running Slurm partition's state and selected limits with scontrol."""

from __future__ import annotations

DOCUMENTATION = r"""
module: slurm_partition
short_description: Change a Slurm partition's state and selected fields at run time
version_added: 0.1.0
description:
  - Reads the partition with C(scontrol -o show partition) and sends one C(scontrol update PartitionName=...) with
    the fields that differ; a second run changes nothing.
  - For operations such as closing a partition for maintenance. The partition must exist in C(slurm.conf); changes
    made here last until slurmctld re-reads C(slurm.conf) (restart or C(scontrol reconfigure)). Lasting settings
    belong in the C(slurm_partitions) variable of the C(slurm_controller) role.
extends_documentation_fragment:
  - hpcstack.cluster.slurm
options:
  name:
    description: The partition's name. Letters, digits, C(_), C(-), C(.) and C(@) only.
    type: str
    required: true
  state:
    description:
      - V(up) accepts and runs jobs; V(drain) accepts none but runs queued ones; V(down) accepts jobs but starts none;
        V(inactive) neither accepts nor runs jobs.
    type: str
    choices: [up, down, drain, inactive]
  max_time:
    description: The longest time limit a job may ask for (minutes or C([D-]HH:MM:SS)); V(-1) for no limit.
    type: raw
  default_time:
    description: The time limit of jobs that ask for none; V(-1) to use O(max_time).
    type: raw
  max_nodes:
    description: The most nodes a job may use; V(-1) for no limit.
    type: int
  priority_tier:
    description: Jobs in higher tiers are scheduled first and may preempt lower tiers. Zero or more.
    type: int
  allow_accounts:
    description: The accounts allowed to run in the partition; V([ALL]) for all. Slurm names, as O(name).
    type: list
    elements: str
  allow_qos:
    description: The QOS allowed in the partition; V([ALL]) for all. Slurm names, as O(name).
    type: list
    elements: str
author:
  - hpcstack maintainers (@hpcstack)
"""

EXAMPLES = r"""
- name: Stop new jobs from starting in the gpu partition before a driver update
  hpcstack.cluster.slurm_partition:
    name: gpu
    state: down

- name: Cap the debug partition at 30 minutes and only the debug QOS
  hpcstack.cluster.slurm_partition:
    name: debug
    max_time: 30
    allow_qos: [debug]
"""

RETURN = r"""
commands:
  description: The scontrol commands that ran (or would run in check mode).
  returned: always
  type: list
  elements: str
  sample: ["scontrol update PartitionName=gpu State=DOWN"]
partition:
  description: The managed fields after the run (times in minutes, None for unlimited).
  returned: success
  type: dict
  sample: {"name": "gpu", "state": "down", "max_time": null, "default_time": null, "max_nodes": null,
           "priority_tier": 1, "allow_accounts": ["ALL"], "allow_qos": ["ALL"]}
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.hpcstack.cluster.plugins.module_utils._slurm import (
    SlurmError,
    SlurmRunner,
    check_params,
    parse_duration,
    parse_int,
    parse_list,
)

# option -> (scontrol key, kind)
FIELDS = {
    "state": ("State", "state"),
    "max_time": ("MaxTime", "duration"),
    "default_time": ("DefaultTime", "duration"),
    "max_nodes": ("MaxNodes", "int"),
    "priority_tier": ("PriorityTier", "int"),
    "allow_accounts": ("AllowAccounts", "list"),
    "allow_qos": ("AllowQos", "list"),
}


def normalise(kind: str, value, field: str):
    if kind == "state":
        return str(value).lower()
    if kind == "duration":
        return parse_duration(value, field)
    if kind == "int":
        return parse_int(value, field)
    items = parse_list(value, lower=False)
    return ["ALL"] if [item.upper() for item in items] == ["ALL"] else sorted(item.lower() for item in items)


def formatted(kind: str, value) -> str:
    if kind == "state":
        return value.upper()
    if kind in ("duration", "int"):
        return "UNLIMITED" if value is None else str(value)
    return ",".join(value)


def read_partition(runner: SlurmRunner, name: str) -> dict:
    records = runner.scontrol_show("partition", name)
    if not records:
        raise SlurmError(
            f"slurm_partition.name: partition '{name}' does not exist (partitions are defined in "
            "slurm.conf; see the slurm_partitions variable)"
        )
    record = records[0]
    return {
        "name": name,
        **{option: normalise(kind, record.get(key, ""), key) for option, (key, kind) in FIELDS.items()},
    }


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "name": {"type": "str", "required": True},
            "state": {"type": "str", "choices": ["up", "down", "drain", "inactive"]},
            "max_time": {"type": "raw"},
            "default_time": {"type": "raw"},
            "max_nodes": {"type": "int"},
            "priority_tier": {"type": "int"},
            "allow_accounts": {"type": "list", "elements": "str"},
            "allow_qos": {"type": "list", "elements": "str"},
            "timeout": {"type": "int", "default": 60},
        },
        supports_check_mode=True,
    )
    params = module.params
    runner = SlurmRunner(module, params["timeout"])
    name = params["name"]
    try:
        check_params(
            params,
            "slurm_partition",
            names=("name",),
            name_lists=("allow_accounts", "allow_qos"),
            minimums={"priority_tier": (0, "zero or more")},
        )
        wanted = {
            option: normalise(kind, params[option], f"slurm_partition.{option}")
            for option, (_key, kind) in FIELDS.items()
            if params[option] is not None
        }
        current = read_partition(runner, name)
        changes = {option: value for option, value in wanted.items() if value != current[option]}
        if changes:
            settings = [
                f"{FIELDS[option][0]}={formatted(FIELDS[option][1], value)}" for option, value in changes.items()
            ]
            runner.change("scontrol", ["update", f"PartitionName={name}", *settings], f"update partition {name}")
        after = {**current, **changes}
        if changes and not module.check_mode:
            after = read_partition(runner, name)
            pending = sorted(option for option, value in wanted.items() if after[option] != value)
            if pending:
                raise SlurmError(f"Slurm did not apply {', '.join(pending)} to partition {name}")
    except SlurmError as error:
        runner.fail(error)
    runner.exit(bool(changes), current, after, partition=after)


if __name__ == "__main__":
    main()
