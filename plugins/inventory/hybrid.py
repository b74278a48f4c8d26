# Copyright: (c) 2026, hpcstack maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The hybrid inventory: one cluster from EC2 instances and Docker containers, wired for Ansible to reach."""

from __future__ import annotations

DOCUMENTATION = r"""
name: hybrid
short_description: One inventory of a hybrid HPC cluster from EC2 instances and Docker containers
version_added: 0.1.0
author: hpcstack maintainers (@hpcstack)
description:
  - Reads the cluster's EC2 instances (paginated C(DescribeInstances) in every configured region, filtered by the
    cluster tag and any further filters) and its Docker containers (filtered by the cluster label, on the local
    engine or O(docker_host)), and builds one inventory of both.
  - Each host joins the role groups the collection's playbooks use (V(bastion), V(slurm_controller),
    V(slurm_compute), V(slurmdbd), V(monitoring), V(spack_buildhost)), named by a comma-separated tag or
    label; plus the groups V(ec2) or V(docker) by source and the parent groups of O(parent_groups).
  - "Tags and labels are the providers' data, writable by whoever can tag an instance or start a container, so they
    are checked before use. A role outside O(role_groups) is ignored with a warning: a tag cannot enrol a host in
    V(cluster) (which receives the munge key) or any other parent group. A name that is not a valid host name
    (RFC 1123) is not used: the instance id names the host instead. A container whose name breaks Docker's rule is
    left out."
  - "Connection wiring is automatic: containers get the C(community.docker.docker) connection; the bastion gets
    its public address; EC2 hosts without a public address get SSH through the bastion of their VPC found in the
    same inventory (C(ProxyJump) in C(ansible_ssh_common_args)). A VPC with two hosts of O(bastion_group) that have a
    public address gets no jump host and a warning: which one is the real bastion cannot be told from tags."
  - Provider failures (permissions, bad credentials, throttling after the retries, an unreachable endpoint or
    engine) are one clear line each. With O(strict=false) a failing source is skipped with a warning and the
    other source still fills the inventory; with O(strict=true) the inventory fails.
  - The configuration file must end in C(hybrid.yml) or C(hybrid.yaml).
extends_documentation_fragment:
  - ansible.builtin.constructed
  - ansible.builtin.inventory_cache
requirements:
  - boto3 (for the ec2 source)
  - docker (the Python SDK, for the docker source)
options:
  plugin:
    description: Marks the file as this plugin's configuration.
    required: true
    choices: [hpcstack.cluster.hybrid]
  cluster:
    description:
      - The cluster's name. Only EC2 instances whose tag O(cluster_tag) and containers whose label
        O(cluster_label) have this value belong to the inventory.
    type: str
    required: true
  sources:
    description: The providers to read. Leave one out to switch that source off.
    type: list
    elements: str
    choices: [ec2, docker]
    default: [ec2, docker]
  cluster_tag:
    description: EC2 tag that names the cluster an instance belongs to.
    type: str
    default: hpc_cluster
  role_tag:
    description: EC2 tag listing, comma-separated, the role groups of an instance (V(slurm_controller,slurmdbd)).
    type: str
    default: hpc_role
  cluster_label:
    description: Docker label that names the cluster a container belongs to.
    type: str
    default: org.hpcstack.cluster
  role_label:
    description: Docker label listing, comma-separated, the role groups of a container.
    type: str
    default: org.hpcstack.role
  role_groups:
    description:
      - The role groups a tag or label may name. Any other value is ignored with a warning. A parent group of
        O(parent_groups) cannot be listed here.
      - V(slurm_elastic) holds the elastic nodes the power programs start (provider ec2), while they run; it is in
        no parent group, so no play of C(site.yml) converges them.
    type: list
    elements: str
    default: [bastion, slurm_controller, slurmdbd, slurm_compute, monitoring, spack_buildhost, slurm_elastic]
  parent_groups:
    description:
      - Groups made of role groups, as in C(inventories/local). The default puts every host that holds the munge
        key into V(cluster); the bastion stays out of it.
    type: dict
    default:
      cluster: [slurm_controller, slurmdbd, slurm_compute, spack_buildhost]
  regions:
    description: AWS regions to read. Empty means the region of the AWS configuration (C(AWS_DEFAULT_REGION)).
    type: list
    elements: str
    default: []
  filters:
    description:
      - "Further C(DescribeInstances) filters, as in the EC2 API (V({instance-type: c5n.18xlarge}))."
      - Unless they name C(instance-state-name), only pending and running instances are read.
    type: dict
    default: {}
  endpoint_url:
    description:
      - EC2 endpoint to use instead of AWS's, such as a site's endpoint or a local test server.
      - Only for EC2. AWS STS (for O(assume_role_arn)) is reached at AWS's own endpoint, or at
        C(AWS_ENDPOINT_URL_STS) when that is set (botocore reads it).
      - May be a template, rendered before use (as O(access_key)).
    type: str
    aliases: [aws_endpoint_url]
    env:
      - name: AWS_ENDPOINT_URL_EC2
  access_key:
    description:
      - AWS access key ID, given with O(secret_key) (and O(session_token) for temporary credentials).
      - "The credentials of the EC2 source, in this order: O(access_key) with O(secret_key) (and
        O(session_token)); else the profile O(profile); else boto3's usual chain (environment, configuration files,
        instance or container role). O(assume_role_arn) then assumes a role with whichever of them applies."
      - "May be a template, such as V({{ lookup('ansible.builtin.env', 'MY_KEY'\\) }}): O(access_key), O(secret_key),
        O(session_token), O(profile), O(assume_role_arn) and O(endpoint_url) are rendered with the inventory's
        templar before use (as amazon.aws's inventory plugins do); other options are not."
      - C(AWS_ACCESS_KEY_ID) wins over C(AWS_ACCESS_KEY) when both are set. An empty value counts as unset.
      - Secret (with O(secret_key) and O(session_token)) - never shown in an error, a warning or the cache.
      - As amazon.aws's option of that name.
    type: str
    aliases: [aws_access_key_id, aws_access_key]
    env:
      - name: AWS_ACCESS_KEY
      - name: AWS_ACCESS_KEY_ID
    secret: true
    version_added: 0.2.0
  secret_key:
    description:
      - AWS secret access key of O(access_key). May be a template (as O(access_key)).
      - C(AWS_SECRET_ACCESS_KEY) wins over C(AWS_SECRET_KEY) when both are set.
      - Secret - never shown in an error, a warning or the cache.
      - As amazon.aws's option of that name.
    type: str
    aliases: [aws_secret_access_key, aws_secret_key]
    env:
      - name: AWS_SECRET_KEY
      - name: AWS_SECRET_ACCESS_KEY
    secret: true
    version_added: 0.2.0
  session_token:
    description:
      - AWS STS session token of temporary credentials, with O(access_key) and O(secret_key). May be a template
        (as O(access_key)).
      - Secret - never shown in an error, a warning or the cache.
      - As amazon.aws's option of that name.
    type: str
    aliases: [aws_session_token]
    env:
      - name: AWS_SESSION_TOKEN
    secret: true
    version_added: 0.2.0
  profile:
    description:
      - Profile of the AWS configuration to take the credentials from, unless O(access_key) and O(secret_key) are
        set. Unset, boto3's usual chain applies. May be a template (as O(access_key)).
      - C(AWS_PROFILE) wins over C(AWS_DEFAULT_PROFILE) when both are set.
      - As amazon.aws's option of that name (O(aws_profile) is this collection's older name).
    type: str
    aliases: [aws_profile]
    env:
      - name: AWS_DEFAULT_PROFILE
      - name: AWS_PROFILE
  assume_role_arn:
    description:
      - ARN of an IAM role to assume (STS C(AssumeRole), once per inventory run, for all regions) with the
        credentials above; its temporary credentials then read EC2. They need C(sts:AssumeRole) on the role, the
        role C(ec2:DescribeInstances).
      - May be a template (as O(access_key)).
      - As amazon.aws's option of that name.
    type: str
    aliases: [iam_role_arn]
    version_added: 0.2.0
  hostnames:
    description:
      - How an EC2 host is named, the first that has a value wins. A name taken by another host falls back to the
        instance id.
    type: list
    elements: str
    choices: [tag:Name, instance-id, private-dns-name, private-ip-address, dns-name, ip-address]
    default: [tag:Name, instance-id]
  ec2_user:
    description: Login user of the EC2 hosts and of the bastion (C(admin) on Debian's images).
    type: str
    default: admin
  bastion_group:
    description: Role group whose EC2 host is the jump host of its VPC.
    type: str
    default: bastion
  use_bastion:
    description: Reach EC2 hosts that have no public address through the bastion of their VPC.
    type: bool
    default: true
  ssh_common_args:
    description: Extra SSH arguments given to every EC2 host, after the C(ProxyJump) option.
    type: str
    default: ""
  docker_host:
    description:
      - Docker engine to read, such as V(unix:///var/run/docker.sock) or V(tcp://onprem01:2376).
      - Unset, the usual C(DOCKER_HOST)/C(DOCKER_TLS_VERIFY)/C(DOCKER_CERT_PATH) environment or the local socket.
      - "A C(tcp://) engine that is not on this machine's loopback must be spoken to over TLS (O(tls) or
        O(validate_certs)): the Docker API gives root on the engine's host to whoever can reach it, so plain HTTP is
        refused."
    type: str
  tls:
    description:
      - Speak TLS to O(docker_host) without verifying the engine's certificate. O(validate_certs) verifies it.
      - As community.docker's option of that name.
    type: bool
    default: false
  validate_certs:
    description:
      - Speak TLS to O(docker_host) and verify the engine's certificate against O(ca_path).
      - As community.docker's option of that name.
    type: bool
    default: false
    aliases: [tls_verify]
  ca_path:
    description: CA certificate that signed the engine's certificate (PEM file), for O(validate_certs).
    type: path
    aliases: [ca_cert, tls_ca_cert]
  client_cert:
    description: Client certificate (PEM file) presented to the engine, with O(client_key).
    type: path
    aliases: [tls_client_cert]
  client_key:
    description: Private key (PEM file) of O(client_cert).
    type: path
    aliases: [tls_client_key]
  timeout:
    description: Seconds one provider call may take before it counts as failed.
    type: int
    default: 120
  max_attempts:
    description:
      - Attempts of one AWS call, with exponential backoff between them, when AWS throttles or a connection fails
        (botocore's C(standard) retry mode).
    type: int
    default: 8
"""

