"""hpcstack.cluster.mitogen_linear: the linear strategy with Mitogen, and a clear error where Mitogen is missing."""

from __future__ import annotations

import builtins
import importlib
import sys

import pytest
from ansible.errors import AnsibleError
from ansible.plugins.strategy.linear import StrategyModule as LinearStrategyModule

MODULE = "ansible_collections.hpcstack.cluster.plugins.strategy.mitogen_linear"


def load(monkeypatch, cpus: int, hide_mitogen: bool = False):
    """Import the plugin afresh on a controller with `cpus` CPUs, with or without Mitogen importable."""
    monkeypatch.setattr("multiprocessing.cpu_count", lambda: cpus)
    if hide_mitogen:
        real_import = builtins.__import__

        def no_mitogen(name, *args, **kwargs):
            if name.startswith("ansible_mitogen"):
                raise ImportError(f"No module named {name!r}")
            return real_import(name, *args, **kwargs)

        monkeypatch.setattr(builtins, "__import__", no_mitogen)
    sys.modules.pop(MODULE, None)
    return importlib.import_module(MODULE)


def test_the_strategy_is_linear_run_by_mitogen(monkeypatch):
    import ansible_mitogen.affinity
    import ansible_mitogen.strategy

    monkeypatch.setattr(ansible_mitogen.affinity, "policy", ansible_mitogen.affinity.policy)
    plugin = load(monkeypatch, cpus=8)
    assert plugin.MITOGEN_ERROR is None
    assert issubclass(plugin.StrategyModule, ansible_mitogen.strategy.StrategyMixin)
    assert issubclass(plugin.StrategyModule, LinearStrategyModule)


@pytest.mark.parametrize(("cpus", "pinned"), [(2, False), (3, False), (4, True), (16, True)])
def test_cpu_pinning_only_where_it_spreads_the_workers(monkeypatch, cpus, pinned):
    import ansible_mitogen.affinity

    pinning = ansible_mitogen.affinity.LinuxPolicy
    monkeypatch.setattr(ansible_mitogen.affinity, "policy", pinning.__new__(pinning))
    load(monkeypatch, cpus=cpus)
    assert isinstance(ansible_mitogen.affinity.policy, pinning) is pinned


def test_without_mitogen_the_strategy_says_how_to_get_it(monkeypatch):
    plugin = load(monkeypatch, cpus=2, hide_mitogen=True)
    assert isinstance(plugin.MITOGEN_ERROR, ImportError)
    with pytest.raises(AnsibleError, match=r"needs Mitogen for Ansible .*pip install 'mitogen>=0\.3\.54'"):
        plugin.StrategyModule(tqm=None)
