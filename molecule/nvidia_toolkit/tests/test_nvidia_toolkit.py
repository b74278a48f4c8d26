"""GPUs on real Slurm: detection, GRES, device confinement, accounting, the GPU-less node, bad input.

gpu-c1 has two GPU device files (195:0, 195:1; prepare.yml), gpu-c2 none. No driver answers behind the files, so
opening one fails with ENXIO ("No such device or address") where the job's cgroup allows it and with EPERM
("Operation not permitted") where it does not: that tells which GPUs a job was given.
"""

from __future__ import annotations

import os
import re

import pytest

GPU_NODE = "gpu-c1"
PLAIN_NODE = "gpu-c2"
CONVERGE = [
    {"ansible.builtin.import_playbook": "hpcstack.cluster.slurm"},
    {"ansible.builtin.import_playbook": "hpcstack.cluster.nvidia"},
]
ALLOWED = "No such device or address"
DENIED = "Operation not permitted"
# Opens each GPU device file and prints "<n> <what the open said>", then CUDA_VISIBLE_DEVICES.
PROBE = (
    'for d in 0 1; do printf "nvidia%s %s\\n" $d "$(head -c1 /dev/nvidia$d 2>&1 >/dev/null)"; done; '
    'echo "CUDA_VISIBLE_DEVICES=${CUDA_VISIBLE_DEVICES-unset}"'
)


@pytest.fixture(scope="module")
def controller(node, group_hosts):
    return node(group_hosts("slurm_controller")[0])


def probe(controller, *srun_args: str) -> tuple[dict[str, str], str]:
    """Run PROBE as a job on gpu-c1; return {device: open result} and CUDA_VISIBLE_DEVICES."""
    result = controller.run(f"srun --nodelist={GPU_NODE} {' '.join(srun_args)} bash -c %s", PROBE)
    assert "CUDA_VISIBLE_DEVICES=" in result.stdout, result.stdout + result.stderr
    devices = {}
    for line in result.stdout.splitlines():
        if line.startswith("nvidia"):
            name, said = line.split(" ", 1)
            devices[name] = ALLOWED if ALLOWED in said else DENIED if DENIED in said else said
    visible = re.search(r"CUDA_VISIBLE_DEVICES=(\S*)", result.stdout).group(1)
    return devices, visible


def node_fields(controller, name: str) -> dict[str, str]:
    line = controller.check_output("scontrol show node --oneliner %s", name)
    return dict(word.split("=", 1) for word in line.split() if "=" in word)


# --- detection ---------------------------------------------------------------------------------------------------


def test_detection_finds_the_device_files_of_a_container_given_gpus(node):
    facts = node(GPU_NODE).ansible("hpcstack.cluster.nvidia_gpu_info", "gres_type=a100", check=False)["ansible_facts"]
    gpus = facts["hpcstack_gpus"]
    assert gpus["present"]
    assert gpus["source"] == "devices"
    assert gpus["count"] == gpus["usable"] == 2
    assert gpus["files"] == ["/dev/nvidia0", "/dev/nvidia1"]
    assert gpus["gres"] == "gpu:a100:2"
    # No PCI view of the GPUs and no driver in the container: the driver is its host's, nothing to install.
    assert not gpus["driver_loaded"]
    assert not gpus["needs_driver"]


def test_detection_finds_nothing_on_the_plain_node(node):
    gpus = node(PLAIN_NODE).ansible("hpcstack.cluster.nvidia_gpu_info", check=False)["ansible_facts"]["hpcstack_gpus"]
    assert gpus["present"] is False
    assert gpus["count"] == 0
    assert gpus["gres"] == ""


# --- Slurm's configuration ---------------------------------------------------------------------------------------


def test_slurm_knows_the_gpus(controller):
    conf = controller.file("/etc/slurm/slurm.conf").content_string
    assert "\nGresTypes=gpu\n" in conf
    assert "\nAccountingStorageTRES=gres/gpu\n" in conf
    assert node_fields(controller, GPU_NODE)["Gres"] == "gpu:a100:2"
    assert node_fields(controller, PLAIN_NODE)["Gres"] == "(null)"