EXAMPLES = r"""
---
# inventories/aws/cluster.hybrid.yml: the cluster on EC2, private nodes reached through the bastion.
plugin: hpcstack.cluster.hybrid
cluster: hpc1
regions: [eu-west-1]
sources: [ec2]

---
# inventories/hybrid/cluster.hybrid.yml: EC2 controller and compute plus on-prem Docker compute nodes.
plugin: hpcstack.cluster.hybrid
cluster: hpc1
regions: [eu-west-1]
docker_host: tcp://onprem01.example.org:2376
validate_certs: true
ca_path: ~/.docker/onprem01/ca.pem
client_cert: ~/.docker/onprem01/cert.pem
client_key: ~/.docker/onprem01/key.pem
keyed_groups:
  - key: ec2_instance_type | default('docker')
    prefix: type
compose:
  slurm_node_weight: 10 if hpc_source == 'docker' else 1
cache: true
cache_plugin: ansible.builtin.jsonfile
cache_connection: ~/.cache/hpcstack-inventory
cache_timeout: 300

---
# Credentials as amazon.aws's inventory plugins take them: keys from the environment (templated), a role assumed once.
plugin: hpcstack.cluster.hybrid
cluster: hpc1
regions: [eu-west-1, us-east-1]
sources: [ec2]
access_key: "{{ lookup('ansible.builtin.env', 'HPC_AWS_KEY_ID') }}"
secret_key: "{{ lookup('ansible.builtin.env', 'HPC_AWS_SECRET') }}"
iam_role_arn: arn:aws:iam::123456789012:role/hpc-inventory-reader
"""

