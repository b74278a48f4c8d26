"""inventories/hybrid as shipped, against a moto EC2 server on 127.0.0.1 and labelled containers on the local engine.

The test makes the EC2 side as playbooks/provision_aws.yml tags it (cluster `hpc`) and three on-prem containers,
then checks that the inventory gives site.yml what it needs: EC2 hosts through the bastion with ProxyJump, the
containers with the docker connection, both in slurm_compute, the controller's groups, and the on-prem wiring of
group_vars (tunnel ports the bastion role accepts, NodeAddr and scrape address on the site link's overlay). Last,
provision_aws.yml run with this inventory routes the overlay through the bastion and opens the cluster's security group
to it, and the inventory reads back what it made.
"""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import docker
import pytest
import yaml
from conftest import hosts_of, run_reference_instances

REPO = Path(__file__).resolve().parents[2]
INVENTORY = REPO / "inventories" / "hybrid"
CLUSTER = "hpc"  # hybrid.hybrid.yml's cluster
NETWORK = "hpc-onprem"  # group_vars/onprem.yml's hybrid_onprem_network
IMAGE = "hpcstack/debian:bookworm"
# Two nodes on the on-prem network and one that is not on it: the overlay address does not depend on it.
ON_NETWORK = ["hpcstack-hybtest-onprem01", "hpcstack-hybtest-onprem02"]
OFF_NETWORK = "hpcstack-hybtest-onprem03"
OTHER = "hpcstack-hybtest-other"
EC2_NODES = {
    "hpc-bastion": "bastion",
    "hpc-controller": "slurm_controller,slurmdbd,monitoring",
    "hpc-compute01": "slurm_compute",
    "hpc-compute02": "slurm_compute",
}


@pytest.fixture(scope="module")
def onprem() -> Iterator[dict[str, str | None]]:
    """The on-prem containers, {name: address on the on-prem network or None}; removed at the end, with the network
    when the test made it."""
    client = docker.from_env()
    names = [*ON_NETWORK, OFF_NETWORK, OTHER]
    for name in names:
        with contextlib.suppress(docker.errors.NotFound):
            client.containers.get(name).remove(force=True)
    try:
        network, made_network = client.networks.get(NETWORK), False
    except docker.errors.NotFound:
        network, made_network = client.networks.create(NETWORK, labels={"org.hpcstack.owner": "hpcstack-test"}), True
    labels = {"org.hpcstack.cluster": CLUSTER, "org.hpcstack.role": "slurm_compute"}
    for name in [*ON_NETWORK, OFF_NETWORK]:
        container = client.containers.create(IMAGE, ["sleep", "infinity"], name=name, labels=labels)
        if name in ON_NETWORK:
            network.connect(container)
        container.start()
    other = {"org.hpcstack.cluster": "someone-else", "org.hpcstack.role": "slurm_compute"}
    client.containers.run(IMAGE, ["sleep", "infinity"], name=OTHER, labels=other, detach=True)
    addresses: dict[str, str | None] = {}
    for name in [*ON_NETWORK, OFF_NETWORK]:
        networks = client.containers.get(name).attrs["NetworkSettings"]["Networks"]
        addresses[name] = networks[NETWORK]["IPAddress"] if NETWORK in networks else None
    yield addresses
    for name in names:
        client.containers.get(name).remove(force=True)
    if made_network:
        network.remove()
    client.close()


def make_ec2_side(moto: Any) -> dict[str, dict]:
    """The reference network with the instances provision_aws.yml makes (and a stranger of another cluster)."""
    nodes = [(name, role, CLUSTER) for name, role in EC2_NODES.items()] + [("x-compute", "slurm_compute", "x")]
    ids = {instance: name for name, instance in run_reference_instances(moto, nodes, "c5n.large").items()}
    ec2 = boto3.client("ec2", endpoint_url=moto.url)
    reservations = ec2.describe_instances(InstanceIds=list(ids))["Reservations"]
    return {ids[i["InstanceId"]]: i for r in reservations for i in r["Instances"]}


def adhoc_results(output: str) -> dict[str, dict]:
    """{host: result} of an ad-hoc run's default output (`host | SUCCESS => {...}`); failures are left out."""
    pattern = re.compile(r"^(\S+) \| SUCCESS => (\{.*?^\})$", re.MULTILINE | re.DOTALL)
    return {host: json.loads(body) for host, body in pattern.findall(output)}


# What a host's variables template to, as site.yml's roles see them.
WIRING = json.dumps(
    {
        "msg": (
            "{{ {'forwards': bastion_reverse_tunnel_forwards | default(none),"
            " 'slurm_node': slurm_node | default(none),"
            " 'target': prometheus_target_host | default(none),"
            " 'tunnel_enabled': bastion_tunnel_enabled | default(false),"
            " 'srun_ports': slurm_conf_options.SrunPortRange | default(none),"
            " 'link': bastion_site_link_address | default(none),"
            " 'scrapers': node_exporter_allowed_sources | default([])} }}"
        )
    }
)


