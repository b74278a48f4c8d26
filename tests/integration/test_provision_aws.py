"""End-to-end tests of playbooks/provision_aws.yml and playbooks/teardown_aws.yml against a moto EC2 server.

Each test runs ansible-playbook as a subprocess on an emptied moto server on 127.0.0.1 (conftest.py) and checks the
result with boto3 against the same endpoint. Run: pytest -p no:cacheprovider tests/integration/test_provision_aws.py
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import boto3
import pytest

# conftest.py is not imported (it is no package member); its fixtures come by name.
CLUSTER = "itest"
TAG = "hpc_cluster"
REGION = "eu-west-1"
TRUSTED_CIDR = "203.0.113.0/24"
# A failing item of a looped task: its result follows the arrow.
ITEM_FAILED = re.compile(r"^failed: \[localhost\] \(item=.*?\) => \{")
RECAP = re.compile(r"^localhost\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.MULTILINE)
LIVE_STATES = ["pending", "running", "stopping", "stopped"]


class PlaybookRun:
    """The outcome of one ansible-playbook run: exit code, output, PLAY RECAP counts and wall time."""

    def __init__(self, process: subprocess.CompletedProcess[str], seconds: float) -> None:
        self.rc = process.returncode
        self.output = process.stdout + process.stderr
        self.seconds = seconds
        match = RECAP.search(process.stdout)
        self.changed = int(match.group(2)) if match else None
        self.failed = int(match.group(4)) if match else None

    def errors(self) -> list[str]:
        """The messages of the task that failed: the role's argument check gives one per wrong or missing variable, the
        preflight one per failing check (an item of its looped assertion) or the message of a plain assertion."""
        found: list[str] = []
        for line in self.output.splitlines():
            if line.startswith("fatal: [localhost]: FAILED! => ") or ITEM_FAILED.match(line):
                result = json.loads(line.split(" => ", 1)[1])
                msg = result.get("argument_errors") or result.get("msg", "")
                found += msg if isinstance(msg, list) else [msg]
        return found

    def __repr__(self) -> str:
        return f"PlaybookRun(rc={self.rc}, changed={self.changed}, {self.seconds:.1f}s)\n{self.output[-6000:]}"


@pytest.fixture
def run_playbook(ansible: Any) -> Any:
    """Return a function running playbooks/<playbook> on localhost with extra_vars (an -e @file: no shell quoting)."""

    def run(playbook: str, extra_vars: dict[str, Any], tmp_path: Path) -> PlaybookRun:
        vars_file = tmp_path / f"vars-{time.monotonic_ns()}.json"
        vars_file.write_text(json.dumps(extra_vars))
        start = time.monotonic()
        process = ansible("ansible-playbook", f"playbooks/{playbook}", "-e", f"@{vars_file}")
        result = PlaybookRun(process, time.monotonic() - start)
        print(f"{playbook}: rc={result.rc} changed={result.changed} wall={result.seconds:.1f}s")
        return result

    return run


def names(error: str, variable: str) -> bool:
    """Whether an error is about variable: a preflight message starts with its name; the role's argument check lists
    it among the missing required arguments, or says it is of the wrong type."""
    missing = re.fullmatch(r"missing required arguments: (.+)", error)
    if missing:
        return variable in missing.group(1).split(", ")
    return error.startswith((variable, f"argument '{variable}' "))


def read_inventory(inventory_list: Any, endpoint_url: str, tmp_path: Path) -> tuple[dict[str, list[str]], dict]:
    """Hosts by group and host variables, as the collection's inventory plugin reads the test cluster from EC2."""
    config = tmp_path / "itest.hybrid.yml"
    config.write_text(
        "plugin: hpcstack.cluster.hybrid\n"
        f"cluster: {CLUSTER}\nsources: [ec2]\nregions: [{REGION}]\nendpoint_url: {endpoint_url}\n"
    )
    inventory = inventory_list(config)[0]
    groups = {name: group.get("hosts", []) for name, group in inventory.items() if isinstance(group, dict)}
    return groups, inventory["_meta"]["hostvars"]


@pytest.fixture(scope="session")
def public_key(tmp_path_factory: pytest.TempPathFactory) -> str:
    """An OpenSSH public key of a throw-away key pair."""
    key = tmp_path_factory.mktemp("ssh") / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "itest", "-f", str(key)], check=True)
    return key.with_suffix(".pub").read_text().strip()