import concurrent.futures
import ipaddress
import re
import urllib.parse
from typing import Any

from ansible.errors import AnsibleError
from ansible.module_utils.common.text.converters import to_native
from ansible.plugins.inventory import BaseInventoryPlugin, Cacheable, Constructable
from ansible.utils.unsafe_proxy import wrap_var

try:
    import boto3
    import botocore.config
    import botocore.exceptions
    import botocore.session
except ImportError:
    boto3 = None

try:
    import docker
    import docker.errors
    import docker.tls
    import docker.utils
except ImportError:
    docker = None

RUNNING_STATES = ["pending", "running"]
AUTH_ERRORS = {
    "AuthFailure",
    "InvalidClientTokenId",
    "SignatureDoesNotMatch",
    "UnrecognizedClientException",
    "InvalidAccessKeyId",
    "ExpiredToken",
    "RequestExpired",
}
DENIED_ERRORS = {"UnauthorizedOperation", "AccessDenied", "AccessDeniedException"}
THROTTLE_ERRORS = {"Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequestsException"}
HOSTNAME_SOURCES = {
    "instance-id": "InstanceId",
    "private-dns-name": "PrivateDnsName",
    "private-ip-address": "PrivateIpAddress",
    "dns-name": "PublicDnsName",
    "ip-address": "PublicIpAddress",
}

# A host name as RFC 1123 has it (dot-separated labels of letters, digits and inner hyphens): what ssh_config,
# /etc/hosts and Slurm take as a name. Provider data that is not one is never used as a host name.
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
HOSTNAME_RE = re.compile(rf"(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})*")
# Docker's own rule for container names (the engine refuses others; a hostile engine might not). Both are used with
# fullmatch: `$` would let a trailing newline through.
CONTAINER_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")


class SourceError(Exception):
    """A provider could not be read; the message is one line that says which and why."""


# --- EC2 ------------------------------------------------------------------------------------------------------------
# The options that name AWS credentials: templated before use (as amazon.aws's inventory plugins do). The secret ones
# are never written into an error, a warning or the cache.
AWS_TEMPLATED_OPTIONS = ("access_key", "secret_key", "session_token", "profile", "assume_role_arn", "endpoint_url")
AWS_SECRET_OPTIONS = ("access_key", "secret_key", "session_token")
ROLE_SESSION_NAME = "hpcstack-cluster-hybrid-inventory"


def aws_session(region: str | None, profile: str | None, credentials: dict | None) -> Any:
    """A boto3 session that keeps timestamps as the strings AWS sent (so the raw results cache as JSON), with the
    credentials given (aws_access_key_id, aws_secret_access_key, aws_session_token) or else the profile's or else
    boto3's usual chain. The profile still gives the region when `region` is empty."""
    core = botocore.session.get_session()
    core.get_component("response_parser_factory").set_parser_defaults(timestamp_parser=str)
    return boto3.session.Session(
        botocore_session=core, profile_name=profile, region_name=region or None, **(credentials or {})
    )


