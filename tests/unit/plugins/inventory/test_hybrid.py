"""Unit tests of the hybrid inventory plugin, with the provider calls stubbed.

EC2 answers come from botocore's Stubber or from a `before-send` hook (which, unlike the Stubber, runs botocore's
retry logic); Docker answers from a fake list of container summaries shaped like the engine's.
"""

from __future__ import annotations

import ast
import socket
from pathlib import Path
from typing import Any

import botocore.awsrequest
import botocore.stub
import pytest
import yaml
from ansible.errors import AnsibleError
from ansible.inventory.data import InventoryData
from ansible.parsing.dataloader import DataLoader
from ansible.plugins.loader import inventory_loader
from ansible_collections.hpcstack.cluster.plugins.inventory import hybrid

VPC = "vpc-0a1b2c3d"


def instance(name: str, role: str, *, public_ip: str | None = None, vpc: str = VPC, number: int = 1) -> dict:
    """An instance record as DescribeInstances returns it (the fields the plugin reads, and a few more)."""
    record = {
        "InstanceId": f"i-{number:017x}",
        "InstanceType": "c5n.18xlarge",
        "ImageId": "ami-12345678",
        "Placement": {"AvailabilityZone": "eu-west-1a"},
        "VpcId": vpc,
        "SubnetId": "subnet-public" if public_ip else "subnet-private",
        "PrivateIpAddress": f"10.0.1.{number}",
        "PrivateDnsName": f"ip-10-0-1-{number}.eu-west-1.compute.internal",
        "PublicDnsName": "",
        "State": {"Code": 16, "Name": "running"},
        "LaunchTime": "2026-11-23T10:00:00.000Z",
        "SecurityGroups": [{"GroupId": "sg-cluster", "GroupName": "cluster"}],
        "Tags": [
            {"Key": "Name", "Value": name},
            {"Key": "hpc_cluster", "Value": "hpc1"},
            {"Key": "hpc_role", "Value": role},
        ],
    }
    if public_ip:
        record["PublicIpAddress"] = public_ip
    return record


def container(name: str, role: str) -> dict:
    """A container summary as the engine's list call returns it."""
    return {
        "Id": f"{abs(hash(name)):064x}"[:64],
        "Names": [f"/{name}"],
        "Image": "hpcstack/debian:bookworm",
        "State": "running",
        "Labels": {"org.hpcstack.cluster": "hpc1", "org.hpcstack.role": role},
        "NetworkSettings": {"Networks": {"hpcstack": {"IPAddress": "172.18.0.5"}}},
    }


CLUSTER = [
    instance("bastion01", "bastion", public_ip="203.0.113.10", number=1),
    instance("ctl01", "slurm_controller,slurmdbd, monitoring", number=2),
    instance("c01", "slurm_compute", number=3),
]
CONTAINERS = [container("onprem01", "slurm_compute"), container("onprem02", "slurm_compute")]


class FakeEC2:
    """Stands in for hybrid.ec2_client: each client answers DescribeInstances with the pages set for its region."""

    def __init__(self) -> None:
        self.pages: dict[str, list[list[dict]]] = {}
        self.stubbers: list[botocore.stub.Stubber] = []
        self.real_client = hybrid.ec2_client

    def __call__(self, region: str, *args: Any) -> Any:
        ec2 = self.real_client(region, None, None, 5, 1)
        stubber = botocore.stub.Stubber(ec2)
        pages = self.pages.get(region, [[]])
        for i, page in enumerate(pages):
            response: dict = {"Reservations": [{"ReservationId": f"r-{i}", "Instances": page}]}
            if i < len(pages) - 1:
                response["NextToken"] = f"token-{i + 1}"
            stubber.add_response("describe_instances", response)
        stubber.activate()
        self.stubbers.append(stubber)
        return ec2


@pytest.fixture
def ec2(monkeypatch: pytest.MonkeyPatch) -> FakeEC2:
    fake = FakeEC2()
    monkeypatch.setattr(hybrid, "ec2_client", fake)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    return fake


@pytest.fixture
def docker_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple]:
    """Stub the Docker source: every call returns CONTAINERS and is recorded."""
    calls: list[tuple] = []

    def fetch(*args: Any) -> list[dict]:
        calls.append(args)
        return CONTAINERS

    monkeypatch.setattr(hybrid, "fetch_containers", fetch)
    return calls


