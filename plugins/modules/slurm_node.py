#!/usr/bin/python
# Copyright: (c) 2026, hpcstack maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Drain, resume, down or undrain Slurm nodes with scontrol, only where the node's state asks for it."""

from __future__ import annotations

DOCUMENTATION = r"""
module: slurm_node
short_description: Drain, resume, down or undrain Slurm nodes
version_added: 0.1.0
description:
  - Reads the nodes of a hostlist with C(scontrol -o show node) and sends C(scontrol update NodeName=... State=...)
    only to the nodes whose state differs, so a second run changes nothing.
  - V(resume) and V(undrain) are sent only to nodes that are drained, draining or down (Slurm rejects them on other
    nodes with "Invalid node state specified"). When Slurm refuses one that way because it returned the node to
    service itself meanwhile (a DOWN node whose slurmd registered again), the nodes are read again and, in service,
    reported unchanged instead of failing.
  - V(drain) can wait until the nodes' running jobs have ended (O(wait)), for maintenance that must not start
    under a job.
extends_documentation_fragment:
  - hpcstack.cluster.slurm
options:
  name:
    description:
      - The nodes, as a Slurm hostlist (C(compute[01-16]), C(a,b)).
      - Node names take letters, digits, C(_), C(-) and C(.), ranges go in brackets; anything else (C(=), a space)
        fails before any command.
    type: str
    required: true
    aliases: [nodes]
  state:
    description:
      - V(drain) lets running jobs finish and starts no new ones; V(down) stops the node at once (its jobs fail);
        V(resume) returns drained or down nodes to service; V(undrain) clears only the drain flag.
    type: str
    choices: [drain, down, resume, undrain]
    required: true
  reason:
    description:
      - Why the nodes are drained or down, shown by C(sinfo -R). Required with V(drain) and V(down), as in Slurm.
        A drained node whose reason differs gets the new reason.
      - One line, without control characters.
    type: str
  wait:
    description: With V(drain), wait until no job is left on the nodes (state drained, not draining).
    type: bool
    default: false
  wait_timeout:
    description: Seconds to wait with O(wait) before failing. Zero or more.
    type: int
    default: 300
author:
  - hpcstack maintainers (@hpcstack)
"""

EXAMPLES = r"""
- name: Drain two nodes for a disk swap and wait until their jobs are done
  hpcstack.cluster.slurm_node:
    name: compute[03-04]
    state: drain
    reason: disk swap, ticket 1234
    wait: true
    wait_timeout: 3600

- name: Put them back into service
  hpcstack.cluster.slurm_node:
    name: compute[03-04]
    state: resume
"""

RETURN = r"""
commands:
  description: The scontrol commands that ran (or would run in check mode).
  returned: always
  type: list
  elements: str
  sample: ["scontrol update NodeName=compute03,compute04 State=DRAIN 'Reason=disk swap'"]
nodes:
  description: Each node's state and reason after the run (as read back, or as predicted in check mode).
  returned: success
  type: dict
  sample: {"compute03": {"state": "IDLE+DRAIN", "reason": "disk swap"}}
"""

import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.hpcstack.cluster.plugins.module_utils._slurm import (
    SlurmError,
    SlurmRunner,
    check_params,
    check_text,
    node_state,
)

POLL_SECONDS = 2


def read_nodes(runner: SlurmRunner, hostlist: str) -> dict[str, dict]:
    records = runner.scontrol_show("node", hostlist, missing_ok=False)
    return {record["NodeName"]: node_state(record) for record in records}


def needs_change(state: str, reason: str | None, node: dict) -> bool:
    if state == "drain":
        return node["drain"] is None or (reason is not None and node["reason"] != reason)
    if state == "down":
        return not node["down"] or (reason is not None and node["reason"] != reason)
    if state == "resume":
        return node["drain"] is not None or node["down"]
    return node["drain"] is not None  # undrain


def view(nodes: dict[str, dict]) -> dict[str, dict]:
    return {name: {"state": node["state"], "reason": node["reason"]} for name, node in sorted(nodes.items())}