def test_gres_conf_lists_the_device_files_of_the_gpu_node_only(controller):
    lines = [
        line for line in controller.file("/etc/slurm/gres.conf").content_string.splitlines() if not line.startswith("#")
    ]
    # No NVML library on gpu-c1 (no driver in the container), so the files are listed rather than autodetected.
    assert lines == [f"NodeName={GPU_NODE} Name=gpu Type=a100 File=/dev/nvidia[0-1]"]


def test_devices_are_confined_by_cgroup(controller):
    assert "ConstrainDevices=yes" in controller.file("/etc/slurm/cgroup.conf").content_string


# --- scheduling --------------------------------------------------------------------------------------------------


def test_a_job_asking_for_one_gpu_gets_exactly_one(controller):
    devices, visible = probe(controller, "--gres=gpu:1")
    assert visible == "0"
    assert sorted(devices.values()) == [ALLOWED, DENIED], devices


def test_a_job_asking_for_two_gpus_gets_both(controller):
    devices, visible = probe(controller, "--gres=gpu:a100:2")
    assert visible == "0,1"
    assert devices == {"nvidia0": ALLOWED, "nvidia1": ALLOWED}


def test_a_job_without_gpus_can_open_none(controller):
    devices, visible = probe(controller)
    assert visible == "unset"
    assert devices == {"nvidia0": DENIED, "nvidia1": DENIED}


def test_two_one_gpu_jobs_at_once_get_different_gpus(controller):
    """Two jobs running together on the node: each sees its own GPU as CUDA device 0 and cannot open the other's."""
    out = controller.check_output(
        "for i in 1 2; do srun --nodelist=%s --gres=gpu:1 --cpus-per-task=1 bash -c %s & done; wait",
        GPU_NODE,
        'sleep 2; for d in 0 1; do head -c1 /dev/nvidia$d 2>&1 | grep -q "No such device" && echo "got nvidia$d"; done',
    )
    assert sorted(out.split()) == ["got", "got", "nvidia0", "nvidia1"], out


@pytest.mark.parametrize(
    "request_",
    ["--gres=gpu:3", "--gres=gpu:a100:3", "--gres=gpu:h100:1", f"--nodelist={PLAIN_NODE} --gres=gpu:1"],
    ids=["more-than-exist", "more-of-the-type", "unknown-type", "gpu-less-node"],
)
def test_a_job_asking_for_gpus_that_do_not_exist_is_refused(controller, request_):
    result = controller.run(f"srun --immediate=10 {request_} true")
    assert result.rc != 0
    assert "Requested node configuration is not available" in result.stderr


def test_accounting_records_the_gpus_of_a_job(controller, wait_for):
    job_id = controller.check_output(
        "sbatch --parsable --nodelist=%s --gres=gpu:2 --wrap %s", GPU_NODE, "echo $CUDA_VISIBLE_DEVICES"
    ).split(";")[0]
    tres = wait_for(
        lambda: controller.check_output("sacct --noheader --parsable2 -X --jobs %s --format=State,AllocTRES", job_id),
        lambda row: row.startswith("COMPLETED|"),
        60,
        f"job {job_id} in sacct",
    )
    alloc = dict(item.split("=", 1) for item in tres.split("|", 1)[1].split(","))
    assert alloc["gres/gpu"] == "2"
    assert controller.check_output("sacctmgr --noheader --parsable2 show tres type=gres format=Type,Name") == "gres|gpu"


# --- the NVIDIA layer --------------------------------------------------------------------------------------------


def test_the_gpu_less_node_has_nothing_nvidia(node):
    host = node(PLAIN_NODE)
    packages = host.check_output("dpkg-query --show --showformat='${Package}\\n'").split()
    assert not [p for p in packages if "nvidia" in p], packages
    assert not host.file("/etc/apt/sources.list.d/nvidia-container-toolkit.sources").exists
    assert not host.file("/etc/systemd/system/hpcstack-dcgm-exporter.service").exists


def test_the_gpu_node_keeps_its_hosts_driver(node):
    """Device files without a PCI view: the driver is the host's, so no driver package is installed here."""
    packages = node(GPU_NODE).check_output("dpkg-query --show --showformat='${Package}\\n'").split()
    assert "nvidia-driver" not in packages
    assert "slurm-wlm-nvml-plugin" not in packages


