#!/usr/bin/python
# Copyright: (c) 2026, hpcstack maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Create, update and delete Slurm advance reservations with scontrol."""

from __future__ import annotations

DOCUMENTATION = r"""
module: slurm_reservation
short_description: Create, update and delete Slurm reservations
version_added: 0.1.0
description:
  - Reads the reservation with C(scontrol -o show reservation NAME); creates it with C(scontrol create reservation),
    updates only the fields that differ with C(scontrol update ReservationName=...), or deletes it.
  - Node lists are compared as sets of node names expanded by Slurm itself (C(scontrol show hostnames)), users,
    accounts and flags as sets. O(flags) are ensured present; flags Slurm adds by itself (such as C(SPEC_NODES))
    are left alone.
  - A reservation starting V(now) has its start time compared only at creation, so a second run is a no-op.
  - Every option is checked before any command runs. Names (O(name), O(partition), O(users), O(accounts),
    O(flags)) take letters, digits, C(_), C(-), C(.) and C(@) only; a C(,), C(=) or space fails naming the option.
extends_documentation_fragment:
  - hpcstack.cluster.slurm
options:
  name:
    description: The reservation's name.
    type: str
    required: true
  state:
    description: V(present) creates or updates, V(absent) deletes.
    type: str
    choices: [present, absent]
    default: present
  start_time:
    description:
      - V(now), or a time Slurm accepts (C(2026-12-01T08:00:00), C(now+1hour)); compared only when absolute.
      - Letters, digits and C(:+-/._) only (no spaces).
    type: str
    default: now
  duration:
    description: How long it lasts (minutes or C([D-]HH:MM:SS)); V(-1) or V(infinite) for no end.
    type: raw
  nodes:
    description:
      - The reserved nodes, a hostlist (C(compute[01-04]), C(a,b)), or V(ALL). Give this or O(node_count).
      - Node names take letters, digits, C(_), C(-) and C(.), ranges go in brackets; anything else (C(=), a space)
        fails before any command.
    type: str
  node_count:
    description: How many nodes to reserve, chosen by Slurm. Give this or O(nodes). At least 1.
    type: int
  partition:
    description: The partition the nodes are taken from (with O(node_count)).
    type: str
  users:
    description: The users allowed to use the reservation. Slurm needs O(users) or O(accounts).
    type: list
    elements: str
  accounts:
    description: The accounts allowed to use the reservation.
    type: list
    elements: str
  flags:
    description: Reservation flags, such as V(MAINT), V(IGNORE_JOBS), V(DAILY), V(OVERLAP).
    type: list
    elements: str
author:
  - hpcstack maintainers (@hpcstack)
"""

EXAMPLES = r"""
- name: Reserve two nodes for a maintenance window, regardless of running jobs
  hpcstack.cluster.slurm_reservation:
    name: maint-2026-12
    start_time: "2026-12-01T08:00:00"
    duration: "04:00:00"
    nodes: compute[01-02]
    users: [root]
    flags: [MAINT, IGNORE_JOBS]

- name: Four nodes for a course, starting now, for a day
  hpcstack.cluster.slurm_reservation:
    name: course
    node_count: 4
    partition: batch
    duration: 1-00:00:00
    accounts: [teaching]

- name: The window is over
  hpcstack.cluster.slurm_reservation:
    name: maint-2026-12
    state: absent
"""

RETURN = r"""
commands:
  description: The scontrol commands that ran (or would run in check mode).
  returned: always
  type: list
  elements: str
  sample: ["scontrol create reservation ReservationName=course StartTime=now Duration=1440 NodeCnt=4 Accounts=teaching"]
reservation:
  description: The reservation after the run (duration in minutes); empty when absent.
  returned: success
  type: dict
  sample: {"name": "course", "start_time": "2026-11-23T09:00:00", "duration": 1440, "nodes": ["c01", "c02"],
           "node_count": 2, "partition": "batch", "users": [], "accounts": ["teaching"], "flags": []}
"""

import re

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.hpcstack.cluster.plugins.module_utils._slurm import (
    SlurmError,
    SlurmRunner,
    check_params,
    null_to_empty,
    parse_duration,
    parse_list,
)

# Slurm's time forms: now[+count[units]], HH:MM[:SS], YYYY-MM-DD[THH:MM[:SS]], MM/DD[/YY], midnight, noon, ...
_START_TIME = re.compile(r"[A-Za-z0-9:+/._-]+")


def check_options(params: dict) -> None:
    """Fail before any command on an option that scontrol would misread."""
    check_params(
        params,
        "slurm_reservation",
        names=("name", "partition"),
        name_lists=("users", "accounts", "flags"),
        hostlists=("nodes",),
        minimums={"node_count": (1, "at least 1")},
    )
    if not _START_TIME.fullmatch(params["start_time"] or ""):
        raise SlurmError(
            f"slurm_reservation.start_time: {params['start_time']!r} is not a Slurm time "
            "(now, now+1hour, 2026-12-01T08:00:00)"
        )