def build(tmp_path: Path, read_cache: bool = True, **options: Any) -> InventoryData:
    """Parse a hybrid.yml with these options (read_cache=False refreshes, as --flush-cache) and return the inventory."""
    config = {"plugin": "hpcstack.cluster.hybrid", "cluster": "hpc1", "regions": ["eu-west-1"], **options}
    path = tmp_path / "cluster.hybrid.yml"
    path.write_text(yaml.safe_dump(config))
    inventory = InventoryData()
    plugin = inventory_loader.get("hpcstack.cluster.hybrid")
    assert plugin.verify_file(str(path))
    plugin.parse(inventory, DataLoader(), str(path), cache=read_cache)
    if options.get("cache"):
        plugin.update_cache_if_changed()  # as the inventory manager does after each source
    return inventory


def hostvars(inventory: InventoryData, name: str) -> dict:
    return inventory.get_host(name).get_vars()


def members(inventory: InventoryData, group: str) -> set[str]:
    return {h.name for h in inventory.groups[group].get_hosts()}


def test_verify_file_wants_the_hybrid_suffix(tmp_path: Path) -> None:
    plugin = inventory_loader.get("hpcstack.cluster.hybrid")
    for name, expected in (("cluster.hybrid.yml", True), ("hybrid.yaml", True), ("aws_ec2.yml", False)):
        path = tmp_path / name
        path.write_text("plugin: hpcstack.cluster.hybrid\n")
        assert plugin.verify_file(str(path)) is expected, name


def test_both_sources_in_one_inventory_grouped_by_role(tmp_path, ec2, docker_calls) -> None:
    ec2.pages["eu-west-1"] = [CLUSTER]
    inventory = build(tmp_path)
    assert members(inventory, "bastion") == {"bastion01"}
    assert members(inventory, "slurm_controller") == {"ctl01"}
    assert members(inventory, "slurmdbd") == {"ctl01"}
    assert members(inventory, "monitoring") == {"ctl01"}  # spaces around the comma do not matter
    assert members(inventory, "slurm_compute") == {"c01", "onprem01", "onprem02"}
    assert members(inventory, "ec2") == {"bastion01", "ctl01", "c01"}
    assert members(inventory, "docker") == {"onprem01", "onprem02"}
    # The default parent group holds every host with the munge key, and not the bastion.
    cluster = inventory.groups["cluster"]
    assert {g.name for g in cluster.child_groups} == {"slurm_controller", "slurmdbd", "slurm_compute"}
    assert "bastion01" not in {h.name for h in cluster.get_hosts()}
    no_tls = {"tls": False, "validate_certs": False, "ca_path": None, "client_cert": None, "client_key": None}
    assert docker_calls == [(None, 120, "org.hpcstack.cluster", "hpc1", no_tls)]


def test_connections_are_wired_per_source_and_subnet(tmp_path, ec2, docker_calls) -> None:
    ec2.pages["eu-west-1"] = [CLUSTER]
    inventory = build(tmp_path, ssh_common_args="-o StrictHostKeyChecking=accept-new")
    bastion = hostvars(inventory, "bastion01")
    assert bastion["ansible_host"] == "203.0.113.10"
    assert bastion["ansible_connection"] == "ssh"
    assert bastion["ansible_user"] == "admin"
    assert bastion["ansible_ssh_common_args"] == "-o StrictHostKeyChecking=accept-new"
    controller = hostvars(inventory, "ctl01")
    assert controller["ansible_host"] == "10.0.1.2"
    assert controller["ansible_ssh_common_args"] == (
        "-o ProxyJump=admin@203.0.113.10 -o StrictHostKeyChecking=accept-new"
    )
    onprem = hostvars(inventory, "onprem01")
    assert onprem["ansible_connection"] == "community.docker.docker"
    assert onprem["ansible_host"] == "onprem01"
    assert "ansible_docker_host" not in onprem
    assert onprem["docker_networks"] == {"hpcstack": "172.18.0.5"}


def test_remote_docker_engine_is_passed_to_the_connection_with_its_tls(tmp_path, ec2, docker_calls) -> None:
    tls = {"validate_certs": True, "ca_path": "/etc/hpc/ca.pem", "client_cert": "/etc/hpc/cert.pem"}
    inventory = build(tmp_path, sources=["docker"], docker_host="tcp://onprem.example.org:2376", client_key="/k", **tls)
    onprem = hostvars(inventory, "onprem01")
    assert onprem["ansible_docker_host"] == "tcp://onprem.example.org:2376"
    assert onprem["ansible_docker_extra_args"] == (
        "--tlsverify --tlscacert=/etc/hpc/ca.pem --tlscert=/etc/hpc/cert.pem --tlskey=/k"
    )
    assert docker_calls[0][0] == "tcp://onprem.example.org:2376"
    assert docker_calls[0][4] == {**tls, "tls": False, "client_key": "/k"}


