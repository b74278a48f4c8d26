# Copyright: (c) 2026, hpcstack maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Slurm model of a cluster, computed once from the inventory: what slurm.conf, gres.conf and cgroup.conf say.

Pure Python, no Ansible: the action plugin hpcstack.cluster.slurm_model reads the inventory (settings, and each
compute host's facts and slurm_node) and calls `build`. Everything is linear in the number of compute hosts, so a
cluster of thousands of nodes costs seconds, once per play.

Every problem found becomes one message in `errors` naming the variable to fix (the slurm_common role's variables,
or a compute host's slurm_node / slurm_gres_autodetect); the model is still returned as far as it could be built.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

try:
    import hostlist
except ImportError as error:  # the action plugin reports it before calling anything here
    hostlist = None
    HOSTLIST_ERROR: str | None = str(error)
else:
    HOSTLIST_ERROR = None

CLUSTER_NAME = re.compile(r"[a-z][a-z0-9_-]{0,39}")
PARTITION_NAME = re.compile(r"[A-Za-z0-9_.-]+")
NODE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
PARAMETER = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
POSITIVE = re.compile(r"[1-9][0-9]*")
# A value on a node or partition line: one word (the line is split on white space; '#' starts a comment).
WORD = re.compile(r"[^\s#]+")
# A value of slurm.conf's or cgroup.conf's own lines: anything but line breaks, control characters and comments.
LINE_VALUE = re.compile(r"[^\x00-\x1f\x7f#]*")
PORT = re.compile(r"[0-9]{1,5}")
PATH = re.compile(r"/[^\s#]*")
GRES_CONF_LINE = re.compile(r"(NodeName|Name|AutoDetect)=[^\x00-\x1f\x7f]*")

LAYOUT_KEYS = ("CPUs", "Sockets", "CoresPerSocket", "ThreadsPerCore")
# Parameters that name one host: a node that sets one of them gets a line of its own.
PER_HOST_KEYS = ("NodeAddr", "NodeHostname")
GRES_AUTODETECT = ("nvml", "off")
CONFIG_MODES = ("configless", "push")
PARTITION_STATES = ("UP", "DOWN", "DRAIN", "INACTIVE")
# The facts the model reads, and records on the controller for runs that do not reach every compute host.
HARDWARE_FACTS = (
    "hostname",
    "processor_vcpus",
    "processor_count",
    "processor_cores",
    "processor_threads_per_core",
    "memtotal_mb",
)
# What slurmctld (and, in 22.05, every slurmd) only picks up on a restart, not on `scontrol reconfigure`: the node
# set, addresses, ports, plugins, and (below) cgroup.conf and gres.conf.
RESTART_KEYS = (
    "ClusterName",
    "SlurmctldHost",
    "SlurmctldPort",
    "SlurmdPort",
    "SlurmUser",
    "AuthType",
    "StateSaveLocation",
    "SlurmdSpoolDir",
    "ProctrackType",
    "TaskPlugin",
    "SelectType",
    "SelectTypeParameters",
    "SchedulerType",
    "GresTypes",
    "AccountingStorageType",
    "AccountingStorageHost",
    "AccountingStoragePort",
    "AccountingStorageTRES",
    "JobAcctGatherType",
    "SlurmctldParameters",
)
# Elastic nodes (Slurm power saving): the providers that start them, and the collection's programs slurmctld runs.
CLOUD_PROVIDERS = ("docker", "ec2")
# The ec2 provider's settings, as the power program checks them again (roles/slurm_controller/files/slurm_power.py).
EC2_PATTERNS = {
    "region": re.compile(r"[a-z]{2}(-[a-z]+)+-[0-9]"),
    "image_id": re.compile(r"ami-[0-9a-f]{8,17}"),
    "instance_type": re.compile(r"[a-z][a-z0-9-]*\.[a-z0-9]+"),
    "subnet_id": re.compile(r"subnet-[0-9a-f]{8,17}"),
    "instance_profile": re.compile(
        r"[A-Za-z0-9+=,.@_-]{1,128}|arn:aws[a-z-]*:iam::[0-9]{12}:instance-profile/[\w+=,.@/-]{1,512}"
    ),
    "munge_key_parameter": re.compile(r"/?[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*"),
    "conf_server": re.compile(r"[A-Za-z0-9.-]{1,253}:[0-9]{1,5}"),
}
EC2_SECURITY_GROUP = re.compile(r"sg-[0-9a-f]{8,17}")
# Parameter Store's rules for a parameter's name beyond its characters (PutParameter): a name in a hierarchy begins
# with '/', has at most 15 levels, does not begin with aws or ssm (any case), and with its ARN's prefix
# (arn:aws:ssm:REGION:ACCOUNT:parameter/) is at most 1011 characters long.
SSM_MAX_LEVELS = 15
SSM_MAX_ARN = 1011
EC2_ENDPOINT = re.compile(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?/?")
EC2_TAG = re.compile(r"[A-Za-z0-9 _.:/=+@-]{1,128}")
POWER_PROGRAMS = {
    "ResumeProgram": "/usr/local/sbin/hpcstack-resume",
    "SuspendProgram": "/usr/local/sbin/hpcstack-suspend",
    "ResumeFailProgram": "/usr/local/sbin/hpcstack-resume-fail",
}
POWER_SETTINGS = {  # slurm_power_<key>: slurm.conf parameter
    "resume_timeout": "ResumeTimeout",
    "suspend_timeout": "SuspendTimeout",
    "resume_rate": "ResumeRate",
    "suspend_rate": "SuspendRate",
}
NON_NEGATIVE = re.compile(r"0|[1-9][0-9]*")
CAPABILITY = re.compile(r"[A-Z][A-Z0-9_]*")
IMAGE = re.compile(r"[a-z0-9][a-z0-9._/-]*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?")
CONTAINER = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
ENGINE = re.compile(r"unix:///[^\s#]+|tcp://[A-Za-z0-9.-]+:[0-9]{1,5}")
CGROUP_DEFAULTS = {"ConstrainCores": "yes", "ConstrainRAMSpace": "yes", "ConstrainDevices": "yes"}
ERRORS_SHOWN = 20  # per kind of problem; the rest is counted


def word(value: Any) -> str:
    """Return a parameter value as slurm.conf writes it: YES/NO for booleans, lists joined with commas."""
    if isinstance(value, bool):
        return "YES" if value else "NO"
    if isinstance(value, (list, tuple)):
        return ",".join(str(item) for item in value)
    return str(value)


def short_name(host: str) -> str:
    return host.split(".", 1)[0]


def compress(names: Iterable[str]) -> str:
    """Return the Slurm hostlist expression of host names (sorted, duplicates merged)."""
    return hostlist.collect_hostlist(list(names))


def node_lines(nodes: list[dict[str, Any]]) -> list[str]:
    """Return slurm.conf NodeName lines, one per set of nodes with identical parameters, names hostlist-compressed.

    Each node is a dict of slurm.conf node parameters with NodeName; parameters whose value is None are left out.
    """
    groups: dict[tuple, list[str]] = {}
    for node in nodes:
        params = tuple((key, word(value)) for key, value in node.items() if key != "NodeName" and value is not None)
        per_host = node["NodeName"] if any(key in node for key in PER_HOST_KEYS) else None
        groups.setdefault((per_host, params), []).append(node["NodeName"])
    lines = []
    for (_per_host, params), names in groups.items():
        lines.append(" ".join([f"NodeName={compress(names)}"] + [f"{key}={value}" for key, value in params]))
    return sorted(lines)


class Problems:
    """The model's errors, grouped by kind so that 5,000 nodes with one mistake give a readable message."""

    def __init__(self) -> None:
        self._kinds: dict[str, list[str]] = {}

    def add(self, kind: str, message: str) -> None:
        self._kinds.setdefault(kind, []).append(message)

    def messages(self) -> list[str]:
        result = []
        for messages in self._kinds.values():
            result.extend(messages[:ERRORS_SHOWN])
            if len(messages) > ERRORS_SHOWN:
                result.append(f"... and {len(messages) - ERRORS_SHOWN} more like the one before")
        return result


def check_parameters(
    problems: Problems, variable: str, params: Any, value_pattern: re.Pattern, what: str, where: str = ""
) -> dict:
    """Return `params` if it maps valid parameter names to valid values; report what does not, naming the variable.

    Messages read "<variable>.<key><where> ...", e.g. "slurm_node.Feature of compute host c01 is ...".
    """
    if params is None:
        return {}
    if not isinstance(params, Mapping):
        problems.add(variable, f"{variable}{where} must be a mapping of {what} parameters, got {type(params).__name__}")
        return {}
    valid = {}
    for key, value in params.items():
        if not isinstance(key, str) or not PARAMETER.fullmatch(key):
            problems.add(variable, f"{variable}{where}: '{key}' is not a {what} parameter name")
        elif value is not None and (
            isinstance(value, Mapping) or not all(value_pattern.fullmatch(str(item)) for item in as_list(value))
        ):
            problems.add(variable, f"{variable}.{key}{where} is {value!r}: {what} values are single words without '#'")
        else:
            valid[key] = value
    return valid


def as_list(value: Any) -> list:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def node_of(host: str, facts: Mapping[str, Any], given: Mapping[str, Any]) -> dict[str, Any]:
    """Return one compute host's slurm.conf node: hardware from facts, the host's slurm_node over it."""
    node: dict[str, Any] = {"NodeName": facts.get("hostname") or short_name(host)}
    if any(key in given for key in LAYOUT_KEYS):
        node.update((key, given[key]) for key in LAYOUT_KEYS if key in given)
    else:
        node["CPUs"] = facts.get("processor_vcpus")
        node["Sockets"] = facts.get("processor_count")
        node["CoresPerSocket"] = facts.get("processor_cores")
        node["ThreadsPerCore"] = facts.get("processor_threads_per_core")
    node["RealMemory"] = facts.get("memtotal_mb")
    gres = (facts.get("hpcstack_gpus") or {}).get("gres")
    if gres:
        node["Gres"] = gres
    node.update(given)
    return node


def gres_conf_of(name: str, gpus: Mapping[str, Any], autodetect: str) -> list[tuple[str, str]]:
    """Return (node name, gres.conf line without NodeName) for the GPUs the detection found on one host."""
    if gpus.get("nvml_library") and autodetect == "nvml":
        return [(name, "AutoDetect=nvml")]
    files: dict[str, list[str]] = {}
    for gpu in gpus.get("gpus") or []:
        if gpu.get("file"):
            files.setdefault(gpu.get("type") or "", []).append(gpu["file"])
    return [
        (name, "Name=gpu" + (f" Type={gpu_type}" if gpu_type else "") + f" File={compress(paths)}")
        for gpu_type, paths in sorted(files.items())
    ]


def hardware_record(facts: Mapping[str, Any]) -> dict[str, Any]:
    """Return the part of a host's facts the model uses (what the controller records for later runs)."""
    record = {key: facts[key] for key in HARDWARE_FACTS if facts.get(key) is not None}
    gpus = facts.get("hpcstack_gpus")
    if gpus:
        record["hpcstack_gpus"] = {
            "gres": gpus.get("gres", ""),
            "usable": gpus.get("usable", 0),
            "nvml_library": bool(gpus.get("nvml_library")),
            "mig": bool(gpus.get("mig")),
            "gpus": [{"type": gpu.get("type", ""), "file": gpu.get("file")} for gpu in gpus.get("gpus") or []],
        }
    return record


def partition_line(name: str, expression: str, default: bool, options: Mapping[str, Any], state: str) -> str:
    """One PartitionName line of slurm.conf; options whose value is None are left out."""
    words = [f"PartitionName={name}", f"Nodes={expression}", f"Default={'YES' if default else 'NO'}"]
    words += [f"{key}={word(value)}" for key, value in options.items() if value is not None]
    return " ".join([*words, f"State={state}"])


def partition_lines(problems: Problems, partitions: Any, names: list[str], known: set[str]) -> list[str]:
    """Return slurm.conf's PartitionName lines; report partitions that are malformed or name unknown nodes."""
    if not isinstance(partitions, list):
        problems.add("partitions", "slurm_partitions must be a list of partitions")
        return []
    lines = []
    all_nodes = compress(names) if names else ""
    defaults = 0
    for index, partition in enumerate(partitions):
        label = f"slurm_partitions[{index}]"
        if not isinstance(partition, Mapping):
            problems.add("partitions", f"{label} must be a mapping with at least a name")
            continue
        name = partition.get("name")
        if name is None or not PARTITION_NAME.fullmatch(str(name)):
            problems.add("partitions", f"{label}.name '{name or ''}' is missing or not a valid partition name")
            continue
        nodes = partition.get("nodes", names)
        if nodes == "ALL":
            expression = "ALL"
        else:
            try:
                listed = hostlist.expand_hostlist(nodes) if isinstance(nodes, str) else [str(node) for node in nodes]
            except (hostlist.BadHostlist, TypeError):
                problems.add("partitions", f"{label}.nodes of partition '{name}' is not a hostlist or a list of names")
                continue
            unknown = [node for node in listed if node not in known]
            if unknown:
                problems.add(
                    "partitions",
                    f"{label}.nodes of partition '{name}' names hosts that are not compute nodes: "
                    + ", ".join(unknown[:ERRORS_SHOWN])
                    + (f" and {len(unknown) - ERRORS_SHOWN} more" if len(unknown) > ERRORS_SHOWN else ""),
                )
                continue
            expression = all_nodes if nodes is names else compress(listed)
        state = str(partition.get("state", "UP"))
        if state not in PARTITION_STATES:
            problems.add("partitions", f"{label}.state '{state}' is not one of {', '.join(PARTITION_STATES)}")
            continue
        default = partition.get("default", False)
        if not isinstance(default, bool):
            problems.add("partitions", f"{label}.default must be true or false")
            continue
        defaults += default
        options = check_parameters(problems, f"{label}.options", partition.get("options"), WORD, "partition")
        lines.append(partition_line(name, expression, default, options, state))
    if defaults > 1:
        problems.add("partitions", "slurm_partitions: more than one partition has default: true")
    return lines


def docker_settings(problems: Problems, label: str, given: Any) -> dict[str, Any] | None:
    """Return the checked settings of a node group's docker provider (what the power programs read), or None."""
    if not isinstance(given, Mapping):
        problems.add("cloud", f"{label}.docker must be a mapping with at least image and network")
        return None
    settings: dict[str, Any] = {}
    for key in ("image", "network"):
        value = given.get(key)
        pattern = IMAGE if key == "image" else CONTAINER
        if not isinstance(value, str) or not pattern.fullmatch(value):
            problems.add("cloud", f"{label}.docker.{key} is {value!r}: give a Docker {key} name")
            return None
        settings[key] = value
    engine = given.get("engine", "unix:///var/run/docker.sock")
    if not isinstance(engine, str) or not ENGINE.fullmatch(engine):
        problems.add("cloud", f"{label}.docker.engine is {engine!r}: use unix:///path or tcp://host:port")
        return None
    settings["engine"] = engine
    tls = given.get("tls")
    if engine.startswith("tcp://") and not isinstance(tls, Mapping):
        problems.add(
            "cloud",
            f"{label}.docker.tls is missing: an engine reached over tcp:// needs ca_cert, client_cert, client_key",
        )
        return None
    if tls is not None:
        if not isinstance(tls, Mapping) or not all(
            isinstance(tls.get(key), str) and PATH.fullmatch(tls[key])
            for key in ("ca_cert", "client_cert", "client_key")
        ):
            problems.add("cloud", f"{label}.docker.tls needs ca_cert, client_cert and client_key as absolute paths")
            return None
        if not isinstance(tls.get("verify", True), bool):
            problems.add("cloud", f"{label}.docker.tls.verify must be true or false")
            return None
        tls = {key: tls[key] for key in ("ca_cert", "client_cert", "client_key")} | {"verify": tls.get("verify", True)}
    settings["tls"] = tls
    etc_hosts = given.get("etc_hosts") or {}
    if not isinstance(etc_hosts, Mapping) or not all(
        isinstance(name, str) and NODE_NAME.fullmatch(name) and isinstance(address, str) and is_ip(address)
        for name, address in etc_hosts.items()
    ):
        problems.add("cloud", f"{label}.docker.etc_hosts must map host names to IP addresses")
        return None
    settings["etc_hosts"] = dict(etc_hosts)
    capabilities = given.get("capabilities") or []
    if not isinstance(capabilities, list) or not all(
        isinstance(item, str) and CAPABILITY.fullmatch(item) for item in capabilities
    ):
        problems.add("cloud", f"{label}.docker.capabilities must be a list of capability names such as NET_ADMIN")
        return None
    settings["capabilities"] = capabilities
    devices = given.get("devices") or []
    if not isinstance(devices, list) or not all(isinstance(item, str) and PATH.fullmatch(item) for item in devices):
        problems.add("cloud", f"{label}.docker.devices must be a list of device paths")
        return None
    settings["devices"] = devices
    image_from = given.get("image_from")
    if image_from is not None and not (isinstance(image_from, str) and CONTAINER.fullmatch(image_from)):
        problems.add("cloud", f"{label}.docker.image_from is {image_from!r}: give a container name")
        return None
    settings["image_from"] = image_from
    return settings


def ssm_name_problem(name: str, region: str) -> str | None:
    """Why Parameter Store refuses `name` (of valid characters) as a parameter's name in `region`, or None."""
    if "/" in name and not name.startswith("/"):
        return "a name in a hierarchy must begin with '/'"
    if name.lstrip("/").lower().startswith(("aws", "ssm")):
        return "a name may not begin with 'aws' or 'ssm' (in any case)"
    if name.count("/") + (not name.startswith("/")) > SSM_MAX_LEVELS:
        return f"a name has at most {SSM_MAX_LEVELS} levels"
    partition = "aws-cn" if region.startswith("cn-") else "aws-us-gov" if region.startswith("us-gov-") else "aws"
    room = SSM_MAX_ARN - len(f"arn:{partition}:ssm:{region}:123456789012:parameter/")
    if len(name.lstrip("/")) > room:
        return f"a name in {region} has at most {room} characters"
    return None


def ec2_settings(problems: Problems, label: str, given: Any) -> dict[str, Any] | None:
    """Return the checked settings of a node group's ec2 provider (what the power programs read), or None."""
    if not isinstance(given, Mapping):
        problems.add("cloud", f"{label}.ec2 must be a mapping ({', '.join(EC2_PATTERNS)}, security_group_ids)")
        return None
    settings: dict[str, Any] = {}
    for key, pattern in EC2_PATTERNS.items():
        value = given.get(key)
        if not isinstance(value, str) or not pattern.fullmatch(value):
            problems.add("cloud", f"{label}.ec2.{key} is {value!r}: missing or not a valid {key.replace('_', ' ')}")
            return None
        settings[key] = value
    # Written by the slurm_controller role (tasks/power_ssm_key.yml), read by the instances at boot.
    problem = ssm_name_problem(settings["munge_key_parameter"], settings["region"])
    if problem:
        problems.add(
            "cloud",
            f"{label}.ec2.munge_key_parameter is {settings['munge_key_parameter']!r}: not a valid SSM parameter name "
            f"({problem})",
        )
        return None
    groups = given.get("security_group_ids")
    if (
        not isinstance(groups, list)
        or not groups
        or not all(isinstance(group, str) and EC2_SECURITY_GROUP.fullmatch(group) for group in groups)
    ):
        problems.add("cloud", f"{label}.ec2.security_group_ids must be a list of security group ids (sg-...)")
        return None
    settings["security_group_ids"] = groups
    endpoint = given.get("endpoint_url")
    if endpoint is not None and not (isinstance(endpoint, str) and EC2_ENDPOINT.fullmatch(endpoint)):
        problems.add("cloud", f"{label}.ec2.endpoint_url is {endpoint!r}: give an http(s) URL")
        return None
    settings["endpoint_url"] = endpoint
    tags = given.get("tags") or {}
    if not isinstance(tags, Mapping) or not all(
        isinstance(key, str) and EC2_TAG.fullmatch(key) and isinstance(value, str) and EC2_TAG.fullmatch(value)
        for key, value in tags.items()
    ):
        problems.add("cloud", f"{label}.ec2.tags must map tag names to values (letters, digits, spaces and _.:/=+@-)")
        return None
    settings["tags"] = dict(tags)
    return settings


def is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def cloud_groups(
    problems: Problems, groups: Any, taken: set[str], partition_names: set[str]
) -> tuple[list[dict[str, Any]], list[str], list[dict[str, Any]]]:
    """Return the elastic nodes (State=CLOUD), their partitions and what the power programs read, per node group.

    Each group of slurm_cloud_nodes is a partition of its own with its own SuspendTime: the only nodes Slurm powers
    down. `taken` (the static nodes' names) and `partition_names` are what the groups must not reuse; both grow.
    """
    nodes: list[dict[str, Any]] = []
    partitions: list[str] = []
    power: list[dict[str, Any]] = []
    if not isinstance(groups, list):
        problems.add("cloud", "slurm_cloud_nodes must be a list of node groups")
        return nodes, partitions, power
    for index, group in enumerate(groups):
        label = f"slurm_cloud_nodes[{index}]"
        if not isinstance(group, Mapping):
            problems.add("cloud", f"{label} must be a mapping (name, nodes, cpus, memory, provider, ...)")
            continue
        name = group.get("name")
        if not isinstance(name, str) or not PARTITION_NAME.fullmatch(name):
            problems.add("cloud", f"{label}.name {name!r} is missing or not a valid partition name")
            continue
        label = f"{label} ({name})"
        if name in partition_names:
            problems.add("cloud", f"{label}.name: a partition '{name}' exists already; each group is its own partition")
            continue
        try:
            names = hostlist.expand_hostlist(group.get("nodes")) if isinstance(group.get("nodes"), str) else None
        except hostlist.BadHostlist:
            names = None
        if not names:
            problems.add("cloud", f"{label}.nodes {group.get('nodes')!r} is not a hostlist expression of node names")
            continue
        bad = [node for node in names if not NODE_NAME.fullmatch(node)]
        used = [node for node in names if node in taken]
        if bad or used:
            problems.add(
                "cloud",
                f"{label}.nodes: "
                + (f"not valid node names: {', '.join(bad[:ERRORS_SHOWN])}" if bad else "")
                + ("; " if bad and used else "")
                + (f"names already used by other nodes: {', '.join(used[:ERRORS_SHOWN])}" if used else ""),
            )
            continue
        node: dict[str, Any] = {}
        for key, parameter in (("cpus", "CPUs"), ("memory", "RealMemory")):
            if not POSITIVE.fullmatch(str(group.get(key))):
                problems.add("cloud", f"{label}.{key} is {group.get(key)!r}: give a positive number")
            node[parameter] = group.get(key)
        features = group.get("features") or []
        if not isinstance(features, list) or not all(
            isinstance(item, str) and re.fullmatch(r"[A-Za-z0-9_.-]+", item) for item in features
        ):
            problems.add("cloud", f"{label}.features must be a list of feature names")
            features = []
        node["Feature"] = features or None
        gres = group.get("gres")
        if gres is not None and not (isinstance(gres, str) and WORD.fullmatch(gres)):
            problems.add("cloud", f"{label}.gres is {gres!r}: a Gres value such as gpu:1")
            gres = None
        node["Gres"] = gres
        suspend_time = group.get("suspend_time", 300)
        if not POSITIVE.fullmatch(str(suspend_time)):
            problems.add("cloud", f"{label}.suspend_time is {suspend_time!r}: give idle seconds, a positive number")
        provider = group.get("provider")
        if provider not in CLOUD_PROVIDERS:
            problems.add("cloud", f"{label}.provider is {provider!r}: use one of {', '.join(CLOUD_PROVIDERS)}")
            continue
        settings = (docker_settings if provider == "docker" else ec2_settings)(problems, label, group.get(provider))
        if settings is None:
            continue
        options = check_parameters(
            problems, f"{label}.partition_options", group.get("partition_options"), WORD, "partition"
        )
        taken.update(names)
        partition_names.add(name)
        nodes += [{"NodeName": node_name, **node, "State": "CLOUD"} for node_name in names]
        options = {"SuspendTime": suspend_time, **options}
        partitions.append(partition_line(name, compress(names), False, options, "UP"))
        power.append({"name": name, "provider": provider, "nodes": names, provider: settings})
    return nodes, partitions, power


def build(settings: Mapping[str, Any], hosts: Mapping[str, Any]) -> dict[str, Any]:
    """Return the Slurm model of a cluster.

    settings: the slurm_common role's variables without their `slurm_` prefix (cluster_name, config_mode,
    partitions, conf_options, cgroup_options, gres_autodetect, gres_conf_extra, slurmctld_port, slurmd_port,
    slurmdbd_port, log_dir, state_save_location, slurmd_spool_dir), plus controller_host, controller_facts,
    accounting_host and accounting_facts (empty strings / mappings where there is none).
    hosts: per compute host, in inventory order, {"facts": {...}, "slurm_node": {...} | None,
    "gres_autodetect": str | None}; facts are the host's gathered (or recorded) facts, empty when unknown.
    """
    problems = Problems()
    cluster_name = settings["cluster_name"]
    if not isinstance(cluster_name, str) or not CLUSTER_NAME.fullmatch(cluster_name):
        problems.add(
            "cluster",
            f"slurm_cluster_name '{cluster_name}' is not a valid cluster name: use a lower-case letter, then up to 39 "
            "lower-case letters, digits, '_' or '-'",
        )
    controller_host = settings["controller_host"]
    if not controller_host:
        problems.add(
            "groups", f"slurm_controller_group: the inventory group '{settings['controller_group']}' has no host"
        )
    if not hosts:
        problems.add("groups", f"slurm_compute_group: the inventory group '{settings['compute_group']}' has no host")
    if settings["config_mode"] not in CONFIG_MODES:
        problems.add("settings", f"slurm_config_mode is '{settings['config_mode']}': use configless or push")
    for key in ("slurmctld_port", "slurmd_port", "slurmdbd_port"):
        if not PORT.fullmatch(str(settings[key])) or not 0 < int(settings[key]) < 65536:
            problems.add("settings", f"slurm_{key} is '{settings[key]}': use a port number from 1 to 65535")
    for key in ("log_dir", "state_save_location", "slurmd_spool_dir"):
        if not isinstance(settings[key], str) or not PATH.fullmatch(settings[key]):
            problems.add(
                "settings", f"slurm_{key} is {settings[key]!r}: use an absolute path without white space or '#'"
            )
    autodetect_default = settings["gres_autodetect"]
    if autodetect_default not in GRES_AUTODETECT:
        problems.add("gres", f"slurm_gres_autodetect must be one of: nvml, off; it is '{autodetect_default}'")

    nodes: list[dict[str, Any]] = []
    node_names: dict[str, str] = {}
    gres_pairs: list[tuple[str, str]] = []
    hardware: dict[str, dict[str, Any]] = {}
    for host, inputs in hosts.items():
        facts = inputs.get("facts") or {}
        given = check_parameters(
            problems, "slurm_node", inputs.get("slurm_node"), WORD, "node", where=f" of compute host {host}"
        )
        node = node_of(host, facts, given)
        name = str(node["NodeName"])
        if not NODE_NAME.fullmatch(name):
            problems.add("names", f"slurm_node.NodeName of compute host {host} is '{name}': not a valid node name")
        for key in ("CPUs", "RealMemory"):
            if node.get(key) is None or not POSITIVE.fullmatch(str(node[key])):
                problems.add(
                    key,
                    f"slurm_node.{key} of compute host {host} ('{name}') is {node.get(key)}: gather the host's "
                    f"hardware facts or set slurm_node.{key} to a positive number",
                )
        autodetect = inputs.get("gres_autodetect") or autodetect_default
        # A host's own value; one it inherits from the setting above is reported once, there.
        if inputs.get("gres_autodetect") not in (None, "", autodetect_default) and autodetect not in GRES_AUTODETECT:
            problems.add(
                "gres", f"slurm_gres_autodetect of compute host {host} must be one of: nvml, off; it is '{autodetect}'"
            )
        gpus = facts.get("hpcstack_gpus") or {}
        if gpus.get("usable", 0) > 0 and "Gres" not in given:
            gres_pairs += gres_conf_of(name, gpus, autodetect)
        if gpus.get("mig") and not (gpus.get("nvml_library") and autodetect == "nvml"):
            problems.add(
                "mig",
                f"slurm_gres_autodetect: compute host {host} has GPUs in MIG mode, which Slurm can only schedule "
                "with AutoDetect=nvml: install the NVIDIA driver's NVML library there and keep slurm_gres_autodetect "
                "at nvml, or turn MIG off",
            )
        record = hardware_record(facts)
        if record:
            hardware[host] = record
        node["NodeName"] = name
        nodes.append(node)
        node_names[host] = name

    names = list(node_names.values())
    seen: dict[str, str] = {}
    for host, name in node_names.items():
        if name in seen:
            problems.add("names", f"slurm_node.NodeName: compute hosts {seen[name]} and {host} are both node '{name}'")
        seen.setdefault(name, host)

    lines = node_lines(nodes)
    partitions = partition_lines(problems, settings["partitions"], names, set(names))
    cloud_nodes, cloud_partitions, power_groups = cloud_groups(
        problems,
        settings.get("cloud_nodes") or [],
        set(names),
        {line.split(" ", 1)[0].removeprefix("PartitionName=") for line in partitions},
    )
    if power_groups and settings["config_mode"] != "configless":
        problems.add("cloud", "slurm_cloud_nodes needs slurm_config_mode configless: elastic nodes fetch slurm.conf")
    power_conf: dict[str, Any] = {}
    if power_groups:
        power_conf = {"SuspendTime": "INFINITE", **POWER_PROGRAMS, "PrivateData": "cloud"}
        for key, parameter in POWER_SETTINGS.items():
            value = settings.get(f"power_{key}")
            pattern, kind = (NON_NEGATIVE, "non-negative") if key.endswith("rate") else (POSITIVE, "positive")
            if not pattern.fullmatch(str(value)):
                problems.add("cloud", f"slurm_power_{key} is {value!r}: give a {kind} number")
            power_conf[parameter] = value
        for key in ("launch_backoff", "orphan_grace"):
            value = settings.get(f"power_{key}")
            if not NON_NEGATIVE.fullmatch(str(value)):
                problems.add("cloud", f"slurm_power_{key} is {value!r}: give seconds, a non-negative number")
        cap = settings.get("power_max_nodes", 0)
        if not NON_NEGATIVE.fullmatch(str(cap)):
            problems.add("cloud", f"slurm_power_max_nodes is {cap!r}: give a whole number of nodes (0: no cap)")
    cloud_lines = node_lines(cloud_nodes)
    partitions += cloud_partitions
    nodes_and_cloud = nodes + cloud_nodes

    extra = settings["gres_conf_extra"]
    if not isinstance(extra, list) or not all(
        isinstance(line, str) and GRES_CONF_LINE.fullmatch(line) for line in extra
    ):
        problems.add(
            "gres",
            "slurm_gres_conf_extra must be a list of gres.conf lines, each starting with NodeName=, Name= or "
            "AutoDetect=",
        )
        extra = []
    by_line: dict[str, list[str]] = {}
    for name, line in gres_pairs:
        by_line.setdefault(line, []).append(name)
    gres_conf = sorted(f"NodeName={compress(names_)} {line}" for line, names_ in by_line.items()) + list(extra)

    gres_types = sorted(
        {
            entry.split(":", 1)[0]
            for node in nodes_and_cloud
            if node.get("Gres") is not None
            for entry in word(node["Gres"]).split(",")
            if entry.split(":", 1)[0]
        }
    )
    per_cpu = [
        int(node["RealMemory"]) // int(node["CPUs"])
        for node in nodes_and_cloud
        if POSITIVE.fullmatch(str(node.get("CPUs"))) and POSITIVE.fullmatch(str(node.get("RealMemory")))
    ]
    def_mem_per_cpu = min(per_cpu) if per_cpu else None

    # The record keeps the daemons' hosts too: a run that does not reach them (--limit) still knows their names.
    for daemon in ("controller", "accounting"):
        record = hardware_record(settings[f"{daemon}_facts"] or {})
        if settings[f"{daemon}_host"] and record and settings[f"{daemon}_host"] not in hardware:
            hardware[settings[f"{daemon}_host"]] = record
    accounting = bool(settings["accounting_host"])
    accounting_name = (settings["accounting_facts"] or {}).get("hostname") or short_name(settings["accounting_host"])
    controller_name = (settings["controller_facts"] or {}).get("hostname") or short_name(controller_host or "")
    base = {
        "ClusterName": cluster_name,
        "SlurmctldHost": controller_name,
        "SlurmctldPort": settings["slurmctld_port"],
        "SlurmdPort": settings["slurmd_port"],
        "SlurmUser": "slurm",
        "AuthType": "auth/munge",
        "StateSaveLocation": settings["state_save_location"],
        "SlurmdSpoolDir": settings["slurmd_spool_dir"],
        "SlurmctldLogFile": f"{settings['log_dir']}/slurmctld.log",
        "SlurmdLogFile": f"{settings['log_dir']}/slurmd.log",
        "SlurmctldDebug": "info",
        "SlurmdDebug": "info",
        # idle_on_node_suspend: a powered-down elastic node is IDLE, so jobs are scheduled on it (and resume it).
        "SlurmctldParameters": ",".join(
            (["enable_configless"] if settings["config_mode"] == "configless" else [])
            + (["idle_on_node_suspend"] if power_groups else [])
        )
        or None,
        "ProctrackType": "proctrack/cgroup",
        "TaskPlugin": "task/cgroup,task/affinity",
        "SelectType": "select/cons_tres",
        "SelectTypeParameters": "CR_Core_Memory",
        # Memory a job gets per allocated CPU when it asks for none: the smallest node's RealMemory / CPUs, so
        # every CPU of every node can be allocated at once (with CR_Core_Memory, no default means a whole node's
        # memory per job).
        "DefMemPerCPU": def_mem_per_cpu,
        "SchedulerType": "sched/backfill",
        # A node that was DOWN only because it stopped answering returns to service when its slurmd registers.
        "ReturnToService": 2,
        "SlurmctldTimeout": 120,
        "SlurmdTimeout": 300,
        "InactiveLimit": 0,
        "MinJobAge": 300,
        "KillWait": 30,
        "GresTypes": ",".join(gres_types) or None,
        "AccountingStorageType": "accounting_storage/slurmdbd" if accounting else None,
        "AccountingStorageHost": accounting_name if accounting else None,
        "AccountingStoragePort": settings["slurmdbd_port"] if accounting else None,
        # Without enforcement the associations, QOS and limits of the accounting tree are bookkeeping only.
        "AccountingStorageEnforce": "associations,limits,qos,safe" if accounting else None,
        # GPU hours per job, user and account in sacct/sreport, besides cpu, mem, energy, node, billing, fs.
        "AccountingStorageTRES": "gres/gpu" if accounting and "gpu" in gres_types else None,
        "JobAcctGatherType": "jobacct_gather/cgroup",
        "JobAcctGatherFrequency": 30,
    }
    base.update(power_conf)
    base.update(check_parameters(problems, "slurm_conf_options", settings["conf_options"], LINE_VALUE, "slurm.conf"))
    conf = {key: word(value) for key, value in base.items() if value is not None and value != ""}
    cgroup = dict(CGROUP_DEFAULTS)
    cgroup.update(
        check_parameters(problems, "slurm_cgroup_options", settings["cgroup_options"], LINE_VALUE, "cgroup.conf")
    )
    cgroup_conf = {key: word(value) for key, value in cgroup.items() if value is not None}

    restart = {
        "conf": {key: conf.get(key) for key in RESTART_KEYS},
        "nodes": lines,
        "cgroup": cgroup_conf,
        "gres": gres_conf,
    }
    if cloud_lines:  # left out where there are none: the digest of clusters without elastic nodes stays as it was
        restart["cloud_nodes"] = cloud_lines
    return {
        "controller_host": controller_host,
        "controller_name": controller_name,
        "accounting_host": settings["accounting_host"],
        "accounting_name": accounting_name if accounting else "",
        "compute_hosts": list(hosts),
        "node_names": node_names,
        "node_lines": lines,
        "cloud_node_lines": cloud_lines,
        "partition_lines": partitions,
        # What the power programs (ResumeProgram, SuspendProgram, ResumeFailProgram) read: hpcstack-power.json.
        "power": {
            "cluster": cluster_name,
            # Whole numbers once checked above (-e on the command line gives strings); the programs want numbers.
            **{
                key: int(value)
                if NON_NEGATIVE.fullmatch(value := str(settings.get(f"power_{key}", default)))
                else value
                for key, default in (("launch_backoff", 60), ("orphan_grace", 300), ("max_nodes", 0))
            },
            "groups": power_groups,
        },
        "gres_conf_lines": gres_conf,
        "gres_types": gres_types,
        "conf": conf,
        "cgroup_conf": cgroup_conf,
        "restart_settings": restart,
        "restart_digest": hashlib.sha256(json.dumps(restart, sort_keys=True).encode()).hexdigest(),
        "hardware": hardware,
        "errors": problems.messages(),
    }