def predicted(state: str, reason: str | None, nodes: dict[str, dict], targets: list[str]) -> dict[str, dict]:
    after = view(nodes)
    for name in targets:
        base = nodes[name]["base"]
        if state == "drain":
            after[name] = {
                "state": f"{base}+DRAIN" if "DRAIN" not in nodes[name]["flags"] else nodes[name]["state"],
                "reason": reason,
            }
        elif state == "down":
            after[name] = {"state": "DOWN", "reason": reason}
        else:
            after[name] = {"state": "IDLE" if base in ("DOWN", "DRAINED") else base, "reason": ""}
    return after


def wait_drained(runner: SlurmRunner, hostlist: str, timeout: int) -> dict[str, dict]:
    deadline = time.monotonic() + timeout
    while True:
        nodes = read_nodes(runner, hostlist)
        busy = sorted(name for name, node in nodes.items() if node["drain"] == "draining")
        if not busy:
            return nodes
        if time.monotonic() >= deadline:
            raise SlurmError(f"Nodes still draining after {timeout} s (jobs still running): {','.join(busy)}")
        time.sleep(POLL_SECONDS)


def returned_meanwhile(
    runner: SlurmRunner, hostlist: str, state: str, reason: str | None, targets: list[str], error: SlurmError
) -> tuple[dict[str, dict], list[str]]:
    """Read the nodes again after Slurm refused a resume or undrain with "Invalid node state specified".

    Slurm returns a node to service itself (a DOWN node whose slurmd registers again, a powered-up cloud node), and a
    RESUME that arrives just after is refused. When no node needs the change any more, the state asked for holds and
    nothing was changed by this module; otherwise Slurm's refusal stands.
    """
    if state not in ("resume", "undrain") or "Invalid node state specified" not in str(error):
        raise error
    nodes = read_nodes(runner, hostlist)
    if any(needs_change(state, reason, nodes[name]) for name in targets if name in nodes):
        raise error
    return nodes, []


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "name": {"type": "str", "required": True, "aliases": ["nodes"]},
            "state": {"type": "str", "required": True, "choices": ["drain", "down", "resume", "undrain"]},
            "reason": {"type": "str"},
            "wait": {"type": "bool", "default": False},
            "wait_timeout": {"type": "int", "default": 300},
            "timeout": {"type": "int", "default": 60},
        },
        required_if=[("state", "drain", ["reason"]), ("state", "down", ["reason"])],
        supports_check_mode=True,
    )
    params = module.params
    runner = SlurmRunner(module, params["timeout"])
    state, reason = params["state"], params["reason"]
    try:
        check_params(params, "slurm_node", hostlists=("name",), minimums={"wait_timeout": (0, "zero or more seconds")})
        if reason is not None:
            check_text(reason, "slurm_node.reason")
        if state in ("drain", "down") and not reason.strip():
            raise SlurmError(f"slurm_node.reason: Slurm requires a reason to {state} a node")
        nodes = read_nodes(runner, params["name"])
        targets = sorted(name for name, node in nodes.items() if needs_change(state, reason, node))
        if targets:
            args = ["update", "NodeName=" + ",".join(targets), f"State={state.upper()}"]
            args += [f"Reason={reason}"] if state in ("drain", "down") else []
            try:
                runner.change("scontrol", args, f"set nodes {','.join(targets)} to {state}")
            except SlurmError as error:
                nodes, targets = returned_meanwhile(runner, params["name"], state, reason, targets, error)
        after = predicted(state, reason, nodes, targets)
        if not module.check_mode and (targets or (state == "drain" and params["wait"])):
            reread = (
                wait_drained(runner, params["name"], params["wait_timeout"])
                if state == "drain" and params["wait"]
                else read_nodes(runner, params["name"])
            )
            pending = sorted(name for name, node in reread.items() if needs_change(state, reason, node))
            if pending:
                raise SlurmError(
                    f"Slurm did not set nodes {','.join(pending)} to {state}: read back "
                    + ", ".join(f"{name}={reread[name]['state']}" for name in pending)
                )
            after = view(reread)
    except SlurmError as error:
        runner.fail(error)
    runner.exit(bool(targets), view(nodes), after, nodes=after)


if __name__ == "__main__":
    main()