def test_a_remote_docker_engine_in_plain_http_is_refused(tmp_path, ec2, docker_calls) -> None:
    with pytest.raises(AnsibleError, match=r"docker_host tcp://onprem\.example\.org:2376 is a remote engine spoken to"):
        build(tmp_path, sources=["docker"], docker_host="tcp://onprem.example.org:2376")
    assert docker_calls == []  # refused before the engine was asked
    # On this machine's loopback, plain HTTP is the engine's owner's choice.
    build(tmp_path, sources=["docker"], docker_host="tcp://127.0.0.1:2375")
    assert docker_calls[0][0] == "tcp://127.0.0.1:2375"


def test_docker_tls_settings_reach_the_client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[dict] = []
    monkeypatch.setattr(hybrid.docker, "APIClient", lambda **kwargs: made.append(kwargs))
    ca_path = tmp_path / "ca.pem"
    ca_path.write_text("")
    hybrid.docker_client("tcp://onprem.example.org:2376", 5, {"validate_certs": True, "ca_path": str(ca_path)})
    hybrid.docker_client("tcp://127.0.0.1:2375", 5, {"tls": False, "validate_certs": False})
    verified, plain = made
    assert verified["base_url"] == "tcp://onprem.example.org:2376"
    assert verified["tls"].verify is True
    assert verified["tls"].ca_cert == str(ca_path)
    assert plain["tls"] is False
    assert hybrid.docker_tls({"tls": True}).verify is False


def test_private_host_in_a_vpc_without_bastion_gets_no_jump_and_a_warning(tmp_path, ec2, docker_calls, capsys):
    other = instance("c99", "slurm_compute", vpc="vpc-other", number=9)
    ec2.pages["eu-west-1"] = [[*CLUSTER, other]]
    inventory = build(tmp_path, sources=["ec2"])
    assert "ansible_ssh_common_args" not in hostvars(inventory, "c99")
    assert "c99 has no public address and no host of group bastion" in capsys.readouterr().err


def test_use_bastion_false_leaves_private_hosts_direct(tmp_path, ec2, docker_calls) -> None:
    ec2.pages["eu-west-1"] = [CLUSTER]
    inventory = build(tmp_path, sources=["ec2"], use_bastion=False)
    assert "ansible_ssh_common_args" not in hostvars(inventory, "ctl01")


def test_every_page_and_every_region_is_read_with_the_cluster_filter(tmp_path, ec2, docker_calls) -> None:
    ec2.pages["eu-west-1"] = [CLUSTER[:2], CLUSTER[2:]]
    ec2.pages["us-east-1"] = [[instance("c02", "slurm_compute", number=4)]]
    inventory = build(tmp_path, sources=["ec2"], regions=["eu-west-1", "us-east-1"])
    assert members(inventory, "ec2") == {"bastion01", "ctl01", "c01", "c02"}
    assert hostvars(inventory, "c02")["ec2_region"] == "us-east-1"
    for stubber in ec2.stubbers:
        stubber.assert_no_pending_responses()


def test_filters_select_the_cluster_and_running_instances_unless_told() -> None:
    assert hybrid.ec2_filters("hpc_cluster", "hpc1", {"instance-type": "c5n.18xlarge"}) == [
        {"Name": "tag:hpc_cluster", "Values": ["hpc1"]},
        {"Name": "instance-type", "Values": ["c5n.18xlarge"]},
        {"Name": "instance-state-name", "Values": ["pending", "running"]},
    ]
    stopped = hybrid.ec2_filters("hpc_cluster", "hpc1", {"instance-state-name": ["stopped"]})
    assert stopped[-1] == {"Name": "instance-state-name", "Values": ["stopped"]}
    assert len(stopped) == 2


def test_hostnames_follow_the_preferences_and_duplicates_fall_back_to_the_id(tmp_path, ec2, docker_calls):
    twin = instance("c01", "slurm_compute", number=5)
    ec2.pages["eu-west-1"] = [[*CLUSTER, twin]]
    inventory = build(tmp_path, sources=["ec2"])
    assert members(inventory, "slurm_compute") == {"c01", twin["InstanceId"]}
    inventory = build(tmp_path, sources=["ec2"], hostnames=["private-ip-address"])
    assert members(inventory, "bastion") == {"10.0.1.1"}


