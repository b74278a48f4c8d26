"""The hybrid inventory against a moto EC2 server on 127.0.0.1 and real containers on the local Docker engine.

One inventory holds both, grouped by role, with the connection variables Ansible needs; `ansible -m ping` reaches
the containers through it. The test makes its own instances (in moto) and containers, and removes them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import docker
import pytest
import yaml
from conftest import hosts_of, run_reference_instances

CLUSTER = "invtest"
IMAGE = "hpcstack/debian:bookworm"
CONTAINERS = {
    "hpcstack-invtest-onprem01": "slurm_compute",
    "hpcstack-invtest-onprem02": "slurm_compute,spack_buildhost",
}


@pytest.fixture(scope="module")
def containers() -> Iterator[list[str]]:
    """Two containers of the cluster and one of another cluster, removed at the end."""
    client = docker.from_env()
    names = [*CONTAINERS, "hpcstack-invtest-other"]
    for name in names:
        with contextlib.suppress(docker.errors.NotFound):
            client.containers.get(name).remove(force=True)
    for name, roles in CONTAINERS.items():
        labels = {"org.hpcstack.cluster": CLUSTER, "org.hpcstack.role": roles}
        client.containers.run(IMAGE, ["sleep", "infinity"], name=name, labels=labels, detach=True)
    other = {"org.hpcstack.cluster": "someone-else", "org.hpcstack.role": "slurm_compute"}
    client.containers.run(IMAGE, ["sleep", "infinity"], name=names[-1], labels=other, detach=True)
    yield list(CONTAINERS)
    for name in names:
        client.containers.get(name).remove(force=True)
    client.close()


def make_cluster(moto: Any) -> dict[str, str]:
    """A VPC with a bastion in a public subnet and a controller and two compute nodes in a private one."""
    ids = run_reference_instances(
        moto,
        [
            ("bastion01", "bastion", CLUSTER),
            ("ctl01", "slurm_controller,slurmdbd,monitoring", CLUSTER),
            ("c01", "slurm_compute", CLUSTER),
            ("c02", "slurm_compute", CLUSTER),
            ("stranger", "slurm_compute", "someone-else"),
        ],
        "c5n.18xlarge",
    )
    ec2 = boto3.client("ec2", endpoint_url=moto.url)
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    private = ec2.describe_subnets(Filters=[{"Name": "cidr-block", "Values": ["10.0.1.0/24"]}])["Subnets"][0]
    stopped = ec2.run_instances(
        ImageId=image,
        MinCount=1,
        MaxCount=1,
        SubnetId=private["SubnetId"],
        TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "hpc_cluster", "Value": CLUSTER}]}],
    )["Instances"][0]["InstanceId"]
    ec2.stop_instances(InstanceIds=[stopped])
    return ids


def write_config(path: Path, **options: object) -> Path:
    config = {"plugin": "hpcstack.cluster.hybrid", "cluster": CLUSTER, "regions": ["eu-west-1"], **options}
    path.write_text(yaml.safe_dump(config))
    return path


def test_one_inventory_holds_both_sources_grouped_and_wired(moto, containers, inventory_list, tmp_path) -> None:
    ids = make_cluster(moto)
    data = inventory_list(write_config(tmp_path / "cluster.hybrid.yml", endpoint_url=moto.url))[0]
    hostvars = data["_meta"]["hostvars"]
    # Only this cluster's running instances and containers.
    assert set(hostvars) == {"bastion01", "ctl01", "c01", "c02", *containers}
    assert hosts_of(data, "bastion") == {"bastion01"}
    assert hosts_of(data, "slurm_controller") == {"ctl01"}
    assert hosts_of(data, "monitoring") == {"ctl01"}
    assert hosts_of(data, "slurm_compute") == {"c01", "c02", *containers}
    assert hosts_of(data, "spack_buildhost") == {"hpcstack-invtest-onprem02"}
    assert hosts_of(data, "cluster") == {"ctl01", "c01", "c02", *containers}
    assert hosts_of(data, "ec2") == {"bastion01", "ctl01", "c01", "c02"}
    assert hosts_of(data, "docker") == set(containers)

    ec2 = boto3.client("ec2", endpoint_url=moto.url)
    reservations = ec2.describe_instances(InstanceIds=list(ids.values()))["Reservations"]
    described = {i["InstanceId"]: i for r in reservations for i in r["Instances"]}
    bastion_ip = described[ids["bastion01"]]["PublicIpAddress"]
    assert hostvars["bastion01"]["ansible_host"] == bastion_ip
    assert "ansible_ssh_common_args" not in hostvars["bastion01"]
    for name in ("ctl01", "c01", "c02"):
        assert hostvars[name]["ansible_connection"] == "ssh"
        assert hostvars[name]["ansible_host"] == described[ids[name]]["PrivateIpAddress"]
        assert hostvars[name]["ansible_ssh_common_args"] == f"-o ProxyJump=admin@{bastion_ip}"
        assert hostvars[name]["ec2_instance_id"] == ids[name]
    for name in containers:
        assert hostvars[name]["ansible_connection"] == "community.docker.docker"
        assert hostvars[name]["ansible_host"] == name


def test_ping_reaches_the_containers_through_the_inventory(moto, containers, ansible, tmp_path) -> None:
    make_cluster(moto)
    config = write_config(tmp_path / "cluster.hybrid.yml", endpoint_url=moto.url)
    result = ansible("ansible", "-i", str(config), "docker", "-m", "ansible.builtin.ping")
    assert result.returncode == 0, result.stdout + result.stderr
    for name in containers:
        assert f"{name} | SUCCESS" in result.stdout
        assert '"ping": "pong"' in result.stdout


def test_cache_answers_without_the_providers_and_flush_asks_again(moto, containers, inventory_list, tmp_path) -> None:
    make_cluster(moto)
    config = write_config(
        tmp_path / "cluster.hybrid.yml",
        endpoint_url=moto.url,
        cache=True,
        cache_plugin="ansible.builtin.jsonfile",
        cache_connection=str(tmp_path / "cache"),
        cache_timeout=3600,
    )
    first = inventory_list(config)[0]
    moto.reset()  # the instances are gone from EC2; only the cache still knows them
    cached = inventory_list(config)[0]
    assert cached["_meta"]["hostvars"] == first["_meta"]["hostvars"]
    flushed = inventory_list(config, "--flush-cache")[0]
    assert set(flushed["_meta"]["hostvars"]) == set(containers)


def test_a_failing_source_is_skipped_with_a_warning_or_fails_when_strict(
    moto, containers, inventory_list, ansible, tmp_path
) -> None:
    make_cluster(moto)
    absent_engine = f"unix://{tmp_path}/no-engine.sock"
    config = write_config(tmp_path / "cluster.hybrid.yml", endpoint_url=moto.url, docker_host=absent_engine)
    data, warnings = inventory_list(config)
    assert set(data["_meta"]["hostvars"]) == {"bastion01", "ctl01", "c01", "c02"}
    warnings = " ".join(warnings.split())
    assert f"hybrid inventory: docker source, engine {absent_engine}: Docker engine not reachable" in warnings

    strict = write_config(tmp_path / "strict.hybrid.yml", endpoint_url=moto.url, docker_host=absent_engine, strict=True)
    result = ansible("ansible-inventory", "-i", str(strict), "--list")
    assert result.returncode != 0
    assert "docker source, engine" in result.stderr


def test_an_unreachable_endpoint_is_one_clear_line(aws_env, unused_port, ansible, tmp_path) -> None:
    url = f"http://127.0.0.1:{unused_port}"
    config = write_config(tmp_path / "cluster.hybrid.yml", endpoint_url=url, max_attempts=2, strict=True)
    result = ansible("ansible-inventory", "-i", str(config), "--list")
    assert result.returncode != 0
    assert f"ec2 source, region eu-west-1: cannot reach the EC2 endpoint {url}" in " ".join(result.stderr.split())
