"""allowlist_problems: a role's preflight reads an allowlist as nft_allowlist will, and names the bad entry."""

from __future__ import annotations

import pytest
from ansible_collections.hpcstack.cluster.plugins.filter.allowlist import allowlist_problems
from ansible_collections.hpcstack.cluster.plugins.module_utils._allowlist import allowlist_elements


def test_sound_allowlists_have_no_problems_and_merge_as_nftables_needs():
    assert allowlist_problems([], "grafana_allowed_sources") == []
    sources = ["10.100.1.10", "10.100.1.0/24", "fd00::1", "fd00::/64", "192.0.2.1"]
    assert allowlist_problems(sources, "grafana_allowed_sources") == []
    assert allowlist_elements(sources, "grafana_allowed_sources") == (["10.100.1.0/24", "192.0.2.1"], ["fd00::/64"])


@pytest.mark.parametrize(
    ("sources", "message"),
    [
        ("10.100.1.10", "grafana_allowed_sources must be a list of addresses or networks, not '10.100.1.10'"),
        ({"a": 1}, "grafana_allowed_sources must be a list"),
        (["10.100.1.10", "10.100.1.11 }; chain x {"], "grafana_allowed_sources[1] is '10.100.1.11 }; chain x {', not"),
        (["10.100.1.10\n"], None),  # a trailing line break is stripped: the address is sound
        (["10.100.1.1/24"], "grafana_allowed_sources[0] is '10.100.1.1/24', not an IPv4 or IPv6 address or network"),
        (["0.0.0.0/0"], "grafana_allowed_sources[0] is '0.0.0.0/0': every address"),
        ([10], "grafana_allowed_sources[0] is 10, not"),
        (["hpc-bastion"], "grafana_allowed_sources[0] is 'hpc-bastion'"),
    ],
)
def test_the_first_bad_entry_is_named(sources, message):
    problems = allowlist_problems(sources, "grafana_allowed_sources")
    if message is None:
        assert problems == []
    else:
        assert len(problems) == 1
        assert problems[0].startswith(message), problems
