#!/usr/bin/python
# Copyright: (c) 2026, hpcstack maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Manage Slurm users and their associations, many users per call: one read, writes batched by setting."""

from __future__ import annotations

DOCUMENTATION = r"""
module: slurm_user
short_description: Manage Slurm users, their default account, admin level and associations, in bulk
version_added: 0.1.0
description:
  - Ensures users exist in Slurm's accounting database with their default account, admin level and associations
    (user, account, optional partition) with per-association fairshare, QOS and limits, or removes them.
  - Takes one user (O(name) and friends) or a list (O(users)). Either way the module reads every user and
    association once (C(sacctmgr -nP show user withassoc WOPLimits)), computes the changes, checks that every
    referenced account and QOS exists before writing anything, and then writes in batches. Users that need the
    same change share one C(sacctmgr) command (up to O(batch_size) names each); a run with nothing to change makes
    one read.
  - Only the settings given are managed. A limit set to V(-1) is cleared. Associations not listed are kept;
    to remove one, list it with C(state) V(absent) in O(users[].accounts).
  - Slurm stores user and account names in lower case; the module compares them so.
  - Every option is checked before any command runs. User, account, partition, QOS and cluster names take
    letters, digits, C(_), C(-), C(.) and C(@) only; a C(,), C(=) or space (which sacctmgr reads as separators, so that
    C(name=carol,root) would change root too) fails naming the option.
extends_documentation_fragment:
  - hpcstack.cluster.slurm
options:
  users:
    description: The users to manage. Mutually exclusive with O(name).
    type: list
    elements: dict
    suboptions:
      name:
        description: The user's login name. Letters, digits, C(_), C(-), C(.) and C(@) only.
        type: str
        required: true
      state:
        description: V(absent) removes the user with all its associations, on every cluster.
        type: str
        choices: [present, absent]
        default: present
      default_account:
        description:
          - The account of jobs that name none. Default for a new user is its first listed account.
          - A Slurm name (letters, digits, C(_), C(-), C(.)).
        type: str
      admin_level:
        description: Slurm's administrative level of the user.
        type: str
        choices: [none, operator, administrator]
      accounts:
        description:
          - The user's associations. An item is an account name or a dict with C(name), optional C(partition),
            C(state) (V(present)/V(absent)), C(fairshare), C(qos) (list), C(default_qos) and C(limits) (the
            same names as M(hpcstack.cluster.slurm_account)'s O(hpcstack.cluster.slurm_account#module:limits)).
          - Account, partition and QOS names are Slurm names (letters, digits, C(_), C(-), C(.)).
        type: list
        elements: raw
  name:
    description:
      - One user's name, the short form of O(users) with a single item.
      - Letters, digits, C(_), C(-), C(.) and C(@) only.
    type: str
  state:
    description: With O(name), the user's state.
    type: str
    choices: [present, absent]
    default: present
  default_account:
    description: With O(name), the user's default account.
    type: str
  admin_level:
    description: With O(name), the user's admin level.
    type: str
    choices: [none, operator, administrator]
  accounts:
    description: With O(name), the user's associations (as O(users[].accounts)).
    type: list
    elements: raw
  cluster:
    description:
      - The cluster of the associations. Required only when the database holds several clusters.
      - A Slurm name (letters, digits, C(_), C(-), C(.)).
    type: str
  batch_size:
    description: The most user names one sacctmgr command carries. At least 1.
    type: int
    default: 200
author:
  - hpcstack maintainers (@hpcstack)
"""

EXAMPLES = r"""
- name: One user in two accounts, with a per-association limit in the second
  hpcstack.cluster.slurm_user:
    name: alice
    default_account: physics
    accounts:
      - physics
      - name: chemistry
        qos: [normal, short]
        default_qos: short
        limits:
          max_jobs: 10
          grp_tres: cpu=64

- name: All of a course's students in one call (one read, one add for the lot)
  hpcstack.cluster.slurm_user:
    users: "{{ course_students | map('community.general.dict_kv', 'name')
               | map('combine', {'accounts': ['teaching']}) }}"

- name: Take bob out of chemistry and drop carol entirely
  hpcstack.cluster.slurm_user:
    users:
      - name: bob
        accounts: [{name: chemistry, state: absent}]
      - name: carol
        state: absent
"""

