# Copyright: (c) 2026, hpcstack maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters that write parts of slurm.conf from the collection's node model."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError
from ansible_collections.hpcstack.cluster.plugins.filter.hostlist import hostlist_compress

# Parameters that name one host: a node that sets one of them gets a line of its own.
_PER_HOST = ("NodeAddr", "NodeHostname")


def _value(value) -> str:
    if isinstance(value, bool):
        return "YES" if value else "NO"
    if isinstance(value, (list, tuple)):
        return ",".join(str(item) for item in value)
    return str(value)


def slurm_node_lines(nodes: list[dict]) -> list[str]:
    """Return slurm.conf NodeName lines, one per set of nodes with identical parameters, names hostlist-compressed.

    Each node is a dict of slurm.conf node parameters with at least NodeName, e.g.
    {"NodeName": "compute01", "CPUs": 2, "RealMemory": 24105}. Parameters whose value is None are left out.
    """
    if isinstance(nodes, (str, dict)) or not all(isinstance(node, dict) for node in nodes):
        raise AnsibleFilterError(f"slurm_node_lines expects a list of node dicts, got {nodes!r}")
    # Nodes are grouped by their parameters; a node with a per-host parameter is keyed by its name as well.
    groups: dict[tuple, list[str]] = {}
    for index, node in enumerate(nodes):
        name = node.get("NodeName")
        if not isinstance(name, str) or not name:
            raise AnsibleFilterError(f"slurm_node_lines: node {index} has no NodeName: {node!r}")
        params = tuple((key, _value(value)) for key, value in node.items() if key != "NodeName" and value is not None)
        key = (name if any(param in node for param in _PER_HOST) else None, params)
        groups.setdefault(key, []).append(name)
    lines = []
    for (_per_host, params), names in groups.items():
        words = [f"NodeName={hostlist_compress(names)}"] + [f"{param}={value}" for param, value in params]
        lines.append(" ".join(words))
    return sorted(lines)


class FilterModule:
    """slurm.conf filters."""

    def filters(self) -> dict:
        return {"slurm_node_lines": slurm_node_lines}
