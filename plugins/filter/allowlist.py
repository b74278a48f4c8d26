# Copyright: (c) 2026, hpcstack maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Check a host firewall allowlist in a role's preflight, as the nft_allowlist module reads it."""

from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleFilterError
from ansible_collections.hpcstack.cluster.plugins.module_utils._allowlist import allowlist_elements


def allowlist_problems(values: Any, variable: str) -> list[str]:
    """Return what is wrong with an allowlist (one message naming variable[index]), or nothing."""
    if not isinstance(variable, str):
        raise AnsibleFilterError(f"allowlist_problems expects the variable's name, got {variable!r}")
    try:
        allowlist_elements(values, variable)
    except ValueError as error:
        return [str(error)]
    return []


class FilterModule:
    def filters(self):
        return {"allowlist_problems": allowlist_problems}
