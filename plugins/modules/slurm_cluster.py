#!/usr/bin/python
# Copyright: (c) 2026, hpcstack maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Register a cluster in the Slurm accounting database (sacctmgr add/delete cluster)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: slurm_cluster
short_description: Register or remove a cluster in Slurm's accounting database
version_added: 0.1.0
description:
  - Adds a cluster to slurmdbd with C(sacctmgr add cluster), or removes it, so that slurmctld can send its jobs
    to the database. The name is the C(ClusterName) of C(slurm.conf); Slurm stores it in lower case.
extends_documentation_fragment:
  - hpcstack.cluster.slurm
options:
  name:
    description:
      - The cluster's name (C(ClusterName) in C(slurm.conf)).
      - Letters, digits, C(_), C(-), C(.) and C(@) only; anything else (a C(,), C(=), a space) fails before any command.
    type: str
    required: true
  state:
    description:
      - V(present) registers the cluster; V(absent) deletes it and every association under it, which Slurm
        refuses while the cluster has running jobs.
    type: str
    choices: [present, absent]
    default: present
author:
  - hpcstack maintainers (@hpcstack)
"""

EXAMPLES = r"""
- name: Register the cluster before slurmctld starts sending accounting records
  hpcstack.cluster.slurm_cluster:
    name: hpc
"""

RETURN = r"""
commands:
  description: The sacctmgr commands that ran (or would run in check mode).
  returned: always
  type: list
  elements: str
  sample: ["sacctmgr -i add cluster hpc"]
cluster:
  description: The cluster after the run; empty when it is absent.
  returned: success
  type: dict
  sample: {"name": "hpc"}
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.hpcstack.cluster.plugins.module_utils._slurm import SlurmError, SlurmRunner, check_params


def read_cluster(runner: SlurmRunner, name: str) -> dict:
    rows = runner.sacctmgr_show("cluster", ["Cluster"], where=[f"cluster={name}"])
    return {"name": name} if any(row["Cluster"] == name for row in rows) else {}


def plan(name: str, state: str, current: dict) -> list[list[str]]:
    if state == "present" and not current:
        return [["add", "cluster", name]]
    if state == "absent" and current:
        return [["delete", "cluster", name]]
    return []


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "name": {"type": "str", "required": True},
            "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
            "timeout": {"type": "int", "default": 60},
        },
        supports_check_mode=True,
    )
    runner = SlurmRunner(module, module.params["timeout"])
    name, state = module.params["name"].lower(), module.params["state"]
    try:
        check_params(module.params, "slurm_cluster", names=("name",))
        current = read_cluster(runner, name)
        steps = plan(name, state, current)
        for step in steps:
            runner.sacctmgr_change(step, f"{step[0]} cluster {name}")
        after = {"name": name} if state == "present" else {}
        if steps and not module.check_mode:
            pending = plan(name, state, read_cluster(runner, name))
            runner.verify([" ".join(step) for step in pending], f"cluster {name}")
    except SlurmError as error:
        runner.fail(error)
    runner.exit(bool(steps), current, after, cluster=after)


if __name__ == "__main__":
    main()