def test_constructed_options_apply_to_both_sources(tmp_path, ec2, docker_calls) -> None:
    ec2.pages["eu-west-1"] = [CLUSTER]
    inventory = build(
        tmp_path,
        compose={"node_weight": "10 if hpc_source == 'docker' else 1"},
        groups={"onprem": "hpc_source == 'docker'"},
        keyed_groups=[{"key": "ec2_instance_type | default('container')", "prefix": "type"}],
    )
    assert hostvars(inventory, "onprem01")["node_weight"] == 10
    assert hostvars(inventory, "c01")["node_weight"] == 1
    assert members(inventory, "onprem") == {"onprem01", "onprem02"}
    assert members(inventory, "type_c5n_18xlarge") == {"bastion01", "ctl01", "c01"}
    assert members(inventory, "type_container") == {"onprem01", "onprem02"}


def test_remote_strings_cannot_inject_templates(tmp_path, ec2, docker_calls) -> None:
    evil = instance("c66", "slurm_compute", number=6)
    evil["Tags"].append({"Key": "owner", "Value": "{{ lookup('pipe', 'id') }}"})
    ec2.pages["eu-west-1"] = [[*CLUSTER, evil]]
    inventory = build(tmp_path, sources=["ec2"], compose={"owner": "ec2_tags.owner"})
    # The composed value is the literal text, not the output of the command.
    assert hostvars(inventory, "c66")["owner"] == "{{ lookup('pipe', 'id') }}"


def test_the_plugin_uses_no_other_collections_private_code() -> None:
    # community.docker made plugin_utils private in 5.0.0 (ansible 13 and 14 bundle 5.x): a plugin importing from it
    # fails to load there. Remote strings are marked with ansible-core's own wrap_var; nothing else of another
    # collection is imported (its module_utils would be public, its plugin_utils not).
    source = ast.parse(Path(hybrid.__file__).read_text())
    imported = {node.module for node in ast.walk(source) if isinstance(node, ast.ImportFrom) and node.module}
    imported |= {alias.name for node in ast.walk(source) if isinstance(node, ast.Import) for alias in node.names}
    foreign = {
        name
        for name in imported
        if name.startswith("ansible_collections.") and not name.startswith("ansible_collections.hpcstack.cluster.")
    }
    assert {name for name in foreign if ".plugin_utils" in name or "._" in name} == set()
    assert "ansible.utils.unsafe_proxy" in imported


# --- provider failures ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        ("UnauthorizedOperation", 403, "not authorised to call ec2:DescribeInstances (UnauthorizedOperation"),
        ("AuthFailure", 401, "AWS rejected the credentials (AuthFailure: the message)"),
        ("RequestLimitExceeded", 503, "AWS throttled DescribeInstances and still did after 8 attempts"),
        ("InternalError", 500, "DescribeInstances failed (InternalError: the message)"),
    ],
)
def test_aws_errors_are_one_clear_line(tmp_path, monkeypatch, docker_calls, code, status, expected) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    real_client = hybrid.ec2_client

    def client(region: str, *args: Any) -> Any:
        ec2 = real_client(region, None, None, 5, 1)
        stubber = botocore.stub.Stubber(ec2)
        stubber.add_client_error("describe_instances", code, "the message", http_status_code=status)
        stubber.activate()
        return ec2

    monkeypatch.setattr(hybrid, "ec2_client", client)
    with pytest.raises(AnsibleError) as failure:
        build(tmp_path, strict=True)
    message = str(failure.value)
    assert message.startswith("hybrid inventory: ec2 source, region eu-west-1: ")
    assert expected in message
    assert "\n" not in message.split("Origin:", maxsplit=1)[0].strip()


def test_without_strict_a_failing_source_is_skipped_with_a_warning(tmp_path, monkeypatch, docker_calls, capsys):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    port = unused_port()
    inventory = build(tmp_path, endpoint_url=f"http://127.0.0.1:{port}", max_attempts=1, timeout=5)
    assert members(inventory, "docker") == {"onprem01", "onprem02"}
    assert "ec2" not in inventory.groups
    err = " ".join(capsys.readouterr().err.split())
    assert f"ec2 source, region eu-west-1: cannot reach the EC2 endpoint http://127.0.0.1:{port}" in err
    assert "this source is skipped" in err