RETURN = r"""
commands:
  description: The sacctmgr commands that ran (or would run in check mode).
  returned: always
  type: list
  elements: str
  sample: ["sacctmgr -i add user name=alice,bob account=physics cluster=hpc DefaultAccount=physics"]
changed_users:
  description: The names of the users that were (or would be) changed.
  returned: success
  type: list
  elements: str
  sample: ["alice", "bob"]
"""

from collections import defaultdict

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.hpcstack.cluster.plugins.module_utils._slurm import (
    ASSOCIATION_FIELDS,
    SlurmError,
    SlurmRunner,
    association_settings,
    check_name,
    check_params,
    merge_association,
    names_missing,
    new_association,
    read_association,
    wanted_association,
)

FIELDS = ["User", "DefaultAccount", "Admin", "Cluster", "Account", "Partition", *ASSOCIATION_FIELDS]
USER_KEYS = ("state", "default_account", "admin_level", "accounts")


def read_users(runner: SlurmRunner) -> tuple[dict, set[str]]:
    """Every user with its associations per (cluster, account, partition), and the clusters seen."""
    users: dict[str, dict] = {}
    clusters = set()
    for row in runner.sacctmgr_show("user", FIELDS, options=["withassoc", "WOPLimits"]):
        user = users.setdefault(
            row["User"],
            {"defaults": {}, "admin_level": row["Admin"].lower() or "none", "associations": {}},
        )
        if row["Cluster"]:
            clusters.add(row["Cluster"])
            # Slurm keeps one default account per cluster; each row carries its own cluster's
            user["defaults"][row["Cluster"]] = row["DefaultAccount"] or None
            user["associations"][(row["Cluster"], row["Account"], row["Partition"])] = read_association(row)
    return users, clusters


def wanted_users(params: dict) -> list[dict]:
    """The users asked for, checked and normalised: name, state, default_account, admin_level, associations."""
    if params["users"] is None:
        if params["name"] is None:
            raise SlurmError("slurm_user: give name or users")
        specs = [{"name": params["name"], **{key: params[key] for key in USER_KEYS}}]
        labels = ["slurm_user"]
    else:
        specs = params["users"]
        labels = [f"users[{index}]" for index in range(len(specs))]
    wanted, seen = [], {}
    for label, spec in zip(labels, specs, strict=True):
        name = check_name(spec["name"], f"{label}.name").lower()
        if spec.get("default_account") is not None:
            check_name(spec["default_account"], f"{label}.default_account")
        if name in seen:
            raise SlurmError(f"{label}: user '{name}' is listed twice (also {seen[name]})")
        seen[name] = label
        associations = {}
        for index, item in enumerate(spec.get("accounts") or []):
            field = f"{label}.accounts[{index}]"
            item = {"name": item} if isinstance(item, str) else item
            if not isinstance(item, dict) or not item.get("name"):
                raise SlurmError(f"{field}: give an account name or a dict with a name")
            unknown = sorted(set(item) - {"name", "partition", "state", "fairshare", "qos", "default_qos", "limits"})
            if unknown:
                raise SlurmError(f"{field}: unknown key(s) {', '.join(unknown)}")
            if item.get("state", "present") not in ("present", "absent"):
                raise SlurmError(f"{field}.state: must be present or absent, not '{item['state']}'")
            check_name(item["name"], f"{field}.name")
            if item.get("partition"):  # left out or empty: the association of no partition
                check_name(item["partition"], f"{field}.partition")
            key = (str(item["name"]).lower(), str(item.get("partition") or "").lower())
            associations[key] = {"state": item.get("state", "present"), **wanted_association(item, field)}
        present = [key[0] for key, assoc in associations.items() if assoc["state"] == "present"]
        default = (spec.get("default_account") or "").lower() or None
        wanted.append(
            {
                "label": label,
                "name": name,
                "state": spec.get("state") or "present",
                "default_account": default,
                "first_account": present[0] if present else None,
                "admin_level": spec.get("admin_level"),
                "associations": associations,
            }
        )
    return wanted


