#!/usr/bin/python
# Copyright: (c) 2026, hpcstack maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read Slurm's nodes, partitions, reservations, job counts and version (changes nothing)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: slurm_info
short_description: Read Slurm's nodes, partitions, reservations, job counts and version
version_added: 0.1.0
description:
  - Returns what C(scontrol -o show node|partition|reservation), C(squeue) and C(scontrol --version) report, as
    data a playbook can test (for example "wait until every node is idle", "fail when a partition is down").
  - Changes nothing, so it runs in check mode too.
extends_documentation_fragment:
  - hpcstack.cluster.info
  - hpcstack.cluster.slurm
options:
  gather:
    description: What to read.
    type: list
    elements: str
    choices: [version, nodes, partitions, reservations, jobs]
    default: [version, nodes, partitions, reservations, jobs]
author:
  - hpcstack maintainers (@hpcstack)
"""

EXAMPLES = r"""
- name: Read the cluster's state
  hpcstack.cluster.slurm_info:
  register: slurm

- name: Every node is up and not drained
  ansible.builtin.assert:
    that: slurm.nodes.values() | selectattr('drain') | list | length == 0
"""

RETURN = r"""
version:
  description: Slurm's version.
  returned: when gathered
  type: str
  sample: "24.11.5"
nodes:
  description: Each node's state, drain status and reason, CPUs, memory (MiB), features, gres and partitions.
  returned: when gathered
  type: dict
  sample: {"c01": {"state": "MIXED", "base": "MIXED", "flags": [], "drain": null, "down": false, "responding": true,
           "reason": "", "cpus": 64, "cpus_allocated": 16, "real_memory": 257000, "allocated_memory": 64000,
           "features": ["ib"], "gres": "gpu:a100:4", "partitions": ["batch"]}}
partitions:
  description: Each partition's state, nodes, node and CPU counts, time limit (minutes, None for unlimited), default.
  returned: when gathered
  type: dict
  sample: {"batch": {"state": "UP", "nodes": "c[01-16]", "total_nodes": 16, "total_cpus": 1024, "max_time": null,
           "default": true}}
reservations:
  description: Each reservation's state, start and end, nodes, users, accounts and flags.
  returned: when gathered
  type: dict
  sample: {"maint": {"state": "ACTIVE", "start_time": "2026-12-01T08:00:00", "end_time": "2026-12-01T12:00:00",
           "nodes": "c[01-02]", "users": ["root"], "accounts": [], "flags": ["MAINT", "SPEC_NODES"]}}
jobs:
  description: The number of jobs in the queue, by state and by partition and state.
  returned: when gathered
  type: dict
  sample: {"total": 3, "by_state": {"RUNNING": 2, "PENDING": 1},
           "by_partition": {"batch": {"RUNNING": 2, "PENDING": 1}}}
"""

from collections import Counter, defaultdict

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.hpcstack.cluster.plugins.module_utils._slurm import (
    SlurmError,
    SlurmRunner,
    check_params,
    node_state,
    null_to_empty,
    parse_duration,
    parse_list,
)


def _int(value: str | None) -> int:
    try:
        return int(value or 0)
    except ValueError:
        return 0


def read_nodes(runner: SlurmRunner) -> dict:
    return {
        record["NodeName"]: {
            **node_state(record),
            "cpus": _int(record.get("CPUTot")),
            "cpus_allocated": _int(record.get("CPUAlloc")),
            "real_memory": _int(record.get("RealMemory")),
            "allocated_memory": _int(record.get("AllocMem")),
            "features": parse_list(null_to_empty(record.get("AvailableFeatures")), lower=False),
            "gres": null_to_empty(record.get("Gres")),
            "partitions": parse_list(null_to_empty(record.get("Partitions")), lower=False),
        }
        for record in runner.scontrol_show("node")
    }


def read_partitions(runner: SlurmRunner) -> dict:
    return {
        record["PartitionName"]: {
            "state": record.get("State", ""),
            "nodes": null_to_empty(record.get("Nodes")),
            "total_nodes": _int(record.get("TotalNodes")),
            "total_cpus": _int(record.get("TotalCPUs")),
            "max_time": parse_duration(record.get("MaxTime", ""), "MaxTime"),
            "default": record.get("Default") == "YES",
        }
        for record in runner.scontrol_show("partition")
    }


def read_reservations(runner: SlurmRunner) -> dict:
    return {
        record["ReservationName"]: {
            "state": record.get("State", ""),
            "start_time": record.get("StartTime", ""),
            "end_time": record.get("EndTime", ""),
            "nodes": null_to_empty(record.get("Nodes")),
            "users": parse_list(null_to_empty(record.get("Users")), lower=False),
            "accounts": parse_list(null_to_empty(record.get("Accounts"))),
            "flags": parse_list(null_to_empty(record.get("Flags")), lower=False),
        }
        for record in runner.scontrol_show("reservation")
    }


def read_jobs(runner: SlurmRunner) -> dict:
    out = runner.read("squeue", ["--noheader", "--all", "--format=%T|%P"], "the job queue")
    rows = [line.split("|", 1) for line in out.splitlines() if "|" in line]
    by_partition: dict[str, Counter] = defaultdict(Counter)
    for state, partitions in rows:
        for partition in partitions.split(","):
            by_partition[partition][state] += 1
    return {
        "total": len(rows),
        "by_state": dict(Counter(state for state, _partitions in rows)),
        "by_partition": {partition: dict(counts) for partition, counts in sorted(by_partition.items())},
    }


READERS = {
    "version": lambda runner: "{}.{:02d}.{}".format(*runner.version()),
    "nodes": read_nodes,
    "partitions": read_partitions,
    "reservations": read_reservations,
    "jobs": read_jobs,
}


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "gather": {"type": "list", "elements": "str", "choices": list(READERS), "default": list(READERS)},
            "timeout": {"type": "int", "default": 60},
        },
        supports_check_mode=True,
    )
    runner = SlurmRunner(module, module.params["timeout"])
    try:
        check_params(module.params, "slurm_info")  # timeout, as every Slurm module checks it
        facts = {what: READERS[what](runner) for what in module.params["gather"]}
    except SlurmError as error:
        runner.fail(error)
    module.exit_json(changed=False, **facts)


if __name__ == "__main__":
    main()