def aws_config(timeout: int, max_attempts: int) -> Any:
    """Timeouts and botocore's standard retries (exponential backoff on throttling and connection errors)."""
    return botocore.config.Config(
        connect_timeout=min(timeout, 30),
        read_timeout=timeout,
        retries={"mode": "standard", "max_attempts": max_attempts},
    )


def ec2_client(
    region: str,
    profile: str | None,
    endpoint_url: str | None,
    timeout: int,
    max_attempts: int,
    credentials: dict | None = None,
) -> Any:
    """An EC2 client that keeps timestamps as the strings AWS sent, so the raw results cache as JSON."""
    session = aws_session(region, profile, credentials)
    return session.client("ec2", endpoint_url=endpoint_url or None, config=aws_config(timeout, max_attempts))


def sts_client(region: str, profile: str | None, credentials: dict | None, timeout: int, max_attempts: int) -> Any:
    """An STS client at AWS's endpoint for the region (or AWS_ENDPOINT_URL_STS, which botocore reads itself): never
    at the EC2 endpoint_url, which names an EC2 service only."""
    return aws_session(region, profile, credentials).client("sts", config=aws_config(timeout, max_attempts))


def assume_role(client: Any, role_arn: str) -> dict:
    """The temporary credentials of the role, as boto3 session arguments."""
    answer = client.assume_role(RoleArn=role_arn, RoleSessionName=ROLE_SESSION_NAME)
    credentials = answer.get("Credentials") or {}
    if not (credentials.get("AccessKeyId") and credentials.get("SecretAccessKey")):
        raise SourceError(f"ec2 source: AWS STS returned no credentials for role {role_arn}")
    return {
        "aws_access_key_id": credentials["AccessKeyId"],
        "aws_secret_access_key": credentials["SecretAccessKey"],
        "aws_session_token": credentials.get("SessionToken"),
    }


def redact(text: str, secrets: list[str]) -> str:
    """One line of text with every secret replaced (a message from a library may quote what it was given)."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, "********")
    return " ".join(text.split())


def sts_error(role_arn: str, exc: Exception) -> str:
    """One line saying why the role could not be assumed; it names the role, never a credential."""
    where = f"ec2 source: cannot assume role {role_arn}"
    if isinstance(exc, SourceError):
        return str(exc)
    if isinstance(exc, botocore.exceptions.NoCredentialsError):
        return f"{where}: no AWS credentials found (set access_key and secret_key, profile, or AWS_ACCESS_KEY_ID)"
    if isinstance(exc, botocore.exceptions.ProfileNotFound):
        return f"{where}: {exc}"
    if isinstance(exc, botocore.exceptions.ClientError):
        error = exc.response.get("Error", {})
        code, message = error.get("Code", ""), error.get("Message", "")
        if code in AUTH_ERRORS:
            return f"{where}: AWS rejected the credentials ({code}: {message})"
        if code in THROTTLE_ERRORS:
            return f"{where}: AWS throttled AssumeRole after the retries ({code}: {message})"
        return f"{where} ({code}: {message})"
    if isinstance(exc, botocore.exceptions.EndpointConnectionError | botocore.exceptions.ConnectTimeoutError):
        return f"{where}: cannot reach the STS endpoint {exc.kwargs.get('endpoint_url', '')}"
    if isinstance(exc, botocore.exceptions.ReadTimeoutError):
        return f"{where}: the STS endpoint did not answer in time (timeout)"
    return f"{where}: {to_native(exc)}"


def ec2_filters(cluster_tag: str, cluster: str, filters: dict) -> list[dict]:
    """DescribeInstances filters: the cluster tag, the user's filters, and running instances unless they say."""
    result = [{"Name": f"tag:{cluster_tag}", "Values": [cluster]}]
    for name, values in filters.items():
        result.append(
            {"Name": str(name), "Values": [str(v) for v in (values if isinstance(values, list) else [values])]}
        )
    if "instance-state-name" not in filters:
        result.append({"Name": "instance-state-name", "Values": RUNNING_STATES})
    return result


def fetch_ec2_instances(client: Any, filters: list[dict]) -> list[dict]:
    """Every instance the filters select, across all pages, as DescribeInstances returns them."""
    instances = []
    for page in client.get_paginator("describe_instances").paginate(
        Filters=filters, PaginationConfig={"PageSize": 1000}
    ):
        for reservation in page.get("Reservations", []):
            instances.extend(reservation.get("Instances", []))
    return instances


