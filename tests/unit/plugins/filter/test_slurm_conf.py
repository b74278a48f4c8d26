"""slurm_node_lines writes one compressed NodeName line per set of identical nodes."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.hpcstack.cluster.plugins.filter.slurm_conf import slurm_node_lines


def node(name: str, **params) -> dict:
    return {"NodeName": name, "CPUs": 2, "RealMemory": 24105, **params}


def test_identical_nodes_share_one_compressed_line():
    nodes = [node(f"compute{i:02d}") for i in range(16, 0, -1)]
    assert slurm_node_lines(nodes) == ["NodeName=compute[01-16] CPUs=2 RealMemory=24105"]


def test_different_hardware_gets_separate_lines():
    nodes = [node("c01"), node("c02"), node("gpu1", CPUs=8, Gres="gpu:a100:4", Feature=["a100", "nvlink"])]
    assert slurm_node_lines(nodes) == [
        "NodeName=c[01-02] CPUs=2 RealMemory=24105",
        "NodeName=gpu1 CPUs=8 RealMemory=24105 Gres=gpu:a100:4 Feature=a100,nvlink",
    ]


def test_a_node_with_its_own_address_is_never_grouped():
    nodes = [node("c01", NodeAddr="10.0.1.11"), node("c02", NodeAddr="10.0.1.12"), node("c03")]
    assert slurm_node_lines(nodes) == [
        "NodeName=c01 CPUs=2 RealMemory=24105 NodeAddr=10.0.1.11",
        "NodeName=c02 CPUs=2 RealMemory=24105 NodeAddr=10.0.1.12",
        "NodeName=c03 CPUs=2 RealMemory=24105",
    ]


def test_null_parameters_are_left_out_and_booleans_are_slurm_words():
    assert slurm_node_lines([node("c01", Gres=None, Weight=None, CpuSpecList=None, MemSpecLimit=0)]) == [
        "NodeName=c01 CPUs=2 RealMemory=24105 MemSpecLimit=0"
    ]
    assert slurm_node_lines([{"NodeName": "c01", "Boards": 1, "X": True}]) == ["NodeName=c01 Boards=1 X=YES"]


def test_no_nodes_no_lines():
    assert slurm_node_lines([]) == []


@pytest.mark.parametrize("bad", ["c01", {"NodeName": "c01"}, [{"CPUs": 2}], [{"NodeName": ""}], ["c01"]])
def test_malformed_input_is_a_clear_error(bad):
    with pytest.raises(AnsibleFilterError, match="slurm_node_lines"):
        slurm_node_lines(bad)
