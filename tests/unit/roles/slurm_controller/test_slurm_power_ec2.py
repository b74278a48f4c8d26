"""The power programs' ec2 provider (roles/slurm_controller/files/slurm_power.py) against moto's EC2, in process.

An elastic node is an instance in the cluster's private subnet with its security groups and an instance profile,
IMDSv2 required, tagged for the hybrid inventory plugin (Name, hpc_cluster, hpc_role) and for the reconciler
(org.hpcstack.*); its user data makes it join configless under its node name and fetch the munge key from SSM
Parameter Store: the key itself never travels in it. Suspend terminates.
"""

from __future__ import annotations

import base64
import importlib.util
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

ROOT = Path(__file__).resolve().parents[4]
SCRIPT = ROOT / "roles/slurm_controller/files/slurm_power.py"
if "slurm_power" not in sys.modules:
    spec = importlib.util.spec_from_file_location("slurm_power", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["slurm_power"] = module
    spec.loader.exec_module(module)
slurm_power = sys.modules["slurm_power"]

REGION = "eu-west-1"
MUNGE_KEY_PARAMETER = "/hpcstack/munge-key"


@pytest.fixture(scope="module")
def moto_ec2() -> Iterator[dict[str, Any]]:
    """moto's EC2 and IAM (one for the module: starting it takes seconds) with the reference design's private subnet,
    the cluster's security group, an instance profile and an AMI; the settings of a node group using them."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
        }.items():
            patch.setenv(name, value)
        with mock_aws():
            ec2 = boto3.client("ec2", region_name=REGION)
            vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
            subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
            group = ec2.create_security_group(GroupName="hpc-cluster", Description="cluster", VpcId=vpc)["GroupId"]
            image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
            boto3.client("iam", region_name=REGION).create_instance_profile(InstanceProfileName="hpc-compute")
            settings = {
                "region": REGION,
                "image_id": image,
                "instance_type": "c6i.large",
                "subnet_id": subnet,
                "security_group_ids": [group],
                "instance_profile": "hpc-compute",
                "munge_key_parameter": MUNGE_KEY_PARAMETER,
                "conf_server": "10.0.1.10:6817",
                "tags": {"project": "burst"},
            }
            yield {"ec2": ec2, "settings": settings, "subnet": subnet, "group": group, "image": image}


@pytest.fixture
def aws(moto_ec2: dict[str, Any]) -> dict[str, Any]:
    """The module's moto with no instance running (those of the tests before are terminated)."""
    reservations = moto_ec2["ec2"].describe_instances()["Reservations"]
    ids = [
        instance["InstanceId"]
        for reservation in reservations
        for instance in reservation["Instances"]
        if instance["State"]["Name"] != "terminated"
    ]
    if ids:
        moto_ec2["ec2"].terminate_instances(InstanceIds=ids)
    return moto_ec2


def provider(settings: dict[str, Any], cluster: str = "hpcstack", group: str = "cloud") -> Any:
    checked = slurm_power.Ec2Provider.check_settings(settings, "groups[0].ec2")
    nodes = ("burst01", "burst02", "burst03", "burst04")
    return slurm_power.Ec2Provider(cluster, slurm_power.Group(group, "ec2", nodes, checked))


def live(ec2: Any) -> dict[str, dict[str, Any]]:
    """Node name -> instance, for the instances not terminated."""
    found = {}
    for reservation in ec2.describe_instances()["Reservations"]:
        for instance in reservation["Instances"]:
            if instance["State"]["Name"] != "terminated":
                tags = {tag["Key"]: tag["Value"] for tag in instance.get("Tags", [])}
                found[tags.get("org.hpcstack.node", tags.get("Name", ""))] = instance
    return found


def test_resume_launches_a_tagged_imdsv2_instance_in_the_private_subnet(aws: dict[str, Any]) -> None:
    ec2 = aws["ec2"]
    address = provider(aws["settings"]).resume("burst01")

    found = live(ec2)
    assert list(found) == ["burst01"]
    instance = found["burst01"]
    assert instance["PrivateIpAddress"] == address
    assert address.startswith("10.0.1.")
    assert instance["SubnetId"] == aws["subnet"]
    assert [group["GroupId"] for group in instance["SecurityGroups"]] == [aws["group"]]
    assert instance["ImageId"] == aws["image"]
    assert instance["InstanceType"] == "c6i.large"
    assert instance["MetadataOptions"]["HttpTokens"] == "required"
    assert instance["IamInstanceProfile"]["Arn"].endswith("instance-profile/hpc-compute")
    tags = {tag["Key"]: tag["Value"] for tag in instance["Tags"]}
    assert tags == {
        "Name": "burst01",
        "hpc_cluster": "hpcstack",
        "hpc_role": "slurm_elastic",
        "org.hpcstack.owner": "hpcstack",
        "org.hpcstack.cluster": "hpcstack",
        "org.hpcstack.elastic": "cloud",
        "org.hpcstack.node": "burst01",
        "project": "burst",
    }
    encoded = ec2.describe_instance_attribute(InstanceId=instance["InstanceId"], Attribute="userData")
    user_data = base64.b64decode(encoded["UserData"]["Value"]).decode()
    assert "hostnamectl set-hostname burst01" in user_data
    assert f"--name {MUNGE_KEY_PARAMETER} --with-decryption" in user_data
    assert 'SLURMD_OPTIONS="-N burst01 --conf-server 10.0.1.10:6817"' in user_data
    # All of it is the program's text with these four values: the key has no way in.
    assert user_data == slurm_power.EC2_USER_DATA.format(
        node="burst01", region=REGION, parameter=MUNGE_KEY_PARAMETER, conf_server="10.0.1.10:6817"
    )


def test_suspend_terminates_and_a_second_suspend_finds_nothing(aws: dict[str, Any]) -> None:
    ec2 = aws["ec2"]
    ec2_provider = provider(aws["settings"])
    ec2_provider.resume("burst01")
    ec2_provider.resume("burst02")
    assert ec2_provider.remove("burst01") is True
    assert sorted(live(ec2)) == ["burst02"]
    assert ec2_provider.remove("burst01") is False


def test_resume_replaces_a_leftover_instance_of_the_node(aws: dict[str, Any]) -> None:
    ec2 = aws["ec2"]
    ec2_provider = provider(aws["settings"])
    ec2_provider.resume("burst01")
    first = live(ec2)["burst01"]["InstanceId"]
    ec2_provider.resume("burst01")
    assert list(live(ec2)) == ["burst01"]
    assert live(ec2)["burst01"]["InstanceId"] != first


def test_instances_lists_this_groups_live_instances_only(aws: dict[str, Any]) -> None:
    ec2 = aws["ec2"]
    ec2_provider = provider(aws["settings"])
    ec2_provider.resume("burst01")
    ec2_provider.resume("burst02")
    ec2_provider.remove("burst02")
    provider(aws["settings"], cluster="other").resume("burst03")  # another cluster's
    provider(aws["settings"], group="gpu").resume("burst04")  # another group's
    ec2.run_instances(ImageId=aws["image"], MinCount=1, MaxCount=1)  # not ours at all

    (instance,) = ec2_provider.instances()
    assert instance.node == "burst01"
    assert instance.running is True
    assert instance.created > 1_600_000_000


def test_a_failed_launch_is_a_provider_error_naming_the_step(aws: dict[str, Any]) -> None:
    settings = {**aws["settings"], "subnet_id": "subnet-0123456789abcdef0"}  # no such subnet
    with pytest.raises(slurm_power.ProviderError, match=r"^run instance: .*subnet"):
        provider(settings).resume("burst01")
    assert live(aws["ec2"]) == {}


def test_power_resume_gives_slurm_the_instances_address(aws: dict[str, Any], tmp_path: Path) -> None:
    calls: list[list[str]] = []

    def scontrol(argv: list[str]) -> str:
        calls.append(argv)
        return ""

    config = slurm_power.parse_config(
        {
            "cluster": "hpcstack",
            "launch_backoff": 0,
            "state_dir": str(tmp_path),
            "groups": [{"name": "cloud", "provider": "ec2", "nodes": ["burst01", "burst02"], "ec2": aws["settings"]}],
        }
    )
    assert slurm_power.Power(config, runner=scontrol, sleep=lambda seconds: None).resume(["burst01", "burst02"]) == 0
    addresses = {name: instance["PrivateIpAddress"] for name, instance in live(aws["ec2"]).items()}
    assert sorted(calls) == sorted(
        ["scontrol", "update", f"nodename={name}", f"nodeaddr={address}", f"nodehostname={name}"]
        for name, address in addresses.items()
    )


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"region": "Europe"}, "groups[0].ec2.region"),
        ({"image_id": "ubuntu"}, "groups[0].ec2.image_id"),
        ({"subnet_id": None}, "groups[0].ec2.subnet_id"),
        ({"security_group_ids": []}, "groups[0].ec2.security_group_ids"),
        ({"security_group_ids": ["default"]}, "groups[0].ec2.security_group_ids[0]"),
        ({"munge_key_parameter": "key; curl evil"}, "groups[0].ec2.munge_key_parameter"),
        ({"conf_server": "ctl:6817\nrm -rf /"}, "groups[0].ec2.conf_server"),
        ({"endpoint_url": "file:///etc/passwd"}, "groups[0].ec2.endpoint_url"),
        ({"tags": {"Name": "x\ny"}}, "groups[0].ec2.tags.Name"),
    ],
)
def test_bad_settings_are_named(change: dict[str, Any], key: str) -> None:
    settings = {
        "region": REGION,
        "image_id": "ami-0123456789abcdef0",
        "instance_type": "c6i.large",
        "subnet_id": "subnet-0123456789abcdef0",
        "security_group_ids": ["sg-0123456789abcdef0"],
        "instance_profile": "hpc-compute",
        "munge_key_parameter": MUNGE_KEY_PARAMETER,
        "conf_server": "10.0.1.10:6817",
        **change,
    }
    with pytest.raises(slurm_power.ConfigError, match=f"^{re.escape(key)}:"):
        slurm_power.Ec2Provider.check_settings(settings, "groups[0].ec2")
