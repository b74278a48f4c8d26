"""The installed-package filters: dpkg-query's output read once, and which of a role's packages apt must install."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.hpcstack.cluster.plugins.filter import packages

# What dpkg-query prints with playbooks/tasks/installed_packages.yml's format (Debian 13 names in part).
DPKG_OUTPUT = "\n".join(
    [
        "ii |munge|",
        "ii |libpmix2t64|libpmix2 (= 5.0.6-3)",
        "ii |libc6|",
        "ii |libgcc-s1|libgcc1 (= 1:14.2.0-19), libgcc-s1:amd64",
        "rc |slurmd|",
        "iU |slurmctld|",
        "ii |python3-prometheus-client|",
        "",
    ]
)


def test_dpkg_installed_counts_installed_packages_and_what_they_provide():
    names = packages.dpkg_installed(DPKG_OUTPUT)
    assert names == sorted(names)
    assert {"munge", "libpmix2t64", "libpmix2", "libgcc1", "libgcc-s1", "python3-prometheus-client"} <= set(names)


def test_dpkg_installed_leaves_out_removed_and_unpacked_packages():
    names = packages.dpkg_installed(DPKG_OUTPUT)
    assert "slurmd" not in names  # removed, config files left (rc)
    assert "slurmctld" not in names  # unpacked, not configured (iU)


def test_dpkg_installed_rejects_a_list():
    with pytest.raises(AnsibleFilterError, match="dpkg-query's output as a string"):
        packages.dpkg_installed(["ii munge"])


def test_missing_packages_keeps_order_and_counts_provided_names():
    installed = packages.dpkg_installed(DPKG_OUTPUT)
    assert packages.missing_packages(["slurmd", "libpmix2", "munge", "slurmctld"], installed) == ["slurmd", "slurmctld"]
    assert packages.missing_packages(["munge", "libpmix2"], installed) == []


def test_missing_packages_compares_pinned_versions_by_name():
    assert packages.missing_packages(["munge=0.5.15-2", "slurmd=24.11.5-1"], ["munge"]) == ["slurmd=24.11.5-1"]


def test_missing_packages_without_the_installed_list_returns_all():
    assert packages.missing_packages(["munge", "slurmd"], None) == ["munge", "slurmd"]


def test_missing_packages_rejects_a_string():
    with pytest.raises(AnsibleFilterError, match="list of package names"):
        packages.missing_packages("munge", [])


def test_the_playbooks_ask_dpkg_query_for_the_format_the_filter_reads():
    import pathlib

    import yaml

    root = pathlib.Path(__file__).resolve().parents[4]
    tasks = yaml.safe_load((root / "playbooks/tasks/installed_packages.yml").read_text())
    argv = tasks[0]["block"][0]["ansible.builtin.command"]["argv"]
    assert argv == ["dpkg-query", "--show", f"--showformat={packages.DPKG_QUERY_FORMAT}"]
