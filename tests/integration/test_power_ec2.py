"""The power programs' ec2 provider (roles/slurm_controller/files/slurm_power.py) against a moto server on 127.0.0.1.

Unlike tests/unit/roles/slurm_controller/test_slurm_power_ec2.py (moto in process), every EC2 call here goes over
HTTP to the session's moto server (conftest.py), as the provider's calls go to EC2's endpoint: the provider makes its
own boto3 client from the group's endpoint_url, and what it asked for is read back with a separate boto3 client as
the server recorded it. Slurm is a fake scontrol runner that records what Power asks of it. The errors moto cannot
make (no capacity, throttling) are answered by a botocore before-send handler on the provider's client, so that
botocore parses a real EC2 error response. Run: pytest -p no:cacheprovider tests/integration/test_power_ec2.py
"""

from __future__ import annotations

import base64
import importlib.util
import secrets
import sys
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore.awsrequest
import botocore.config
import pytest

# conftest.py is not imported (it is no package member); its fixtures come by name.
ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "roles/slurm_controller/files/slurm_power.py"
if "slurm_power" not in sys.modules:  # loaded once, as the unit tests load it
    spec = importlib.util.spec_from_file_location("slurm_power", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["slurm_power"] = module
    spec.loader.exec_module(module)
slurm_power = sys.modules["slurm_power"]

REGION = "eu-west-1"
CLUSTER = "itest"
GROUP = "burst"
NODES = ["burst01", "burst02", "burst03", "burst04"]
MUNGE_KEY_PARAMETER = "/itest/munge-key"
CONF_SERVER = "10.0.1.10:6817"
ALIVE = ["pending", "running"]


class Aws:
    """The moto server's account as a cluster's design has it: a private subnet, the cluster's security group, an
    instance profile, an AMI and the munge key in SSM Parameter Store; boto3 clients of its own to read it back."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.ec2 = boto3.client("ec2", endpoint_url=url, region_name=REGION)
        self.ssm = boto3.client("ssm", endpoint_url=url, region_name=REGION)
        vpc = self.ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        self.subnet = self.ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
        self.group = self.ec2.create_security_group(GroupName="hpc-cluster", Description="cluster", VpcId=vpc)[
            "GroupId"
        ]
        # One of moto's Amazon Linux 2 images (a filter: all of its AMIs take a second to describe).
        amazon_linux = [{"Name": "name", "Values": ["amzn2-ami-hvm-*"]}]
        self.image = self.ec2.describe_images(Owners=["amazon"], Filters=amazon_linux)["Images"][0]["ImageId"]
        boto3.client("iam", endpoint_url=url, region_name=REGION).create_instance_profile(
            InstanceProfileName="hpc-compute"
        )
        # Printable, so that the bytes themselves would show in the user data if they went into it.
        self.munge_key = secrets.token_urlsafe(64).encode()
        self.ssm.put_parameter(
            Name=MUNGE_KEY_PARAMETER, Type="SecureString", Value=base64.b64encode(self.munge_key).decode()
        )

    def settings(self) -> dict[str, Any]:
        """A node group's ec2 settings (as the role writes them into hpcstack-power.json) for this account."""
        return {
            "region": REGION,
            "image_id": self.image,
            "instance_type": "c6i.large",
            "subnet_id": self.subnet,
            "security_group_ids": [self.group],
            "instance_profile": "hpc-compute",
            "munge_key_parameter": MUNGE_KEY_PARAMETER,
            "conf_server": CONF_SERVER,
            "endpoint_url": self.url,
            "tags": {"project": "itest-burst"},
        }

    def instances(self, *filters: dict[str, Any]) -> dict[str, dict[str, Any]]:
        """Instance id -> instance, as the server describes them (filters as describe_instances takes them)."""
        pages = self.ec2.get_paginator("describe_instances").paginate(Filters=list(filters))
        return {
            instance["InstanceId"]: instance
            for page in pages
            for reservation in page["Reservations"]
            for instance in reservation["Instances"]
        }

    def alive(self, cluster: str = CLUSTER) -> dict[str, str]:
        """Node name -> instance id of the cluster's pending or running instances (by the inventory plugin's tag)."""
        found = self.instances(
            {"Name": "tag:hpc_cluster", "Values": [cluster]}, {"Name": "instance-state-name", "Values": ALIVE}
        )
        return {tags_of(instance)["Name"]: instance_id for instance_id, instance in found.items()}

    def state(self, instance_id: str) -> str:
        return self.instances({"Name": "instance-id", "Values": [instance_id]})[instance_id]["State"]["Name"]


class Scontrol:
    """A fake scontrol: records each command line (and the back-off's sleeps, in the same list, to see their order);
    `scontrol --oneliner show node` answers the node states it is given."""

    def __init__(self, states: dict[str, str] | None = None) -> None:
        self.calls: list[list[str]] = []
        self.states = states or {}

    def __call__(self, argv: list[str]) -> str:
        self.calls.append(argv)
        if argv[:4] == ["scontrol", "--oneliner", "show", "node"]:
            nodes = argv[4:] or list(self.states)
            return "".join(f"NodeName={node} Arch=x86_64 State={self.states[node]} Reason=none\n" for node in nodes)
        return ""

    def sleep(self, seconds: float) -> None:
        self.calls.append(["sleep", str(seconds)])

    def updates(self) -> list[list[str]]:
        return [argv for argv in self.calls if argv[:2] == ["scontrol", "update"]]


def tags_of(instance: dict[str, Any]) -> dict[str, str]:
    return {tag["Key"]: tag["Value"] for tag in instance.get("Tags", [])}


def config(aws: Aws, state_dir: Path, **extra: Any) -> Any:
    """The power programs' configuration: one ec2 group of NODES on the moto server."""
    return slurm_power.parse_config(
        {
            "cluster": CLUSTER,
            "state_dir": str(state_dir),
            "groups": [{"name": GROUP, "provider": "ec2", "nodes": NODES, "ec2": aws.settings()}],
            **extra,
        }
    )


def ec2_error(code: str, status: int) -> botocore.awsrequest.AWSResponse:
    """An EC2 Query API error response, as EC2 sends it."""
    body = (
        f"<Response><Errors><Error><Code>{code}</Code><Message>injected {code} for the test</Message></Error></Errors>"
        "<RequestID>5f1d5c58-itest</RequestID></Response>"
    ).encode()

    class Raw:
        def stream(self, **_kwargs: Any) -> Iterator[bytes]:
            yield body

    return botocore.awsrequest.AWSResponse("http://127.0.0.1/", status, {"Content-Type": "text/xml"}, Raw())


@pytest.fixture
def aws(moto: Any) -> Aws:
    """The emptied moto server with the cluster's subnet, security group, instance profile, AMI and munge key."""
    return Aws(moto.url)


def test_resume_launches_what_the_group_says_and_the_user_data_names_the_key_parameter_not_the_key(
    aws: Aws, tmp_path: Path
) -> None:
    """The launch request as the server recorded it: the private subnet, the cluster's security group, the instance
    profile that may read the key, IMDSv2 required, the inventory plugin's and reconciler's tags; its user data fetches
    the munge key from SSM under the group's parameter name and holds neither the key nor its base64."""
    scontrol = Scontrol()
    power = slurm_power.Power(config(aws, tmp_path, launch_backoff=0), runner=scontrol, sleep=scontrol.sleep)
    assert power.resume(["burst01"]) == 0

    (instance,) = aws.instances({"Name": "tag:Name", "Values": ["burst01"]}).values()
    assert instance["State"]["Name"] in ALIVE
    # Slurm is given the instance's private address under the node's name, and nothing else.
    assert scontrol.calls == [
        ["scontrol", "update", "nodename=burst01", f"nodeaddr={instance['PrivateIpAddress']}", "nodehostname=burst01"]
    ]
    assert instance["PrivateIpAddress"].startswith("10.0.1.")
    assert instance["SubnetId"] == aws.subnet
    assert [group["GroupId"] for group in instance["SecurityGroups"]] == [aws.group]
    assert instance["ImageId"] == aws.image
    assert instance["InstanceType"] == "c6i.large"
    assert instance["IamInstanceProfile"]["Arn"].endswith(":instance-profile/hpc-compute")
    metadata = instance["MetadataOptions"]
    assert (metadata["HttpTokens"], metadata["HttpEndpoint"], metadata["HttpPutResponseHopLimit"]) == (
        "required",
        "enabled",
        1,
    )
    assert tags_of(instance) == {
        "Name": "burst01",
        "hpc_cluster": CLUSTER,
        "hpc_role": "slurm_elastic",
        "org.hpcstack.owner": "hpcstack",
        "org.hpcstack.cluster": CLUSTER,
        "org.hpcstack.elastic": GROUP,
        "org.hpcstack.node": "burst01",
        "project": "itest-burst",
    }

    encoded = aws.ec2.describe_instance_attribute(InstanceId=instance["InstanceId"], Attribute="userData")
    user_data = base64.b64decode(encoded["UserData"]["Value"]).decode()
    assert user_data.startswith("#!/bin/bash\n")
    assert "hostnamectl set-hostname burst01\n" in user_data
    assert f"aws ssm get-parameter --region {REGION} --name {MUNGE_KEY_PARAMETER} --with-decryption" in user_data
    assert "| base64 --decode > /etc/munge/munge.key" in user_data
    assert f'SLURMD_OPTIONS="-N burst01 --conf-server {CONF_SERVER}"' in user_data
    # The parameter it names is the one that holds the key (as the instance would read it) ...
    stored = aws.ssm.get_parameter(Name=MUNGE_KEY_PARAMETER, WithDecryption=True)["Parameter"]["Value"]
    assert base64.b64decode(stored) == aws.munge_key
    # ... and the key never travels in the user data, in any of its forms.
    b64 = base64.b64encode(aws.munge_key).decode()
    for secret in (aws.munge_key.decode(), b64, b64.rstrip("="), b64[:40], base64.encodebytes(aws.munge_key).decode()):
        assert secret not in user_data
        assert secret not in encoded["UserData"]["Value"]


def test_suspend_terminates_the_nodes_instance_only(aws: Aws, tmp_path: Path) -> None:
    """Suspend terminates the node's instance (the group's other node keeps its own); a second suspend finds none
    and still succeeds, as slurmctld may suspend a node twice."""
    scontrol = Scontrol()
    power = slurm_power.Power(config(aws, tmp_path, launch_backoff=0), runner=scontrol, sleep=scontrol.sleep)
    assert power.resume(["burst01", "burst02"]) == 0
    started = aws.alive()
    assert sorted(started) == ["burst01", "burst02"]
    resumed = list(scontrol.calls)
    assert sorted(argv[2] for argv in resumed) == ["nodename=burst01", "nodename=burst02"]

    assert power.suspend(["burst01"]) == 0
    assert aws.state(started["burst01"]) in ("shutting-down", "terminated")
    assert aws.state(started["burst02"]) in ALIVE
    assert aws.alive() == {"burst02": started["burst02"]}
    assert power.suspend(["burst01"]) == 0
    assert aws.alive() == {"burst02": started["burst02"]}
    assert scontrol.calls == resumed  # suspend asks Slurm nothing: slurmctld powers the node down itself


@pytest.mark.parametrize(
    ("code", "status"),
    [("InsufficientInstanceCapacity", 500), ("RequestLimitExceeded", 503)],
)
def test_a_capacity_or_throttling_error_leaves_the_node_down_with_the_aws_code_then_powered_down(
    aws: Aws, tmp_path: Path, code: str, status: int
) -> None:
    """EC2 refuses burst02's launch (no capacity, or throttled): Power sets it DOWN with the provider's reason naming
    EC2's error code (Slurm requeues its job), waits launch_backoff and powers it down so that Slurm may try again;
    burst01 of the same resume starts as usual and no instance of burst02 is left."""
    refused: list[str] = []

    def refuse_burst02(request: Any, **_kwargs: Any) -> botocore.awsrequest.AWSResponse | None:
        body = request.body.decode() if isinstance(request.body, bytes) else request.body
        values = [value for values in urllib.parse.parse_qs(body).values() for value in values]
        if "burst02" in values:
            refused.append("burst02")
            return ec2_error(code, status)
        return None  # sent to the moto server

    def client(settings: dict[str, Any]) -> Any:
        """The provider's client as it makes it, with no retries (the test's speed) and the refusing handler."""
        made = boto3.session.Session(region_name=settings["region"]).client(
            "ec2",
            endpoint_url=settings["endpoint_url"],
            config=botocore.config.Config(retries={"total_max_attempts": 1, "mode": "standard"}),
        )
        made.meta.events.register("before-send.ec2.RunInstances", refuse_burst02)
        return made

    scontrol = Scontrol()
    power = slurm_power.Power(
        config(aws, tmp_path, launch_backoff=42),
        runner=scontrol,
        provider_factory=lambda cluster, group: slurm_power.Ec2Provider(cluster, group, client_factory=client),
        sleep=scontrol.sleep,
    )
    assert power.resume(["burst01", "burst02"]) == 1

    assert refused == ["burst02"]  # one attempt, refused by the handler, not by moto
    alive = aws.alive()
    assert sorted(alive) == ["burst01"]
    address = aws.instances({"Name": "instance-id", "Values": [alive["burst01"]]})[alive["burst01"]]["PrivateIpAddress"]
    burst02 = [argv for argv in scontrol.calls if argv[0] == "sleep" or argv[2] == "nodename=burst02"]
    assert len(burst02) == 3, scontrol.calls
    down, backoff, powered_down = burst02
    assert down[:4] == ["scontrol", "update", "nodename=burst02", "state=DOWN"], down
    assert len(down) == 5
    reason = down[4]
    assert reason.startswith("reason=hpcstack-power: launch failed: run instance: ")
    assert f"({code})" in reason
    assert f"injected {code} for the test" in reason
    assert '"' not in reason
    assert len(reason) <= len("reason=hpcstack-power: launch failed: ") + slurm_power.REASON_LENGTH
    assert backoff == ["sleep", "42"]
    assert powered_down == ["scontrol", "update", "nodename=burst02", "state=POWER_DOWN"]
    assert ["scontrol", "update", "nodename=burst01", f"nodeaddr={address}", "nodehostname=burst01"] in scontrol.calls
    assert len(scontrol.calls) == 4


def test_reconcile_terminates_an_orphan_of_a_powered_down_node_after_the_grace(aws: Aws, tmp_path: Path) -> None:
    """An instance of the group whose node Slurm has powered down (a failed suspend, or one started behind Slurm's
    back) is a leak: reconcile terminates it once it is older than orphan_grace (its LaunchTime as the server says),
    not before. A powered-up node's instance and another cluster's instance are left alone, and Slurm is asked
    nothing."""
    scontrol = Scontrol({node: "IDLE+CLOUD+POWERED_DOWN" for node in NODES} | {"burst01": "IDLE+CLOUD"})
    cfg = config(aws, tmp_path, launch_backoff=0, orphan_grace=300)

    def reconcile(now: float) -> int:
        """One run of the reconciler's timer: a process, and so a Power, of its own."""
        return slurm_power.Power(cfg, runner=scontrol, sleep=scontrol.sleep).reconcile(now=lambda: now)

    assert slurm_power.Power(cfg, runner=scontrol, sleep=scontrol.sleep).resume(["burst01"]) == 0

    def run(cluster: str, node: str) -> str:
        """An instance with the group's tags, not started by the power programs."""
        tags = {"Name": node, "hpc_cluster": cluster, "hpc_role": "slurm_elastic", "org.hpcstack.owner": "hpcstack"}
        tags |= {"org.hpcstack.cluster": cluster, "org.hpcstack.elastic": GROUP, "org.hpcstack.node": node}
        answer = aws.ec2.run_instances(
            ImageId=aws.image,
            MinCount=1,
            MaxCount=1,
            SubnetId=aws.subnet,
            TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}],
        )
        return answer["Instances"][0]["InstanceId"]

    orphan = run(CLUSTER, "burst03")
    others = run("othercluster", "burst03")
    powered_up = aws.alive()["burst01"]
    launched = aws.instances({"Name": "instance-id", "Values": [orphan]})[orphan]["LaunchTime"].timestamp()
    assert abs(launched - time.time()) < 120  # the server's clock is this machine's

    # Younger than the grace: left alone (a suspend may be at work on it).
    scontrol.calls.clear()
    assert reconcile(launched + 299) == 0
    assert aws.alive() == {"burst01": powered_up, "burst03": orphan}
    # Older: terminated, and only it.
    assert reconcile(launched + 301) == 0
    assert aws.state(orphan) in ("shutting-down", "terminated")
    assert aws.alive() == {"burst01": powered_up}
    assert aws.alive("othercluster") == {"burst03": others}
    assert scontrol.updates() == []
    counters = (tmp_path / slurm_power.RECONCILE_STATE).read_text()
    assert '"removed": 1' in counters
    assert '"powered_down": 0' in counters
    # Nothing is left to do.
    assert reconcile(launched + 3600) == 0
    assert aws.alive() == {"burst01": powered_up}
    assert '"removed": 1' in (tmp_path / slurm_power.RECONCILE_STATE).read_text()


