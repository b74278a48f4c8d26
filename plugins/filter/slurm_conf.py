# Copyright: (c) 2026, hpcstack maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters that write parts of slurm.conf from the collection's node model."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError
from ansible_collections.hpcstack.cluster.plugins.filter.hostlist import _require_hostlist


def slurm_node_lines(nodes: list[dict]) -> list[str]:
    """Return slurm.conf NodeName lines, one per set of nodes with identical parameters, names hostlist-compressed.

    Each node is a dict of slurm.conf node parameters with at least NodeName, e.g.
    {"NodeName": "compute01", "CPUs": 2, "RealMemory": 24105}. Parameters whose value is None are left out.
    """
    _require_hostlist()
    from ansible_collections.hpcstack.cluster.plugins.plugin_utils.slurm_model import node_lines

    if isinstance(nodes, (str, dict)) or not all(isinstance(node, dict) for node in nodes):
        raise AnsibleFilterError(f"slurm_node_lines expects a list of node dicts, got {nodes!r}")
    for index, node in enumerate(nodes):
        name = node.get("NodeName")
        if not isinstance(name, str) or not name:
            raise AnsibleFilterError(f"slurm_node_lines: node {index} has no NodeName: {node!r}")
    return node_lines(nodes)


class FilterModule:
    """slurm.conf filters."""

    def filters(self) -> dict:
        return {"slurm_node_lines": slurm_node_lines}
