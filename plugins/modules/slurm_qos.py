#!/usr/bin/python
# Copyright: (c) 2026, hpcstack maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Manage a Slurm quality of service (priority, preemption, flags, limits) with sacctmgr."""

from __future__ import annotations

DOCUMENTATION = r"""
module: slurm_qos
short_description: Manage Slurm QOS with their priority, preemption, flags and limits
version_added: 0.1.0
description:
  - Creates, updates or deletes a quality of service in Slurm's accounting database with C(sacctmgr).
  - Only the settings given are managed. A limit set to V(-1) (or V(unlimited)) is cleared; an empty O(preempt)
    or O(flags) list clears those.
  - Limits are enforced only when C(AccountingStorageEnforce) includes C(limits,qos), which the collection's
    C(slurm_controller) role sets whenever a slurmdbd host exists.
  - Every option is checked before any command runs; a bad one (a name with a C(,), C(=) or space, an unknown
    flag, a negative priority) fails naming the option.
extends_documentation_fragment:
  - hpcstack.cluster.slurm
options:
  name:
    description:
      - The QOS name. Slurm stores it in lower case.
      - Letters, digits, C(_), C(-), C(.) and C(@) only (no C(,), C(=) or spaces, which sacctmgr reads as separators).
    type: str
    required: true
  state:
    description: V(absent) deletes the QOS (Slurm removes it from every association that lists it).
    type: str
    choices: [present, absent]
    default: present
  description:
    description:
      - A description. Compared case-insensitively, because Slurm stores it in lower case.
      - One line, without quotes or C(|) (sacctmgr ends a value at a quote and separates the fields it shows with
        C(|)).
    type: str
  priority:
    description: The QOS's priority, added to a job's priority by the multifactor plugin. Zero or more.
    type: int
  preempt:
    description: The QOS whose jobs this QOS's jobs may preempt; V([]) clears it. Slurm names, as O(name).
    type: list
    elements: str
  preempt_mode:
    description: How jobs of this QOS are preempted.
    type: str
    choices: [cluster, cancel, requeue, suspend, "off"]
  flags:
    description:
      - QOS flags, as a complete list; V([]) clears them. Compared case-insensitively.
      - "One of V(DenyOnLimit), V(EnforceUsageThreshold), V(NoDecay), V(NoReserve), V(OverPartQOS),
        V(PartitionMaxNodes), V(PartitionMinNodes), V(PartitionTimeLimit), V(Relative), V(RequiresReservation),
        V(UsageFactorSafe): the flags Slurm 24.11 knows (22.05 all but V(Relative)). Any other fails before any
        command, naming the valid ones."
    type: list
    elements: str
  usage_factor:
    description: Factor applied to the usage of this QOS's jobs in fairshare. Zero or more.
    type: float
  grace_time:
    description: Preemption grace time, in seconds. Zero or more.
    type: int
  limits:
    description:
      - QOS limits by name; a value of V(-1) clears the limit. Counts are integers, durations minutes or
        C([D-]HH:MM:SS), TRES a C(cpu=4,mem=8G) string or a dict; a TRES limit given replaces that whole list.
      - "Names: C(grp_jobs), C(grp_submit_jobs), C(grp_tres), C(grp_tres_mins), C(grp_wall), C(max_tres_per_job),
        C(max_tres_per_node), C(max_tres_per_user), C(max_tres_per_account), C(max_jobs_per_user),
        C(max_jobs_per_account), C(max_submit_jobs_per_user), C(max_submit_jobs_per_account), C(min_tres_per_job),
        C(max_wall)."
    type: dict
author:
  - hpcstack maintainers (@hpcstack)
"""

EXAMPLES = r"""
- name: A short, high-priority QOS that may preempt the scavenger QOS
  hpcstack.cluster.slurm_qos:
    name: short
    priority: 100
    preempt: [scavenger]
    flags: [DenyOnLimit]
    limits:
      max_wall: "04:00:00"
      max_jobs_per_user: 10
      max_tres_per_user: cpu=64,mem=256G

- name: Drop the per-user CPU cap again
  hpcstack.cluster.slurm_qos:
    name: short
    limits:
      max_tres_per_user: -1
"""