def test_a_full_cycle_leaves_no_instance_of_the_cluster_pending_or_running(aws: Aws, tmp_path: Path) -> None:
    """Resume two nodes, then suspend them (as slurmctld does with a hostlist's nodes): the cluster has no pending
    or running instance left, by the inventory plugin's tag or by the provider's own filter, and the reconciler
    that follows finds nothing to do."""
    scontrol = Scontrol({node: "IDLE+CLOUD+POWERED_DOWN" for node in NODES})
    cfg = config(aws, tmp_path, launch_backoff=0, orphan_grace=0)
    power = slurm_power.Power(cfg, runner=scontrol, sleep=scontrol.sleep)

    def provider() -> Any:
        """A provider of its own (its own client), to list the group's instances as the reconciler does."""
        return slurm_power.Ec2Provider(CLUSTER, cfg.groups[0])

    assert power.resume(["burst02", "burst04"]) == 0
    started = aws.alive()
    assert sorted(started) == ["burst02", "burst04"]
    assert sorted((item.node, item.running) for item in provider().instances()) == [
        ("burst02", True),
        ("burst04", True),
    ]
    assert len({argv[3] for argv in scontrol.updates()}) == 2  # two distinct addresses given to Slurm

    assert power.suspend(["burst02", "burst04"]) == 0
    assert aws.alive() == {}
    assert all(aws.state(instance_id) in ("shutting-down", "terminated") for instance_id in started.values())
    assert [item for item in provider().instances() if item.running] == []
    scontrol.calls.clear()
    assert power.reconcile() == 0
    assert scontrol.calls == [["scontrol", "--oneliner", "show", "node"]]