@pytest.fixture
def ec2(moto: Any) -> Any:
    """A boto3 EC2 client on the emptied moto server."""
    return boto3.client("ec2", endpoint_url=moto.url, region_name=REGION)


@pytest.fixture
def cluster_vars(moto: Any, ec2: Any, public_key: str) -> dict[str, Any]:
    """Every variable provision_aws.yml needs, pointed at moto."""
    image = ec2.describe_images(Filters=[{"Name": "root-device-type", "Values": ["ebs"]}])["Images"][0]
    return {
        "aws_endpoint_url": moto.url,
        "aws_region": REGION,
        "aws_cluster_name": CLUSTER,
        "aws_image_id": image["ImageId"],
        "aws_public_key": public_key,
        "aws_bastion_allowed_cidrs": [TRUSTED_CIDR],
    }


# The site link's overlay, and the on-prem site's public addresses that may reach it.
OVERLAY = "10.254.0.0/24"
ONPREM_PUBLIC = "198.51.100.0/28"


def cluster_filter(more: dict[str, list[str]] | None = None) -> list[dict[str, Any]]:
    """EC2 API filters for the resources of the test cluster, plus more (EC2 filter name: values)."""
    extra = [{"Name": name, "Values": values} for name, values in (more or {}).items()]
    return [{"Name": f"tag:{TAG}", "Values": [CLUSTER]}, *extra]


def tags_of(resource: dict[str, Any]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in resource.get("Tags", [])}


def rule_sources(group: dict[str, Any], port: int) -> set[str]:
    """CIDRs and security group ids that a security group lets in on TCP port."""
    sources: set[str] = set()
    for rule in group["IpPermissions"]:
        if rule["IpProtocol"] in ("tcp", "-1") and rule.get("FromPort", 0) <= port <= rule.get("ToPort", 65535):
            sources |= {r["CidrIp"] for r in rule.get("IpRanges", [])}
            sources |= {p["GroupId"] for p in rule.get("UserIdGroupPairs", [])}
    return sources


def egress_of(group: dict[str, Any]) -> set[tuple[str, int | None, int | None, str]]:
    """A security group's egress rules as (protocol, from port, to port, CIDR)."""
    return {
        (rule["IpProtocol"], rule.get("FromPort"), rule.get("ToPort"), cidr["CidrIp"])
        for rule in group["IpPermissionsEgress"]
        for cidr in rule.get("IpRanges", [])
    }


def live_instances(ec2: Any) -> dict[str, dict[str, Any]]:
    """The test cluster's instances that are not terminated, by Name tag."""
    reservations = ec2.describe_instances(Filters=cluster_filter({"instance-state-name": LIVE_STATES}))["Reservations"]
    return {tags_of(i)["Name"]: i for r in reservations for i in r["Instances"]}


def count_cluster_resources(ec2: Any) -> dict[str, int]:
    """How many resources of each kind carry the test cluster's tag (NAT gateways: not deleted)."""
    nats = ec2.describe_nat_gateways(Filters=cluster_filter())["NatGateways"]
    return {
        "instances": len(live_instances(ec2)),
        "nat_gateways": len([n for n in nats if n["State"] not in ("deleted", "deleting")]),
        "addresses": len(ec2.describe_addresses(Filters=cluster_filter())["Addresses"]),
        "internet_gateways": len(ec2.describe_internet_gateways(Filters=cluster_filter())["InternetGateways"]),
        "route_tables": len(ec2.describe_route_tables(Filters=cluster_filter())["RouteTables"]),
        "security_groups": len(ec2.describe_security_groups(Filters=cluster_filter())["SecurityGroups"]),
        "subnets": len(ec2.describe_subnets(Filters=cluster_filter())["Subnets"]),
        "vpcs": len(ec2.describe_vpcs(Filters=cluster_filter())["Vpcs"]),
        "key_pairs": len(ec2.describe_key_pairs(Filters=cluster_filter())["KeyPairs"]),
    }


def nothing_created(ec2: Any) -> bool:
    """True when moto holds nothing but its defaults: no instance, NAT, EIP, key or non-default VPC at all."""
    return (
        not ec2.describe_instances()["Reservations"]
        and not ec2.describe_nat_gateways()["NatGateways"]
        and not ec2.describe_addresses()["Addresses"]
        and not ec2.describe_key_pairs()["KeyPairs"]
        and all(v["IsDefault"] for v in ec2.describe_vpcs()["Vpcs"])
    )


