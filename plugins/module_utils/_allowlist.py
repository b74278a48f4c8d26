# Copyright: (c) 2026, hpcstack maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The sources of a host firewall's allowlist (private to the collection).

One reading for the roles' preflight (the allowlist_problems filter) and the nft_allowlist module, so what passes the
first is what the second loads.
"""

from __future__ import annotations

import ipaddress
from typing import Any


def allowlist_elements(values: Any, option: str) -> tuple[list[str], list[str]]:
    """Return the (IPv4, IPv6) set elements of an allowlist; raise ValueError naming option[index] for a bad entry.

    Each entry is an address or a network without host bits (10.0.0.1/24 is a typing error more often than not) and
    not a /0 (every address: no allowlist at all). Overlapping entries are merged, as an nftables interval set refuses
    overlaps; hosts are written bare.
    """
    if isinstance(values, (str, bytes)) or not isinstance(values, (list, tuple)):
        raise ValueError(f"{option} must be a list of addresses or networks, not {values!r}.")
    networks: dict[int, list] = {4: [], 6: []}
    for index, value in enumerate(values):
        try:
            network = ipaddress.ip_network(value.strip() if isinstance(value, str) else "", strict=True)
        except ValueError as error:
            raise ValueError(
                f"{option}[{index}] is {value!r}, not an IPv4 or IPv6 address or network: {error}."
            ) from None
        if network.prefixlen == 0:
            raise ValueError(
                f"{option}[{index}] is {value!r}: every address. Leave the list empty for no allowlist at all."
            )
        networks[network.version].append(network)
    return _elements(networks[4]), _elements(networks[6])


def _elements(networks: list) -> list[str]:
    return [
        str(network.network_address) if network.prefixlen == network.max_prefixlen else str(network)
        for network in ipaddress.collapse_addresses(networks)
    ]
