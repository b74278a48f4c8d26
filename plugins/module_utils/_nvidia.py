# Copyright: (c) 2026, hpcstack maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What an NVIDIA GPU host looks like, from the text its tools print (private to the collection).

Four sources, each answering a different question, in the order of how much they know:

- ``nvidia-smi --query-gpu`` (driver loaded): index, product name, UUID, PCI bus id, memory, MIG mode;
- ``/proc/driver/nvidia/gpus/<bus id>/information`` (driver loaded): the device minor, so the right
  ``/dev/nvidia<minor>`` goes with each GPU (nvidia-smi's index is an enumeration order, not the minor);
- ``lspci -Dnn`` (or sysfs): NVIDIA display/3D controllers on the PCI bus, also before any driver is installed;
- ``/dev/nvidia<N>`` character devices (major 195): what a container is given when its host's driver serves it.

``combine`` turns them into one list of GPUs plus what Slurm needs: a GRES type per GPU, the device files, and
the ``gpu:<type>:<count>`` string of slurm.conf. Parsing is kept apart from I/O so it is tested on recorded output.
"""

from __future__ import annotations

import re
from typing import Any

NVIDIA_VENDOR = "10de"
NVIDIA_MAJOR = 195
# PCI classes of a GPU: VGA compatible controller (0300) and 3D controller (0302). Not the audio function of a
# consumer card (0403) nor an NVSwitch (0680).
GPU_CLASSES = ("0300", "0302")
QUERY_FIELDS = ("index", "name", "uuid", "pci.bus_id", "memory.total", "mig.mode.current", "driver_version")

_LSPCI_LINE = re.compile(
    r"^(?P<bus>(?:[0-9a-f]{4}:)?[0-9a-f]{2}:[0-9a-f]{2}\.[0-7])\s+(?P<desc>.*?)\s+\[(?P<cls>[0-9a-f]{4})\]:\s+"
    r"(?P<rest>.*)\s+\[(?P<vendor>[0-9a-f]{4}):(?P<device>[0-9a-f]{4})\]",
    re.IGNORECASE,
)
_BRACKET_NAME = re.compile(r"\[([^\]]+)\]\s*$")
_DEVICE_FILE = re.compile(r"^nvidia(\d+)$")
# Tokens that tell memory size or form factor, not the model: dropped from the end of a GRES type.
_TRAILING_TOKEN = re.compile(r"_(?:\d+gb|pcie|sxm\d*|hbm\d*e?|nvl|oam|smx\d*|mxm)$")
_LEADING_BRANDS = ("nvidia ", "tesla ", "geforce ", "quadro ")


def normalise_bus_id(bus_id: str) -> str:
    """PCI address as ``dddd:bb:dd.f`` in lower case (nvidia-smi prints an 8-digit domain, lspci without -D none)."""
    bus_id = bus_id.strip().lower()
    parts = bus_id.split(":")
    if len(parts) == 2:
        parts.insert(0, "0000")
    parts[0] = parts[0][-4:].rjust(4, "0")
    return ":".join(parts)


def parse_lspci(text: str) -> list[dict[str, Any]]:
    """NVIDIA GPUs in ``lspci -Dnn`` output: bus id, PCI device id and the marketing name lspci knows."""
    gpus = []
    for line in text.splitlines():
        match = _LSPCI_LINE.match(line.strip())
        if not match or match["vendor"].lower() != NVIDIA_VENDOR or match["cls"] not in GPU_CLASSES:
            continue
        rest = match["rest"]
        bracket = _BRACKET_NAME.search(rest)
        # "NVIDIA Corporation GA100 [A100 SXM4 40GB]" -> "A100 SXM4 40GB"; without a known name, the chip.
        name = bracket.group(1) if bracket else rest.replace("NVIDIA Corporation", "").strip()
        gpus.append({"bus_id": normalise_bus_id(match["bus"]), "device_id": match["device"].lower(), "name": name})
    return gpus


def parse_smi_query(text: str) -> list[dict[str, Any]]:
    """``nvidia-smi --query-gpu=<QUERY_FIELDS> --format=csv,noheader,nounits`` output, one dict per GPU."""
    gpus = []
    for line in text.splitlines():
        if not line.strip():
            continue
        fields = [field.strip() for field in line.split(",")]
        if len(fields) != len(QUERY_FIELDS) or not fields[0].isdigit():
            raise ValueError(f"unexpected nvidia-smi line (want {len(QUERY_FIELDS)} fields): {line!r}")
        row = dict(zip(QUERY_FIELDS, fields, strict=True))
        memory = row["memory.total"]
        gpus.append(
            {
                "index": int(row["index"]),
                "name": row["name"],
                "uuid": row["uuid"],
                "bus_id": normalise_bus_id(row["pci.bus_id"]),
                "memory_mib": int(memory) if memory.isdigit() else None,
                # "Enabled"/"Disabled"; "[N/A]" on GPUs without MIG.
                "mig": row["mig.mode.current"].lower() == "enabled",
                "driver_version": row["driver_version"],
            }
        )
    return gpus


def parse_proc_information(text: str) -> dict[str, Any]:
    """One ``/proc/driver/nvidia/gpus/<bus id>/information`` file: model, UUID, bus location, device minor."""
    values = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            values[key.strip().lower()] = value.strip()
    minor = values.get("device minor", "")
    return {
        "name": values.get("model", ""),
        "uuid": values.get("gpu uuid", ""),
        "bus_id": normalise_bus_id(values["bus location"]) if values.get("bus location") else "",
        "minor": int(minor) if minor.isdigit() else None,
    }


def parse_proc_version(text: str) -> str | None:
    """The kernel module's version from ``/proc/driver/nvidia/version``."""
    match = re.search(r"Kernel Module\s+(?:for \S+\s+)?(\d+(?:\.\d+)+)", text)
    return match.group(1) if match else None


def device_minors(entries: list[tuple[str, bool, int]]) -> list[int]:
    """Minors of the GPU device files among ``(name, is_char_device, major)`` entries of /dev, sorted.

    ``/dev/nvidiactl``, ``nvidia-uvm`` and ``nvidia-caps`` are not GPUs; a plain file named nvidia0 is not one either.
    """
    minors = []
    for name, is_char, major in entries:
        match = _DEVICE_FILE.match(name)
        if match and is_char and major == NVIDIA_MAJOR:
            minors.append(int(match.group(1)))
    return sorted(minors)


def gres_type(name: str) -> str:
    """A short Slurm GRES type for a product name: ``NVIDIA A100-SXM4-40GB`` -> ``a100``.

    Slurm's NVML autodetection names a GPU by its product name in lower case with spaces as underscores
    (``nvidia_a100-sxm4-40gb``) and matches the type of slurm.conf as a substring of it. Every type made here is
    such a substring: brands are cut from the front, form factor and memory size from the back.
    """
    value = " ".join(name.lower().split())
    for brand in _LEADING_BRANDS:
        if value.startswith(brand):
            value = value[len(brand) :]
    value = value.replace(" ", "_").split("-")[0]
    while True:
        shorter = _TRAILING_TOKEN.sub("", value)
        if shorter == value:
            break
        value = shorter
    return value if re.fullmatch(r"[a-z0-9][a-z0-9_.]*", value) else ""


def combine(
    smi: list[dict[str, Any]],
    proc: list[dict[str, Any]],
    pci: list[dict[str, Any]],
    minors: list[int],
    driver_version: str | None,
    type_override: str = "",
) -> dict[str, Any]:
    """One view of the host's GPUs from whichever sources answered.

    Each GPU gets: index, name, type, uuid, bus_id, memory_mib, mig, minor and file (its /dev node, None when the
    device file does not exist). ``gres`` is slurm.conf's ``gpu:<type>:<n>[,...]`` (untyped ``gpu:<n>`` when no
    name is known) and counts only GPUs a job can use, i.e. with a device file.
    """
    proc_by_bus = {entry["bus_id"]: entry for entry in proc}
    present = set(minors)

    def record(index, minor, name="", bus_id="", uuid="", memory_mib=None, mig=False) -> dict[str, Any]:
        return {"index": index, "name": name, "uuid": uuid, "bus_id": bus_id, "memory_mib": memory_mib,
                "mig": bool(mig), "minor": minor}  # fmt: skip

    gpus: list[dict[str, Any]]
    if smi or proc:
        source = "nvidia-smi" if smi else "proc"
        rows = smi or [dict(entry, index=i) for i, entry in enumerate(proc)]
        gpus = []
        for row in rows:
            minor = proc_by_bus.get(row["bus_id"], {}).get("minor")
            if minor is None:
                minor = row.get("minor", row["index"])
            gpus.append(
                record(row["index"], minor, row["name"], row["bus_id"], row.get("uuid", ""), row.get("memory_mib"),
                       row.get("mig"))
            )  # fmt: skip
    elif pci:
        source = "pci"
        # No driver: the GPUs are on the bus but have no device files yet.
        gpus = [record(i, None, entry["name"], entry["bus_id"]) for i, entry in enumerate(pci)]
    elif minors:
        source = "devices"
        # A container given its host's GPUs: device files, no PCI view of them, no name.
        gpus = [record(i, minor) for i, minor in enumerate(minors)]
    else:
        source = "none"
        gpus = []
    for gpu in gpus:
        gpu["type"] = type_override or gres_type(gpu["name"])
        gpu["file"] = f"/dev/nvidia{gpu['minor']}" if gpu["minor"] is not None and gpu["minor"] in present else None
    gpus.sort(key=lambda gpu: (gpu["minor"] is None, gpu["minor"] if gpu["minor"] is not None else gpu["index"]))

    usable = [gpu for gpu in gpus if gpu["file"]]
    counts: dict[str, int] = {}
    for gpu in usable:
        counts[gpu["type"]] = counts.get(gpu["type"], 0) + 1
    gres = ",".join(f"gpu:{gpu_type}:{n}" if gpu_type else f"gpu:{n}" for gpu_type, n in sorted(counts.items()))
    return {
        "present": bool(gpus),
        "source": source,
        "count": len(gpus),
        "usable": len(usable),
        "gpus": gpus,
        "types": counts,
        "gres": gres,
        "files": [gpu["file"] for gpu in usable],
        "driver_loaded": driver_version is not None,
        "driver_version": driver_version,
        # GPUs seen on this host's PCI bus with no driver loaded: the driver is this host's to install. A container
        # that has device files but no PCI view of its GPUs gets its driver from its host.
        "needs_driver": bool(pci) and driver_version is None,
        "mig": any(gpu["mig"] for gpu in gpus),
    }