def test_provision_builds_the_reference_network(
    ec2: Any, cluster_vars: dict[str, Any], run_playbook: Any, inventory_list: Any, tmp_path: Path
) -> None:
    summary_file = tmp_path / "cluster.yml"
    run = run_playbook("provision_aws.yml", {**cluster_vars, "aws_summary_file": str(summary_file)}, tmp_path)
    assert run.rc == 0, run

    (vpc,) = ec2.describe_vpcs(Filters=cluster_filter())["Vpcs"]
    assert vpc["CidrBlock"] == "10.0.0.0/16"
    assert tags_of(vpc)["Name"] == f"{CLUSTER}-vpc"
    subnets = {tags_of(s)["Name"]: s for s in ec2.describe_subnets(Filters=cluster_filter())["Subnets"]}
    private, public = subnets[f"{CLUSTER}-private"], subnets[f"{CLUSTER}-public"]
    assert (private["CidrBlock"], private["MapPublicIpOnLaunch"]) == ("10.0.1.0/24", False)
    assert (public["CidrBlock"], public["MapPublicIpOnLaunch"]) == ("10.0.2.0/24", True)
    assert private["AvailabilityZone"] == public["AvailabilityZone"] == f"{REGION}a"
    assert {s["VpcId"] for s in subnets.values()} == {vpc["VpcId"]}

    (igw,) = ec2.describe_internet_gateways(Filters=cluster_filter())["InternetGateways"]
    assert igw["Attachments"] == [{"State": "available", "VpcId": vpc["VpcId"]}]
    (nat,) = ec2.describe_nat_gateways(Filters=cluster_filter({"state": ["available"]}))["NatGateways"]
    assert nat["SubnetId"] == public["SubnetId"]
    (address,) = ec2.describe_addresses(Filters=cluster_filter())["Addresses"]
    assert nat["NatGatewayAddresses"][0]["AllocationId"] == address["AllocationId"]

    def default_route_of(subnet: dict[str, Any]) -> dict[str, Any]:
        # moto does not implement the filter association.subnet-id, so the association is looked up here.
        tables = ec2.describe_route_tables(Filters=cluster_filter())["RouteTables"]
        (table,) = [t for t in tables if subnet["SubnetId"] in {a.get("SubnetId") for a in t["Associations"]}]
        (route,) = [r for r in table["Routes"] if r.get("DestinationCidrBlock") == "0.0.0.0/0"]
        return route

    assert default_route_of(public)["GatewayId"] == igw["InternetGatewayId"]
    assert default_route_of(private)["NatGatewayId"] == nat["NatGatewayId"]

    groups = {g["GroupName"]: g for g in ec2.describe_security_groups(Filters=cluster_filter())["SecurityGroups"]}
    bastion_sg, cluster_sg = groups[f"{CLUSTER}-bastion"], groups[f"{CLUSTER}-cluster"]
    monitoring_sg = groups[f"{CLUSTER}-monitoring"]
    bastion_id, cluster_id, monitoring_id = (g["GroupId"] for g in (bastion_sg, cluster_sg, monitoring_sg))
    # The bastion: SSH from the trusted networks, its node_exporter to Prometheus (the monitoring group) only.
    assert rule_sources(bastion_sg, 22) == {TRUSTED_CIDR}
    assert sorted(p["FromPort"] for p in bastion_sg["IpPermissions"]) == [22, 9100, 9400]
    assert rule_sources(bastion_sg, 9100) == {monitoring_id}
    # The nodes: SSH from the bastion, Slurm among themselves, the exporters to Prometheus only (not to the nodes
    # that run users' jobs), Streamlit's port for tunnels from the bastion. Grafana and Prometheus are not open here.
    assert rule_sources(cluster_sg, 22) == {bastion_id}
    for port in (6817, 6818, 6819):
        assert rule_sources(cluster_sg, port) == {cluster_id}, port
    for port in (9100, 9400):
        assert rule_sources(cluster_sg, port) == {monitoring_id}, port
    assert rule_sources(cluster_sg, 8501) == {bastion_id}
    for port in (3000, 9090):
        assert rule_sources(cluster_sg, port) == set(), port
    assert not any(rule.get("IpRanges") for rule in cluster_sg["IpPermissions"])
    # The monitoring host: Grafana and Prometheus from the bastion only (operators tunnel), nothing else.
    assert [(p["FromPort"], p["ToPort"]) for p in monitoring_sg["IpPermissions"]] in (
        [(3000, 3000), (9090, 9090)],
        [(9090, 9090), (3000, 3000)],
    )
    for port in (3000, 9090):
        assert rule_sources(monitoring_sg, port) == {bastion_id}, port
    # Egress: the VPC on any port, outside only HTTPS and HTTP (packages, AWS APIs); no group sends anything else out.
    for group in (bastion_sg, cluster_sg, monitoring_sg):
        assert egress_of(group) == {
            ("-1", None, None, "10.0.0.0/16"),
            ("tcp", 443, 443, "0.0.0.0/0"),
            ("tcp", 80, 80, "0.0.0.0/0"),
        }, group["GroupName"]

    instances = live_instances(ec2)
    assert sorted(instances) == [f"{CLUSTER}-{n}" for n in ("bastion", "compute01", "compute02", "controller")]
    expected = {
        "bastion": ("t3.micro", public, [bastion_id], "bastion", 8),
        "controller": ("t3.large", private, [cluster_id, monitoring_id], "slurm_controller,slurmdbd,monitoring", 20),
        "compute01": ("c5n.large", private, [cluster_id], "slurm_compute", 20),
        "compute02": ("c5n.large", private, [cluster_id], "slurm_compute", 20),
    }
    for name, (itype, subnet, group_ids, roles, size) in expected.items():
        instance = instances[f"{CLUSTER}-{name}"]
        assert instance["InstanceType"] == itype, name
        assert instance["SubnetId"] == subnet["SubnetId"], name
        assert sorted(g["GroupId"] for g in instance["SecurityGroups"]) == sorted(group_ids), name
        assert tags_of(instance)["hpc_role"] == roles, name
        assert instance["KeyName"] == f"{CLUSTER}-key", name
        assert ("PublicIpAddress" in instance) == (name == "bastion"), name
        # IMDSv2 only: no metadata call without a session token, and no second hop.
        options = instance["MetadataOptions"]
        assert (options["HttpTokens"], options["HttpEndpoint"]) == ("required", "enabled"), name
        assert options["HttpPutResponseHopLimit"] == 1, name
        (volume_id,) = [m["Ebs"]["VolumeId"] for m in instance["BlockDeviceMappings"]]
        assert ec2.describe_volumes(VolumeIds=[volume_id])["Volumes"][0]["Size"] == size, name

    (key,) = ec2.describe_key_pairs(Filters=cluster_filter())["KeyPairs"]
    assert key["KeyName"] == f"{CLUSTER}-key"

    summary = summary_file.read_text()
    assert vpc["VpcId"] in summary
    assert instances[f"{CLUSTER}-bastion"]["PublicIpAddress"] in summary
    assert all(i["InstanceId"] in summary for i in instances.values())

    # The tags are the contract with the inventory plugin: its groups must be the roles given above, the bastion
    # reached on its public address and every private node through it.
    groups, hostvars = read_inventory(inventory_list, cluster_vars["aws_endpoint_url"], tmp_path)
    assert groups["bastion"] == [f"{CLUSTER}-bastion"]
    assert groups["slurm_controller"] == groups["slurmdbd"] == groups["monitoring"] == [f"{CLUSTER}-controller"]
    assert sorted(groups["slurm_compute"]) == [f"{CLUSTER}-compute01", f"{CLUSTER}-compute02"]
    bastion_ip = instances[f"{CLUSTER}-bastion"]["PublicIpAddress"]
    assert hostvars[f"{CLUSTER}-bastion"]["ansible_host"] == bastion_ip
    assert "ansible_ssh_common_args" not in hostvars[f"{CLUSTER}-bastion"]
    for name in ("controller", "compute01", "compute02"):
        node = hostvars[f"{CLUSTER}-{name}"]
        assert node["ansible_host"] == instances[f"{CLUSTER}-{name}"]["PrivateIpAddress"], name
        assert node["ansible_ssh_common_args"] == f"-o ProxyJump=admin@{bastion_ip}", name


