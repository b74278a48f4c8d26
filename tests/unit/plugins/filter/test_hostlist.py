"""The hostlist filters give Slurm's compact node expressions and read them back."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.hpcstack.cluster.plugins.filter import hostlist as hostlist_filter


@pytest.mark.parametrize(
    ("hosts", "expression"),
    [
        ([f"compute{i:02d}" for i in range(1, 17)], "compute[01-16]"),
        (["hpc-compute02", "hpc-compute01", "hpc-compute01"], "hpc-compute[01-02]"),
        (["compute01", "compute02", "compute10", "gpu1", "gpu2"], "compute[01-02,10],gpu[1-2]"),
        (["controller"], "controller"),
        ([], ""),
    ],
)
def test_compress(hosts, expression):
    assert hostlist_filter.hostlist_compress(hosts) == expression


def test_expand_is_the_inverse_of_compress():
    hosts = [f"compute{i:03d}" for i in (1, 2, 3, 7, 100)] + ["gpu1"]
    assert hostlist_filter.hostlist_expand(hostlist_filter.hostlist_compress(hosts)) == sorted(hosts)


@pytest.mark.parametrize("bad", ["compute[01-", "compute[5-1]"])
def test_invalid_expression_is_named_in_the_error(bad):
    with pytest.raises(AnsibleFilterError, match=r"not a valid hostlist"):
        hostlist_filter.hostlist_expand(bad)


def test_a_string_is_not_a_list_of_hosts():
    with pytest.raises(AnsibleFilterError, match="expects a list of host names"):
        hostlist_filter.hostlist_compress("compute01")


def test_missing_library_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(hostlist_filter, "hostlist", None)
    with pytest.raises(AnsibleFilterError, match="pip install python-hostlist"):
        hostlist_filter.hostlist_compress(["a1"])


def test_filters_are_registered_under_their_names():
    assert set(hostlist_filter.FilterModule().filters()) == {"hostlist_compress", "hostlist_expand"}