class Plan:
    """The sacctmgr steps for all users, grouped so that users with the same change share one command."""

    def __init__(self, cluster: str, batch_size: int):
        self.cluster = cluster
        self.batch_size = batch_size
        self.delete_users: list[str] = []
        self.adds: dict[tuple, list[str]] = defaultdict(list)  # (account, partition, new-user default, settings)
        self.user_sets: dict[tuple, list[str]] = defaultdict(list)  # (key, value)
        self.assoc_sets: dict[tuple, list[str]] = defaultdict(list)  # (account, partition, settings)
        self.assoc_deletes: dict[tuple, list[str]] = defaultdict(list)  # (account, partition)
        self.changed_users: set[str] = set()

    def _batches(self, names: list[str]):
        names = sorted(set(names))
        for start in range(0, len(names), self.batch_size):
            yield "name=" + ",".join(names[start : start + self.batch_size])

    def steps(self) -> list[list[str]]:
        cluster = f"cluster={self.cluster}"
        # Whole users are deleted on every cluster: 22.05 refuses `cluster=` here when the user has several
        # associations ("You can not remove the default account of a user").
        steps = [["delete", "user", "where", batch] for batch in self._batches(self.delete_users)]
        for (account, partition, default, settings), names in sorted(self.adds.items(), key=_sort_key):
            extra = [f"partition={partition}"] if partition else []
            extra += [f"DefaultAccount={default}"] if default else []
            for batch in self._batches(names):
                steps.append(["add", "user", batch, f"account={account}", cluster, *extra, *settings])
        for (key, value), names in sorted(self.user_sets.items()):
            scope = [cluster] if key == "DefaultAccount" else []
            steps += [
                ["modify", "user", "where", batch, *scope, "set", f"{key}={value}"] for batch in self._batches(names)
            ]
        for (account, partition, settings), names in sorted(self.assoc_sets.items()):
            where = [f"account={account}", cluster] + ([f"partition={partition}"] if partition else [])
            steps += [["modify", "user", "where", batch, *where, "set", *settings] for batch in self._batches(names)]
        for (account, partition), names in sorted(self.assoc_deletes.items()):
            where = [f"account={account}", cluster] + ([f"partition={partition}"] if partition else [])
            steps += [["delete", "user", "where", batch, *where] for batch in self._batches(names)]
        return steps


def _sort_key(item):
    (account, partition, default, settings), _names = item
    return (default is None, account, partition, settings)  # new users' first association before the rest


def make_plan(wanted: list[dict], current: dict, cluster: str, batch_size: int) -> tuple[Plan, dict, dict]:
    """The plan, and each listed user's state before and after (for the diff)."""
    plan = Plan(cluster, batch_size)
    before, after = {}, {}
    for user in wanted:
        name = user["name"]
        existing = current.get(name)
        mine = {
            (account, partition): assoc
            for (assoc_cluster, account, partition), assoc in (existing or {}).get("associations", {}).items()
            if assoc_cluster == cluster
        }
        if existing:
            existing = {**existing, "default_account": existing["defaults"].get(cluster)}
        before[name] = _view(existing, mine) if existing and mine else {}
        if user["state"] == "absent":
            if existing:  # on any cluster: the delete is cluster-wide
                plan.delete_users.append(name)
                plan.changed_users.add(name)
            after[name] = {}
            continue
        # a user whose default association was removed (22.05 allows it) has no default account: give it one
        default = user["default_account"] or ((existing or {}).get("default_account") if mine else None)
        default = default or user["first_account"] or next((account for account, _partition in mine), None)
        if not (existing and mine) and default is None:
            raise SlurmError(f"{user['label']}: new user '{name}' needs at least one account")
        result = dict(mine)
        new_user = not (existing and mine)
        if new_user and (default, "") not in user["associations"] and (default, "") not in mine:
            user["associations"] = {(default, ""): {"state": "present", "limits": {}}, **user["associations"]}
        for (account, partition), spec in user["associations"].items():
            assoc_wanted = {key: value for key, value in spec.items() if key != "state"}
            if spec["state"] == "absent":
                if (account, partition) in mine:
                    if account == default:
                        raise SlurmError(
                            f"{user['label']}: cannot remove '{name}' from its default account "
                            f"'{account}'; set default_account to another account first"
                        )
                    plan.assoc_deletes[(account, partition)].append(name)
                    result.pop((account, partition))
                continue
            if (account, partition) not in mine:
                settings = tuple(association_settings(assoc_wanted, new_association()))
                is_first = new_user and account == default and not partition
                plan.adds[(account, partition, default if is_first else None, settings)].append(name)
                result[(account, partition)] = merge_association(new_association(), assoc_wanted)
                continue
            settings = tuple(association_settings(assoc_wanted, mine[(account, partition)]))
            if settings:
                plan.assoc_sets[(account, partition, settings)].append(name)
                result[(account, partition)] = merge_association(mine[(account, partition)], assoc_wanted)
        if default not in {account for account, _partition in result}:
            raise SlurmError(f"{user['label']}.default_account: '{default}' is not one of {name}'s accounts")
        if not new_user and default != existing["default_account"]:
            plan.user_sets[("DefaultAccount", default)].append(name)
        admin = user["admin_level"]
        if admin and admin != (existing["admin_level"] if existing else "none"):
            plan.user_sets[("AdminLevel", admin.capitalize())].append(name)
        after[name] = _view(
            {"default_account": default, "admin_level": admin or (existing or {}).get("admin_level", "none")}, result
        )
        if after[name] != before[name]:
            plan.changed_users.add(name)
    return plan, before, after


