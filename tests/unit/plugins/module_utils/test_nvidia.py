"""GPU detection (module_utils/_nvidia.py) on the outputs of five GPU host models (fixtures/nvidia/README.md)."""

from __future__ import annotations

from pathlib import Path

import pytest
from ansible_collections.hpcstack.cluster.plugins.module_utils import _nvidia

FIXTURES = Path(__file__).parent / "fixtures" / "nvidia"

# model directory: (GPU count, product name, GRES type, driver version, memory MiB, first bus id)
MODELS = {
    "a100-sxm4-x8": (8, "NVIDIA A100-SXM4-40GB", "a100", "535.183.06", 40960, "0000:07:00.0"),
    "h100-sxm5-x4": (4, "NVIDIA H100 80GB HBM3", "h100", "550.90.07", 81559, "0000:18:00.0"),
    "t4-x1": (1, "Tesla T4", "t4", "535.104.05", 15360, "0000:00:1e.0"),
    "v100-sxm2-x4": (4, "Tesla V100-SXM2-16GB", "v100", "470.256.02", 16384, "0000:00:1b.0"),
    "rtx-a6000-x2": (2, "NVIDIA RTX A6000", "rtx_a6000", "550.127.05", 49140, "0000:4f:00.0"),
}


def load(model: str) -> dict:
    """Every source of one recorded host, parsed."""
    root = FIXTURES / model
    devices = []
    for line in (root / "devices.txt").read_text().splitlines():
        name, kind, major, _minor = line.split()
        devices.append((name, kind == "c", int(major)))
    return {
        "smi": _nvidia.parse_smi_query((root / "nvidia-smi.csv").read_text()),
        "proc": [_nvidia.parse_proc_information(p.read_text()) for p in sorted((root / "gpus").glob("*/information"))],
        "pci": _nvidia.parse_lspci((root / "lspci.txt").read_text()),
        "minors": _nvidia.device_minors(devices),
        "driver_version": _nvidia.parse_proc_version((root / "version").read_text()),
    }


@pytest.mark.parametrize("model", MODELS)
def test_every_source_sees_the_same_gpus(model):
    count, name, _gres_type, driver, memory, first_bus = MODELS[model]
    src = load(model)
    assert src["driver_version"] == driver
    assert [g["name"] for g in src["smi"]] == [name] * count
    assert [g["memory_mib"] for g in src["smi"]] == [memory] * count
    assert all(g["driver_version"] == driver and g["mig"] is False for g in src["smi"])
    assert [p["name"] for p in src["proc"]] == [name] * count
    assert [p["minor"] for p in src["proc"]] == list(range(count))
    # lspci: only the GPUs, not NVSwitches, HDMI audio functions or another vendor's VGA.
    assert [g["bus_id"] for g in src["pci"]] == [g["bus_id"] for g in src["smi"]] == [p["bus_id"] for p in src["proc"]]
    assert src["pci"][0]["bus_id"] == first_bus
    # nvidiactl (minor 255) and nvidia-uvm (another major) are not GPUs.
    assert src["minors"] == list(range(count))


@pytest.mark.parametrize("model", MODELS)
def test_a_host_with_its_driver_gives_typed_gres_and_device_files(model):
    count, name, gres_type, driver, memory, _bus = MODELS[model]
    facts = _nvidia.combine(**load(model))
    assert facts["present"]
    assert facts["source"] == "nvidia-smi"
    assert facts["count"] == facts["usable"] == count
    assert facts["gres"] == f"gpu:{gres_type}:{count}"
    assert facts["files"] == [f"/dev/nvidia{i}" for i in range(count)]
    assert facts["driver_loaded"]
    assert facts["driver_version"] == driver
    assert not facts["needs_driver"]
    assert not facts["mig"]
    assert facts["gpus"][0]["memory_mib"] == memory
    # Slurm's NVML autodetection names the GPU in lower case with underscores and matches our type as a substring.
    assert gres_type in name.lower().replace(" ", "_")


@pytest.mark.parametrize("model", MODELS)
def test_gpus_on_the_bus_without_a_driver_need_one_and_have_no_gres_yet(model):
    count, _name, gres_type, _driver, _memory, _bus = MODELS[model]
    src = load(model)
    facts = _nvidia.combine(smi=[], proc=[], pci=src["pci"], minors=[], driver_version=None)
    assert facts["present"]
    assert facts["source"] == "pci"
    assert facts["count"] == count
    assert facts["needs_driver"]
    assert not facts["driver_loaded"]
    # The type comes from lspci's name ("[A100 SXM4 40GB]") and is the one the driver's name gives.
    assert {g["type"] for g in facts["gpus"]} == {gres_type}
    assert facts["usable"] == 0
    assert facts["gres"] == ""
    assert facts["files"] == []