def ec2_error(region: str, endpoint_url: str | None, max_attempts: int, exc: Exception) -> str:
    """One line saying why the EC2 source failed, for the errors an operator meets."""
    where = f"ec2 source, region {region or '(default)'}"
    if isinstance(exc, botocore.exceptions.NoCredentialsError):
        return f"{where}: no AWS credentials found (set aws_profile, AWS_PROFILE or AWS_ACCESS_KEY_ID)"
    if isinstance(exc, botocore.exceptions.ProfileNotFound):
        return f"{where}: {exc}"
    if isinstance(exc, botocore.exceptions.NoRegionError):
        return f"{where}: no region given (set regions or AWS_DEFAULT_REGION)"
    if isinstance(exc, botocore.exceptions.ClientError):
        error = exc.response.get("Error", {})
        code, message = error.get("Code", ""), error.get("Message", "")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if code in AUTH_ERRORS:
            return f"{where}: AWS rejected the credentials ({code}: {message})"
        if code in DENIED_ERRORS or status == 403:
            return f"{where}: not authorised to call ec2:DescribeInstances ({code}: {message})"
        if code in THROTTLE_ERRORS:
            return f"{where}: AWS throttled DescribeInstances and still did after {max_attempts} attempts with backoff"
        return f"{where}: DescribeInstances failed ({code}: {message})"
    if isinstance(exc, botocore.exceptions.EndpointConnectionError | botocore.exceptions.ConnectTimeoutError):
        return f"{where}: cannot reach the EC2 endpoint {endpoint_url or exc.kwargs.get('endpoint_url', '')}"
    if isinstance(exc, botocore.exceptions.ReadTimeoutError):
        return f"{where}: the EC2 endpoint did not answer in time (timeout)"
    return f"{where}: {to_native(exc)}"


def ec2_host_vars(instance: dict, region: str) -> dict:
    """The host variables of an instance: what playbooks and constructed options need, not the whole record."""
    tags = {t["Key"]: t["Value"] for t in instance.get("Tags", [])}
    return {
        "hpc_source": "ec2",
        "ec2_instance_id": instance["InstanceId"],
        "ec2_instance_type": instance.get("InstanceType"),
        "ec2_image_id": instance.get("ImageId"),
        "ec2_region": region,
        "ec2_availability_zone": instance.get("Placement", {}).get("AvailabilityZone"),
        "ec2_vpc_id": instance.get("VpcId"),
        "ec2_subnet_id": instance.get("SubnetId"),
        "ec2_private_ip_address": instance.get("PrivateIpAddress"),
        "ec2_private_dns_name": instance.get("PrivateDnsName"),
        "ec2_public_ip_address": instance.get("PublicIpAddress"),
        "ec2_public_dns_name": instance.get("PublicDnsName") or None,
        "ec2_state": instance.get("State", {}).get("Name"),
        "ec2_launch_time": instance.get("LaunchTime"),
        "ec2_security_group_ids": [g["GroupId"] for g in instance.get("SecurityGroups", [])],
        "ec2_tags": tags,
    }


def ec2_hostname(instance: dict, preferences: list[str]) -> tuple[str, list[str]]:
    """The first name of the preference list that the instance has and that is a valid host name; and the values
    passed over because they are not (for a warning)."""
    rejected = []
    for source in preferences:
        if source == "tag:Name":
            value = next((t["Value"] for t in instance.get("Tags", []) if t["Key"] == "Name"), "")
        else:
            value = instance.get(HOSTNAME_SOURCES[source]) or ""
        if value and HOSTNAME_RE.fullmatch(value):
            return value, rejected
        if value:
            rejected.append(f"{source} {value!r}")
    return instance["InstanceId"], rejected


# --- Docker ---------------------------------------------------------------------------------------------------------
def docker_tls(options: dict) -> Any:
    """docker's TLS settings from the plugin's tls, validate_certs, ca_path, client_cert, client_key; None: no TLS."""
    if not (options.get("tls") or options.get("validate_certs")):
        return None
    client_cert = None
    if options.get("client_cert") or options.get("client_key"):
        client_cert = (options.get("client_cert"), options.get("client_key"))
    return docker.tls.TLSConfig(
        client_cert=client_cert, ca_cert=options.get("ca_path"), verify=bool(options.get("validate_certs"))
    )


def plain_remote_engine(docker_host: str | None, tls: dict) -> bool:
    """Whether docker_host is an engine off this machine that would be spoken to in plain HTTP."""
    if not docker_host or tls.get("tls") or tls.get("validate_certs"):
        return False
    url = urllib.parse.urlparse(docker_host)
    if url.scheme not in ("tcp", "http", "https"):
        return False  # unix:// and ssh:// are not plain network HTTP
    if url.scheme == "https":
        return False
    try:
        return not ipaddress.ip_address(url.hostname or "").is_loopback
    except ValueError:
        return url.hostname != "localhost"


def docker_client(docker_host: str | None, timeout: int, tls: dict | None = None) -> Any:
    """A low-level Docker API client for the configured engine, or the one the environment names."""
    if docker_host:
        kwargs = {"base_url": docker_host, "tls": docker_tls(tls or {}) or False}
    else:
        kwargs = docker.utils.kwargs_from_env()
    return docker.APIClient(version="auto", timeout=timeout, **kwargs)


def fetch_containers(
    docker_host: str | None, timeout: int, cluster_label: str, cluster: str, tls: dict | None = None
) -> list[dict]:
    """The running containers of the cluster, in one list call (no inspect per container)."""
    client = docker_client(docker_host, timeout, tls)
    try:
        return client.containers(filters={"label": f"{cluster_label}={cluster}"})
    finally:
        client.close()


