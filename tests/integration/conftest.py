"""Fixtures of the integration tests: a moto EC2 server on 127.0.0.1 and the local Docker engine.

The moto server is started by the test session and stopped by its process id when the session ends; nothing
leaves this machine. AWS credentials in the environment are fake ones that moto accepts.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

REPO = Path(__file__).resolve().parents[2]
# tools/moto_server.py, shared with tools/bench_inventory.py (loaded by path: tools/ is not a package).
_spec = importlib.util.spec_from_file_location("moto_server", REPO / "tools" / "moto_server.py")
moto_server_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(moto_server_module)
MotoServer = moto_server_module.MotoServer


def run_reference_instances(moto: MotoServer, nodes: list[tuple[str, str, str]], compute_type: str) -> dict[str, str]:
    """Make the reference VPC (public 10.0.2.0/24, private 10.0.1.0/24) on moto and run one instance per
    (Name, hpc_role, hpc_cluster): bastions in the public subnet with a public IP, the rest in the private one.
    Returns {Name: instance id}."""
    ec2 = boto3.client("ec2", endpoint_url=moto.url)
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    public = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.2.0/24")["Subnet"]["SubnetId"]
    private = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    ids = {}
    for name, role, cluster in nodes:
        subnet = public if role == "bastion" else private
        tags = [{"Key": k, "Value": v} for k, v in (("Name", name), ("hpc_cluster", cluster), ("hpc_role", role))]
        reservation = ec2.run_instances(
            ImageId=image,
            MinCount=1,
            MaxCount=1,
            InstanceType="t3.micro" if role == "bastion" else compute_type,
            NetworkInterfaces=[{"DeviceIndex": 0, "SubnetId": subnet, "AssociatePublicIpAddress": subnet == public}],
            TagSpecifications=[{"ResourceType": "instance", "Tags": tags}],
        )
        ids[name] = reservation["Instances"][0]["InstanceId"]
    return ids


def hosts_of(data: dict, group: str) -> set[str]:
    """Hosts of a group of `ansible-inventory --list` output, and of its children."""
    entry = data.get(group, {})
    found = set(entry.get("hosts", []))
    for child in entry.get("children", []):
        found |= hosts_of(data, child)
    return found


def plain(value: Any) -> Any:
    """ansible-inventory marks untrusted strings as {'__ansible_unsafe': ...}; the text is what the tests compare."""
    if isinstance(value, dict):
        if set(value) == {"__ansible_unsafe"}:
            return value["__ansible_unsafe"]
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def run_ansible(*args: str, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    """Run an ansible command in the checkout with its ansible.cfg and default output; the result is not checked."""
    env = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"}
    env.pop("ANSIBLE_STDOUT_CALLBACK", None)
    return subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture
def ansible() -> Callable[..., subprocess.CompletedProcess[str]]:
    """Return run_ansible: an ansible command of the checkout (ansible-playbook, ansible-inventory, ansible)."""
    return run_ansible


@pytest.fixture
def inventory_list() -> Callable[..., tuple[dict, str]]:
    """Return a function giving `ansible-inventory --list` of a source (untrusted markers removed) and its stderr."""

    def read(source: Path, *extra: str) -> tuple[dict, str]:
        result = run_ansible("ansible-inventory", "-i", str(source), "--list", *extra, timeout=300)
        assert result.returncode == 0, result.stderr
        data = json.loads(result.stdout)
        data["_meta"]["hostvars"] = plain(data["_meta"]["hostvars"])
        return data, result.stderr

    return read


@pytest.fixture
def unused_port() -> int:
    """A TCP port on 127.0.0.1 with nothing listening: an endpoint that cannot be reached."""
    return moto_server_module.free_port()


@pytest.fixture(scope="session")
def aws_env() -> Iterator[dict[str, str]]:
    """Fake AWS credentials (moto accepts any) in os.environ, for boto3 and the amazon.aws modules."""
    saved = {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")}
    fake = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "eu-west-1"}
    os.environ.update(fake)
    for k in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        os.environ.pop(k, None)
    yield fake
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(scope="session")
def moto_server(aws_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    """A moto server for the whole session, stopped by its pid at the end."""
    try:
        server = MotoServer(tmp_path_factory.mktemp("moto") / "moto.log")
    except RuntimeError as failure:
        pytest.fail(str(failure))
    yield server
    server.stop()


@pytest.fixture
def moto(moto_server: MotoServer) -> MotoServer:
    """The session's moto server, emptied before the test."""
    moto_server.reset()
    return moto_server
