#!/usr/bin/python3
"""Slurm's power saving programs for elastic nodes (installed by the hpcstack.cluster.slurm_controller role).

Installed as /usr/local/sbin/hpcstack-power with the links hpcstack-resume, hpcstack-suspend and
hpcstack-resume-fail, which slurm.conf names as ResumeProgram, SuspendProgram and ResumeFailProgram. slurmctld runs
them as SlurmUser with one argument, a hostlist expression (hpc-burst[01-02]); the link's name says the action.
slurmctld waits for these programs, so they only expand the hostlist, check the configuration
(/etc/slurm/hpcstack-power.json, written by the role) and start themselves again in the background with
--foreground, which does the work and logs one line per node to the journal (tag hpcstack-power):

- resume: start the node through its group's provider (docker: a container made as the cluster's other node
  containers are, from the group's baked image), then `scontrol update nodename=N nodeaddr=IP nodehostname=N`; the
  node's slurmd registers under its host name. A failed launch leaves the node DOWN with the provider's reason (Slurm
  requeues the job) and, launch_backoff seconds later, powers it down so that Slurm may try it again. Where
  max_nodes is set, nodes beyond that many powered up (all groups together) are refused in the same way.
- suspend: remove the node's container.
- resume-fail (the node did not register within ResumeTimeout): remove it and `state=POWER_DOWN_FORCE`.
- reconcile (hpcstack-power-reconcile.timer, every minute): remove instances of nodes Slurm has powered down (older
  than orphan_grace), power down nodes Slurm has powered up whose instance vanished, and nodes left powering up
  with no instance and no resume at work (its process ended with slurmctld's restart): each resume claims its nodes
  in state_dir (a file per node holding its process id) until it is done.
- bake (run by Ansible, in the foreground): make a group's image from a converged compute node container; prints
  one JSON line.

A node that is in no group of the configuration is never touched. Only the standard library, Debian's
python3-docker (5.0.3 on Debian 12: its low-level APIClient only) and python3-boto3 are used, each imported when a
client is made. A provider is a small class with resume(node), remove(node) and instances(); PROVIDERS names them:
docker (a container per node) and ec2 (an instance per node; see Ec2Provider).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import logging.handlers
import os
import re
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, ClassVar

DEFAULT_CONFIG = "/etc/slurm/hpcstack-power.json"
# Where a resume claims its nodes while it works (the role makes it, owned by SlurmUser).
DEFAULT_STATE_DIR = "/var/lib/hpcstack-power"
# How long the reconciler gives a node powering up with no claim to get one: slurmctld sets POWERING_UP before it
# runs the ResumeProgram, which claims the node at once.
CLAIM_WAIT = 5
# The reconciler's counters in the state directory, which the Slurm metrics collector (node_exporter role) exports.
RECONCILE_STATE = "reconcile.json"
RECONCILE_COUNTERS = ("removed", "powered_down", "reset")
ACTIONS = ("resume", "suspend", "resume-fail", "bake", "reconcile")
# The links slurm.conf names: the action comes from the program's name, the only argument is the hostlist.
LINK_ACTIONS = {"hpcstack-resume": "resume", "hpcstack-suspend": "suspend", "hpcstack-resume-fail": "resume-fail"}
NODE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
MAX_WORKERS = 8
SCONTROL_TIMEOUT = 30
DOCKER_TIMEOUT = 120
REASON_LENGTH = 200
SYSLOG_IDENT = "hpcstack-power: "

# What a node container is, as playbooks/tasks/docker_nodes.yml makes the cluster's other node containers.
NODE_COMMAND = ["/lib/systemd/systemd"]
NODE_STOP_SIGNAL = "SIGRTMIN+3"
NODE_CAPABILITIES = ["SYS_ADMIN", "SYS_NICE"]
NODE_SECURITY_OPT = ["seccomp=unconfined", "apparmor=unconfined"]
NODE_BINDS = ["/sys/fs/cgroup:/sys/fs/cgroup:rw"]
NODE_TMPFS = {"/run": "", "/run/lock": "", "/tmp": ""}

# Run in a container of the raw image by `bake`: what makes a converged compute node a node of any name. slurmd
# registers under the container's host name (no -N) and reports its start as the node's boot (-b: a container shares
# the host's uptime, and slurmctld waits for a resumed node to have booted after the resume request); it starts with
# an empty spool and no logs; each node makes its own machine-id at boot.
SLURMD_OPTIONS_SED = r"""/^SLURMD_OPTIONS=/{s/ ?-N [^" ]+//;s/^SLURMD_OPTIONS="(-b )?/SLURMD_OPTIONS="-b /}"""
CLEAN = rf"""set -eu
sed -i -E '{SLURMD_OPTIONS_SED}' /etc/default/slurmd
rm -rf /var/lib/slurm/slurmd/* /var/log/slurm/*
: > /etc/machine-id
"""
# What `docker commit` may change (not STOPSIGNAL: each node's container sets it when it is made).
BAKE_CHANGES = [
    'CMD ["/lib/systemd/systemd"]',
    'LABEL org.hpcstack.node="" org.hpcstack.role=""',
]

LOG = logging.getLogger("hpcstack-power")

Runner = Callable[[list[str]], str]


class ConfigError(Exception):
    """The configuration file is missing, unreadable or malformed; the message names the bad key."""


class ProviderError(Exception):
    """A provider could not start or remove a node; the message says which step failed and why."""


class ScontrolError(Exception):
    """scontrol failed, timed out or is missing."""


# --- Configuration ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Group:
    """One node group: its nodes and the provider (with that provider's settings) that starts them."""

    name: str
    provider: str
    nodes: tuple[str, ...]
    settings: dict[str, Any]


@dataclass(frozen=True)
class Config:
    """The whole configuration file."""

    cluster: str
    launch_backoff: float
    groups: tuple[Group, ...]
    path: str = DEFAULT_CONFIG
    orphan_grace: float = 300
    max_nodes: int = 0
    state_dir: str = DEFAULT_STATE_DIR


@dataclass(frozen=True)
class Instance:
    """What a provider runs for a node: whether it runs, and since when (seconds since the epoch)."""

    node: str
    running: bool
    created: float


def _string(value: Any, key: str, pattern: re.Pattern[str] | None = None) -> str:
    """value as a non-empty string (matching pattern, where given), else ConfigError naming key."""
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{key}: must be a non-empty string, not {value!r}")
    if pattern is not None and not pattern.fullmatch(value):
        raise ConfigError(f"{key}: {value!r} is not a valid name (letters, digits, '_', '.', '-'; at most 64)")
    return value


def _strings(value: Any, key: str) -> list[str]:
    """value as a list of non-empty strings, else ConfigError naming key."""
    if not isinstance(value, list):
        raise ConfigError(f"{key}: must be a list, not {value!r}")
    return [_string(item, f"{key}[{index}]") for index, item in enumerate(value)]


def _mapping(value: Any, key: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"{key}: must be a mapping, not {value!r}")
    return value


def _required(data: dict[str, Any], name: str, key: str) -> Any:
    if name not in data:
        raise ConfigError(f"{key}.{name}: missing" if key else f"{name}: missing")
    return data[name]


class Provider:
    """What a provider does for the power programs. A subclass per provider, registered in PROVIDERS; the group's
    settings are under the key named like the provider."""

    name: ClassVar[str] = ""
    kind: ClassVar[str] = "node"  # what the log lines call the thing the provider starts

    def __init__(self, cluster: str, group: Group) -> None:
        self.cluster = cluster
        self.group = group

    @classmethod
    def check_settings(cls, settings: Any, key: str) -> dict[str, Any]:
        """Return the checked settings of a group (key: where they are in the file); ConfigError naming a bad key."""
        raise NotImplementedError

    def resume(self, node: str) -> str:
        """Start node, replacing a leftover of it; return its address for slurmctld. ProviderError on failure."""
        raise NotImplementedError

    def remove(self, node: str) -> bool:
        """Remove node; False when there was none. ProviderError on failure."""
        raise NotImplementedError

    def instances(self) -> list[Instance]:
        """What the provider runs for this group of this cluster (its labels or tags say so). ProviderError."""
        raise NotImplementedError


def parse_config(data: Any, path: str = DEFAULT_CONFIG) -> Config:
    """Check the configuration file's content; ConfigError naming the first bad key. Unknown keys are ignored."""
    data = _mapping(data, "(top level)")
    cluster = _string(_required(data, "cluster", ""), "cluster")
    backoff, grace = data.get("launch_backoff", 60), data.get("orphan_grace", 300)
    for key, value in (("launch_backoff", backoff), ("orphan_grace", grace)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ConfigError(f"{key}: must be a non-negative number of seconds, not {value!r}")
    max_nodes = data.get("max_nodes", 0)
    if isinstance(max_nodes, bool) or not isinstance(max_nodes, int) or max_nodes < 0:
        raise ConfigError(f"max_nodes: must be a non-negative whole number (0: no cap), not {max_nodes!r}")
    state_dir = data.get("state_dir", DEFAULT_STATE_DIR)
    if not isinstance(state_dir, str) or not state_dir.startswith("/"):
        raise ConfigError(f"state_dir: must be an absolute path, not {state_dir!r}")
    raw_groups = _required(data, "groups", "")
    if not isinstance(raw_groups, list):
        raise ConfigError(f"groups: must be a list, not {raw_groups!r}")
    groups: list[Group] = []
    owner: dict[str, str] = {}
    for index, raw in enumerate(raw_groups):
        key = f"groups[{index}]"
        raw = _mapping(raw, key)
        name = _string(_required(raw, "name", key), f"{key}.name", NODE_NAME)
        if any(group.name == name for group in groups):
            raise ConfigError(f"{key}.name: {name!r} names two groups")
        provider = _string(_required(raw, "provider", key), f"{key}.provider")
        if provider not in PROVIDERS:
            raise ConfigError(f"{key}.provider: {provider!r} is not one of {', '.join(sorted(PROVIDERS))}")
        nodes = _strings(_required(raw, "nodes", key), f"{key}.nodes")
        for number, node in enumerate(nodes):
            _string(node, f"{key}.nodes[{number}]", NODE_NAME)
            if node in owner:
                raise ConfigError(f"{key}.nodes[{number}]: {node!r} is in group {owner[node]!r} already")
            owner[node] = name
        settings = PROVIDERS[provider].check_settings(_required(raw, provider, key), f"{key}.{provider}")
        groups.append(Group(name=name, provider=provider, nodes=tuple(nodes), settings=settings))
    return Config(
        cluster=cluster,
        launch_backoff=backoff,
        groups=tuple(groups),
        path=path,
        orphan_grace=grace,
        max_nodes=max_nodes,
        state_dir=state_dir,
    )


def load_config(path: str) -> Config:
    """Read and check the configuration file; on any problem log it and exit 2."""
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
        return parse_config(data, path)
    except OSError as exc:
        message = f"cannot read: {exc.strerror or exc}"
    except json.JSONDecodeError as exc:
        message = f"not JSON: {exc}"
    except ConfigError as exc:
        message = str(exc)
    LOG.error("configuration %s: %s", path, message)
    raise SystemExit(2)


def plan(config: Config, nodes: Iterable[str]) -> dict[str, Group | None]:
    """Map each node (once, in order) to its group; None for a node in no group (which is never touched)."""
    groups = {node: group for group in config.groups for node in group.nodes}
    return {node: groups.get(node) for node in nodes}


class Claims:
    """The nodes a resume is working on: a file per node in the state directory holding the resume's process id, made
    when it starts and removed when it ends; a claim whose process is gone (killed with slurmctld) holds nothing."""

    def __init__(self, directory: str, alive: Callable[[int], bool] | None = None) -> None:
        self.directory = directory
        self.alive = alive or process_is_ours

    def path(self, node: str) -> str:
        return os.path.join(self.directory, f"{node}.resume")

    def claim(self, nodes: Iterable[str], pid: int) -> None:
        for node in nodes:
            scratch = f"{self.path(node)}.{pid}"
            with open(scratch, "w", encoding="ascii") as handle:
                handle.write(f"{pid}\n")
            os.replace(scratch, self.path(node))

    def release(self, nodes: Iterable[str], pid: int) -> None:
        """Remove this process's claims (not one a later resume of the node made)."""
        for node in nodes:
            if self.holder(node) == pid:
                with contextlib.suppress(FileNotFoundError):
                    os.remove(self.path(node))

    def holder(self, node: str) -> int | None:
        try:
            with open(self.path(node), encoding="ascii") as handle:
                return int(handle.read().strip())
        except (OSError, ValueError):
            return None

    def held(self, node: str) -> bool:
        pid = self.holder(node)
        return pid is not None and self.alive(pid)


def process_is_ours(pid: int) -> bool:
    """Whether the process runs this program (a process id may have been reused since the claim)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            command = handle.read()
    except OSError:
        return False
    names = {os.path.basename(__file__).encode(), b"hpcstack-power"}
    return any(os.path.basename(part) in names for part in command.split(b"\0"))


# --- Slurm ------------------------------------------------------------------------------------------------------------
def run_scontrol(argv: list[str]) -> str:
    """Run an scontrol command line; its stdout, or ScontrolError."""
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=SCONTROL_TIMEOUT, check=False)
    except subprocess.TimeoutExpired as exc:
        raise ScontrolError(f"{' '.join(argv)}: no answer within {SCONTROL_TIMEOUT} s") from exc
    except OSError as exc:
        raise ScontrolError(f"{argv[0]}: {exc.strerror or exc}") from exc
    if result.returncode != 0:
        raise ScontrolError(f"{' '.join(argv)}: exit {result.returncode}: {one_line(result.stderr or result.stdout)}")
    return result.stdout


def node_states(text: str) -> dict[str, str]:
    """Node name -> State (IDLE+CLOUD+POWERED_DOWN ...) from `scontrol --oneliner show node`, linear in the nodes."""
    states = {}
    for line in text.splitlines():
        name = re.match(r"NodeName=(\S+)", line)
        state = re.search(r" State=(\S+)", line)
        if name and state:
            states[name.group(1)] = state.group(1)
    return states


def expand_hostlist(expression: str, runner: Runner) -> list[str]:
    """The node names of a Slurm hostlist expression, by one `scontrol show hostnames`."""
    return runner(["scontrol", "show", "hostnames", expression]).split()


def one_line(text: object, limit: int | None = None) -> str:
    """text on one line, without double quotes (it goes into scontrol's reason=), at most limit characters."""
    line = " ".join(str(text).split()).replace('"', "'")
    return line[:limit] if limit else line


def resume_jobs(path: str) -> list[str]:
    """The job ids in Slurm's SLURM_RESUME_FILE (24.11: {"jobs": [{"job_id": 12, ...}], ...})."""
    with open(path, encoding="utf-8") as handle:
        data = json.load(handle)
    return [str(job["job_id"]) for job in data.get("jobs", []) if isinstance(job, dict) and "job_id" in job]


# --- Docker provider --------------------------------------------------------------------------------------------------
def docker_module() -> Any:
    """The docker package, imported on first use (the program runs without it for the other providers)."""
    try:
        import docker  # pylint: disable=import-outside-toplevel
        import docker.errors  # pylint: disable=import-outside-toplevel
        import docker.tls  # pylint: disable=import-outside-toplevel
    except ImportError as exc:
        raise ProviderError(f"the docker provider needs python3-docker: {exc}") from exc
    return docker


def docker_client(settings: dict[str, Any]) -> Any:
    """A low-level Docker API client for a group's engine (over TLS where the settings have tls).

    Over TLS the group's ca_cert (or verify false) holds for every request: requests would otherwise check the engine
    against REQUESTS_CA_BUNDLE or CURL_CA_BUNDLE where the environment has one (a site's proxy CA), not the session's
    CA (docker/docker-py#2433), and the engine's certificate would fail. The environment's proxies still apply."""
    docker = docker_module()
    if not settings.get("tls"):
        return docker.APIClient(base_url=settings["engine"], tls=False, version="auto", timeout=DOCKER_TIMEOUT)
    options = settings["tls"]
    tls = docker.tls.TLSConfig(
        client_cert=(options["client_cert"], options["client_key"]),
        ca_cert=options["ca_cert"],
        verify=options["verify"],
    )

    class TlsClient(docker.APIClient):
        """APIClient whose requests verify the engine as its TLS settings say, whatever the environment."""

        def merge_environment_settings(self, url: Any, proxies: Any, stream: Any, verify: Any, cert: Any) -> Any:
            merged = super().merge_environment_settings(url, proxies, stream, verify, cert)
            if verify is None:  # no request passes its own
                merged["verify"] = self.verify
            return merged

    return TlsClient(base_url=settings["engine"], tls=tls, version="auto", timeout=DOCKER_TIMEOUT)


def split_image(image: str) -> tuple[str, str]:
    """('repo', 'tag') of 'repo:tag' ('registry:5000/repo' has the tag latest)."""
    repository, colon, tag = image.rpartition(":")
    if not colon or "/" in tag:
        return image, "latest"
    return repository, tag


class DockerProvider(Provider):
    """Nodes as containers on a Docker engine, made as playbooks/tasks/docker_nodes.yml makes node containers."""

    name = "docker"
    kind = "container"

    def __init__(
        self, cluster: str, group: Group, client_factory: Callable[[dict[str, Any]], Any] | None = None
    ) -> None:
        super().__init__(cluster, group)
        self.client_factory = client_factory

    @classmethod
    def check_settings(cls, settings: Any, key: str) -> dict[str, Any]:
        settings = _mapping(settings, key)
        checked: dict[str, Any] = {
            "engine": _string(settings.get("engine", "unix:///var/run/docker.sock"), f"{key}.engine"),
            "image": _string(_required(settings, "image", key), f"{key}.image"),
            "network": _string(_required(settings, "network", key), f"{key}.network"),
            "capabilities": _strings(settings.get("capabilities") or [], f"{key}.capabilities"),
            "devices": _strings(settings.get("devices") or [], f"{key}.devices"),
        }
        etc_hosts = _mapping(settings.get("etc_hosts") or {}, f"{key}.etc_hosts")
        for host, address in etc_hosts.items():
            _string(address, f"{key}.etc_hosts.{host}")
        checked["etc_hosts"] = dict(etc_hosts)
        tls = settings.get("tls")
        if tls is not None:
            tls = _mapping(tls, f"{key}.tls")
            for name in ("ca_cert", "client_cert", "client_key"):
                _string(_required(tls, name, f"{key}.tls"), f"{key}.tls.{name}")
            verify = tls.get("verify", True)
            if not isinstance(verify, bool):
                raise ConfigError(f"{key}.tls.verify: must be true or false, not {verify!r}")
            tls = {"ca_cert": tls["ca_cert"], "client_cert": tls["client_cert"], "client_key": tls["client_key"]}
            tls["verify"] = verify
        checked["tls"] = tls
        return checked

    @contextlib.contextmanager
    def client(self, step: str) -> Iterator[Any]:
        """A client of the group's engine for one operation (a client per thread); its errors as ProviderError."""
        docker = docker_module()
        factory = self.client_factory or docker_client
        try:
            client = factory(self.group.settings)
        except (docker.errors.DockerException, OSError) as exc:
            raise ProviderError(f"engine {self.group.settings['engine']}: {self.describe(exc)}") from exc
        try:
            yield client
        except (docker.errors.DockerException, OSError) as exc:  # requests' errors are OSErrors
            raise ProviderError(f"{step}: {self.describe(exc)}") from exc
        finally:
            with contextlib.suppress(Exception):
                client.close()

    @staticmethod
    def describe(exc: BaseException) -> str:
        """The TLS failure where there was one (OpenSSL's reason: requests and docker wrap it in so much text that the
        node's DOWN reason would end before it), else the engine's own message where it gave one."""
        import ssl  # pylint: disable=import-outside-toplevel

        todo, seen = [exc], set()
        while todo:  # docker's and requests' errors wrap urllib3's, which wrap the ssl.SSLError
            item = todo.pop(0)
            if isinstance(item, ssl.SSLError):  # without where in CPython's _ssl.c it was raised
                return one_line("TLS: " + re.sub(r"\s*\(_ssl\.c:\d+\)", "", str(item)))
            seen.add(id(item))
            linked = (item.__cause__, item.__context__, getattr(item, "reason", None), *item.args)
            todo += [link for link in linked if isinstance(link, BaseException) and id(link) not in seen]
        return one_line(getattr(exc, "explanation", None) or exc or type(exc).__name__)

    def labels(self, node: str) -> dict[str, str]:
        """The labels of the cluster's node containers, and the group that makes this one elastic."""
        return {
            "org.hpcstack.owner": "hpcstack",
            "org.hpcstack.cluster": self.cluster,
            "org.hpcstack.node": node,
            "org.hpcstack.role": "",
            "org.hpcstack.elastic": self.group.name,
        }

    def _remove(self, client: Any, node: str, label: str = "org.hpcstack.elastic") -> bool:
        """Remove the container `node` where it is one of ours (it has `label`): never a static node's container
        that a group names by mistake. False where there is none."""
        docker = docker_module()
        try:
            labels = (client.inspect_container(node).get("Config") or {}).get("Labels") or {}
        except docker.errors.NotFound:
            return False
        if label not in labels:
            raise ProviderError(f"container {node} exists and has no {label} label: not ours, left alone")
        try:
            client.remove_container(node, force=True, v=True)
        except docker.errors.NotFound:
            return False
        return True

    def remove(self, node: str) -> bool:
        with self.client("remove container") as client:
            return self._remove(client, node)

    def instances(self) -> list[Instance]:
        labels = [f"org.hpcstack.cluster={self.cluster}", f"org.hpcstack.elastic={self.group.name}"]
        with self.client("list containers") as client:
            found = client.containers(all=True, filters={"label": labels})
        return [
            Instance(
                node=(item.get("Labels") or {}).get("org.hpcstack.node", ""),
                running=item.get("State") == "running",
                created=float(item.get("Created") or 0),
            )
            for item in found
        ]

    def resume(self, node: str) -> str:
        settings = self.group.settings
        network = settings["network"]
        with self.client("remove leftover container") as client:
            if self._remove(client, node):
                LOG.info("resume %s: removed a leftover container", node)
        with self.client("create container") as client:
            host_config = client.create_host_config(
                cap_add=NODE_CAPABILITIES + settings["capabilities"],
                security_opt=list(NODE_SECURITY_OPT),
                binds=list(NODE_BINDS),
                tmpfs=dict(NODE_TMPFS),
                extra_hosts=dict(settings["etc_hosts"]),
                devices=list(settings["devices"]),
                network_mode=network,
            )
            host_config["CgroupnsMode"] = "host"  # docker-py 5 has no parameter for it; the engine reads the key
            networking_config = client.create_networking_config({network: client.create_endpoint_config()})
            client.create_container(
                settings["image"],
                command=list(NODE_COMMAND),
                name=node,
                hostname=node,
                detach=True,
                stop_signal=NODE_STOP_SIGNAL,
                labels=self.labels(node),
                host_config=host_config,
                networking_config=networking_config,
            )
        with self.client("start container") as client:
            client.start(node)
        with self.client("inspect container") as client:
            info = client.inspect_container(node)
        networks = (info.get("NetworkSettings") or {}).get("Networks") or {}
        address = (networks.get(network) or {}).get("IPAddress")
        if not address:
            raise ProviderError(f"inspect container: no address on network {network}")
        return address

    def bake(self, source: str, force: bool = False) -> bool:
        """Make the group's image from the converged node container source; False where it exists (not force)."""
        docker = docker_module()
        image = self.group.settings["image"]
        if "@" in image:
            raise ProviderError(f"image {image}: an image named by digest cannot be made")
        repository, tag = split_image(image)
        raw = f"{repository}:{tag}-raw"
        scratch = f"hpcstack-bake-{self.cluster}-{self.group.name}"  # two clusters on one engine may share a group name
        with self.client("inspect image") as client:
            try:
                made = client.inspect_image(image).get("Created", "")
                # Older than its source container: baked from an earlier node (another cluster's munge key).
                if not force and made[:19] >= client.inspect_container(source).get("Created", "")[:19]:
                    return False
            except docker.errors.NotFound:
                pass
        with self.client("bake") as client:
            try:
                self._remove(client, scratch, "org.hpcstack.owner")  # a leftover of an interrupted bake
                LOG.info("bake %s: committing %s to %s", self.group.name, source, raw)
                client.commit(source, repository=repository, tag=f"{tag}-raw")
                client.create_container(
                    raw,
                    command=["sh", "-c", CLEAN],
                    entrypoint=[],
                    name=scratch,
                    detach=True,
                    network_disabled=True,
                    labels={"org.hpcstack.owner": "hpcstack"},
                )
                client.start(scratch)
                status = client.wait(scratch)
                code = status.get("StatusCode") if isinstance(status, dict) else status
                if code != 0:
                    logs = client.logs(scratch)
                    text = logs.decode("utf-8", "replace") if isinstance(logs, bytes) else str(logs)
                    raise ProviderError(f"cleaning the image exited {code}: {one_line(text)[-500:]}")
                LOG.info("bake %s: committing the cleaned container to %s", self.group.name, image)
                client.commit(scratch, repository=repository, tag=tag, changes=list(BAKE_CHANGES))
            finally:
                with contextlib.suppress(docker.errors.DockerException, OSError):
                    self._remove(client, scratch, "org.hpcstack.owner")
                with contextlib.suppress(docker.errors.DockerException, OSError):
                    client.remove_image(raw)
        return True


# --- EC2 provider -----------------------------------------------------------------------------------------------------
EC2_PATTERNS = {
    "region": re.compile(r"[a-z]{2}(-[a-z]+)+-[0-9]"),
    "image_id": re.compile(r"ami-[0-9a-f]{8,17}"),
    "instance_type": re.compile(r"[a-z][a-z0-9-]*\.[a-z0-9]+"),
    "subnet_id": re.compile(r"subnet-[0-9a-f]{8,17}"),
    "security_group": re.compile(r"sg-[0-9a-f]{8,17}"),
    "instance_profile": re.compile(
        r"[A-Za-z0-9+=,.@_-]{1,128}|arn:aws[a-z-]*:iam::[0-9]{12}:instance-profile/[\w+=,.@/-]{1,512}"
    ),
    "munge_key_parameter": re.compile(r"/?[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*"),
    "conf_server": re.compile(r"[A-Za-z0-9.-]{1,253}:[0-9]{1,5}"),
    "endpoint_url": re.compile(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?/?"),
    "tag": re.compile(r"[A-Za-z0-9 _.:/=+@-]{1,128}"),
}
# Instance states that count: a terminated (or shutting-down) instance is gone.
EC2_LIVE_STATES = ["pending", "running", "stopping", "stopped"]
# Run by cloud-init at the instance's first boot (user data): the node takes its Slurm name, fetches the munge key
# from SSM Parameter Store (a SecureString, through the instance profile; the key is never in the user data) and
# starts slurmd configless. The AMI has munge, slurmd and the AWS CLI (e.g. baked from a converged compute node).
EC2_USER_DATA = """#!/bin/bash
set -euo pipefail
hostnamectl set-hostname {node}
umask 077
aws ssm get-parameter --region {region} --name {parameter} --with-decryption --query Parameter.Value --output text \\
  | base64 --decode > /etc/munge/munge.key
chown munge:munge /etc/munge/munge.key
chmod 0400 /etc/munge/munge.key
systemctl restart munge
echo 'SLURMD_OPTIONS="-N {node} --conf-server {conf_server}"' > /etc/default/slurmd
systemctl enable slurmd
systemctl restart slurmd
"""


def boto3_module() -> Any:
    """boto3, imported when an EC2 client is made (Debian's python3-boto3)."""
    try:
        import boto3  # pylint: disable=import-outside-toplevel  # only the ec2 provider needs it

        return boto3
    except ImportError as exc:
        raise ProviderError("python3-boto3 is not installed: the ec2 provider needs it") from exc


class Ec2Provider(Provider):
    """Instances in the cluster's private subnet, with its security groups and an instance profile that may read the
    munge key's SSM parameter; IMDSv2 required; tagged so that the hybrid inventory plugin and the reconciler see them.
    Suspend terminates."""

    name = "ec2"
    kind = "instance"

    def __init__(self, cluster: str, group: Group, client_factory: Callable[[dict[str, Any]], Any] | None = None):
        super().__init__(cluster, group)
        self.client_factory = client_factory

    @classmethod
    def check_settings(cls, settings: Any, key: str) -> dict[str, Any]:
        settings = _mapping(settings, key)
        checked: dict[str, Any] = {}
        for name in ("region", "image_id", "instance_type", "subnet_id", "instance_profile", "munge_key_parameter",
                     "conf_server"):  # fmt: skip
            checked[name] = _string(_required(settings, name, key), f"{key}.{name}", EC2_PATTERNS[name])
        groups = _strings(_required(settings, "security_group_ids", key), f"{key}.security_group_ids")
        for index, group in enumerate(groups):
            _string(group, f"{key}.security_group_ids[{index}]", EC2_PATTERNS["security_group"])
        if not groups:
            raise ConfigError(f"{key}.security_group_ids: give at least one security group")
        checked["security_group_ids"] = groups
        endpoint = settings.get("endpoint_url")
        checked["endpoint_url"] = (
            None if endpoint is None else _string(endpoint, f"{key}.endpoint_url", EC2_PATTERNS["endpoint_url"])
        )
        tags = _mapping(settings.get("tags") or {}, f"{key}.tags")
        for tag, value in tags.items():
            _string(tag, f"{key}.tags", EC2_PATTERNS["tag"])
            _string(value, f"{key}.tags.{tag}", EC2_PATTERNS["tag"])
        checked["tags"] = dict(tags)
        return checked

    def client(self) -> Any:
        settings = self.group.settings
        if self.client_factory:
            return self.client_factory(settings)
        boto3 = boto3_module()
        return boto3.session.Session(region_name=settings["region"]).client(
            "ec2", endpoint_url=settings["endpoint_url"]
        )

    def call(self, step: str, method: str, **kwargs: Any) -> Any:
        """One EC2 API call; its errors (botocore's ClientError, BotoCoreError) as ProviderError naming the step."""
        try:
            return getattr(self.client(), method)(**kwargs)
        except ProviderError:
            raise
        except Exception as exc:  # pylint: disable=broad-exception-caught  # botocore's errors, imported lazily
            raise ProviderError(f"{step}: {one_line(exc)}") from exc

    def tags(self, node: str) -> list[dict[str, str]]:
        """The inventory plugin's tags (Name, hpc_cluster, hpc_role), the reconciler's, then the group's own."""
        tags = {
            "Name": node,
            "hpc_cluster": self.cluster,
            "hpc_role": "slurm_elastic",
            "org.hpcstack.owner": "hpcstack",
            "org.hpcstack.cluster": self.cluster,
            "org.hpcstack.elastic": self.group.name,
            "org.hpcstack.node": node,
        }
        return [{"Key": key, "Value": value} for key, value in {**self.group.settings["tags"], **tags}.items()]

    def user_data(self, node: str) -> str:
        settings = self.group.settings
        return EC2_USER_DATA.format(
            node=node,
            region=settings["region"],
            parameter=settings["munge_key_parameter"],
            conf_server=settings["conf_server"],
        )

    def find(self, node: str | None = None) -> list[dict[str, Any]]:
        """The group's live instances (of one node), from describe_instances."""
        filters = [
            {"Name": "tag:org.hpcstack.cluster", "Values": [self.cluster]},
            {"Name": "tag:org.hpcstack.elastic", "Values": [self.group.name]},
            {"Name": "instance-state-name", "Values": EC2_LIVE_STATES},
        ]
        if node:
            filters.append({"Name": "tag:org.hpcstack.node", "Values": [node]})
        found: list[dict[str, Any]] = []
        token = None
        while True:
            page = self.call(
                "describe instances", "describe_instances", Filters=filters, **({"NextToken": token} if token else {})
            )
            found += [instance for reservation in page.get("Reservations", []) for instance in reservation["Instances"]]
            token = page.get("NextToken")
            if not token:
                return found

    def remove(self, node: str) -> bool:
        ids = [instance["InstanceId"] for instance in self.find(node)]
        if ids:
            self.call("terminate instances", "terminate_instances", InstanceIds=ids)
        return bool(ids)

    def instances(self) -> list[Instance]:
        result = []
        for instance in self.find():
            tags = {tag["Key"]: tag["Value"] for tag in instance.get("Tags", [])}
            launched = instance.get("LaunchTime")
            result.append(
                Instance(
                    node=tags.get("org.hpcstack.node", ""),
                    running=instance["State"]["Name"] in ("pending", "running"),
                    created=launched.timestamp() if hasattr(launched, "timestamp") else 0.0,
                )
            )
        return result

    def resume(self, node: str) -> str:
        settings = self.group.settings
        self.remove(node)  # a leftover of an earlier start
        answer = self.call(
            "run instance",
            "run_instances",
            ImageId=settings["image_id"],
            InstanceType=settings["instance_type"],
            MinCount=1,
            MaxCount=1,
            SubnetId=settings["subnet_id"],
            SecurityGroupIds=settings["security_group_ids"],
            IamInstanceProfile=(
                {"Arn": settings["instance_profile"]}
                if settings["instance_profile"].startswith("arn:")
                else {"Name": settings["instance_profile"]}
            ),
            MetadataOptions={"HttpTokens": "required", "HttpEndpoint": "enabled", "HttpPutResponseHopLimit": 1},
            UserData=self.user_data(node),
            TagSpecifications=[
                {"ResourceType": "instance", "Tags": self.tags(node)},
                {"ResourceType": "volume", "Tags": self.tags(node)},
            ],
        )
        (instance,) = answer["Instances"]
        address = instance.get("PrivateIpAddress")
        if not address:
            raise ProviderError(f"instance {instance.get('InstanceId')} has no private address")
        return address


PROVIDERS: dict[str, type[Provider]] = {"docker": DockerProvider, "ec2": Ec2Provider}


def make_provider(cluster: str, group: Group) -> Provider:
    """The provider of a group."""
    return PROVIDERS[group.provider](cluster, group)


# --- The actions ------------------------------------------------------------------------------------------------------
def removed_text(provider: Provider, removed: bool) -> str:
    """'container removed', or 'no container' where there was none."""
    return f"{provider.kind} removed" if removed else f"no {provider.kind}"


class Power:
    """The actions on nodes, in the foreground: each node's provider calls and scontrol updates, concurrently."""

    def __init__(
        self,
        config: Config,
        runner: Runner = run_scontrol,
        provider_factory: Callable[[str, Group], Provider] = make_provider,
        sleep: Callable[[float], None] = time.sleep,
        max_workers: int = MAX_WORKERS,
        claims: Claims | None = None,
    ) -> None:
        self.config = config
        self.runner = runner
        self.provider_factory = provider_factory
        self.sleep = sleep
        self.max_workers = max_workers
        self.providers: dict[str, Provider] = {}
        self.claims = claims or Claims(config.state_dir)
        self.counts: Counter[str] = Counter()

    def provider(self, group: Group) -> Provider:
        if group.name not in self.providers:
            self.providers[group.name] = self.provider_factory(self.config.cluster, group)
        return self.providers[group.name]

    def update(self, node: str, *settings: str) -> None:
        """scontrol update nodename=node settings...; ScontrolError on failure."""
        self.runner(["scontrol", "update", f"nodename={node}", *settings])

    def try_update(self, action: str, node: str, *settings: str) -> bool:
        """update(), logging a failure instead of raising it."""
        try:
            self.update(node, *settings)
        except ScontrolError as exc:
            LOG.error("%s %s: %s", action, node, exc)
            return False
        return True

    def each(self, action: str, nodes: list[str], work: Callable[[str, Group], bool]) -> list[str]:
        """Run work(node, group) for the nodes of a group, concurrently; the nodes for which it failed (False).
        Nodes in no group are logged and left alone."""
        planned = plan(self.config, nodes)
        failed = [node for node, group in planned.items() if group is None]
        for node in failed:
            LOG.error("%s %s: in no node group of %s; not touched", action, node, self.config.path)
        todo = [(node, group) for node, group in planned.items() if group is not None]
        if todo:
            with ThreadPoolExecutor(max_workers=min(self.max_workers, len(todo))) as pool:
                results = list(pool.map(lambda item: self.guarded(action, work, *item), todo))
            failed += [node for (node, _group), ok in zip(todo, results, strict=True) if not ok]
        return failed

    @staticmethod
    def guarded(action: str, work: Callable[[str, Group], bool], node: str, group: Group) -> bool:
        """work(node, group); an unexpected exception is logged and counts as a failure of that node only."""
        try:
            return work(node, group)
        except Exception:  # pylint: disable=broad-exception-caught  # one node's bug must not stop the others
            LOG.exception("%s %s: unexpected error", action, node)
            return False

    def resume(self, nodes: list[str]) -> int:
        ours = [node for node, group in plan(self.config, nodes).items() if group is not None]
        pid = os.getpid()
        try:
            self.claims.claim(ours, pid)
        except OSError as exc:
            LOG.error("resume: cannot claim %s in %s: %s", ",".join(ours), self.config.state_dir, exc)
        try:
            return self.resume_claimed(nodes, ours)
        finally:
            self.claims.release(ours, pid)

    def resume_claimed(self, nodes: list[str], ours: list[str]) -> int:
        refused = self.over_cap(ours)
        for node in refused:
            reason = f"hpcstack-power: launch refused: max_nodes ({self.config.max_nodes}) nodes are powered up"
            LOG.warning("resume %s: refused, max_nodes (%d) nodes are powered up", node, self.config.max_nodes)
            self.try_update("resume", node, "state=DOWN", f"reason={reason}")
        launch_failed: list[str] = list(refused)
        todo = [node for node in nodes if node not in refused]
        failed = self.each("resume", todo, lambda node, group: self.resume_one(node, group, launch_failed))
        failed += refused
        if launch_failed:
            backoff = self.config.launch_backoff
            LOG.info("resume: powering down %s in %g s, so that Slurm may try again", ",".join(launch_failed), backoff)
            self.sleep(backoff)
            for node in launch_failed:
                if self.try_update("resume", node, "state=POWER_DOWN"):
                    LOG.info("resume %s: powered down after the failed launch", node)
        return 1 if failed else 0

    def over_cap(self, nodes: list[str]) -> list[str]:
        """The nodes of this resume beyond max_nodes powered up (all groups), counting every other node of the groups
        Slurm has not powered down; all of them where the states cannot be read."""
        cap = self.config.max_nodes
        if not cap or not nodes:
            return []
        try:
            states = node_states(self.runner(["scontrol", "--oneliner", "show", "node"]))
        except ScontrolError as exc:
            LOG.error("resume: cannot count the powered-up nodes for max_nodes: %s", exc)
            return list(nodes)
        requested = set(nodes)
        others = sum(
            1
            for group in self.config.groups
            for node in group.nodes
            if node not in requested and "POWERED_DOWN" not in states.get(node, "POWERED_DOWN").split("+")
        )
        return nodes[max(0, cap - others) :]

    def resume_one(self, node: str, group: Group, launch_failed: list[str]) -> bool:
        provider = self.provider(group)
        try:
            address = provider.resume(node)
            self.update(node, f"nodeaddr={address}", f"nodehostname={node}")
        except (ProviderError, ScontrolError) as exc:
            self.launch_failed(provider, node, exc)
            launch_failed.append(node)
            return False
        LOG.info("resume %s: %s started at %s", node, provider.kind, address)
        return True

    def launch_failed(self, provider: Provider, node: str, exc: Exception) -> None:
        """Remove what was made of the node, and set it DOWN with the error as its reason (its job is requeued)."""
        LOG.error("resume %s: launch failed: %s", node, exc)
        try:
            provider.remove(node)
        except ProviderError as error:
            LOG.error("resume %s: %s", node, error)
        reason = f"hpcstack-power: launch failed: {one_line(exc, REASON_LENGTH)}"
        self.try_update("resume", node, "state=DOWN", f"reason={reason}")

    def suspend(self, nodes: list[str]) -> int:
        def work(node: str, group: Group) -> bool:
            provider = self.provider(group)
            try:
                removed = provider.remove(node)
            except ProviderError as exc:
                LOG.error("suspend %s: %s", node, exc)
                return False
            LOG.info("suspend %s: %s", node, removed_text(provider, removed))
            return True

        return 1 if self.each("suspend", nodes, work) else 0

    def reconcile(self, now: Callable[[], float] = time.time) -> int:
        """Make the providers agree with Slurm (run every minute by hpcstack-power-reconcile.timer):
        - an instance whose node Slurm has powered down (or that is in no group) is removed once it is older than
          orphan_grace: a leak, e.g. a SuspendProgram that failed or an instance started behind Slurm's back;
        - a node Slurm has powered up whose instance vanished (or stopped) is powered down (POWER_DOWN_FORCE), so
          Slurm starts it again when a job needs it; a node left DOWN by a failed launch is the back-off's;
        - a node left powering up with no instance and no resume at work is powered down (reset_stuck).
        What it did is added to the counters in the state directory, which the Slurm metrics collector exports.
        """
        try:
            states = node_states(self.runner(["scontrol", "--oneliner", "show", "node"]))
        except ScontrolError as exc:
            LOG.error("reconcile: cannot read the nodes' states: %s", exc)
            return 1
        failed = False
        # Nodes with a running instance; a group whose provider does not answer counts as all running (not stuck).
        running: set[str] = set()
        for group in self.config.groups:
            provider = self.provider(group)
            try:
                instances = {instance.node: instance for instance in provider.instances()}
            except ProviderError as exc:
                LOG.error("reconcile %s: %s", group.name, exc)
                failed = True
                running.update(group.nodes)
                continue
            running.update(node for node, instance in instances.items() if instance.running)
            for node, instance in instances.items():
                flags = states.get(node, "POWERED_DOWN").split("+")
                orphan = node not in group.nodes or ("POWERED_DOWN" in flags and "POWERING_UP" not in flags)
                if orphan and now() - instance.created >= self.config.orphan_grace:
                    try:
                        provider.remove(node)
                    except ProviderError as exc:
                        LOG.error("reconcile %s: %s", node, exc)
                        failed = True
                        continue
                    LOG.warning("reconcile %s: removed a %s Slurm has not powered up", node, provider.kind)
                    self.counts["removed"] += 1
            for node in group.nodes:
                state = states.get(node, "")
                flags = state.split("+")
                powered = state and not any(flag.startswith("POWER") for flag in flags)
                if not powered or (node in instances and instances[node].running):
                    continue
                if "DOWN" in flags and self.launch_failed_reason(node):
                    continue
                LOG.warning("reconcile %s: Slurm has it powered up (%s) but its %s is gone", node, state, provider.kind)
                with contextlib.suppress(ProviderError):
                    provider.remove(node)
                if self.try_update("reconcile", node, "state=POWER_DOWN_FORCE"):
                    self.counts["powered_down"] += 1
                else:
                    failed = True
        if not self.reset_stuck(states, running):
            failed = True
        self.record(now())
        return 1 if failed else 0

    def record(self, when: float) -> None:
        """Add this run's counts to the reconciler's counters (read by the Slurm metrics collector)."""
        path = os.path.join(self.config.state_dir, RECONCILE_STATE)
        totals = dict.fromkeys(RECONCILE_COUNTERS, 0)
        unreadable = (OSError, ValueError, AttributeError, TypeError)  # none yet, or not ours: start again
        with contextlib.suppress(*unreadable), open(path, encoding="utf-8") as handle:
            totals.update({key: int(value) for key, value in json.load(handle).items() if key in totals})
        totals = {key: value + self.counts[key] for key, value in totals.items()}
        try:
            scratch = f"{path}.{os.getpid()}"
            with open(scratch, "w", encoding="utf-8") as handle:
                json.dump({**totals, "last_run": round(when, 3)}, handle, sort_keys=True)
            os.chmod(scratch, 0o644)
            os.replace(scratch, path)
        except OSError as exc:
            LOG.warning("reconcile: cannot write its counters to %s: %s", path, exc)

    def stuck(self, states: dict[str, str], running: set[str]) -> list[str]:
        """Nodes powering up with no running instance and no resume at work on them."""
        return [
            node
            for group in self.config.groups
            for node in group.nodes
            if "POWERING_UP" in states.get(node, "").split("+") and node not in running and not self.claims.held(node)
        ]

    def reset_stuck(self, states: dict[str, str], running: set[str]) -> bool:
        """Power down (POWER_DOWN_FORCE: their jobs are requeued) the nodes left powering up by a resume that ended
        without starting them, e.g. killed with slurmctld's restart; Slurm would otherwise wait out ResumeTimeout."""
        if not os.access(self.config.state_dir, os.W_OK):
            LOG.warning(
                "reconcile: no claims directory %s; nodes left powering up are not looked for", self.config.state_dir
            )
            return True
        candidates = self.stuck(states, running)
        if not candidates:
            return True
        # slurmctld sets POWERING_UP, then runs the ResumeProgram that claims the node: give it the time to.
        self.sleep(CLAIM_WAIT)
        try:
            states = node_states(self.runner(["scontrol", "--oneliner", "show", "node"]))
        except ScontrolError as exc:
            LOG.error("reconcile: cannot read the nodes' states: %s", exc)
            return False
        ok = True
        for node in sorted(set(candidates) & set(self.stuck(states, running))):
            LOG.warning("reconcile %s: powering up (%s) with no instance and no resume at work", node, states[node])
            if self.try_update("reconcile", node, "state=POWER_DOWN_FORCE"):
                self.counts["reset"] += 1
            else:
                ok = False
        return ok

    def launch_failed_reason(self, node: str) -> bool:
        """Whether the node's reason is a failed launch's, whose back-off powers it down."""
        try:
            line = self.runner(["scontrol", "--oneliner", "show", "node", node])
        except ScontrolError:
            return False
        return re.search(r"Reason=hpcstack-power: launch (failed|refused)", line) is not None

    def resume_fail(self, nodes: list[str]) -> int:
        def work(node: str, group: Group) -> bool:
            provider = self.provider(group)
            LOG.warning("resume-fail %s: did not register within ResumeTimeout", node)
            ok = True
            try:
                removed = provider.remove(node)
                LOG.warning("resume-fail %s: %s", node, removed_text(provider, removed))
            except ProviderError as exc:
                LOG.error("resume-fail %s: %s", node, exc)
                ok = False
            if self.try_update("resume-fail", node, "state=POWER_DOWN_FORCE"):
                LOG.warning("resume-fail %s: powered down (POWER_DOWN_FORCE)", node)
                return ok
            return False

        return 1 if self.each("resume-fail", nodes, work) else 0


# --- Command line -----------------------------------------------------------------------------------------------------
def setup_logging(stderr: bool = False) -> None:
    """Log to the journal (syslog socket /dev/log, tag hpcstack-power), or to stderr where there is none; also to
    stderr where asked (bake: Ansible shows it)."""
    LOG.setLevel(logging.INFO)
    if LOG.handlers:
        return
    handlers: list[logging.Handler] = []
    if os.path.exists("/dev/log"):
        syslog = logging.handlers.SysLogHandler(address="/dev/log", facility=logging.handlers.SysLogHandler.LOG_DAEMON)
        syslog.ident = SYSLOG_IDENT
        syslog.setFormatter(logging.Formatter("%(message)s"))
        handlers.append(syslog)
    # Under systemd (the reconciler's timer) stderr is the journal already.
    if (stderr and not os.environ.get("JOURNAL_STREAM")) or not handlers:
        stream = logging.StreamHandler(sys.stderr)
        stream.setFormatter(logging.Formatter("hpcstack-power: %(levelname)s: %(message)s"))
        handlers.append(stream)
    for handler in handlers:
        LOG.addHandler(handler)


def parse_args(argv: list[str], program: str) -> argparse.Namespace:
    """The command line; a link's name (hpcstack-resume HOSTLIST) gives the action."""
    if program in LINK_ACTIONS:
        if len(argv) != 1:
            LOG.error("%s: expected one argument, the hostlist, not %r", program, argv)
            raise SystemExit(2)
        return argparse.Namespace(
            config=DEFAULT_CONFIG, foreground=False, action=LINK_ACTIONS[program], hostlist=argv[0]
        )
    parser = argparse.ArgumentParser(
        prog=program, description="Start (resume), remove (suspend, resume-fail) or bake Slurm's elastic nodes."
    )
    parser.add_argument("--config", default=DEFAULT_CONFIG, help=f"configuration file (default {DEFAULT_CONFIG})")
    parser.add_argument("--foreground", action="store_true", help="do the work now instead of in the background")
    parser.add_argument("--group", help="bake: the node group whose image to make")
    parser.add_argument("--from", dest="source", help="bake: the converged compute node container")
    parser.add_argument("--force", action="store_true", help="bake: even where the image exists")
    parser.add_argument("action", choices=ACTIONS)
    parser.add_argument("hostlist", nargs="?", help="Slurm hostlist expression (resume, suspend, resume-fail)")
    args = parser.parse_args(argv)
    if args.action == "bake":
        if not (args.group and args.source) or args.hostlist:
            parser.error("bake takes --group and --from, and no hostlist")
    elif args.action == "reconcile":
        if args.hostlist or args.group or args.source or args.force:
            parser.error("reconcile takes no arguments")
    elif not args.hostlist or args.group or args.source or args.force:
        parser.error(f"{args.action} takes a hostlist only")
    return args


def background(args: argparse.Namespace, runner: Runner) -> int:
    """What slurmctld waits for: check the nodes, note the jobs, start the work in the background and return."""
    nodes = expand_hostlist(args.hostlist, runner)
    resume_file = os.environ.get("SLURM_RESUME_FILE")
    if args.action == "resume" and resume_file:
        try:
            jobs = resume_jobs(resume_file)
            LOG.info("resume %s: for jobs %s", args.hostlist, ", ".join(jobs) or "(none)")
        except (OSError, ValueError, AttributeError, TypeError) as exc:
            LOG.warning("resume %s: cannot read SLURM_RESUME_FILE %s: %s", args.hostlist, resume_file, exc)
    # The program itself, not the link it was run by (a link's name takes the hostlist only).
    argv = [sys.executable, os.path.realpath(__file__), "--config", os.path.abspath(args.config)]
    argv += ["--foreground", args.action, args.hostlist]
    try:
        subprocess.Popen(  # pylint: disable=consider-using-with  # it outlives this process, by design
            argv,
            start_new_session=True,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd="/",
        )
    except OSError as exc:
        LOG.error("%s %s: cannot start the background work: %s", args.action, args.hostlist, exc)
        return 1
    LOG.info("%s %s: %d node(s), working in the background", args.action, args.hostlist, len(nodes))
    return 0


def bake(config: Config, group_name: str, source: str, force: bool) -> int:
    """The bake action: one JSON line on stdout for Ansible."""
    group = next((group for group in config.groups if group.name == group_name), None)
    result: dict[str, Any]
    if group is None:
        result = {"failed": True, "msg": f"no node group {group_name!r} in {config.path}"}
    elif group.provider != "docker":
        result = {"failed": True, "msg": f"node group {group_name!r}: provider {group.provider} has no image to bake"}
    else:
        provider = DockerProvider(config.cluster, group)
        try:
            changed = provider.bake(source, force)
            result = {"changed": changed, "image": group.settings["image"]}
            LOG.info("bake %s: %s %s", group_name, group.settings["image"], "made" if changed else "exists")
        except ProviderError as exc:
            result = {"failed": True, "msg": f"bake {group_name} from {source}: {exc}"}
            LOG.error("%s", result["msg"])
    print(json.dumps(result), flush=True)
    return 1 if result.get("failed") else 0


def main(argv: list[str] | None = None, program: str | None = None, runner: Runner = run_scontrol) -> int:
    """Entry point; program: the name it was run by (argv[0]), which may say the action."""
    program = os.path.basename(program if program is not None else sys.argv[0])
    argv = sys.argv[1:] if argv is None else argv
    setup_logging(stderr=program not in LINK_ACTIONS)  # run by hand or by Ansible: show it (a child's is /dev/null)
    args = parse_args(argv, program)
    config = load_config(args.config)
    if args.action == "bake":
        return bake(config, args.group, args.source, args.force)
    if args.action == "reconcile":
        return Power(config, runner=runner).reconcile()
    try:
        if not args.foreground:
            return background(args, runner)
        nodes = list(dict.fromkeys(expand_hostlist(args.hostlist, runner)))
    except ScontrolError as exc:
        LOG.error("%s %s: cannot expand the hostlist: %s", args.action, args.hostlist, exc)
        return 1
    power = Power(config, runner=runner)
    actions = {"resume": power.resume, "suspend": power.suspend, "resume-fail": power.resume_fail}
    return actions[args.action](nodes)


if __name__ == "__main__":
    sys.exit(main())