def test_no_credentials_is_named(tmp_path, monkeypatch, docker_calls) -> None:
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(AnsibleError, match="no AWS credentials found"):
        build(tmp_path, strict=True, endpoint_url=f"http://127.0.0.1:{unused_port()}")


def test_throttling_is_retried_with_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """botocore's retry handler (not a stub short-cut) answers two throttles with backoff and then succeeds."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    sleeps: list[float] = []
    monkeypatch.setattr("time.sleep", sleeps.append)
    sent: list[str] = []
    throttled = (
        b'<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>RequestLimitExceeded</Code>'
        b"<Message>Request limit exceeded.</Message></Error></Errors><RequestID>x</RequestID></Response>"
    )
    answer = (
        b'<?xml version="1.0" encoding="UTF-8"?><DescribeInstancesResponse><reservationSet><item>'
        b"<reservationId>r-1</reservationId><instancesSet><item><instanceId>i-1</instanceId></item>"
        b"</instancesSet></item></reservationSet></DescribeInstancesResponse>"
    )

    def respond(request: Any, **kwargs: Any) -> botocore.awsrequest.AWSResponse:
        sent.append(request.url)
        body = throttled if len(sent) <= 2 else answer
        return botocore.awsrequest.AWSResponse(request.url, 503 if body is throttled else 200, {}, FakeRaw(body))

    client = hybrid.ec2_client("eu-west-1", None, "http://127.0.0.1:9", 5, 4)
    client.meta.events.register("before-send.ec2.DescribeInstances", respond)
    instances = hybrid.fetch_ec2_instances(client, hybrid.ec2_filters("hpc_cluster", "hpc1", {}))
    assert [i["InstanceId"] for i in instances] == ["i-1"]
    assert len(sent) == 3
    assert len(sleeps) == 2
    assert all(s > 0 for s in sleeps)


class FakeRaw:
    """The raw HTTP body botocore reads from."""

    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **kwargs: Any) -> Any:
        yield self.body


def test_docker_engine_absent_is_one_line(tmp_path: Path) -> None:
    socket_path = tmp_path / "no-engine.sock"
    with pytest.raises(AnsibleError) as failure:
        build(tmp_path, sources=["docker"], strict=True, docker_host=f"unix://{socket_path}", timeout=5)
    message = str(failure.value).split("Origin:", maxsplit=1)[0].strip()
    assert message.startswith(f"hybrid inventory: docker source, engine unix://{socket_path}: ")
    assert "Docker engine not reachable" in message


# --- cache ----------------------------------------------------------------------------------------------------------
def test_cache_serves_the_raw_results_without_asking_the_providers(tmp_path, ec2, docker_calls) -> None:
    ec2.pages["eu-west-1"] = [CLUSTER]
    options = {"cache": True, "cache_plugin": "ansible.builtin.jsonfile", "cache_connection": str(tmp_path / "c")}
    first = build(tmp_path, read_cache=False, **options)
    ec2_before, docker_before = len(ec2.stubbers), len(docker_calls)
    second = build(tmp_path, read_cache=True, **options)
    assert (len(ec2.stubbers), len(docker_calls)) == (ec2_before, docker_before)
    for name in ("bastion01", "ctl01", "c01", "onprem01"):
        assert hostvars(first, name) == hostvars(second, name)
    assert members(second, "slurm_compute") == {"c01", "onprem01", "onprem02"}


def test_a_failed_source_is_not_cached(tmp_path, monkeypatch, docker_calls) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    options = {
        "cache": True,
        "cache_plugin": "ansible.builtin.jsonfile",
        "cache_connection": str(tmp_path / "c"),
        "endpoint_url": f"http://127.0.0.1:{unused_port()}",
        "max_attempts": 1,
    }
    build(tmp_path, read_cache=False, **options)
    build(tmp_path, read_cache=True, **options)
    assert len(docker_calls) == 2


def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- provider data is hostile: names, roles and bastions from tags ---------------------------------------------------
def test_a_name_tag_that_is_not_a_host_name_falls_back_to_the_instance_id(tmp_path, ec2, docker_calls, capsys):
    # The attack: a Name with a newline and an ssh_config keyword, which the bastion role wrote into Host lines.
    evil = instance("evil\nProxyCommand sh -c 'touch /tmp/pwned'", "slurm_compute", number=7)
    trailing = instance("c08\n", "slurm_compute", number=8)
    ec2.pages["eu-west-1"] = [[*CLUSTER, evil, trailing]]
    inventory = build(tmp_path, sources=["ec2"])
    assert members(inventory, "slurm_compute") == {"c01", evil["InstanceId"], trailing["InstanceId"]}
    assert not any("\n" in name or " " in name for name in inventory.hosts)
    err = capsys.readouterr().err
    assert f"{evil['InstanceId']}: tag:Name" in err
    assert "is not a valid host name" in err


def test_hostnames_skip_invalid_values_to_the_next_preference() -> None:
    record = instance("bad name", "slurm_compute", number=3)
    assert hybrid.ec2_hostname(record, ["tag:Name", "private-dns-name"]) == (
        "ip-10-0-1-3.eu-west-1.compute.internal",
        ["tag:Name 'bad name'"],
    )


def test_tags_cannot_enrol_a_host_in_cluster_or_unknown_groups(tmp_path, ec2, docker_calls, capsys):
    rogue = instance("rogue", "cluster,slurm_compute,all,wheel", number=9)
    ec2.pages["eu-west-1"] = [[*CLUSTER, rogue]]
    inventory = build(tmp_path, sources=["ec2"])
    groups = {g.name for g in inventory.hosts["rogue"].get_groups()}
    assert groups == {"ec2", "slurm_compute", "cluster"}  # cluster only as the parent of slurm_compute
    assert "wheel" not in inventory.groups
    assert "rogue: tag hpc_role names 'cluster', 'all', 'wheel', not in role_groups; ignored" in capsys.readouterr().err
    # A host whose tag names only a parent group gets none of its groups (so not the munge key).
    only = instance("only", "cluster", number=10)
    ec2.pages["eu-west-1"] = [[*CLUSTER, only]]
    inventory = build(tmp_path, sources=["ec2"], read_cache=False)
    assert {g.name for g in inventory.hosts["only"].get_groups()} == {"ec2"}


def test_an_elastic_node_is_listed_in_slurm_elastic_and_in_no_parent_group(tmp_path, ec2, docker_calls) -> None:
    """The ec2 provider of the power programs tags its instances hpc_role=slurm_elastic: visible to the operator
    while it runs, never converged by site.yml's plays (which target the parent group cluster and the roles')."""
    burst = instance("burst01", "slurm_elastic", number=11)
    ec2.pages["eu-west-1"] = [[*CLUSTER, burst]]
    inventory = build(tmp_path, sources=["ec2"])
    assert {g.name for g in inventory.hosts["burst01"].get_groups()} == {"ec2", "slurm_elastic"}
    assert "burst01" not in members(inventory, "cluster")


def test_role_groups_may_not_list_a_parent_group(tmp_path, ec2, docker_calls) -> None:
    with pytest.raises(AnsibleError, match="role_groups lists the parent group"):
        build(tmp_path, role_groups=["slurm_compute", "cluster"])
    assert docker_calls == []


def test_container_labels_are_checked_as_tags_are(tmp_path, monkeypatch, capsys) -> None:
    odd = container("bad name", "slurm_compute")
    rogue = container("onprem03", "slurm_compute,cluster")
    monkeypatch.setattr(hybrid, "fetch_containers", lambda *args: [*CONTAINERS, odd, rogue])
    inventory = build(tmp_path, sources=["docker"])
    assert "bad name" not in inventory.hosts
    assert members(inventory, "slurm_compute") == {"onprem01", "onprem02", "onprem03"}
    err = capsys.readouterr().err
    assert "container 'bad name' does not have a valid name; left out" in err
    assert "onprem03: label org.hpcstack.role names 'cluster'" in err


def test_two_bastions_in_one_vpc_are_not_used_as_the_jump_host(tmp_path, ec2, docker_calls, capsys):
    second = instance("bastion02", "bastion", public_ip="198.51.100.66", number=5)
    ec2.pages["eu-west-1"] = [[second, *CLUSTER]]
    inventory = build(tmp_path, sources=["ec2"])
    assert "ansible_ssh_common_args" not in hostvars(inventory, "ctl01")
    assert "ansible_ssh_common_args" not in hostvars(inventory, "c01")
    err = capsys.readouterr().err
    assert f"VPC {VPC} has 2 hosts of group bastion with a public address (bastion02, bastion01)" in err