@pytest.fixture
def hybrid(moto, onprem, monkeypatch) -> dict[str, dict]:
    """The EC2 side in moto and the plugin pointed at it (the on-prem containers are the module's)."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_EC2", moto.url)
    return make_ec2_side(moto)


def test_the_inventory_groups_and_connects_both_sites(
    hybrid: dict[str, dict], onprem: dict[str, str | None], inventory_list: Callable[..., tuple[dict, str]]
) -> None:
    data, warnings = inventory_list(INVENTORY)
    assert "hybrid inventory" not in warnings, warnings  # both sources answered
    hostvars = data["_meta"]["hostvars"]
    containers = set(onprem)
    assert set(hostvars) == set(EC2_NODES) | containers
    assert hosts_of(data, "bastion") == {"hpc-bastion"}
    for group in ("slurm_controller", "slurmdbd", "monitoring"):
        assert hosts_of(data, group) == {"hpc-controller"}
    assert hosts_of(data, "slurm_compute") == {"hpc-compute01", "hpc-compute02", *containers}
    assert hosts_of(data, "onprem") == hosts_of(data, "docker") == containers
    assert hosts_of(data, "ec2") == set(EC2_NODES)
    # The munge key's holders: everything but the bastion.
    assert hosts_of(data, "cluster") == set(hostvars) - {"hpc-bastion"}

    bastion_ip = hybrid["hpc-bastion"]["PublicIpAddress"]
    assert hostvars["hpc-bastion"]["ansible_host"] == bastion_ip
    assert hostvars["hpc-bastion"]["ansible_connection"] == "ssh"
    assert "ansible_ssh_common_args" not in hostvars["hpc-bastion"]
    for name in ("hpc-controller", "hpc-compute01", "hpc-compute02"):
        assert hostvars[name]["ansible_connection"] == "ssh"
        assert hostvars[name]["ansible_user"] == "admin"
        assert hostvars[name]["ansible_host"] == hybrid[name]["PrivateIpAddress"]
        assert hostvars[name]["ansible_ssh_common_args"] == f"-o ProxyJump=admin@{bastion_ip}"
    for name in containers:
        assert hostvars[name]["ansible_connection"] == "community.docker.docker"
        assert hostvars[name]["ansible_host"] == name
        assert "ansible_ssh_common_args" not in hostvars[name]
    for name, variables in hostvars.items():
        assert variables["slurm_cluster_name"] == "hpc", name


def test_group_vars_wire_tunnels_slurm_and_scraping_per_host(
    hybrid: dict[str, dict], onprem: dict[str, str | None], ansible: Callable[..., Any]
) -> None:
    result = ansible("ansible", "-i", str(INVENTORY), "all", "-m", "ansible.builtin.debug", "-a", WIRING)
    assert result.returncode == 0, result.stdout + result.stderr
    wiring = {host: answer["msg"] for host, answer in adhoc_results(result.stdout).items()}
    assert set(wiring) == set(EC2_NODES) | set(onprem)

    assert wiring["hpc-bastion"]["tunnel_enabled"] is True
    # Each on-prem node by name: sshd on 2222+i and slurmd 6818 on 16818+i of the bastion's loopback; Slurm and
    # Prometheus use its address on the site link's overlay, 10.254.0.10+i, whatever its Docker network.
    for index, name in enumerate(sorted(onprem)):
        node = wiring[name]
        assert node["forwards"] == [
            {"remote_port": 2222 + index, "local_port": 22},
            {"remote_port": 16818 + index, "local_port": 6818},
        ]
        address = f"10.254.0.{10 + index}"
        assert node["slurm_node"] == {"Feature": "onprem", "NodeAddr": address}
        assert node["target"] == address
        assert node["link"] == address
        # Only Prometheus, on the controller, reaches its node_exporter (the site has no security groups).
        assert node["scrapers"] == [hybrid["hpc-controller"]["PrivateIpAddress"]]
    for name in ("hpc-compute01", "hpc-compute02"):
        assert wiring[name]["slurm_node"] == {"Feature": "cloud", "NodeAddr": hybrid[name]["PrivateIpAddress"]}
        assert wiring[name]["forwards"] is None
        assert wiring[name]["scrapers"] == []  # the security groups guard the VPC
    for name, values in wiring.items():
        assert values["srun_ports"] == "60001-63000", name


def test_the_bastion_role_accepts_the_on_prem_tunnel_settings(hybrid, onprem, ansible) -> None:
    # The reverse_tunnel entry point's own checks (bastion in the inventory, ports valid and distinct) on every node.
    result = ansible(
        "ansible",
        "-i",
        str(INVENTORY),
        "onprem",
        "-m",
        "ansible.builtin.include_role",
        "-a",
        "name=hpcstack.cluster.bastion tasks_from=reverse_tunnel_preflight",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "FAILED" not in result.stdout
    # Per node: the include itself, then every check task of the entry point's preflight (the per-entry checks of the
    # forwards, then the others as the items of one task), all passed.
    checks = len(yaml.safe_load((REPO / "roles/bastion/tasks/reverse_tunnel_preflight.yml").read_text()))
    assert checks >= 2
    for name in onprem:
        assert len(re.findall(rf"^{re.escape(name)} \| SUCCESS => ", result.stdout, re.MULTILINE)) == 1 + checks, name
    # Every check said so (a check that loops says it once per item).
    assert result.stdout.count('"msg": "All assertions passed"') >= checks * len(onprem)


def test_the_on_prem_nodes_answer_through_the_docker_connection(hybrid, onprem, ansible) -> None:
    result = ansible("ansible", "-i", str(INVENTORY), "onprem", "-m", "ansible.builtin.ping")
    assert result.returncode == 0, result.stdout + result.stderr
    answers = adhoc_results(result.stdout)
    assert set(answers) == set(onprem)
    assert all(answer["ping"] == "pong" for answer in answers.values())


def test_provisioning_from_this_inventory_routes_the_site_link_and_opens_the_cluster_to_it(
    moto, onprem, inventory_list, ansible, monkeypatch, tmp_path
) -> None:
    # provision_aws.yml run with this inventory's group_vars (aws_cluster_name hpc, the site link), then the
    # inventory reads what it made: the same groups and connections as above, with the containers.
    monkeypatch.setenv("AWS_ENDPOINT_URL_EC2", moto.url)
    ec2 = boto3.client("ec2", endpoint_url=moto.url)
    image = ec2.describe_images(Filters=[{"Name": "root-device-type", "Values": ["ebs"]}])["Images"][0]["ImageId"]
    key = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    settings = tmp_path / "settings.json"
    settings.write_text(
        json.dumps(
            {
                "aws_endpoint_url": moto.url,
                "aws_image_id": image,
                "aws_public_key": key.with_suffix(".pub").read_text().strip(),
                "aws_bastion_allowed_cidrs": ["203.0.113.0/24"],
                "aws_site_link_public_cidrs": ["198.51.100.0/28"],
            }
        )
    )
    result = ansible("ansible-playbook", "-i", str(INVENTORY), "playbooks/provision_aws.yml", "-e", f"@{settings}")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]

    groups = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": ["hpc-cluster"]}])
    (cluster_group,) = groups["SecurityGroups"]

    def sources(port: int) -> set[str]:
        found = set()
        for rule in cluster_group["IpPermissions"]:
            if rule.get("FromPort", 0) <= port <= rule.get("ToPort", 65535):
                found |= {r["CidrIp"] for r in rule.get("IpRanges", [])}
                found |= {p["GroupId"] for p in rule.get("UserIdGroupPairs", [])}
        return found

    own = cluster_group["GroupId"]
    # Slurm and srun's ports from the cluster and the overlay; the exporters from Prometheus's group only (the
    # monitoring host scrapes the on-prem nodes, not the other way round).
    for port in (6817, 6818, 6819, 60001, 63000):
        assert sources(port) == {"10.254.0.0/24", own}, port
    (monitoring_group,) = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": ["hpc-monitoring"]}])[
        "SecurityGroups"
    ]
    for port in (9100, 9400):
        assert sources(port) == {monitoring_group["GroupId"]}, port
    assert "10.254.0.0/24" not in sources(22)
    (private,) = ec2.describe_route_tables(Filters=[{"Name": "tag:Name", "Values": ["hpc-private"]}])["RouteTables"]
    (overlay_route,) = [route for route in private["Routes"] if route.get("DestinationCidrBlock") == "10.254.0.0/24"]
    assert overlay_route.get("InstanceId"), private["Routes"]

    data = inventory_list(INVENTORY)[0]
    hostvars = data["_meta"]["hostvars"]
    assert hosts_of(data, "bastion") == {"hpc-bastion"}
    assert hosts_of(data, "slurm_controller") == {"hpc-controller"}
    assert hosts_of(data, "slurm_compute") == {"hpc-compute01", "hpc-compute02", *onprem}
    bastion_ip = hostvars["hpc-bastion"]["ansible_host"]
    for name in ("hpc-controller", "hpc-compute01", "hpc-compute02"):
        assert hostvars[name]["ansible_ssh_common_args"] == f"-o ProxyJump=admin@{bastion_ip}"