RETURN = r"""
commands:
  description: The sacctmgr commands that ran (or would run in check mode).
  returned: always
  type: list
  elements: str
  sample: ["sacctmgr -i add qos short Priority=100 MaxWall=240"]
qos:
  description: The QOS after the run (normalised; durations in minutes, memory in MiB); empty when absent.
  returned: success
  type: dict
  sample: {"name": "short", "priority": 100, "preempt": ["scavenger"], "preempt_mode": "cluster",
           "flags": ["denyonlimit"], "usage_factor": 1.0, "grace_time": 0, "description": "short",
           "limits": {"max_wall": 240, "max_jobs_per_user": 10}}
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.hpcstack.cluster.plugins.module_utils._slurm import (
    QOS_LIMITS,
    SlurmError,
    SlurmRunner,
    check_params,
    compact_limits,
    limit_settings,
    names_missing,
    parse_limits,
    parse_list,
    read_limits,
)

FIELDS = ["Name", "Description", "Priority", "Preempt", "PreemptMode", "Flags", "UsageFactor", "GraceTime"]
FIELDS += [show for _set, show, _kind in QOS_LIMITS.values()]
SCALARS = ("description", "priority", "preempt_mode", "usage_factor", "grace_time")
SET_KEYS = {
    "description": "Description",
    "priority": "Priority",
    "preempt": "Preempt",
    "preempt_mode": "PreemptMode",
    "flags": "Flags",
    "usage_factor": "UsageFactor",
    "grace_time": "GraceTime",
}
# The flags sacctmgr takes (`Flags=`): what Slurm 22.05 and 24.11 list after "Valid QOS flags are" (Relative: 24.11)
FLAGS = (
    "DenyOnLimit",
    "EnforceUsageThreshold",
    "NoDecay",
    "NoReserve",
    "OverPartQOS",
    "PartitionMaxNodes",
    "PartitionMinNodes",
    "PartitionTimeLimit",
    "Relative",
    "RequiresReservation",
    "UsageFactorSafe",
)


def read_qos(runner: SlurmRunner, name: str) -> dict:
    rows = [row for row in runner.sacctmgr_show("qos", FIELDS, where=[f"name={name}"]) if row["Name"] == name]
    if not rows:
        return {}
    row = rows[0]
    return {
        "name": name,
        "description": row["Description"].lower(),
        "priority": int(row["Priority"] or 0),
        "preempt": parse_list(row["Preempt"]),
        "preempt_mode": row["PreemptMode"].lower() or "cluster",
        "flags": parse_list(row["Flags"]),
        "usage_factor": float(row["UsageFactor"] or 1),
        "grace_time": _seconds(row["GraceTime"]),
        "limits": read_limits(row, QOS_LIMITS),
    }


def _seconds(text: str) -> int:
    """Seconds of GraceTime, which reads as [D-]HH:MM:SS but is set in seconds."""
    days, _dash, clock = (text or "0").rpartition("-")
    parts = [int(part) for part in clock.split(":")]
    while len(parts) < 3:
        parts.insert(0, 0)
    return ((int(days or 0) * 24 + parts[0]) * 60 + parts[1]) * 60 + parts[2]


def check_options(params: dict) -> None:
    """Fail before any command on an option sacctmgr would misread, refuse, or take only after a write."""
    check_params(
        params,
        "slurm_qos",
        names=("name",),
        name_lists=("preempt",),
        texts=("description",),
        minimums={
            "priority": (0, "zero or more"),
            "usage_factor": (0, "zero or more"),
            "grace_time": (0, "zero or more seconds"),
        },
    )
    unknown = sorted(set(parse_list(params["flags"])) - {flag.lower() for flag in FLAGS})
    if unknown:
        raise SlurmError(f"slurm_qos.flags: unknown QOS flag(s) {', '.join(unknown)}; valid: {', '.join(FLAGS)}")


def wanted_qos(params: dict) -> dict:
    wanted = {key: params[key] for key in SCALARS if params[key] is not None}
    if "description" in wanted:
        wanted["description"] = wanted["description"].lower()
    for key in ("preempt", "flags"):
        if params[key] is not None:
            wanted[key] = parse_list(params[key])
    wanted["limits"] = parse_limits(params["limits"], QOS_LIMITS, "slurm_qos.limits")
    return wanted


def settings(wanted: dict, current: dict) -> list[str]:
    result = []
    for key in (*SCALARS, "preempt", "flags"):
        if key not in wanted or wanted[key] == current.get(key):
            continue
        value = wanted[key]
        if key == "flags":
            value = ",".join(value) or "-1"
        elif key == "preempt":
            value = ",".join(value)
        result.append(f"{SET_KEYS[key]}={value}")
    return result + limit_settings(wanted["limits"], current.get("limits", {}), QOS_LIMITS)


def plan(name: str, state: str, wanted: dict, current: dict) -> list[list[str]]:
    if state == "absent":
        return [["delete", "qos", "where", f"name={name}"]] if current else []
    if not current:
        return [["add", "qos", name, *settings(wanted, {"limits": {}})]]
    changes = settings(wanted, current)
    return [["modify", "qos", "where", f"name={name}", "set", *changes]] if changes else []


def predicted(name: str, state: str, wanted: dict, current: dict) -> dict:
    if state == "absent":
        return {}
    base = current or {
        "name": name,
        "description": name,
        "priority": 0,
        "preempt": [],
        "preempt_mode": "cluster",
        "flags": [],
        "usage_factor": 1.0,
        "grace_time": 0,
        "limits": {},
    }
    after = {**base, **{key: value for key, value in wanted.items() if key != "limits"}}
    after["limits"] = compact_limits({**base["limits"], **wanted["limits"]})
    return after


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "name": {"type": "str", "required": True},
            "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
            "description": {"type": "str"},
            "priority": {"type": "int"},
            "preempt": {"type": "list", "elements": "str"},
            "preempt_mode": {"type": "str", "choices": ["cluster", "cancel", "requeue", "suspend", "off"]},
            "flags": {"type": "list", "elements": "str"},
            "usage_factor": {"type": "float"},
            "grace_time": {"type": "int"},
            "limits": {"type": "dict"},
            "timeout": {"type": "int", "default": 60},
        },
        supports_check_mode=True,
    )
    params = module.params
    runner = SlurmRunner(module, params["timeout"])
    name, state = params["name"].lower(), params["state"]
    try:
        check_options(params)
        wanted = wanted_qos(params)
        current = read_qos(runner, name)
        steps = plan(name, state, wanted, current)
        if steps and state == "present":
            missing = names_missing(runner, "qos", set(wanted.get("preempt", [])) - {name})
            if missing:
                raise SlurmError(f"slurm_qos.preempt: unknown QOS {', '.join(missing)}")
        for step in steps:
            runner.sacctmgr_change(step, f"{step[0]} QOS {name}")
        after = predicted(name, state, wanted, current)
        if steps and not module.check_mode:
            after = read_qos(runner, name)
            runner.verify([" ".join(step) for step in plan(name, state, wanted, after)], f"QOS {name}")
    except SlurmError as error:
        runner.fail(error)
    runner.exit(bool(steps), current, after, qos=after)


if __name__ == "__main__":
    main()