def test_a_cluster_with_the_site_link_re_provisions_as_a_no_op_scales_and_is_torn_down_alone(
    ec2: Any, cluster_vars: dict[str, Any], run_playbook: Any, inventory_list: Any, tmp_path: Path
) -> None:
    """One cluster's life, provisioned once: a no-op second run, a lower count, then a teardown that leaves
    everything else (the default VPC, a VPC of another cluster) and a second teardown that changes nothing."""
    default_vpcs = [v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"] if v["IsDefault"]]
    assert default_vpcs
    other = ec2.create_vpc(
        CidrBlock="10.9.0.0/16",
        TagSpecifications=[{"ResourceType": "vpc", "Tags": [{"Key": TAG, "Value": "other"}]}],
    )["Vpc"]["VpcId"]
    # With the site link (aws_site_link_*): its route, source/destination check and rules change nothing either.
    link = {"aws_site_link_overlay_cidr": OVERLAY, "aws_site_link_public_cidrs": [ONPREM_PUBLIC]}
    cluster_vars = {**cluster_vars, **link}
    first = run_playbook("provision_aws.yml", cluster_vars, tmp_path)
    assert first.rc == 0, first
    assert_site_link(ec2)
    before = {name: i["InstanceId"] for name, i in live_instances(ec2).items()}

    second = run_playbook("provision_aws.yml", cluster_vars, tmp_path)
    assert (second.rc, second.changed) == (0, 0), second
    assert {name: i["InstanceId"] for name, i in live_instances(ec2).items()} == before
    assert len(ec2.describe_addresses()["Addresses"]) == 1
    assert len(ec2.describe_nat_gateways()["NatGateways"]) == 1

    smaller = run_playbook("provision_aws.yml", {**cluster_vars, "aws_compute_count": 1}, tmp_path)
    assert smaller.rc == 0, smaller
    after = {name: i["InstanceId"] for name, i in live_instances(ec2).items()}
    assert after == {k: v for k, v in before.items() if k != f"{CLUSTER}-compute02"}
    assert all(count_cluster_resources(ec2).values())

    teardown = run_playbook("teardown_aws.yml", cluster_vars, tmp_path)
    assert teardown.rc == 0, teardown
    assert count_cluster_resources(ec2) == dict.fromkeys(count_cluster_resources(ec2), 0)
    remaining = {v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"]}
    assert remaining == {*default_vpcs, other}
    assert (
        read_inventory(inventory_list, cluster_vars["aws_endpoint_url"], tmp_path)[1] == {}
    )  # the plugin finds no host left

    again = run_playbook("teardown_aws.yml", cluster_vars, tmp_path)
    assert (again.rc, again.changed) == (0, 0), again


def assert_site_link(ec2: Any) -> None:
    """The overlay goes to the bastion (the hub), which forwards; the link's port is open to the on-prem site only."""
    bastion = live_instances(ec2)[f"{CLUSTER}-bastion"]
    attribute = ec2.describe_instance_attribute(InstanceId=bastion["InstanceId"], Attribute="sourceDestCheck")
    assert attribute["SourceDestCheck"]["Value"] is False
    # The private table sends the overlay to the hub; the public one does not.
    tables = {tags_of(t)["Name"]: t for t in ec2.describe_route_tables(Filters=cluster_filter())["RouteTables"]}
    private = {r.get("DestinationCidrBlock"): r for r in tables[f"{CLUSTER}-private"]["Routes"]}
    assert private[OVERLAY]["InstanceId"] == bastion["InstanceId"]
    assert "NatGatewayId" in private["0.0.0.0/0"]
    assert OVERLAY not in {r.get("DestinationCidrBlock") for r in tables[f"{CLUSTER}-public"]["Routes"]}
    groups = {g["GroupName"]: g for g in ec2.describe_security_groups(Filters=cluster_filter())["SecurityGroups"]}
    bastion_sg, cluster_sg = groups[f"{CLUSTER}-bastion"], groups[f"{CLUSTER}-cluster"]
    # The link's UDP port only from the on-prem site's public CIDRs; SSH still only from the trusted ones.
    (udp,) = [p for p in bastion_sg["IpPermissions"] if p["IpProtocol"] == "udp"]
    assert (udp["FromPort"], udp["ToPort"]) == (51820, 51820)
    assert [r["CidrIp"] for r in udp["IpRanges"]] == [ONPREM_PUBLIC]
    assert TRUSTED_CIDR in rule_sources(bastion_sg, 22)
    assert ONPREM_PUBLIC not in rule_sources(bastion_sg, 22)
    # Slurm from the overlay: the on-prem nodes arrive with their overlay addresses (no NAT). Not the exporters:
    # Prometheus, in the VPC, scrapes the on-prem nodes, not the other way round.
    for port in (6817, 6818):
        assert OVERLAY in rule_sources(cluster_sg, port), port
    for port in (22, 9100):
        assert OVERLAY not in rule_sources(cluster_sg, port), port
    # Out: the overlay from every group, and the link's UDP from the hub to the on-prem site's public addresses.
    assert ("-1", None, None, OVERLAY) in egress_of(cluster_sg)
    assert ("udp", 0, 65535, ONPREM_PUBLIC) in egress_of(bastion_sg)


@pytest.mark.parametrize(
    ("override", "variable"),
    [
        pytest.param({"aws_bastion_allowed_cidrs": None}, "aws_bastion_allowed_cidrs", id="no-bastion-cidrs"),
        pytest.param({"aws_bastion_allowed_cidrs": []}, "aws_bastion_allowed_cidrs", id="empty-bastion-cidrs"),
        pytest.param({"aws_bastion_allowed_cidrs": ["203.0.113.0/33"]}, "aws_bastion_allowed_cidrs", id="bad-cidr"),
        pytest.param({"aws_public_subnet_cidr": "10.1.2.0/24"}, "aws_public_subnet_cidr", id="subnet-outside-vpc"),
        pytest.param({"aws_image_id": None}, "aws_image_id", id="no-image"),
        pytest.param({"aws_image_id": "ami-0123456789abcdef0"}, "aws_image_id", id="unknown-image"),
        pytest.param({"aws_public_key": None}, "aws_public_key", id="no-public-key"),
        pytest.param(
            {"aws_public_key": "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1r\n-----END OPENSSH PRIVATE KEY-----"},
            "aws_public_key holds a private key",
            id="private-key",
        ),
        pytest.param({"aws_compute_count": "two"}, "aws_compute_count", id="bad-count"),
        pytest.param({"aws_site_link_overlay_cidr": OVERLAY}, "aws_site_link_public_cidrs", id="link-no-public-cidrs"),
        pytest.param(
            {"aws_site_link_overlay_cidr": "10.0.254.0/24", "aws_site_link_public_cidrs": [ONPREM_PUBLIC]},
            "aws_site_link_overlay_cidr (10.0.254.0/24) overlaps aws_vpc_cidr",
            id="link-overlay-in-vpc",
        ),
    ],
)
def test_bad_input_fails_before_any_change(
    ec2: Any,
    cluster_vars: dict[str, Any],
    run_playbook: Any,
    tmp_path: Path,
    override: dict[str, Any],
    variable: str,
) -> None:
    extra = {k: v for k, v in {**cluster_vars, **override}.items() if v is not None}
    run = run_playbook("provision_aws.yml", extra, tmp_path)
    assert run.rc != 0, run
    assert any(names(error, variable) for error in run.errors()), run
    assert nothing_created(ec2)


def test_open_bastion_is_allowed_only_explicitly_and_warned(
    ec2: Any, cluster_vars: dict[str, Any], run_playbook: Any, tmp_path: Path
) -> None:
    # An image that does not exist, so that the run stops at the preflight's last check, the AMI's look-up (a missing
    # image would stop it at the argument check, before the warning): what matters is that 0.0.0.0/0 passes every
    # check of the variables, warned.
    extra = {**cluster_vars, "aws_image_id": "ami-0123456789abcdef0", "aws_bastion_allowed_cidrs": "0.0.0.0/0"}
    run = run_playbook("provision_aws.yml", extra, tmp_path)
    assert run.rc != 0, run
    assert "WARNING: aws_bastion_allowed_cidrs contains 0.0.0.0/0" in run.output, run
    errors = run.errors()
    assert any(error.startswith('aws_image_id: AMI "ami-0123456789abcdef0" was not found') for error in errors), run
    assert not any("aws_bastion_allowed_cidrs" in error for error in errors), run
    assert nothing_created(ec2)
