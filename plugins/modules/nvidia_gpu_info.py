#!/usr/bin/python
# Copyright: (c) 2026, hpcstack maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Detect a host's NVIDIA GPUs, their driver and what Slurm's GRES needs (changes nothing)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: nvidia_gpu_info
short_description: Detect NVIDIA GPUs, their driver and their Slurm GRES
version_added: 0.1.0
description:
  - Looks for NVIDIA GPUs in four places and combines what they say. C(nvidia-smi --query-gpu) and
    C(/proc/driver/nvidia/gpus/*/information) when the driver is loaded (names, UUIDs, memory, MIG mode, device
    minors); the PCI bus (C(lspci -Dnn), or sysfs where pciutils is missing), which shows GPUs before a driver is
    installed; and C(/dev/nvidia<N>) character devices with NVIDIA's major number 195, which is what a container
    sees when its host's driver serves it.
  - Returns the fact C(hpcstack_gpus), from which the Slurm roles build the node's C(Gres=) and its gres.conf lines.
  - Changes nothing, so it runs in check mode too. On a host without NVIDIA GPUs it returns C(present=false).
extends_documentation_fragment:
  - hpcstack.cluster.info
options:
  gres_type:
    description:
      - The Slurm GRES type to give every GPU of the host instead of the one made from its product name
        (C(NVIDIA A100-SXM4-80GB) gives C(a100)). Use it when the name is unknown (device files only) or a site
        names its types differently.
    type: str
    default: ""
  nvidia_smi:
    description: The nvidia-smi binary (a name looked up in PATH, or a path).
    type: str
    default: nvidia-smi
  slurm_plugin_dirs:
    description: Directories where Slurm's C(gpu_nvml.so) plugin may be installed.
    type: list
    elements: path
    default:
      - /usr/lib/x86_64-linux-gnu/slurm-wlm
      - /usr/lib/aarch64-linux-gnu/slurm-wlm
      - /usr/lib64/slurm
      - /usr/lib/slurm
author:
  - hpcstack maintainers (@hpcstack)
"""

EXAMPLES = r"""
- name: Detect GPUs
  hpcstack.cluster.nvidia_gpu_info:

- name: Say what was found
  ansible.builtin.debug:
    msg: "{{ ansible_facts.hpcstack_gpus.count }} GPU(s): {{ ansible_facts.hpcstack_gpus.gres }}"
"""

RETURN = r"""
ansible_facts:
  description: The detection result as the fact C(hpcstack_gpus).
  returned: always
  type: complex
  contains:
    hpcstack_gpus:
      description:
        - C(present), C(count), C(usable) (GPUs with a device file), C(source) (nvidia-smi, proc, pci, devices or
          none), C(gpus) (index, name, type, uuid, bus_id, memory_mib, mig, minor, file), C(types) (count per GRES
          type), C(gres) (slurm.conf's C(gpu:<type>:<n>)), C(files), C(driver_loaded), C(driver_version),
          C(needs_driver) (GPUs on the PCI bus and no driver), C(mig), C(nvml_library) (libnvidia-ml found),
          C(slurm_nvml_plugin) (Slurm's gpu/nvml plugin installed).
      type: dict
      sample: {"present": true, "count": 2, "usable": 2, "source": "nvidia-smi", "gres": "gpu:a100:2",
               "files": ["/dev/nvidia0", "/dev/nvidia1"], "driver_loaded": true, "driver_version": "535.183.06",
               "needs_driver": false, "mig": false, "nvml_library": true, "slurm_nvml_plugin": false}
"""

import glob
import os
import re
import stat

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.hpcstack.cluster.plugins.module_utils import _nvidia

NVML_LIBRARY_GLOBS = (
    "/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1",
    "/usr/lib/aarch64-linux-gnu/libnvidia-ml.so.1",
    "/usr/lib64/libnvidia-ml.so.1",
    "/usr/lib/libnvidia-ml.so.1",
    "/usr/lib/x86_64-linux-gnu/nvidia/current/libnvidia-ml.so.1",
)


def read(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except OSError:
        return ""


def pci_gpus(module: AnsibleModule) -> list[dict]:
    """NVIDIA GPUs on the PCI bus: lspci's view (with names) where pciutils is installed, sysfs's otherwise."""
    lspci = module.get_bin_path("lspci")
    if lspci:
        rc, out, _err = module.run_command([lspci, "-Dnn", "-d", f"{_nvidia.NVIDIA_VENDOR}:"])
        if rc == 0:
            return _nvidia.parse_lspci(out)
    lines = []
    for device in sorted(glob.glob("/sys/bus/pci/devices/*")):
        vendor = read(os.path.join(device, "vendor")).strip().lower().replace("0x", "")
        pci_class = read(os.path.join(device, "class")).strip().lower().replace("0x", "")[:4]
        device_id = read(os.path.join(device, "device")).strip().lower().replace("0x", "")
        if vendor and pci_class and device_id:
            # The same line shape as lspci -Dnn, so one parser reads both.
            lines.append(
                f"{os.path.basename(device)} Device [{pci_class}]: NVIDIA Corporation Device [{vendor}:{device_id}]"
            )
    return _nvidia.parse_lspci("\n".join(lines))


def dev_entries() -> list[tuple[str, bool, int]]:
    entries = []
    for path in glob.glob("/dev/nvidia*"):
        try:
            info = os.stat(path)
        except OSError:
            continue
        is_char = stat.S_ISCHR(info.st_mode)
        entries.append((os.path.basename(path), is_char, os.major(info.st_rdev) if is_char else -1))
    return entries


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "gres_type": {"type": "str", "default": ""},
            "nvidia_smi": {"type": "str", "default": "nvidia-smi"},
            "slurm_plugin_dirs": {
                "type": "list",
                "elements": "path",
                "default": [
                    "/usr/lib/x86_64-linux-gnu/slurm-wlm",
                    "/usr/lib/aarch64-linux-gnu/slurm-wlm",
                    "/usr/lib64/slurm",
                    "/usr/lib/slurm",
                ],
            },
        },
        supports_check_mode=True,
    )
    gres_type = module.params["gres_type"]
    if gres_type and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", gres_type):
        module.fail_json(msg=f"gres_type '{gres_type}' is not a valid GRES type: use letters, digits, '_', '.' or '-'")

    driver_version = _nvidia.parse_proc_version(read("/proc/driver/nvidia/version"))
    proc = []
    for info in sorted(glob.glob("/proc/driver/nvidia/gpus/*/information")):
        entry = _nvidia.parse_proc_information(read(info))
        if entry["bus_id"]:
            proc.append(entry)
    smi = []
    smi_error = ""
    smi_path = module.get_bin_path(module.params["nvidia_smi"]) if driver_version else None
    if smi_path:
        rc, out, err = module.run_command(
            [smi_path, "--query-gpu=" + ",".join(_nvidia.QUERY_FIELDS), "--format=csv,noheader,nounits"]
        )
        if rc == 0:
            try:
                smi = _nvidia.parse_smi_query(out)
            except ValueError as exc:
                smi_error = str(exc)
        else:
            smi_error = (err or out).strip()
    minors = _nvidia.device_minors(dev_entries())
    facts = _nvidia.combine(smi, proc, pci_gpus(module), minors, driver_version, gres_type)
    facts["nvml_library"] = any(os.path.exists(path) for path in NVML_LIBRARY_GLOBS)
    facts["slurm_nvml_plugin"] = any(
        os.path.exists(os.path.join(directory, "gpu_nvml.so")) for directory in module.params["slurm_plugin_dirs"]
    )
    facts["nvidia_smi_error"] = smi_error
    module.exit_json(changed=False, ansible_facts={"hpcstack_gpus": facts})


if __name__ == "__main__":
    main()
