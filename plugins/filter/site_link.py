# Copyright: (c) 2026, hpcstack maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The site link's address plan, checked in Python (ipaddress) before any host is changed.

`site_link_problems` takes the bastion role's site link variables and the spokes' overlay addresses and returns one
message per problem, each naming its variable. The plan is read once, on the Ansible controller, and the work is
linear in the number of spokes.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from typing import Any

from ansible.errors import AnsibleFilterError

# What a spoke may dial: an IPv4/IPv6 address or a host name (it ends in a WireGuard config's Endpoint line).
ENDPOINT = re.compile(r"[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?")
WG_KEY = re.compile(r"[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=")
MAX_PROBLEMS = 20


def _network(problems: list[str], variable: str, value: Any) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    if not isinstance(value, str):
        problems.append(f"{variable} is {value!r}: give a network in CIDR form, such as 10.254.0.0/24")
        return None
    try:
        return ipaddress.ip_network(value, strict=True)
    except ValueError as err:
        problems.append(f"{variable} is '{value}': not a network in CIDR form ({err})")
        return None


def _networks(problems: list[str], variable: str, value: Any, required: bool) -> list[tuple[str, Any]]:
    if value is None or value == []:
        if required:
            problems.append(f"{variable} is empty: list the networks (CIDR form) it must carry")
        return []
    if isinstance(value, str) or not isinstance(value, list):
        problems.append(f"{variable} must be a list of networks in CIDR form, got {value!r}")
        return []
    found = []
    for index, item in enumerate(value):
        network = _network(problems, f"{variable}[{index}]", item)
        if network is not None:
            found.append((f"{variable}[{index}] ({item})", network))
    return found


def site_link_problems(settings: Mapping[str, Any]) -> list[str]:
    """Return what is wrong with a site link plan; an empty list when nothing is.

    settings: overlay_cidr, hub_address, endpoint, port, keepalive, cloud_cidrs, onprem_cidrs, route_via and
    spokes ({inventory host: its bastion_site_link_address}).
    """
    if not isinstance(settings, Mapping):
        raise AnsibleFilterError(f"site_link_problems expects a mapping, got {settings!r}")
    problems: list[str] = []
    overlay = _network(problems, "bastion_site_link_overlay_cidr", settings.get("overlay_cidr"))
    cloud = _networks(problems, "bastion_site_link_cloud_cidrs", settings.get("cloud_cidrs"), required=True)
    onprem = _networks(problems, "bastion_site_link_onprem_cidrs", settings.get("onprem_cidrs"), required=False)

    named = ([("bastion_site_link_overlay_cidr", overlay)] if overlay else []) + cloud + onprem
    for first in range(len(named)):
        for second in range(first + 1, len(named)):
            (name_a, net_a), (name_b, net_b) = named[first], named[second]
            if net_a.version == net_b.version and net_a.overlaps(net_b):
                problems.append(f"{name_a} overlaps {name_b}: the overlay and each site need networks of their own")

    endpoint = settings.get("endpoint")
    if not isinstance(endpoint, str) or not endpoint:
        problems.append("bastion_site_link_endpoint is empty: give the hub's address the on-prem site dials")
    elif not ENDPOINT.fullmatch(endpoint) and not _is_address(endpoint):
        problems.append(f"bastion_site_link_endpoint is {endpoint!r}: not an IP address or host name")

    for variable, low, high in (("port", 1, 65535), ("keepalive", 0, 65535)):
        value = settings.get(variable)
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, str))
            or not re.fullmatch(r"[0-9]{1,5}", str(value))
            or not low <= int(value) <= high
        ):
            problems.append(f"bastion_site_link_{variable} is {value!r}: give a number from {low} to {high}")

    hub_address = settings.get("hub_address") or (
        str(overlay[1]) if overlay is not None and overlay.num_addresses > 2 else None
    )
    hub = _address(problems, "bastion_site_link_hub_address", hub_address, overlay) if hub_address else None
    route_via = settings.get("route_via")
    if route_via:
        via = _address(problems, "bastion_site_link_route_via", route_via, None)
        if via is not None and cloud and not any(via in network for _name, network in cloud):
            problems.append(f"bastion_site_link_route_via is '{route_via}': not in bastion_site_link_cloud_cidrs")

    spokes = settings.get("spokes")
    if not isinstance(spokes, Mapping) or not spokes:
        problems.append("the site link has no spokes: put the on-prem hosts in bastion_site_link_spokes_group")
        spokes = {}
    seen: dict[Any, str] = {} if hub is None else {hub: "the hub (bastion_site_link_hub_address)"}
    for host, value in spokes.items():
        address = _address(problems, f"bastion_site_link_address of {host}", value, overlay)
        if address is None:
            continue
        if address in seen:
            problems.append(f"bastion_site_link_address of {host} is '{value}', the address of {seen[address]}")
        else:
            seen[address] = host
    if len(problems) > MAX_PROBLEMS:
        problems = [*problems[:MAX_PROBLEMS], f"... and {len(problems) - MAX_PROBLEMS} more"]
    return problems


def network_problems(networks: Mapping[str, Any]) -> list[str]:
    """Return what is wrong with named networks ({variable: CIDR or list of CIDRs}): not CIDRs, or overlapping."""
    if not isinstance(networks, Mapping):
        raise AnsibleFilterError(f"network_problems expects a mapping of variable names to networks, got {networks!r}")
    problems: list[str] = []
    named = []
    for variable, value in networks.items():
        if isinstance(value, list):
            named += _networks(problems, variable, value, required=False)
        else:
            network = _network(problems, variable, value)
            named += [(f"{variable} ({value})", network)] if network is not None else []
    for first in range(len(named)):
        for second in range(first + 1, len(named)):
            (name_a, net_a), (name_b, net_b) = named[first], named[second]
            if net_a.version == net_b.version and net_a.overlaps(net_b):
                problems.append(f"{name_a} overlaps {name_b}: they need networks of their own")
    return problems


def _is_address(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _address(problems: list[str], variable: str, value: Any, network: Any) -> Any:
    """Return value as an address inside network (when given), or None after recording why it is not."""
    try:
        address = ipaddress.ip_address(value if isinstance(value, str) else "")
    except ValueError:
        problems.append(f"{variable} is {value!r}: not an IP address")
        return None
    if network is not None and (
        address not in network or address in (network.network_address, network.broadcast_address)
    ):
        problems.append(f"{variable} is '{value}': not a host address of bastion_site_link_overlay_cidr ({network})")
        return None
    return address


def cidr_host(cidr: str, index: int = 1) -> str:
    """Return the index-th address of a network: cidr_host('10.254.0.0/24') is '10.254.0.1'."""
    try:
        network = ipaddress.ip_network(cidr, strict=True)
        return str(network[int(index)])
    except (ValueError, TypeError, IndexError) as err:
        raise AnsibleFilterError(f"cidr_host: no address {index!r} in {cidr!r} ({err})") from err


def wireguard_key(value: Any) -> str:
    """Return a WireGuard public key read from a host, refusing anything else (it ends in a config file)."""
    text = value.strip() if isinstance(value, str) else ""
    if not WG_KEY.fullmatch(text):
        raise AnsibleFilterError(f"wireguard_key: {value!r} is not a WireGuard public key")
    return text


class FilterModule:
    """The site link's address plan."""

    def filters(self) -> dict[str, Any]:
        return {
            "site_link_problems": site_link_problems,
            "network_problems": network_problems,
            "cidr_host": cidr_host,
            "wireguard_key": wireguard_key,
        }