def test_proc_alone_is_enough_when_nvidia_smi_is_missing():
    src = load("v100-sxm2-x4")
    facts = _nvidia.combine(smi=[], proc=src["proc"], pci=src["pci"], minors=src["minors"], driver_version="470.256.02")
    assert facts["source"] == "proc"
    assert facts["gres"] == "gpu:v100:4"


def test_the_device_minor_not_the_index_names_the_file():
    """nvidia-smi numbers GPUs in its own order; /dev/nvidia<minor> is what the kernel module created for each."""
    src = load("h100-sxm5-x4")
    for entry, minor in zip(src["proc"], [2, 3, 0, 1], strict=True):
        entry["minor"] = minor
    facts = _nvidia.combine(
        smi=src["smi"], proc=src["proc"], pci=src["pci"], minors=[0, 1, 2, 3], driver_version="550.90.07"
    )
    by_index = {g["index"]: g["file"] for g in facts["gpus"]}
    assert by_index == {0: "/dev/nvidia2", 1: "/dev/nvidia3", 2: "/dev/nvidia0", 3: "/dev/nvidia1"}
    assert [g["minor"] for g in facts["gpus"]] == [0, 1, 2, 3]


def test_a_gpu_whose_device_file_is_missing_is_not_counted_for_slurm():
    src = load("a100-sxm4-x8")
    src["minors"] = [0, 1, 2, 3, 4, 5, 7]
    facts = _nvidia.combine(**src)
    assert facts["count"] == 8
    assert facts["usable"] == 7
    assert facts["gres"] == "gpu:a100:7"
    assert "/dev/nvidia6" not in facts["files"]


def test_a_container_given_device_files_only():
    """What a container gets from its host's driver: device nodes, no PCI view, no name."""
    facts = _nvidia.combine(smi=[], proc=[], pci=[], minors=[0, 1], driver_version=None)
    assert facts["source"] == "devices"
    assert facts["count"] == 2
    assert facts["gres"] == "gpu:2"
    assert facts["files"] == ["/dev/nvidia0", "/dev/nvidia1"]
    assert not facts["needs_driver"]
    typed = _nvidia.combine(smi=[], proc=[], pci=[], minors=[0, 1], driver_version=None, type_override="a100")
    assert typed["gres"] == "gpu:a100:2"


def test_no_gpu_at_all():
    facts = _nvidia.combine(smi=[], proc=[], pci=[], minors=[], driver_version=None)
    assert facts == {
        "present": False,
        "source": "none",
        "count": 0,
        "usable": 0,
        "gpus": [],
        "types": {},
        "gres": "",
        "files": [],
        "driver_loaded": False,
        "driver_version": None,
        "needs_driver": False,
        "mig": False,
    }


def test_mixed_models_on_one_host_give_one_gres_entry_per_type():
    t4 = load("t4-x1")["smi"][0]
    a6000 = dict(load("rtx-a6000-x2")["smi"][1], index=1)
    facts = _nvidia.combine(smi=[t4, a6000], proc=[], pci=[], minors=[0, 1], driver_version="550.127.05")
    assert facts["gres"] == "gpu:rtx_a6000:1,gpu:t4:1"
    assert facts["types"] == {"t4": 1, "rtx_a6000": 1}


def test_mig_mode_is_reported():
    line = "0, NVIDIA A100-SXM4-80GB, GPU-5f2c1d8e-0000-0000-0000-0000, 00000000:07:00.0, 81920, Enabled, 535.183.06"
    facts = _nvidia.combine(_nvidia.parse_smi_query(line), [], [], [0], "535.183.06")
    assert facts["mig"] is True
    assert facts["gpus"][0]["mig"] is True


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("NVIDIA A100-SXM4-80GB", "a100"),
        ("NVIDIA A100 80GB PCIe", "a100"),
        ("NVIDIA H100 PCIe", "h100"),
        ("NVIDIA H100 NVL", "h100"),
        ("NVIDIA H200", "h200"),
        ("NVIDIA L40S", "l40s"),
        ("NVIDIA GeForce RTX 4090", "rtx_4090"),
        ("Quadro RTX 6000", "rtx_6000"),
        ("Tesla K80", "k80"),
        ("A100 SXM4 40GB", "a100"),
        ("", ""),
    ],
)
def test_gres_type_is_a_substring_of_the_name_slurm_detects(name, expected):
    assert _nvidia.gres_type(name) == expected
    assert expected in name.lower().replace(" ", "_")


def test_unexpected_nvidia_smi_output_is_an_error_not_a_guess():
    with pytest.raises(ValueError, match="unexpected nvidia-smi line"):
        _nvidia.parse_smi_query("NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.")


def test_bus_ids_are_normalised():
    assert _nvidia.normalise_bus_id("00000000:2A:00.0") == "0000:2a:00.0"
    assert _nvidia.normalise_bus_id("2a:00.0") == "0000:2a:00.0"
    assert _nvidia.normalise_bus_id("0000:2a:00.0") == "0000:2a:00.0"
