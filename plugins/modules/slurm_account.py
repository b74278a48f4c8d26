#!/usr/bin/python
# Copyright: (c) 2026, hpcstack maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Manage a Slurm account (a node of the fairshare tree) and its association limits with sacctmgr."""

from __future__ import annotations

DOCUMENTATION = r"""
module: slurm_account
short_description: Manage Slurm accounts, their place in the account tree, fairshare, QOS and limits
version_added: 0.1.0
description:
  - Creates, updates or deletes an account in Slurm's accounting database with C(sacctmgr). The account's
    association (one per cluster) carries its parent, fairshare, allowed QOS, default QOS and limits.
  - Only the settings given are managed; the others are left as they are. A limit set to V(-1) (or
    V(unlimited)) is cleared, so the account inherits it again.
  - Reads once with C(sacctmgr -nP show account withassoc WOPLimits), so limits inherited from the parent are
    never mistaken for the account's own; decides success by reading the state back, not by sacctmgr's exit code.
  - Every option is checked before any command runs. Names (O(name), O(cluster), O(parent), O(qos),
    O(default_qos)) take letters, digits, C(_), C(-), C(.) and C(@) only; a C(,), C(=) or space, which sacctmgr reads as
    separators, fails naming the option.
extends_documentation_fragment:
  - hpcstack.cluster.slurm
options:
  name:
    description:
      - The account's name. Slurm stores it in lower case.
      - Letters, digits, C(_), C(-), C(.) and C(@) only (no C(,), C(=) or spaces, which sacctmgr reads as separators).
    type: str
    required: true
  state:
    description:
      - V(absent) deletes the account; Slurm refuses while it has running jobs or child accounts.
    type: str
    choices: [present, absent]
    default: present
  cluster:
    description:
      - The cluster whose association is managed. Default is every cluster in the database (sacctmgr's).
      - A Slurm name, as O(name).
    type: str
  parent:
    description: The parent account. New accounts go under V(root) when it is not given. A Slurm name, as O(name).
    type: str
  description:
    description:
      - A description. Compared case-insensitively, because Slurm (22.05 and 24.11) stores it in lower case.
      - One line, without quotes or C(|) (sacctmgr ends a value at a quote and separates the fields it shows with
        C(|)).
    type: str
  organization:
    description: The organization the account belongs to. Compared case-insensitively. One line, as O(description).
    type: str
  fairshare:
    description: Shares of the parent's fairshare, a number or V(parent).
    type: raw
  qos:
    description:
      - The QOS the account's jobs may use. Every name must exist (M(hpcstack.cluster.slurm_qos)).
      - Slurm names, as O(name).
    type: list
    elements: str
  default_qos:
    description: The QOS for jobs that ask for none; must be one of O(qos) when that is given. A Slurm name.
    type: str
  limits:
    description:
      - Association limits by name; a value of V(-1) clears the limit.
      - Counts are integers, durations minutes or Slurm's C([D-]HH:MM:SS), TRES a C(cpu=4,mem=8G,gres/gpu=2)
        string or a dict. A TRES limit given here replaces the whole TRES list of that limit.
      - "Names: C(grp_jobs), C(grp_submit_jobs), C(grp_tres), C(grp_tres_mins), C(grp_tres_run_mins), C(grp_wall),
        C(max_jobs), C(max_submit_jobs), C(max_tres_per_job), C(max_tres_per_node), C(max_tres_mins_per_job),
        C(max_wall)."
    type: dict
author:
  - hpcstack maintainers (@hpcstack)
"""

EXAMPLES = r"""
- name: A department under root with a fair share, two QOS and a cap on running jobs
  hpcstack.cluster.slurm_account:
    name: physics
    description: Department of Physics
    organization: science
    fairshare: 100
    qos: [normal, long]
    default_qos: normal
    limits:
      grp_tres: cpu=512,gres/gpu=8
      max_wall: 3-00:00:00

- name: A project under it
  hpcstack.cluster.slurm_account:
    name: physics-lattice
    parent: physics
    limits:
      grp_tres: -1   # clear: inherit the department's limit again

- name: Remove an account
  hpcstack.cluster.slurm_account:
    name: oldproject
    state: absent
"""