def docker_error(docker_host: str | None, exc: Exception) -> str:
    """One line saying why the Docker source failed."""
    where = f"docker source, engine {docker_host or 'from the environment'}"
    if isinstance(exc, docker.errors.APIError):
        return f"{where}: the engine refused to list containers ({exc.explanation or exc})"
    return f"{where}: Docker engine not reachable ({to_native(exc)})"


def docker_cli_tls_args(tls: dict) -> str:
    """The docker CLI's TLS flags for the community.docker.docker connection (ansible_docker_extra_args)."""
    if not (tls.get("tls") or tls.get("validate_certs")):
        return ""
    args = ["--tlsverify" if tls.get("validate_certs") else "--tls"]
    for flag, option in (("--tlscacert", "ca_path"), ("--tlscert", "client_cert"), ("--tlskey", "client_key")):
        if tls.get(option):
            args.append(f"{flag}={tls[option]}")
    return " ".join(args)


def container_host_vars(container: dict, docker_host: str | None, tls: dict | None = None) -> dict:
    """The host variables of a container: the docker connection to it, and what it is."""
    name = container["Names"][0].lstrip("/")
    networks = (container.get("NetworkSettings") or {}).get("Networks") or {}
    variables = {
        "hpc_source": "docker",
        "ansible_connection": "community.docker.docker",
        "ansible_host": name,
        "docker_id": container["Id"],
        "docker_image": container.get("Image"),
        "docker_state": container.get("State"),
        "docker_labels": container.get("Labels") or {},
        "docker_networks": {net: info.get("IPAddress") for net, info in networks.items()},
    }
    if docker_host:
        variables["ansible_docker_host"] = docker_host
        extra_args = docker_cli_tls_args(tls or {})
        if extra_args:
            variables["ansible_docker_extra_args"] = extra_args
    return variables


# --- the inventory --------------------------------------------------------------------------------------------------
def role_groups(value: str | None) -> list[str]:
    """The role groups of a comma-separated tag or label value."""
    return [g.strip() for g in (value or "").split(",") if g.strip()]


def known_role_groups(value: str | None, allowed: set[str]) -> tuple[list[str], list[str]]:
    """The role groups of a tag or label value that are in `allowed`, and the others (to warn about)."""
    groups = role_groups(value)
    return [g for g in groups if g in allowed], [g for g in groups if g not in allowed]


