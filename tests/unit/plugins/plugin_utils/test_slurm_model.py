"""The Slurm model: nodes, partitions, GRES, slurm.conf, restart-only settings and every error, 1 to 5,000 nodes."""

from __future__ import annotations

import re

import pytest
from ansible_collections.hpcstack.cluster.plugins.plugin_utils.slurm_model import build

SETTINGS = {
    "cluster_name": "hpc",
    "controller_group": "slurm_controller",
    "compute_group": "slurm_compute",
    "config_mode": "configless",
    "partitions": [{"name": "batch", "default": True}],
    "conf_options": {},
    "cgroup_options": {},
    "gres_autodetect": "nvml",
    "gres_conf_extra": [],
    "slurmctld_port": 6817,
    "slurmd_port": 6818,
    "slurmdbd_port": 6819,
    "log_dir": "/var/log/slurm",
    "state_save_location": "/var/lib/slurm/slurmctld",
    "slurmd_spool_dir": "/var/lib/slurm/slurmd",
    "controller_host": "ctl.example.org",
    "controller_facts": {"hostname": "ctl"},
    "accounting_host": "ctl.example.org",
    "accounting_facts": {"hostname": "ctl"},
}

# Facts of a 2-core, 24 GiB container, as setup gathers them (gather_subset min + hardware).
FACTS = {
    "processor_vcpus": 2,
    "processor_count": 1,
    "processor_cores": 2,
    "processor_threads_per_core": 1,
    "memtotal_mb": 24105,
}


def gpus(count: int, gpu_type: str = "a100", nvml: bool = False, mig: bool = False) -> dict:
    """hpcstack_gpus as nvidia_gpu_info reports a node with `count` GPUs that have device files."""
    return {
        "present": True,
        "usable": count,
        "gres": f"gpu:{gpu_type}:{count}",
        "nvml_library": nvml,
        "mig": mig,
        "types": {gpu_type: count},
        "gpus": [{"type": gpu_type, "file": f"/dev/nvidia{i}", "uuid": f"GPU-{i}"} for i in range(count)],
    }


def host(name: str, slurm_node: dict | None = None, gres_autodetect: str | None = None, **facts) -> tuple[str, dict]:
    return name, {
        "facts": {"hostname": name.split(".")[0], **FACTS, **facts},
        "slurm_node": slurm_node,
        "gres_autodetect": gres_autodetect,
    }


def cluster(*hosts: tuple[str, dict], **settings) -> dict:
    return build({**SETTINGS, **settings}, dict(hosts))


def given(count: int, **node) -> dict[str, dict]:
    """`count` compute hosts without facts, their hardware in slurm_node (as large sites describe them)."""
    node = node or {"CPUs": 64, "RealMemory": 256000}
    return {f"cn{i:05d}": {"facts": {}, "slurm_node": node, "gres_autodetect": None} for i in range(1, count + 1)}