def _view(user: dict, associations: dict) -> dict:
    """A user as shown in the diff: associations keyed 'account' or 'account/partition'."""
    return {
        "default_account": user["default_account"],
        "admin_level": user["admin_level"],
        "associations": {
            f"{account}/{partition}" if partition else account: assoc
            for (account, partition), assoc in sorted(associations.items())
        },
    }


def check_references(runner: SlurmRunner, plan: Plan, wanted: list[dict]) -> None:
    """Fail before any write when an account or QOS the plan needs does not exist."""
    accounts = {key[0] for key in plan.adds}
    missing = set(names_missing(runner, "account", accounts))
    for user in wanted:
        for account, _partition in user["associations"]:
            if account in missing:
                raise SlurmError(
                    f"{user['label']}: account '{account}' of user '{user['name']}' does not exist "
                    "(create it with slurm_account first)"
                )
    qos = set()
    for user in wanted:
        for assoc in user["associations"].values():
            qos.update(assoc.get("qos", []))
            qos.update([assoc["default_qos"]] if assoc.get("default_qos") else [])
    changing_qos = any(
        setting.startswith(("QOS=", "DefaultQOS=")) for key in [*plan.adds, *plan.assoc_sets] for setting in key[-1]
    )
    missing_qos = names_missing(runner, "qos", qos) if changing_qos else []
    if missing_qos:
        raise SlurmError(f"slurm_user: unknown QOS {', '.join(missing_qos)} (create them with slurm_qos first)")


def choose_cluster(requested: str | None, clusters: set[str]) -> str:
    if requested:
        return requested.lower()
    if len(clusters) == 1:
        return next(iter(clusters))
    if not clusters:
        raise SlurmError("slurm_user: the accounting database holds no cluster yet (add one with slurm_cluster)")
    raise SlurmError(
        f"slurm_user.cluster: required, the database holds several clusters: {', '.join(sorted(clusters))}"
    )


def main() -> None:
    account_item = {"type": "list", "elements": "raw"}
    module = AnsibleModule(
        argument_spec={
            "users": {
                "type": "list",
                "elements": "dict",
                "options": {
                    "name": {"type": "str", "required": True},
                    "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
                    "default_account": {"type": "str"},
                    "admin_level": {"type": "str", "choices": ["none", "operator", "administrator"]},
                    "accounts": account_item,
                },
            },
            "name": {"type": "str"},
            "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
            "default_account": {"type": "str"},
            "admin_level": {"type": "str", "choices": ["none", "operator", "administrator"]},
            "accounts": account_item,
            "cluster": {"type": "str"},
            "batch_size": {"type": "int", "default": 200},
            "timeout": {"type": "int", "default": 60},
        },
        mutually_exclusive=[("users", "name")],
        required_one_of=[("users", "name")],
        supports_check_mode=True,
    )
    params = module.params
    runner = SlurmRunner(module, params["timeout"])
    before = after = {}
    try:
        check_params(params, "slurm_user", names=("cluster",), minimums={"batch_size": (1, "at least 1")})
        wanted = wanted_users(params)  # checks every user's names and settings, before any command
        current, clusters = read_users(runner)
        cluster = choose_cluster(params["cluster"], clusters)
        plan, before, after = make_plan(wanted, current, cluster, params["batch_size"])
        steps = plan.steps()
        if steps:
            check_references(runner, plan, wanted)
        for step in steps:
            runner.sacctmgr_change(step, f"{step[0]} users")
        if steps and not module.check_mode:
            reread, _clusters = read_users(runner)
            pending, _before, _after = make_plan(wanted_users(params), reread, cluster, params["batch_size"])
            runner.verify([" ".join(step) for step in pending.steps()], "users")
    except SlurmError as error:
        runner.fail(error)
    changed = sorted(plan.changed_users)
    before = {name: before[name] for name in changed}
    runner.exit(bool(steps), before, {name: after[name] for name in changed}, changed_users=changed)


if __name__ == "__main__":
    main()