class InventoryModule(BaseInventoryPlugin, Constructable, Cacheable):
    """Builds the inventory; fetching is in the functions above, so each step is tested on its own."""

    NAME = "hpcstack.cluster.hybrid"

    def verify_file(self, path: str) -> bool:
        return super().verify_file(path) and re.search(r"hybrid\.ya?ml$", path) is not None

    def parse(self, inventory: Any, loader: Any, path: str, cache: bool = True) -> None:
        super().parse(inventory, loader, path, cache)
        self._read_config_data(path)
        self._check_options()
        cache_key = self.get_cache_key(path)
        use_cache = self.get_option("cache") and cache
        update_cache = self.get_option("cache") and not cache
        results = None
        if use_cache:
            try:
                results = self._cache[cache_key]
            except KeyError:
                update_cache = True
        if results is None:
            results = self._fetch()
            # A source that failed is not cached: the next run asks it again instead of serving the gap for hours.
            if update_cache and not results["errors"]:
                self._cache[cache_key] = results
        self._populate(results)

    def _tls(self) -> dict:
        names = ("tls", "validate_certs", "ca_path", "client_cert", "client_key")
        return {name: self.get_option(name) for name in names}

    def _check_options(self) -> None:
        """Refuse a configuration that would trust what it must not, before any provider is asked."""
        parents = set(self.get_option("parent_groups") or {})
        both = sorted(parents & set(self.get_option("role_groups")))
        if both:
            raise AnsibleError(
                f"hybrid inventory: role_groups lists the parent group(s) {', '.join(both)}: a tag or label must not "
                "enrol a host in a parent group (cluster receives the munge key)"
            )
        docker_host = self.get_option("docker_host")
        if "docker" in self.get_option("sources") and plain_remote_engine(docker_host, self._tls()):
            raise AnsibleError(
                f"hybrid inventory: docker_host {docker_host} is a remote engine spoken to in plain HTTP, which gives "
                "root on it to anyone on the path: set validate_certs (with ca_path, client_cert, client_key) or tls"
            )

    # Fetching: each source (each region) in its own thread, since they wait on the network, not the CPU.
    def _fetch(self) -> dict:
        sources = self.get_option("sources")
        if "ec2" in sources and boto3 is None:
            raise AnsibleError("hybrid inventory: the ec2 source needs the boto3 Python package")
        if "docker" in sources and docker is None:
            raise AnsibleError("hybrid inventory: the docker source needs the docker Python package")
        cluster = self.get_option("cluster")
        results: dict = {"ec2": {}, "docker": [], "errors": []}
        self._aws = self._aws_settings() if "ec2" in sources else {}
        jobs = {}
        with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
            if "ec2" in sources:
                regions = self.get_option("regions") or [""]
                try:
                    # One AssumeRole for the whole run: every region's client shares the role's credentials.
                    self._assume_role(regions[0])
                except Exception as exc:  # the ec2 source failed, as a region's failure would
                    results["errors"].append(redact(sts_error(self._aws["role_arn"], exc), self._aws["secrets"]))
                else:
                    filters = ec2_filters(self.get_option("cluster_tag"), cluster, self.get_option("filters"))
                    for region in regions:
                        jobs[pool.submit(self._fetch_region, region, filters)] = ("ec2", region)
            if "docker" in sources:
                job = pool.submit(
                    fetch_containers,
                    self.get_option("docker_host"),
                    self.get_option("timeout"),
                    self.get_option("cluster_label"),
                    cluster,
                    self._tls(),
                )
                jobs[job] = ("docker", None)
            for job, (source, region) in jobs.items():
                try:
                    if source == "ec2":
                        region_name, instances = job.result()
                        results["ec2"][region_name] = instances
                    else:
                        results["docker"] = job.result()
                except Exception as exc:  # every provider failure becomes one line
                    results["errors"].append(self._source_error(source, region, exc))
        return results

    def _aws_option(self, name: str) -> str | None:
        """An AWS option's value, rendered first if it is a template (as amazon.aws's inventory plugins do); an empty
        value is unset. A failed template names the option, and for a secret option not the error's text either."""
        value = self.get_option(name)
        if isinstance(value, str) and self.templar.is_template(value):
            try:
                value = self.templar.template(value)
            except Exception as exc:
                reason = type(exc).__name__ if name in AWS_SECRET_OPTIONS else " ".join(to_native(exc).split())
                raise AnsibleError(
                    f"hybrid inventory: the template of {name} could not be rendered ({reason})"
                ) from None
        return str(value) if value not in (None, "") else None

    def _aws_settings(self) -> dict:
        """The EC2 source's credentials: access_key and secret_key (with session_token) over profile over boto3's
        chain; the role to assume on top of whichever applies."""
        values = {name: self._aws_option(name) for name in AWS_TEMPLATED_OPTIONS}
        access_key, secret_key = values["access_key"], values["secret_key"]
        profile, credentials = values["profile"], None
        if access_key or secret_key:
            if not (access_key and secret_key):
                given, missing = ("access_key", "secret_key") if access_key else ("secret_key", "access_key")
                raise AnsibleError(
                    f"hybrid inventory: {given} is set but {missing} is not: the ec2 source needs both (or neither, "
                    "for profile or boto3's usual chain)"
                )
            credentials = {
                "aws_access_key_id": access_key,
                "aws_secret_access_key": secret_key,
                "aws_session_token": values["session_token"],
            }
            if profile and self.get_option_and_origin("profile")[1] == "Direct":
                self.display.warning(
                    f"hybrid inventory: profile {profile} is not used: access_key and secret_key are set and come first"
                )
            profile = None
        return {
            "profile": profile,
            "credentials": credentials,
            "role_arn": values["assume_role_arn"],
            "endpoint_url": values["endpoint_url"],
            "secrets": [values[name] for name in AWS_SECRET_OPTIONS if values[name]],
        }

    def _assume_role(self, region: str) -> None:
        """With assume_role_arn, replace the credentials by the role's (one AssumeRole, at STS of the first region).
        The profile stays: it still gives the region where regions is empty."""
        aws = self._aws
        if not aws["role_arn"]:
            return
        client = sts_client(
            region,
            aws["profile"],
            aws["credentials"],
            self.get_option("timeout"),
            self.get_option("max_attempts"),
        )
        aws["credentials"] = assume_role(client, aws["role_arn"])
        aws["secrets"] += [value for value in aws["credentials"].values() if value]

    def _fetch_region(self, region: str, filters: list[dict]) -> tuple[str, list[dict]]:
        aws = self._aws
        client = ec2_client(
            region,
            aws["profile"],
            aws["endpoint_url"],
            self.get_option("timeout"),
            self.get_option("max_attempts"),
            aws["credentials"],
        )
        return client.meta.region_name, fetch_ec2_instances(client, filters)

    def _source_error(self, source: str, region: str | None, exc: Exception) -> str:
        if source == "ec2":
            error = ec2_error(region, self._aws["endpoint_url"], self.get_option("max_attempts"), exc)
            return redact(error, self._aws["secrets"])
        return docker_error(self.get_option("docker_host"), exc)

    # Building the inventory from the (fetched or cached) raw results.
    def _populate(self, results: dict) -> None:
        for error in results["errors"]:
            if self.get_option("strict"):
                raise AnsibleError(f"hybrid inventory: {error}")
            self.display.warning(f"hybrid inventory: {error}; this source is skipped (strict: true fails instead)")
        hosts = self._ec2_hosts(results["ec2"]) + self._docker_hosts(results["docker"])
        self._wire_ec2_connections(hosts)
        for name, groups, variables in hosts:
            # Remote text is never a template: ansible-core's own marking (community.docker's is private in 5.x).
            self._add_host(name, groups, wrap_var(variables))
        for parent, children in (self.get_option("parent_groups") or {}).items():
            self.inventory.add_group(parent)
            for child in children:
                if child in self.inventory.groups:
                    self.inventory.add_child(parent, child)

    def _role_groups(self, name: str, value: str | None, where: str) -> list[str]:
        """The known role groups of a host's tag or label; a warning names the others, which are ignored."""
        groups, unknown = known_role_groups(value, set(self.get_option("role_groups")))
        if unknown:
            self.display.warning(
                f"hybrid inventory: {name}: {where} names {', '.join(repr(g) for g in unknown)}, not in role_groups; "
                "ignored"
            )
        return groups

    def _ec2_hosts(self, regions: dict) -> list[tuple[str, list[str], dict]]:
        role_tag, preferences = self.get_option("role_tag"), self.get_option("hostnames")
        hosts, taken = [], set()
        for region, instances in regions.items():
            for instance in instances:
                name, rejected = ec2_hostname(instance, preferences)
                if rejected:
                    self.display.warning(
                        f"hybrid inventory: {instance['InstanceId']}: {', '.join(rejected)} is not a valid host name; "
                        f"named {name}"
                    )
                if name in taken:
                    self.display.warning(f"hybrid inventory: two EC2 hosts are named {name}; using the instance id")
                    name = instance["InstanceId"]
                taken.add(name)
                variables = ec2_host_vars(instance, region)
                groups = ["ec2", *self._role_groups(name, variables["ec2_tags"].get(role_tag), f"tag {role_tag}")]
                hosts.append((name, groups, variables))
        return hosts

    def _docker_hosts(self, containers: list[dict]) -> list[tuple[str, list[str], dict]]:
        role_label, docker_host, tls = self.get_option("role_label"), self.get_option("docker_host"), self._tls()
        hosts = []
        for container in containers:
            variables = container_host_vars(container, docker_host, tls)
            name = variables["ansible_host"]
            if not CONTAINER_NAME_RE.fullmatch(name):
                self.display.warning(f"hybrid inventory: container {name!r} does not have a valid name; left out")
                continue
            label = variables["docker_labels"].get(role_label)
            groups = ["docker", *self._role_groups(name, label, f"label {role_label}")]
            hosts.append((name, groups, variables))
        return hosts

    def _wire_ec2_connections(self, hosts: list[tuple[str, list[str], dict]]) -> None:
        """The bastion by its public address; every EC2 host without one through the bastion of its VPC."""
        user, bastion_group = self.get_option("ec2_user"), self.get_option("bastion_group")
        extra_args = self.get_option("ssh_common_args")
        candidates: dict[str, list[tuple[str, str]]] = {}
        for name, groups, variables in hosts:
            if variables["hpc_source"] == "ec2" and bastion_group in groups and variables["ec2_public_ip_address"]:
                candidates.setdefault(variables["ec2_vpc_id"], []).append((name, variables["ec2_public_ip_address"]))
        bastions = {}
        for vpc, found in candidates.items():
            if len(found) == 1:
                bastions[vpc] = found[0][1]
            else:
                # Anyone who can tag an instance could add a second "bastion" and receive every SSH session.
                self.display.warning(
                    f"hybrid inventory: VPC {vpc} has {len(found)} hosts of group {bastion_group} with a public "
                    f"address ({', '.join(name for name, _address in found)}); none is used as the jump host of its "
                    "private hosts"
                )
        for name, _groups, variables in hosts:
            if variables["hpc_source"] != "ec2":
                continue
            public = variables["ec2_public_ip_address"]
            variables.update(ansible_connection="ssh", ansible_user=user)
            variables["ansible_host"] = public if public else variables["ec2_private_ip_address"]
            args = []
            if not public and self.get_option("use_bastion"):
                bastion = bastions.get(variables["ec2_vpc_id"])
                if bastion:
                    ipaddress.ip_address(bastion)  # an address from EC2 (a hostile answer fails here, not in ssh)
                    args.append(f"-o ProxyJump={user}@{bastion}")
                else:
                    self.display.warning(
                        f"hybrid inventory: {name} has no public address and no host of group {bastion_group} "
                        f"with one is in its VPC {variables['ec2_vpc_id']}; it is reachable only from inside"
                    )
            if extra_args:
                args.append(extra_args)
            if args:
                variables["ansible_ssh_common_args"] = " ".join(args)

    def _add_host(self, name: str, groups: list[str], variables: dict) -> None:
        self.inventory.add_host(name)
        for group in groups:
            group = self._sanitize_group_name(group)
            self.inventory.add_group(group)
            self.inventory.add_host(name, group=group)
        for key, value in variables.items():
            self.inventory.set_variable(name, key, value)
        strict = self.get_option("strict")
        if self.get_option("compose"):
            self._set_composite_vars(self.get_option("compose"), variables, name, strict=strict)
        if self.get_option("groups"):
            self._add_host_to_composed_groups(self.get_option("groups"), variables, name, strict=strict)
        if self.get_option("keyed_groups"):
            self._add_host_to_keyed_groups(self.get_option("keyed_groups"), variables, name, strict=strict)