def read_reservation(runner: SlurmRunner, name: str) -> dict:
    records = runner.scontrol_show("reservation", name)
    if not records:
        return {}
    record = records[0]
    return {
        "name": name,
        "start_time": record.get("StartTime", ""),
        "duration": parse_duration(null_to_empty(record.get("Duration")), "Duration"),
        "nodes": runner.hostnames(null_to_empty(record.get("Nodes"))),
        "node_count": int(record.get("NodeCnt") or 0),
        "partition": null_to_empty(record.get("PartitionName")),
        "users": parse_list(null_to_empty(record.get("Users")), lower=False),
        "accounts": parse_list(null_to_empty(record.get("Accounts"))),
        "flags": parse_list(null_to_empty(record.get("Flags")), lower=False),
    }


def wanted_reservation(runner: SlurmRunner, params: dict) -> dict:
    if params["state"] == "absent":
        return {}
    if params["nodes"] and params["node_count"]:
        raise SlurmError("slurm_reservation: give nodes or node_count, not both")
    if not params["users"] and not params["accounts"]:
        raise SlurmError("slurm_reservation: Slurm needs users or accounts for a reservation")
    wanted = {"start_time": params["start_time"]}
    if params["duration"] is not None:
        wanted["duration"] = parse_duration(params["duration"], "slurm_reservation.duration")
    if params["nodes"]:
        wanted["nodes"] = params["nodes"] if params["nodes"].upper() == "ALL" else runner.hostnames(params["nodes"])
    if params["node_count"]:
        wanted["node_count"] = params["node_count"]
    if params["partition"]:
        wanted["partition"] = params["partition"]
    if params["users"] is not None:
        wanted["users"] = parse_list(params["users"], lower=False)
    if params["accounts"] is not None:
        wanted["accounts"] = parse_list(params["accounts"])
    if params["flags"] is not None:
        wanted["flags"] = parse_list([flag.upper() for flag in params["flags"]], lower=False)
    return wanted


def differences(wanted: dict, current: dict) -> dict:
    changes = {}
    for key, value in wanted.items():
        if key == "start_time":
            if value.lower() != "now" and "+" not in value and value != current["start_time"]:
                changes[key] = value
        elif key == "flags":
            missing = sorted(set(value) - set(current["flags"]))
            if missing:
                changes[key] = missing
        elif key == "nodes" and value == "ALL":
            continue
        elif value != current.get(key):
            changes[key] = value
    return changes


def settings(changes: dict) -> list[str]:
    keys = {
        "start_time": "StartTime",
        "duration": "Duration",
        "nodes": "Nodes",
        "node_count": "NodeCnt",
        "partition": "PartitionName",
        "users": "Users",
        "accounts": "Accounts",
        "flags": "Flags",
    }
    result = []
    for key, value in changes.items():
        if key == "duration":
            value = "UNLIMITED" if value is None else str(value)
        elif isinstance(value, list):
            value = ",".join(value)
        result.append(f"{keys[key]}={value}")
    return result


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "name": {"type": "str", "required": True},
            "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
            "start_time": {"type": "str", "default": "now"},
            "duration": {"type": "raw"},
            "nodes": {"type": "str"},
            "node_count": {"type": "int"},
            "partition": {"type": "str"},
            "users": {"type": "list", "elements": "str"},
            "accounts": {"type": "list", "elements": "str"},
            "flags": {"type": "list", "elements": "str"},
            "timeout": {"type": "int", "default": 60},
        },
        supports_check_mode=True,
    )
    params = module.params
    runner = SlurmRunner(module, params["timeout"])
    name = params["name"]
    changed = False
    try:
        check_options(params)
        wanted = wanted_reservation(runner, params)
        current = read_reservation(runner, name)
        after = current
        if params["state"] == "absent":
            if current:
                runner.change("scontrol", ["delete", f"ReservationName={name}"], f"delete reservation {name}")
                changed, after = True, {}
        elif not current:
            if not wanted.get("nodes") and not wanted.get("node_count"):
                raise SlurmError("slurm_reservation: a new reservation needs nodes or node_count")
            args = ["create", "reservation", f"ReservationName={name}", f"StartTime={wanted['start_time']}"]
            args += settings({key: value for key, value in wanted.items() if key != "start_time"})
            runner.change("scontrol", args, f"create reservation {name}")
            changed, after = True, {"name": name, **wanted}
        else:
            changes = differences(wanted, current)
            if changes:
                runner.change(
                    "scontrol", ["update", f"ReservationName={name}", *settings(changes)], f"update reservation {name}"
                )
                changed = True
                after = {**current, **changes, "flags": sorted(set(current["flags"]) | set(wanted.get("flags", [])))}
        if changed and not module.check_mode:
            after = read_reservation(runner, name)
            pending = (
                differences(wanted, after) if params["state"] == "present" else ({"exists": True} if after else {})
            )
            if pending or (params["state"] == "present" and not after):
                raise SlurmError(f"Slurm did not apply {', '.join(pending) or 'the reservation'} to reservation {name}")
    except SlurmError as error:
        runner.fail(error)
    runner.exit(changed, current, after, reservation=after)


if __name__ == "__main__":
    main()