@pytest.mark.parametrize("count", [1, 2, 16, 1000, 5000])
def test_identical_nodes_share_one_compressed_line_at_any_size(count):
    model = build(SETTINGS, given(count))
    assert model["errors"] == []
    expression = "cn00001" if count == 1 else f"cn[00001-{count:05d}]"
    assert model["node_lines"] == [f"NodeName={expression} CPUs=64 RealMemory=256000"]
    assert model["partition_lines"] == [f"PartitionName=batch Nodes={expression} Default=YES State=UP"]
    assert model["conf"]["DefMemPerCPU"] == str(256000 // 64)
    assert len(model["node_names"]) == count


def test_nodes_from_facts_with_slurm_node_over_them():
    model = cluster(
        host("c01"), host("c02"), host("big", slurm_node={"RealMemory": 500000, "Feature": ["bigmem", "ib"]})
    )
    assert model["node_lines"] == [
        "NodeName=big CPUs=2 Sockets=1 CoresPerSocket=2 ThreadsPerCore=1 RealMemory=500000 Feature=bigmem,ib",
        "NodeName=c[01-02] CPUs=2 Sockets=1 CoresPerSocket=2 ThreadsPerCore=1 RealMemory=24105",
    ]
    assert model["conf"]["DefMemPerCPU"] == str(24105 // 2)
    assert model["node_names"] == {"c01": "c01", "c02": "c02", "big": "big"}


def test_any_layout_key_in_slurm_node_replaces_the_layout_from_facts():
    model = cluster(host("c01", slurm_node={"CPUs": 4}))
    assert model["node_lines"] == ["NodeName=c01 CPUs=4 RealMemory=24105"]


def test_node_name_comes_from_slurm_node_then_facts_then_the_inventory_name():
    model = build(
        SETTINGS,
        {
            "a.example.org": {"facts": {**FACTS, "hostname": "node-a"}, "slurm_node": None},
            "b.example.org": {"facts": {}, "slurm_node": {"CPUs": 2, "RealMemory": 1000}},
            "c.example.org": {"facts": FACTS, "slurm_node": {"NodeName": "gpu7"}},
        },
    )
    assert model["node_names"] == {"a.example.org": "node-a", "b.example.org": "b", "c.example.org": "gpu7"}


def test_mixed_hardware_at_5000_nodes_gives_one_line_per_kind():
    hosts = given(4000) | {
        f"gpu{i:04d}": {"facts": {}, "slurm_node": {"CPUs": 96, "RealMemory": 1024000, "Gres": "gpu:a100:4"}}
        for i in range(1, 1001)
    }
    model = build(
        {**SETTINGS, "partitions": [{"name": "batch", "default": True}, {"name": "gpu", "nodes": "gpu[0001-1000]"}]},
        hosts,
    )
    assert model["errors"] == []
    assert model["node_lines"] == [
        "NodeName=cn[00001-04000] CPUs=64 RealMemory=256000",
        "NodeName=gpu[0001-1000] CPUs=96 RealMemory=1024000 Gres=gpu:a100:4",
    ]
    assert model["partition_lines"][1] == "PartitionName=gpu Nodes=gpu[0001-1000] Default=NO State=UP"
    assert model["conf"]["GresTypes"] == "gpu"
    assert model["conf"]["AccountingStorageTRES"] == "gres/gpu"


def test_a_node_with_its_own_address_gets_its_own_line():
    model = cluster(
        host("c01", slurm_node={"NodeAddr": "10.0.1.11"}), host("c02", slurm_node={"NodeAddr": "10.0.1.12"})
    )
    assert [line.split()[0] for line in model["node_lines"]] == ["NodeName=c01", "NodeName=c02"]


def test_detected_gpus_give_gres_and_device_file_lines_identical_nodes_compressed():
    model = cluster(host("g1", hpcstack_gpus=gpus(2)), host("g2", hpcstack_gpus=gpus(2)), host("c1"))
    assert model["node_lines"][1].endswith("Gres=gpu:a100:2")
    assert model["gres_conf_lines"] == ["NodeName=g[1-2] Name=gpu Type=a100 File=/dev/nvidia[0-1]"]
    assert model["gres_types"] == ["gpu"]
    assert model["conf"]["GresTypes"] == "gpu"


def test_nvml_nodes_autodetect_unless_the_host_says_off():
    model = cluster(
        host("g1", hpcstack_gpus=gpus(4, nvml=True)),
        host("g2", gres_autodetect="off", hpcstack_gpus=gpus(4, nvml=True)),
    )
    assert model["gres_conf_lines"] == [
        "NodeName=g1 AutoDetect=nvml",
        "NodeName=g2 Name=gpu Type=a100 File=/dev/nvidia[0-3]",
    ]


def test_hand_set_gres_takes_no_detected_lines_and_extra_lines_come_last():
    extra = ["NodeName=g1 Name=gpu Type=h100 File=/dev/nvidia[0-7]"]
    model = cluster(host("g1", slurm_node={"Gres": "gpu:h100:8"}, hpcstack_gpus=gpus(2)), gres_conf_extra=extra)
    assert model["gres_conf_lines"] == extra
    assert "Gres=gpu:h100:8" in model["node_lines"][0]


def test_no_accounting_host_no_accounting_settings():
    model = cluster(host("c1"), accounting_host="", accounting_facts={})
    assert not [key for key in model["conf"] if key.startswith("AccountingStorage")]
    model = cluster(host("c1"))
    assert model["conf"]["AccountingStorageHost"] == "ctl"
    assert model["conf"]["AccountingStorageEnforce"] == "associations,limits,qos,safe"
    assert "AccountingStorageTRES" not in model["conf"]


def test_options_override_and_null_removes_push_mode_drops_configless():
    model = cluster(host("c1"), conf_options={"SlurmdTimeout": 20, "KillWait": None}, config_mode="push")
    assert model["conf"]["SlurmdTimeout"] == "20"
    assert "KillWait" not in model["conf"]
    assert "SlurmctldParameters" not in model["conf"]
    assert cluster(host("c1"))["conf"]["SlurmctldParameters"] == "enable_configless"
    assert cluster(host("c1"))["conf"]["SlurmctldHost"] == "ctl"


def test_partitions_hostlists_lists_all_and_options():
    partitions = [
        {"name": "batch", "default": True},
        {"name": "short", "nodes": ["c2", "c1"], "options": {"MaxTime": "00:30:00"}, "state": "DRAIN"},
        {"name": "every", "nodes": "ALL"},
    ]
    model = cluster(host("c1"), host("c2"), partitions=partitions)
    assert model["partition_lines"] == [
        "PartitionName=batch Nodes=c[1-2] Default=YES State=UP",
        "PartitionName=short Nodes=c[1-2] Default=NO MaxTime=00:30:00 State=DRAIN",
        "PartitionName=every Nodes=ALL Default=NO State=UP",
    ]


def test_restart_digest_follows_restart_only_settings_only():
    base = cluster(host("c1"), host("c2"))["restart_digest"]
    assert cluster(host("c1"), host("c2"))["restart_digest"] == base
    # Reconfigure is enough for these: partitions, timeouts.
    assert cluster(host("c1"), host("c2"), partitions=[{"name": "other", "default": True}])["restart_digest"] == base
    assert cluster(host("c1"), host("c2"), conf_options={"SlurmdTimeout": 20})["restart_digest"] == base
    # Only a restart applies these: the node set, a node's features, ports, cgroup.conf, gres.conf.
    assert cluster(host("c1"))["restart_digest"] != base
    assert cluster(host("c1"), host("c2", slurm_node={"Feature": "fast"}))["restart_digest"] != base
    assert cluster(host("c1"), host("c2"), slurmd_port=7000)["restart_digest"] != base
    assert cluster(host("c1"), host("c2"), cgroup_options={"ConstrainSwapSpace": "yes"})["restart_digest"] != base
    assert cluster(host("c1"), host("c2", hpcstack_gpus=gpus(1)))["restart_digest"] != base


def test_hardware_record_keeps_what_the_model_reads():
    model = cluster(host("g1", hpcstack_gpus=gpus(1), ansible_kernel="6.1"))
    record = model["hardware"]["g1"]
    assert record["memtotal_mb"] == 24105
    assert record["hostname"] == "g1"
    assert "ansible_kernel" not in record
    assert record["hpcstack_gpus"]["gpus"] == [{"type": "a100", "file": "/dev/nvidia0"}]
    # The record describes the host as its facts did.
    again = build(SETTINGS, {"g1": {"facts": record, "slurm_node": None}})
    assert again["node_lines"] == model["node_lines"]
    assert again["gres_conf_lines"] == model["gres_conf_lines"]


# The molecule bad-input tests (molecule/shared/slurm/tests/test_slurm_bad_input.py) and the rest: each names the
# variable to fix.
@pytest.mark.parametrize(
    ("hosts", "settings", "message"),
    [
        ([host("c1")], {"partitions": [{"name": "gpu", "nodes": "gpu[01-02]"}]},
         "slurm_partitions[0].nodes of partition 'gpu' names hosts that are not compute nodes: gpu01, gpu02"),
        ([host("c1", slurm_node={"CPUs": 0})], {}, "slurm_node.CPUs of compute host c1 ('c1') is 0"),
        ([host("c1", slurm_node={"CPUs": 2, "RealMemory": "lots"})], {},
         "slurm_node.RealMemory of compute host c1 ('c1') is lots"),
        ([("c1", {"facts": {}, "slurm_node": None})], {},
         "slurm_node.CPUs of compute host c1 ('c1') is None: gather the host's hardware facts"),
        ([host("c1")], {"cluster_name": "Bad Name"}, "slurm_cluster_name 'Bad Name' is not a valid cluster name"),
        ([host("c1")], {"controller_host": ""},
         "slurm_controller_group: the inventory group 'slurm_controller' has no host"),
        ([], {}, "slurm_compute_group: the inventory group 'slurm_compute' has no host"),
        ([host("a", slurm_node={"NodeName": "x"}), host("b", slurm_node={"NodeName": "x"})], {},
         "slurm_node.NodeName: compute hosts a and b are both node 'x'"),
        ([host("c1", slurm_node={"NodeName": "bad name"})], {}, "slurm_node.NodeName of compute host c1 is 'bad name'"),
        ([host("g1", hpcstack_gpus=gpus(2, mig=True))], {},
         "slurm_gres_autodetect: compute host g1 has GPUs in MIG mode"),
        ([host("c1")], {"gres_autodetect": "auto"}, "slurm_gres_autodetect must be one of: nvml, off; it is 'auto'"),
        ([host("c1", gres_autodetect="yes")], {},
         "slurm_gres_autodetect of compute host c1 must be one of: nvml, off; it is 'yes'"),
        ([host("c1")], {"gres_conf_extra": "Name=gpu"}, "slurm_gres_conf_extra must be a list of gres.conf lines"),
        ([host("c1")], {"gres_conf_extra": ["Name=gpu\nNodeName=x"]},
         "slurm_gres_conf_extra must be a list of gres.conf lines"),
        ([host("c1")], {"partitions": [{"name": "a", "default": True}, {"name": "b", "default": True}]},
         "slurm_partitions: more than one partition has default: true"),
        ([host("c1")], {"partitions": [{"nodes": "c1"}]},
         "slurm_partitions[0].name '' is missing or not a valid partition name"),
        ([host("c1")], {"partitions": [{"name": "a", "state": "OPEN"}]},
         "slurm_partitions[0].state 'OPEN' is not one of"),
        ([host("c1")], {"partitions": [{"name": "a", "nodes": "c[1-"}]},
         "slurm_partitions[0].nodes of partition 'a' is not a hostlist"),
        ([host("c1")], {"partitions": "batch"}, "slurm_partitions must be a list of partitions"),
        ([host("c1")], {"partitions": [{"name": "a", "options": {"MaxTime": "1 Nodes=ALL"}}]},
         "slurm_partitions[0].options.MaxTime is '1 Nodes=ALL': partition values are single words"),
        ([host("c1")], {"conf_options": {"SlurmdTimeout": "20\nSlurmUser=root"}},
         "slurm_conf_options.SlurmdTimeout is"),
        ([host("c1")], {"conf_options": {"Bad Key": 1}},
         "slurm_conf_options: 'Bad Key' is not a slurm.conf parameter name"),
        ([host("c1")], {"cgroup_options": ["ConstrainCores"]},
         "slurm_cgroup_options must be a mapping of cgroup.conf parameters"),
        ([host("c1", slurm_node={"Feature": "a b"})], {},
         "slurm_node.Feature of compute host c1 is 'a b': node values"),
    ],
    ids=[
        "unknown-partition-node", "no-cpus", "bad-memory", "no-facts", "bad-cluster-name", "no-controller",
        "no-compute", "duplicate-node-name", "bad-node-name", "mig-without-nvml", "bad-autodetect",
        "bad-host-autodetect", "gres-extra-string", "gres-extra-newline", "two-defaults", "partition-without-name",
        "bad-partition-state", "bad-partition-hostlist", "partitions-not-a-list", "partition-option-injection",
        "conf-option-injection", "bad-conf-key", "cgroup-options-not-a-mapping", "node-value-injection",
    ],
)  # fmt: skip
def test_every_problem_is_reported_naming_the_variable(hosts, settings, message):
    errors = cluster(*hosts, **settings)["errors"]
    assert any(message in error for error in errors), errors


def test_problems_are_all_found_in_one_pass():
    errors = cluster(host("c1", slurm_node={"CPUs": 0}), cluster_name="X", gres_autodetect="auto")["errors"]
    assert len(errors) == 3, errors


def test_a_bad_setting_every_host_inherits_is_one_error():
    # An extra var reaches every host's own variables too: reported once, as the setting, not once per host.
    hosts = [host(f"c{i}", gres_autodetect="yes please") for i in range(1, 4)]
    errors = cluster(*hosts, gres_autodetect="yes please")["errors"]
    assert errors == ["slurm_gres_autodetect must be one of: nvml, off; it is 'yes please'"]


def test_5000_nodes_with_one_mistake_give_a_readable_message():
    errors = build(SETTINGS, given(5000, CPUs=0, RealMemory=1000))["errors"]
    assert len(errors) == 21
    assert errors[-1] == "... and 4980 more like the one before"
    assert all(re.match(r"slurm_node.CPUs of compute host cn\d{5}", error) for error in errors[:20])


# --- elastic nodes (slurm_cloud_nodes): Slurm power saving ---------------------------------------------------------
POWER = {
    "power_resume_timeout": 300,
    "power_suspend_timeout": 120,
    "power_resume_rate": 0,
    "power_suspend_rate": 0,
    "power_launch_backoff": 30,
    "power_orphan_grace": 10,
}
EC2 = {
    "region": "eu-west-1",
    "image_id": "ami-0123456789abcdef0",
    "instance_type": "c6i.large",
    "subnet_id": "subnet-0123456789abcdef0",
    "security_group_ids": ["sg-0123456789abcdef0"],
    "instance_profile": "hpc-compute",
    "munge_key_parameter": "/hpcstack/munge-key",
    "conf_server": "10.0.1.10:6817",
}
DOCKER = {"image": "hpcstack/node:hpc", "network": "vpc", "image_from": "c01", "etc_hosts": {"c02": "10.254.0.22"}}


def elastic(name: str = "cloud", nodes: str = "burst[01-16]", **group) -> dict:
    return {
        "name": name,
        "nodes": nodes,
        "cpus": 4,
        "memory": 8000,
        "features": ["cloud", "elastic"],
        "suspend_time": 120,
        "provider": "docker",
        "docker": DOCKER,
        **group,
    }


def test_elastic_nodes_are_cloud_nodes_in_a_partition_of_their_own_that_alone_power_saves():
    model = cluster(host("c01"), host("c02"), cloud_nodes=[elastic(partition_options={"MaxTime": "1:00:00"})], **POWER)
    assert model["errors"] == []
    assert model["node_lines"] == [
        "NodeName=c[01-02] CPUs=2 Sockets=1 CoresPerSocket=2 ThreadsPerCore=1 RealMemory=24105"
    ]
    assert model["cloud_node_lines"] == [
        "NodeName=burst[01-16] CPUs=4 RealMemory=8000 Feature=cloud,elastic State=CLOUD"
    ]
    # The default partition keeps the static nodes only; the group's partition has its SuspendTime, the cluster none.
    assert model["partition_lines"] == [
        "PartitionName=batch Nodes=c[01-02] Default=YES State=UP",
        "PartitionName=cloud Nodes=burst[01-16] Default=NO SuspendTime=120 MaxTime=1:00:00 State=UP",
    ]
    conf = model["conf"]
    assert conf["SuspendTime"] == "INFINITE"
    assert conf["SlurmctldParameters"] == "enable_configless,idle_on_node_suspend"
    assert conf["PrivateData"] == "cloud"
    assert (conf["ResumeTimeout"], conf["SuspendTimeout"], conf["ResumeRate"], conf["SuspendRate"]) == (
        "300",
        "120",
        "0",
        "0",
    )
    assert conf["ResumeProgram"] == "/usr/local/sbin/hpcstack-resume"
    assert conf["SuspendProgram"] == "/usr/local/sbin/hpcstack-suspend"
    assert conf["ResumeFailProgram"] == "/usr/local/sbin/hpcstack-resume-fail"
    assert conf["DefMemPerCPU"] == str(8000 // 4)  # the elastic nodes' too: every CPU of every node allocatable
    group = model["power"]["groups"][0]
    assert model["power"]["cluster"] == "hpc"
    assert model["power"]["launch_backoff"] == 30
    assert model["power"]["orphan_grace"] == 10
    assert model["power"]["max_nodes"] == 0

    assert group["nodes"] == [f"burst{i:02d}" for i in range(1, 17)]
    assert group["docker"] == {
        "image": "hpcstack/node:hpc",
        "network": "vpc",
        "engine": "unix:///var/run/docker.sock",
        "tls": None,
        "etc_hosts": {"c02": "10.254.0.22"},
        "capabilities": [],
        "devices": [],
        "image_from": "c01",
    }


def test_the_power_programs_get_numbers_where_the_command_line_gave_strings():
    """-e slurm_power_max_nodes=8 is a string: hpcstack-power.json has the number its programs check for."""
    settings = {**POWER, "power_launch_backoff": "45", "power_orphan_grace": "600", "power_max_nodes": "8"}
    model = cluster(host("c01"), cloud_nodes=[elastic()], **settings)
    assert model["errors"] == []
    assert (model["power"]["launch_backoff"], model["power"]["orphan_grace"], model["power"]["max_nodes"]) == (
        45,
        600,
        8,
    )


def test_without_elastic_nodes_nothing_power_saves_and_the_restart_digest_is_unchanged():
    before = cluster(host("c01"))
    assert "SuspendTime" not in before["conf"]
    assert before["power"]["groups"] == []
    assert before["cloud_node_lines"] == []
    assert "idle_on_node_suspend" not in before["conf"]["SlurmctldParameters"]
    with_elastic = cluster(host("c01"), cloud_nodes=[elastic()], **POWER)
    assert with_elastic["restart_digest"] != before["restart_digest"]  # the node set changed: slurmctld restarts


@pytest.mark.parametrize(
    ("groups", "settings", "message"),
    [
        ("nope", {}, "slurm_cloud_nodes must be a list"),
        ([elastic(name="batch")], {}, "slurm_cloud_nodes[0] (batch).name: a partition 'batch' exists already"),
        ([elastic(nodes="c01")], {}, "(cloud).nodes: names already used by other nodes: c01"),
        ([elastic(), elastic(name="more", nodes="burst[16-17]")], {}, "(more).nodes: names already used"),
        ([elastic(nodes="burst[01-")], {}, "(cloud).nodes 'burst[01-' is not a hostlist expression"),
        ([elastic(cpus=0)], {}, "(cloud).cpus is 0: give a positive number"),
        ([elastic(memory="lots")], {}, "(cloud).memory is 'lots'"),
        ([elastic(features="a,b")], {}, "(cloud).features must be a list"),
        ([elastic(suspend_time=-1)], {}, "(cloud).suspend_time is -1"),
        ([elastic(provider="gcp")], {}, "(cloud).provider is 'gcp': use one of docker, ec2"),
        ([elastic(provider="ec2")], {}, "(cloud).ec2 must be a mapping"),
        ([elastic(provider="ec2", ec2={**EC2, "region": "Europe"})], {}, "(cloud).ec2.region is 'Europe'"),
        ([elastic(provider="ec2", ec2={**EC2, "conf_server": "c:1\nx"})], {}, "(cloud).ec2.conf_server is"),
        (
            [elastic(provider="ec2", ec2={**EC2, "security_group_ids": "sg-0123456789abcdef0"})],
            {},
            "security_group_ids",
        ),
        ([elastic(provider="ec2", ec2={**EC2, "munge_key_parameter": "$(id)"})], {}, "(cloud).ec2.munge_key_parameter"),
        ([elastic(provider="ec2", ec2={**EC2, "tags": {"a": "b\nc"}})], {}, "(cloud).ec2.tags must map"),
        ([elastic(docker={"network": "vpc"})], {}, "(cloud).docker.image is None"),
        ([elastic(docker={**DOCKER, "image": "x\nRUN y"})], {}, "(cloud).docker.image is 'x\\nRUN y'"),
        ([elastic(docker={**DOCKER, "engine": "tcp://h:2376"})], {}, "(cloud).docker.tls is missing"),
        ([elastic(docker={**DOCKER, "engine": "http://h"})], {}, "(cloud).docker.engine is 'http://h'"),
        ([elastic(docker={**DOCKER, "etc_hosts": {"a": "b\nc"}})], {}, "(cloud).docker.etc_hosts must map"),
        ([elastic(docker={**DOCKER, "capabilities": ["ALL; rm"]})], {}, "(cloud).docker.capabilities must be"),
        ([elastic(partition_options={"MaxTime": "1 2"})], {}, "(cloud).partition_options.MaxTime is '1 2'"),
        ([elastic()], {"config_mode": "push"}, "slurm_cloud_nodes needs slurm_config_mode configless"),
        ([elastic()], {"power_resume_timeout": 0}, "slurm_power_resume_timeout is 0"),
        ([elastic()], {"power_resume_rate": -1}, "slurm_power_resume_rate is -1"),
        ([elastic()], {"power_launch_backoff": "x"}, "slurm_power_launch_backoff is 'x'"),
        ([elastic()], {"power_orphan_grace": -5}, "slurm_power_orphan_grace is -5"),
        ([elastic()], {"power_max_nodes": -1}, "slurm_power_max_nodes is -1: give a whole number of nodes"),
        ([elastic()], {"power_max_nodes": "4 nodes"}, "slurm_power_max_nodes is '4 nodes'"),
    ],
)
def test_every_elastic_node_problem_names_the_variable(groups, settings, message):
    model = cluster(host("c01"), cloud_nodes=groups, **{**POWER, **settings})
    assert any(message in error for error in model["errors"]), model["errors"]


def test_5000_elastic_nodes_are_one_line_and_one_partition():
    model = cluster(host("c01"), cloud_nodes=[elastic(nodes="burst[00001-05000]")], **POWER)
    assert model["errors"] == []
    assert model["cloud_node_lines"] == [
        "NodeName=burst[00001-05000] CPUs=4 RealMemory=8000 Feature=cloud,elastic State=CLOUD"
    ]
    assert len(model["power"]["groups"][0]["nodes"]) == 5000


def test_an_ec2_group_gives_the_power_programs_its_checked_settings():
    model = cluster(host("c01"), cloud_nodes=[elastic(provider="ec2", ec2={**EC2, "tags": {"project": "x"}})], **POWER)
    assert model["errors"] == []
    group = model["power"]["groups"][0]
    assert group["provider"] == "ec2"
    assert group["ec2"] == {**EC2, "endpoint_url": None, "tags": {"project": "x"}}
    assert "docker" not in group


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("hpcstack/munge-key", "a name in a hierarchy must begin with '/'"),
        ("/aws/munge-key", "may not begin with 'aws' or 'ssm'"),
        ("SSM-munge-key", "may not begin with 'aws' or 'ssm'"),
        ("/" + "/".join(["l"] * 16), "at most 15 levels"),
        ("/hpc/" + "k" * 1000, "a name in eu-west-1 has at most 966 characters"),
        ("/hpc//munge-key", "missing or not a valid munge key parameter"),
        ("/hpc/munge key", "missing or not a valid munge key parameter"),
        ("/hpc/munge-key/", "missing or not a valid munge key parameter"),
        ("", "missing or not a valid munge key parameter"),
    ],
)
def test_a_munge_key_parameter_ssm_refuses_is_an_error_naming_it(name, reason):
    """The role writes the munge key under munge_key_parameter (tasks/power_ssm_key.yml): the model refuses, naming the
    field, a name that SSM would refuse only when the key is put."""
    model = cluster(
        host("c01"), cloud_nodes=[elastic(provider="ec2", ec2={**EC2, "munge_key_parameter": name})], **POWER
    )
    errors = [error for error in model["errors"] if "(cloud).ec2.munge_key_parameter is" in error]
    assert len(errors) == 1, model["errors"]
    assert reason in errors[0]
    assert model["power"]["groups"] == []


@pytest.mark.parametrize(
    "name",
    ["munge-key", "/hpc/munge-key", "/Dev/Prod_1/hpc.cluster/munge-key", "/" + "/".join(["l"] * 15), "/" + "k" * 966],
)
def test_a_munge_key_parameter_ssm_takes_is_kept(name):
    model = cluster(
        host("c01"), cloud_nodes=[elastic(provider="ec2", ec2={**EC2, "munge_key_parameter": name})], **POWER
    )
    assert model["errors"] == []
    assert model["power"]["groups"][0]["ec2"]["munge_key_parameter"] == name
