# Copyright: (c) 2026, hpcstack maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Slurm hostlist filters: `compute[01-16]` from a list of host names and back, via python-hostlist."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

try:
    import hostlist
except ImportError:  # reported when a filter is used, so the rest of the collection works without it
    hostlist = None


def _require_hostlist() -> None:
    if hostlist is None:
        raise AnsibleFilterError(
            "the hostlist filters need the python-hostlist package on the controller: pip install python-hostlist"
        )


def hostlist_compress(hosts: list[str]) -> str:
    """Return the Slurm hostlist expression of a list of host names (sorted, duplicates merged)."""
    _require_hostlist()
    if isinstance(hosts, str) or not all(isinstance(host, str) for host in hosts):
        raise AnsibleFilterError(f"hostlist_compress expects a list of host names, got {hosts!r}")
    return hostlist.collect_hostlist(list(hosts))


def hostlist_expand(expression: str) -> list[str]:
    """Return the host names a Slurm hostlist expression stands for, in order."""
    _require_hostlist()
    if not isinstance(expression, str):
        raise AnsibleFilterError(f"hostlist_expand expects a hostlist string, got {expression!r}")
    try:
        return hostlist.expand_hostlist(expression)
    except hostlist.BadHostlist as err:
        raise AnsibleFilterError(f"hostlist_expand: '{expression}' is not a valid hostlist: {err}") from err


class FilterModule:
    """Slurm hostlist filters."""

    def filters(self) -> dict:
        return {"hostlist_compress": hostlist_compress, "hostlist_expand": hostlist_expand}