RETURN = r"""
commands:
  description: The sacctmgr commands that ran (or would run in check mode).
  returned: always
  type: list
  elements: str
  sample: ["sacctmgr -i add account physics Parent=root Fairshare=100"]
account:
  description: The account after the run (normalised; durations in minutes, memory in MiB); empty when absent.
  returned: success
  type: dict
  sample: {"name": "physics", "parent": "root", "fairshare": 100, "qos": ["normal"], "default_qos": null,
           "description": "department of physics", "organization": "science", "limits": {"max_wall": 4320}}
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.hpcstack.cluster.plugins.module_utils._slurm import (
    ASSOCIATION_FIELDS,
    SlurmError,
    SlurmRunner,
    association_settings,
    check_params,
    merge_association,
    names_missing,
    new_association,
    read_association,
    wanted_association,
)

FIELDS = ["Account", "Description", "Organization", "Cluster", "ParentName", "User", "Partition", *ASSOCIATION_FIELDS]


def read_account(runner: SlurmRunner, name: str, cluster: str | None) -> dict:
    """The account and its own association(s) (no user rows), or {} when it does not exist."""
    where = [f"name={name}"] + ([f"cluster={cluster}"] if cluster else [])
    rows = runner.sacctmgr_show("account", FIELDS, where=where, options=["withassoc", "WOPLimits"])
    rows = [row for row in rows if row["Account"] == name and not row["User"]]
    if not rows:
        return {}
    account = {"name": name, "description": rows[0]["Description"], "organization": rows[0]["Organization"]}
    associations = {
        row["Cluster"]: {"parent": row["ParentName"] or None, **read_association(row)} for row in rows if row["Cluster"]
    }
    return {**account, "associations": associations}


def wanted_account(params: dict) -> dict:
    wanted = {key: params[key] for key in ("description", "organization") if params[key] is not None}
    association = wanted_association(params, "slurm_account")
    if params["parent"] is not None:
        association["parent"] = params["parent"].lower()
    return {**wanted, "association": association}


def plan(name: str, params: dict, wanted: dict, current: dict) -> list[list[str]]:
    """The sacctmgr steps (argument lists after `-i`) from the current account to the wanted one."""
    cluster = [f"cluster={params['cluster']}"] if params["cluster"] else []
    if params["state"] == "absent":
        return [["delete", "account", "where", f"name={name}", *cluster]] if current else []
    association = wanted["association"]
    if not current or not current["associations"]:
        settings = [f"Parent={association.get('parent', 'root')}"]
        settings += [f"{key.capitalize()}={wanted[key]}" for key in ("description", "organization") if key in wanted]
        settings += association_settings(association, new_association())
        return [["add", "account", name, *cluster, *settings]]
    steps = []
    account_settings = [
        f"{key.capitalize()}={wanted[key]}"
        for key in ("description", "organization")
        if key in wanted and wanted[key].lower() != current[key].lower()
    ]
    if account_settings:
        steps.append(["modify", "account", "where", f"name={name}", "set", *account_settings])
    for cluster_name, current_association in sorted(current["associations"].items()):
        where = ["where", f"name={name}", f"cluster={cluster_name}"]
        if "parent" in association and association["parent"] != current_association["parent"]:
            steps.append(["modify", "account", *where, "set", f"Parent={association['parent']}"])
        settings = association_settings(association, current_association)
        if settings:
            steps.append(["modify", "account", *where, "set", *settings])
    return steps


def predicted(name: str, params: dict, wanted: dict, current: dict) -> dict:
    """The account as it will read once the plan has run (for the diff and the return value)."""
    if params["state"] == "absent":
        return {}
    # Slurm's defaults: the description is the name, the organization the parent's name (its own under root)
    parent = wanted["association"].get("parent", "root")
    organization = name if parent == "root" else parent
    base = current or {"name": name, "description": name, "organization": organization, "associations": {}}
    after = {**base, **{key: wanted[key].lower() for key in ("description", "organization") if key in wanted}}
    associations = base["associations"] or {params["cluster"] or "all": {"parent": "root", **new_association()}}
    after["associations"] = {
        cluster: merge_association(association, wanted["association"]) for cluster, association in associations.items()
    }
    return after


def check_references(runner: SlurmRunner, wanted: dict) -> None:
    """Fail before any write when the parent or a QOS does not exist."""
    association = wanted["association"]
    if "parent" in association and names_missing(runner, "account", {association["parent"]}):
        raise SlurmError(f"slurm_account.parent: account '{association['parent']}' does not exist")
    qos = set(association.get("qos", [])) | ({association["default_qos"]} if "default_qos" in association else set())
    missing = names_missing(runner, "qos", qos)
    if missing:
        raise SlurmError(f"slurm_account.qos: unknown QOS {', '.join(missing)} (create them with slurm_qos first)")


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "name": {"type": "str", "required": True},
            "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
            "cluster": {"type": "str"},
            "parent": {"type": "str"},
            "description": {"type": "str"},
            "organization": {"type": "str"},
            "fairshare": {"type": "raw"},
            "qos": {"type": "list", "elements": "str"},
            "default_qos": {"type": "str"},
            "limits": {"type": "dict"},
            "timeout": {"type": "int", "default": 60},
        },
        supports_check_mode=True,
    )
    params = module.params
    runner = SlurmRunner(module, params["timeout"])
    name = params["name"].lower()
    try:
        check_params(
            params,
            "slurm_account",
            names=("name", "cluster", "parent"),
            texts=("description", "organization"),
        )
        wanted = wanted_account(params)
        current = read_account(runner, name, params["cluster"])
        steps = plan(name, params, wanted, current)
        if steps and params["state"] == "present":
            check_references(runner, wanted)
        for step in steps:
            runner.sacctmgr_change(step, f"{step[0]} account {name}")
        after = predicted(name, params, wanted, current)
        if steps and not module.check_mode:
            after = read_account(runner, name, params["cluster"])
            runner.verify([" ".join(step) for step in plan(name, params, wanted, after)], f"account {name}")
    except SlurmError as error:
        runner.fail(error)
    runner.exit(bool(steps), current, after, account=after)


if __name__ == "__main__":
    main()
