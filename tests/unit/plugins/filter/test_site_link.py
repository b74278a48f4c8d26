"""The site link's address plan is checked as a whole, before any host changes, and every problem names its variable."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.hpcstack.cluster.plugins.filter import site_link

GOOD = {
    "overlay_cidr": "10.254.0.0/24",
    "hub_address": "",
    "endpoint": "203.0.113.10",
    "port": 51820,
    "keepalive": 25,
    "cloud_cidrs": ["10.0.1.0/24"],
    "onprem_cidrs": ["172.30.0.0/24"],
    "route_via": "",
    "spokes": {"onprem01": "10.254.0.21", "onprem02": "10.254.0.22"},
}


def problems(**changes):
    return site_link.site_link_problems({**GOOD, **changes})


def test_a_sound_plan_has_no_problems():
    assert problems() == []
    assert problems(endpoint="vpn.example.org", route_via="10.0.1.10", hub_address="10.254.0.254") == []


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        # Overlapping networks: the overlay with a site, and the two sites with each other.
        ({"overlay_cidr": "10.0.0.0/16"}, "bastion_site_link_overlay_cidr overlaps bastion_site_link_cloud_cidrs[0]"),
        ({"onprem_cidrs": ["10.0.1.128/25"]}, "bastion_site_link_cloud_cidrs[0] (10.0.1.0/24) overlaps"),
        ({"onprem_cidrs": ["10.254.0.0/28"]}, "overlaps bastion_site_link_onprem_cidrs[0]"),
        # Missing endpoint or cloud CIDR.
        ({"endpoint": ""}, "bastion_site_link_endpoint is empty"),
        ({"cloud_cidrs": []}, "bastion_site_link_cloud_cidrs is empty"),
        ({"cloud_cidrs": "10.0.1.0/24"}, "bastion_site_link_cloud_cidrs must be a list"),
        # Not networks, not addresses; a line break that would add a line to a WireGuard configuration.
        ({"overlay_cidr": "10.254.0.1/24"}, "bastion_site_link_overlay_cidr is '10.254.0.1/24': not a network"),
        ({"cloud_cidrs": ["10.0.1.0/24\nPostUp = sh"]}, "bastion_site_link_cloud_cidrs[0] is"),
        ({"endpoint": "203.0.113.10\nPostUp = sh"}, "bastion_site_link_endpoint is"),
        ({"port": 0}, "bastion_site_link_port is 0"),
        ({"port": "51820\n"}, "bastion_site_link_port is"),
        ({"keepalive": -1}, "bastion_site_link_keepalive is -1"),
        # Spokes: outside the overlay, the network's own address, twice the same, the hub's, none given.
        ({"spokes": {"onprem01": "10.0.1.5"}}, "bastion_site_link_address of onprem01 is '10.0.1.5': not a host"),
        ({"spokes": {"onprem01": "10.254.0.0"}}, "bastion_site_link_address of onprem01 is '10.254.0.0'"),
        ({"spokes": {"a": "10.254.0.5", "b": "10.254.0.5"}}, "bastion_site_link_address of b is '10.254.0.5', the"),
        ({"spokes": {"a": "10.254.0.1"}}, "the address of the hub"),
        ({"spokes": {"a": None}}, "bastion_site_link_address of a is None: not an IP address"),
        ({"spokes": {}}, "the site link has no spokes"),
        ({"hub_address": "10.9.9.9"}, "bastion_site_link_hub_address is '10.9.9.9'"),
        ({"route_via": "10.200.0.1"}, "bastion_site_link_route_via is '10.200.0.1': not in"),
    ],
)
def test_each_problem_names_its_variable(changes, expected):
    found = problems(**changes)
    assert any(expected in problem for problem in found), found


def test_problems_are_capped():
    spokes = {f"n{i}": "10.9.0.1" for i in range(100)}
    found = problems(spokes=spokes)
    assert len(found) == site_link.MAX_PROBLEMS + 1
    assert found[-1] == "... and 80 more"


def test_cidr_host():
    assert site_link.cidr_host("10.254.0.0/24") == "10.254.0.1"
    assert site_link.cidr_host("10.254.0.0/24", 22) == "10.254.0.22"
    with pytest.raises(AnsibleFilterError, match="no address"):
        site_link.cidr_host("10.254.0.1/24")


def test_wireguard_key_takes_keys_only():
    key = "2ilbyvMdM4c2XG2wVPWDUqlM0LSAwPqPUQnTyOBjGFg="
    assert site_link.wireguard_key(key + "\n") == key
    for bad in ("", None, key[:-2] + "\nPostUp = sh", key + "x", "A" * 44):
        with pytest.raises(AnsibleFilterError, match="not a WireGuard public key"):
            site_link.wireguard_key(bad)


def test_network_problems_name_bad_and_overlapping_networks():
    ok = {"aws_site_link_overlay_cidr": "10.254.0.0/24", "aws_vpc_cidr": "10.0.0.0/16"}
    assert site_link.network_problems(ok) == []
    found = site_link.network_problems({**ok, "aws_site_link_overlay_cidr": "10.0.254.0/24"})
    assert found == [
        "aws_site_link_overlay_cidr (10.0.254.0/24) overlaps aws_vpc_cidr (10.0.0.0/16):"
        " they need networks of their own"
    ]
    found = site_link.network_problems({"cidrs": ["10.1.0.0/16", "nope"], "other": "10.1.2.0/24"})
    assert any(problem.startswith("cidrs[1] is 'nope'") for problem in found), found
    assert any("cidrs[0] (10.1.0.0/16) overlaps other (10.1.2.0/24)" in problem for problem in found), found