def test_the_nvidia_play_says_what_it_did_and_changes_nothing(run_playbook):
    result = run_playbook([{"ansible.builtin.import_playbook": "hpcstack.cluster.nvidia"}])
    assert result.returncode == 0, result.stdout + result.stderr
    plain = re.sub(r"\x1b\[[0-9;]*m", "", result.stdout)
    out = " ".join(plain.split())
    assert f"{PLAIN_NODE}: no NVIDIA GPU found" in out
    assert f"{GPU_NODE}: 2 GPU(s) (gpu:a100:2), device files given by the host" in out
    assert re.search(rf"{GPU_NODE}\s*: ok=\d+\s+changed=0", plain)
    assert re.search(rf"{PLAIN_NODE}\s*: ok=\d+\s+changed=0", plain)


def test_gpu_hosts_join_the_group_prometheus_scrapes(run_playbook):
    """Detection puts gpu-c1 (and only it) in group gpu: Prometheus' job `gpu` (prometheus_gpu_group) targets it."""
    plays = [
        {
            "hosts": "slurm_compute",
            "gather_facts": False,
            "tasks": [
                {
                    "ansible.builtin.include_role": {
                        "name": "hpcstack.cluster.nvidia_toolkit",
                        "tasks_from": "detect.yml",
                    },
                }
            ],
        },
        {
            "hosts": "localhost",
            "gather_facts": False,
            "tasks": [{"ansible.builtin.debug": {"msg": "gpu group: {{ groups['gpu'] | default([]) | join(',') }}"}}],
        },
    ]
    result = run_playbook(plays)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f'gpu group: {GPU_NODE}"' in result.stdout


@pytest.mark.skipif(
    not os.environ.get("NVIDIA_CONTAINER_TOOLKIT_REPO_URL"),
    reason="NVIDIA's container toolkit repository is not reachable here: set NVIDIA_CONTAINER_TOOLKIT_REPO_URL "
    "(and NVIDIA_CONTAINER_TOOLKIT_KEY_URL) to a mirror to run this",
)
def test_the_container_toolkit_comes_from_the_configured_repository(node):
    host = node(GPU_NODE)
    assert host.package("nvidia-container-toolkit").is_installed
    assert (
        os.environ["NVIDIA_CONTAINER_TOOLKIT_REPO_URL"]
        in host.file("/etc/apt/sources.list.d/nvidia-container-toolkit.sources").content_string
    )
    assert host.run("nvidia-ctk --version").rc == 0


# --- bad input ---------------------------------------------------------------------------------------------------


@pytest.fixture
def unchanged(node, group_hosts, controller):
    """A failed run leaves Slurm's files and every daemon as they were."""

    def snapshot() -> dict:
        state = {
            path: controller.run("sha256sum %s", path).stdout
            for path in ("/etc/slurm/slurm.conf", "/etc/slurm/gres.conf")
        }
        state["slurmctld"] = controller.check_output("systemctl show --property=MainPID --value slurmctld")
        for name in group_hosts("slurm_compute"):
            state[name] = node(name).check_output("systemctl show --property=MainPID --value slurmd")
        return state

    before = snapshot()
    yield
    assert snapshot() == before


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize(
    ("extra_vars", "message"),
    [
        ({"nvidia_toolkit_gres_type": "a100 80gb"}, "nvidia_toolkit_gres_type is 'a100 80gb'; give a GRES type"),
        (
            {"nvidia_toolkit_dcgm_exporter_port": 99999},
            "nvidia_toolkit_dcgm_exporter_port is '99999'; give a port number",
        ),
        ({"nvidia_toolkit_driver_packages": "nvidia-driver"}, "nvidia_toolkit_driver_packages must be a list"),
        ({"slurm_gres_autodetect": "yes please"}, "slurm_gres_autodetect must be one of: nvml, off"),
        ({"slurm_gres_conf_extra": ["Gres=gpu:2"]}, "slurm_gres_conf_extra must be a list of gres.conf lines"),
    ],
    ids=["gres-type", "dcgm-port", "driver-packages", "autodetect", "gres-conf-extra"],
)
def test_bad_variable_fails_before_anything_changes(run_playbook, extra_vars, message):
    result = run_playbook(CONVERGE, extra_vars)
    assert result.returncode != 0, "the run succeeded"
    out = " ".join((result.stdout + result.stderr).split())
    assert message in out
    assert "Install the munge packages" not in out, "a host was touched before the check failed"
