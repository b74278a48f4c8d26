"""The power saving programs of elastic nodes (roles/slurm_controller/files/slurm_power.py), without Docker or Slurm.

slurmctld runs the script (through its links hpcstack-resume, hpcstack-suspend, hpcstack-resume-fail) to start and
remove cloud nodes; Ansible runs its bake action to make a node group's image. Here the Docker engine is a fake
low-level APIClient that keeps containers and images in dictionaries and records every call, and scontrol is a fake
runner that records its argument vectors, so each test states exactly what the script asks of the engine and of
slurmctld: the container's settings (those of the cluster's other node containers), the node's address given to
Slurm, a failed launch set DOWN with its reason and powered down after the back-off, nodes outside every group left
alone, the background start slurmctld must not wait for, and the image bake.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import ssl
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, ClassVar

import docker
import docker.errors
import pytest
import requests
import urllib3

ROOT = Path(__file__).resolve().parents[4]
SCRIPT = ROOT / "roles/slurm_controller/files/slurm_power.py"

spec = importlib.util.spec_from_file_location("slurm_power", SCRIPT)
slurm_power = importlib.util.module_from_spec(spec)
sys.modules["slurm_power"] = slurm_power
spec.loader.exec_module(slurm_power)

IMAGE = "hpcstack/node:hpcstack"
NETWORK = "hpcstack-vpc"
CONFIG = {
    "cluster": "hpcstack",
    "launch_backoff": 60,
    "groups": [
        {
            "name": "cloud",
            "provider": "docker",
            "nodes": ["hpc-burst01", "hpc-burst02"],
            "docker": {
                "engine": "unix:///var/run/docker.sock",
                "tls": None,
                "image": IMAGE,
                "image_from": "hpc-compute01",
                "network": NETWORK,
                "etc_hosts": {"hpc-controller": "10.100.1.11"},
                "capabilities": ["NET_ADMIN"],
                "devices": ["/dev/fuse"],
            },
        }
    ],
}
# What the fake `scontrol show hostnames` answers.
HOSTNAMES = {
    "hpc-burst[01-02]": ["hpc-burst01", "hpc-burst02"],
    "hpc-burst01": ["hpc-burst01"],
    "hpc-burst02": ["hpc-burst02"],
    "hpc-burst01,hpc-compute01": ["hpc-burst01", "hpc-compute01"],
}


class FakeClient:
    """Stands in for docker.APIClient: the low-level methods the script may use (those of docker-py 5.0.3)."""

    def __init__(self, images: tuple[str, ...] = (IMAGE,)) -> None:
        self.calls: list[tuple[str, tuple, dict]] = []
        self.made: dict[str, dict[str, Any]] = {}
        self.images = set(images)
        self.addresses: dict[str, str] = {"hpc-burst01": "10.100.1.5", "hpc-burst02": "10.100.1.6"}
        self.failures: dict[str, BaseException] = {}  # method name -> what it raises
        self.exit_code = 0
        self.log_text = b""
        self.image_created = "2026-12-01T11:00:00.5Z"  # after the containers' default creation time

    def record(self, method: str, *args: Any, **kwargs: Any) -> None:
        self.calls.append((method, args, kwargs))
        if method in self.failures:
            raise self.failures[method]

    def called(self, method: str) -> list[tuple[tuple, dict]]:
        """The arguments of each call of method, in order."""
        return [(args, kwargs) for name, args, kwargs in self.calls if name == method]

    def create_host_config(self, **kwargs: Any) -> dict[str, Any]:
        self.record("create_host_config", **kwargs)
        return {"made_by": "create_host_config", **kwargs}

    def create_endpoint_config(self, **kwargs: Any) -> dict[str, Any]:
        self.record("create_endpoint_config", **kwargs)
        return {"endpoint": kwargs}

    def create_networking_config(self, endpoints: dict[str, Any]) -> dict[str, Any]:
        self.record("create_networking_config", endpoints)
        return {"EndpointsConfig": endpoints}

    def create_container(self, image: str, **kwargs: Any) -> dict[str, str]:
        self.record("create_container", image, **kwargs)
        if image not in self.images:
            raise docker.errors.ImageNotFound(f"No such image: {image}")
        self.made[kwargs["name"]] = {"image": image, "running": False, **kwargs}
        return {"Id": kwargs["name"]}

    def start(self, container: str) -> None:
        self.record("start", container)
        self.made[container]["running"] = True

    def inspect_container(self, container: str) -> dict[str, Any]:
        self.record("inspect_container", container)
        if container not in self.made:
            raise docker.errors.NotFound(f"No such container: {container}")
        made = self.made[container]
        networks = (made.get("networking_config") or {}).get("EndpointsConfig") or {}
        return {
            "Created": made.get("created", "2026-12-01T10:00:00.123456789Z"),
            "Config": {"Labels": made.get("labels") or {}},
            "NetworkSettings": {"Networks": {name: {"IPAddress": self.addresses[container]} for name in networks}},
        }

    def remove_container(self, container: str, **kwargs: Any) -> None:
        self.record("remove_container", container, **kwargs)
        if container not in self.made:
            raise docker.errors.NotFound(f"No such container: {container}")
        del self.made[container]

    def inspect_image(self, image: str) -> dict[str, Any]:
        self.record("inspect_image", image)
        if image not in self.images:
            raise docker.errors.ImageNotFound(f"No such image: {image}")
        return {"Id": image, "Created": self.image_created}

    def commit(self, container: str, **kwargs: Any) -> dict[str, str]:
        self.record("commit", container, **kwargs)
        self.images.add(f"{kwargs['repository']}:{kwargs['tag']}")
        return {"Id": "sha256:new"}

    def wait(self, container: str) -> dict[str, int]:
        self.record("wait", container)
        return {"StatusCode": self.exit_code}

    def logs(self, container: str) -> bytes:
        self.record("logs", container)
        return self.log_text

    def containers(self, **kwargs: Any) -> list[dict[str, Any]]:
        """The engine's list (docker ps --all --filter label=...), the fields the script reads."""
        self.record("containers", **kwargs)
        wanted = kwargs["filters"]["label"]
        return [
            {
                "Names": [f"/{name}"],
                "State": "running" if made.get("running", True) else "exited",
                "Created": made.get("created_epoch", 1_000),
                "Labels": made.get("labels") or {},
            }
            for name, made in self.made.items()
            if all(
                "=" in label and (made.get("labels") or {}).get(label.split("=")[0]) == label.split("=", 1)[1]
                for label in wanted
            )
        ]

    def remove_image(self, image: str) -> None:
        self.record("remove_image", image)
        self.images.discard(image)

    def close(self) -> None:
        pass


class Scontrol:
    """Stands in for the scontrol runner: records each argument vector; `show hostnames` expands a fixed table."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.failures: set[str] = set()  # argument vectors containing one of these fail
        self.states: dict[str, str] = {}  # `scontrol --oneliner show node`: node -> State
        self.reasons: dict[str, str] = {}

    def __call__(self, argv: list[str]) -> str:
        self.calls.append(list(argv))
        if any(failure in argv for failure in self.failures):
            raise slurm_power.ScontrolError(f"{' '.join(argv)}: exit 1: Invalid node name specified")
        if argv[:3] == ["scontrol", "show", "hostnames"]:
            return "\n".join(HOSTNAMES[argv[3]]) + "\n"
        if argv[:4] == ["scontrol", "--oneliner", "show", "node"]:
            lines = [f"NodeName={name} Arch=x86_64 State={state} Reason={self.reasons.get(name, '(null)')}"
                     for name, state in self.states.items() if len(argv) == 4 or argv[4] == name]  # fmt: skip
            return "\n".join(lines) + "\n"
        return ""


@pytest.fixture(autouse=True)
def no_journal(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """Keep the script's log lines out of this machine's journal; caplog sees them."""
    monkeypatch.setattr(slurm_power, "setup_logging", lambda stderr=False: None)
    caplog.set_level(logging.INFO, logger="hpcstack-power")


def config(**changes: Any) -> Any:
    """The parsed CONFIG, with top-level keys changed."""
    return slurm_power.parse_config({**json.loads(json.dumps(CONFIG)), **changes}, "/etc/slurm/hpcstack-power.json")


def power(client: FakeClient, scontrol: Scontrol, cfg: Any = None, claims: Any = None) -> Any:
    """A Power whose docker provider talks to client, and whose back-off sleep is recorded among the events."""

    def provider(cluster: str, group: Any) -> Any:
        return slurm_power.DockerProvider(cluster, group, client_factory=lambda settings: client)

    def sleep(seconds: float) -> None:
        scontrol.calls.append(["sleep", str(seconds)])

    return slurm_power.Power(cfg or config(), runner=scontrol, provider_factory=provider, sleep=sleep, claims=claims)


def messages(caplog: pytest.LogCaptureFixture, level: int = logging.INFO) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.levelno >= level]


# --- Configuration ----------------------------------------------------------------------------------------------------
def test_good_config_loads(tmp_path: Path) -> None:
    """The file the role writes: its groups, nodes and docker settings as given."""
    path = tmp_path / "power.json"
    path.write_text(json.dumps(CONFIG))
    cfg = slurm_power.load_config(str(path))

    assert cfg.cluster == "hpcstack"
    assert cfg.launch_backoff == 60
    (group,) = cfg.groups
    assert (group.name, group.provider, group.nodes) == ("cloud", "docker", ("hpc-burst01", "hpc-burst02"))
    assert group.settings["tls"] is None
    assert group.settings["capabilities"] == ["NET_ADMIN"]
    assert group.settings["etc_hosts"] == {"hpc-controller": "10.100.1.11"}


def test_plan_maps_nodes_to_groups() -> None:
    """plan(): each node once, in order, with its group; None for a node of no group."""
    cfg = config()
    planned = slurm_power.plan(cfg, ["hpc-burst02", "hpc-compute01", "hpc-burst02", "hpc-burst01"])
    assert list(planned) == ["hpc-burst02", "hpc-compute01", "hpc-burst01"]
    assert planned["hpc-burst01"] is cfg.groups[0]
    assert planned["hpc-compute01"] is None


def bad(path: Path, edit: Any) -> dict[str, Any]:
    data = json.loads(json.dumps(CONFIG))
    edit(data)
    path.write_text(json.dumps(data))
    return data


@pytest.mark.parametrize(
    ("edit", "key"),
    [
        (lambda d: d.pop("cluster"), "cluster: missing"),
        (lambda d: d.update(cluster=7), "cluster: must be a non-empty string"),
        (lambda d: d.update(launch_backoff="60"), "launch_backoff"),
        (lambda d: d.update(launch_backoff=True), "launch_backoff"),
        (lambda d: d.update(groups={"cloud": {}}), "groups: must be a list"),
        (lambda d: d["groups"][0].pop("nodes"), "groups[0].nodes: missing"),
        (lambda d: d["groups"][0].update(nodes="hpc-burst01"), "groups[0].nodes: must be a list"),
        (lambda d: d["groups"][0].update(provider="gcp"), "groups[0].provider"),
        (lambda d: d["groups"][0].update(provider="ec2"), "groups[0].ec2: missing"),
        (lambda d: d["groups"][0]["docker"].pop("image"), "groups[0].docker.image: missing"),
        (lambda d: d["groups"][0]["docker"].update(network=""), "groups[0].docker.network"),
        (lambda d: d["groups"][0]["docker"].update(capabilities="NET_ADMIN"), "groups[0].docker.capabilities"),
        (lambda d: d["groups"][0]["docker"].update(etc_hosts=["x"]), "groups[0].docker.etc_hosts"),
        (lambda d: d["groups"][0]["docker"].update(tls={"ca_cert": "/ca.pem"}), "groups[0].docker.tls.client_cert"),
        (lambda d: d["groups"][0].update(nodes=["hpc-burst01", "-rf"]), "groups[0].nodes[1]"),
        (lambda d: d["groups"][0].update(nodes=["hpc burst01"]), "groups[0].nodes[0]"),
        (lambda d: d["groups"][0].update(nodes=["a" * 65]), "groups[0].nodes[0]"),
        (lambda d: d["groups"].append(dict(d["groups"][0], name="more")), "groups[1].nodes[0]"),
        (lambda d: d.update(max_nodes=-1), "max_nodes: must be a non-negative whole number"),
        (lambda d: d.update(max_nodes="4"), "max_nodes"),
        (lambda d: d.update(max_nodes=True), "max_nodes"),
        (lambda d: d.update(state_dir="var/lib/x"), "state_dir: must be an absolute path"),
    ],
)
def test_bad_config_exits_2_naming_the_key(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, edit: Any, key: str
) -> None:
    """A malformed file stops the program with status 2 and a message naming the bad key."""
    path = tmp_path / "power.json"
    bad(path, edit)
    with pytest.raises(SystemExit) as exit_info:
        slurm_power.load_config(str(path))
    assert exit_info.value.code == 2
    assert any(key in message for message in messages(caplog, logging.ERROR)), messages(caplog)


@pytest.mark.parametrize("content", [None, "{not json", "[]"])
def test_unreadable_config_exits_2(tmp_path: Path, content: str | None) -> None:
    path = tmp_path / "power.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(SystemExit) as exit_info:
        slurm_power.load_config(str(path))
    assert exit_info.value.code == 2


def test_the_module_imports_without_docker(monkeypatch: pytest.MonkeyPatch) -> None:
    """docker is imported only to talk to an engine: without python3-docker the program still loads and fails
    the docker provider's work with a message."""
    monkeypatch.setitem(sys.modules, "docker", None)
    other = importlib.util.spec_from_file_location("slurm_power_without_docker", SCRIPT)
    module = importlib.util.module_from_spec(other)
    monkeypatch.setitem(sys.modules, "slurm_power_without_docker", module)
    other.loader.exec_module(module)
    with pytest.raises(module.ProviderError, match="python3-docker"):
        module.docker_module()


class RecordingAPIClient(requests.Session):
    """Stands in for docker.APIClient: a requests session (as APIClient is) that records its arguments and takes
    its TLS settings as APIClient does, without reaching an engine."""

    made: ClassVar[list[dict[str, Any]]] = []

    def __init__(self, **kwargs: Any) -> None:
        super().__init__()
        self.made.append(kwargs)
        if kwargs["tls"]:
            kwargs["tls"].configure_client(self)


@pytest.fixture
def tls_files(tmp_path: Path) -> dict[str, Any]:
    """A group's tls settings, with files that exist (TLSConfig checks that they do)."""
    paths = {name: tmp_path / f"{name}.pem" for name in ("ca_cert", "client_cert", "client_key")}
    for path in paths.values():
        path.write_text("PEM")
    return {name: str(path) for name, path in paths.items()} | {"verify": True}


def test_tls_engine_client(monkeypatch: pytest.MonkeyPatch, tls_files: dict[str, Any]) -> None:
    """An engine over tcp:// with tls: the client gets the CA, the client certificate and key, and verify."""
    monkeypatch.setattr(docker, "APIClient", RecordingAPIClient)
    monkeypatch.setattr(RecordingAPIClient, "made", [])
    tls = tls_files

    assert isinstance(slurm_power.docker_client({"engine": "tcp://engine.example:2376", "tls": tls}), docker.APIClient)
    (kwargs,) = RecordingAPIClient.made
    assert kwargs["base_url"] == "tcp://engine.example:2376"
    assert kwargs["tls"].cert == (tls["client_cert"], tls["client_key"])
    assert kwargs["tls"].ca_cert == tls["ca_cert"]
    assert kwargs["tls"].verify is True

    slurm_power.docker_client({"engine": "unix:///var/run/docker.sock", "tls": None})
    assert RecordingAPIClient.made[1]["tls"] is False


@pytest.mark.parametrize("verify", [True, False])
def test_tls_engine_client_ignores_the_environments_ca_bundle(
    monkeypatch: pytest.MonkeyPatch, tls_files: dict[str, Any], verify: bool
) -> None:
    """requests takes REQUESTS_CA_BUNDLE or CURL_CA_BUNDLE over a session's CA (docker/docker-py#2433): a site that
    sets one (its proxy's CA) would have the engine checked against it and every launch fail with "certificate verify
    failed" (found by tests/integration/test_power_docker_tls.py). The group's ca_cert, or verify false, holds."""
    monkeypatch.setattr(docker, "APIClient", RecordingAPIClient)
    monkeypatch.setattr(RecordingAPIClient, "made", [])
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/site-proxy.pem")
    monkeypatch.setenv("CURL_CA_BUNDLE", "/etc/ssl/certs/site-proxy.pem")
    client = slurm_power.docker_client({"engine": "tcp://engine.example:2376", "tls": tls_files | {"verify": verify}})

    merged = client.merge_environment_settings("https://engine.example:2376/version", {}, None, None, None)
    assert merged["verify"] == (tls_files["ca_cert"] if verify else False)
    # A request that says what to verify still decides.
    assert client.merge_environment_settings("https://engine.example:2376/", {}, None, "/ca.pem", None)["verify"] == (
        "/ca.pem"
    )


def wrapped_tls_error(reason: str, text: str) -> docker.errors.DockerException:
    """A TLS failure as docker-py and requests raise it: DockerException (the API version) from requests' SSLError
    from urllib3's MaxRetryError whose reason is urllib3's SSLError of the ssl.SSLError."""
    failure = ssl.SSLError(1, f"[SSL: {reason}] {text} (_ssl.c:2580)")
    try:
        try:
            raise requests.exceptions.SSLError(
                urllib3.exceptions.MaxRetryError(
                    urllib3.HTTPSConnectionPool("engine.example", 2376),
                    "/version",
                    urllib3.exceptions.SSLError(failure),
                )
            )
        except requests.exceptions.SSLError as exc:
            raise docker.errors.DockerException(f"Error while fetching server API version: {exc}")  # noqa: B904
    except docker.errors.DockerException as exc:
        return exc


def test_tls_failure_is_the_down_reason() -> None:
    """The engine refuses the client certificate: the node's DOWN reason names the TLS failure (OpenSSL's reason),
    not the start of the text that docker-py and requests wrap around it, which fills the 200 characters."""
    scontrol = Scontrol()
    failure = wrapped_tls_error("TLSV1_ALERT_UNKNOWN_CA", "tlsv1 alert unknown ca")
    engine = "engine unix:///var/run/docker.sock: "
    assert "UNKNOWN_CA" not in slurm_power.one_line(f"{engine}{failure}", slurm_power.REASON_LENGTH)  # as it was

    def provider(cluster: str, group: Any) -> Any:
        def refused(settings: dict[str, Any]) -> Any:
            raise failure

        return slurm_power.DockerProvider(cluster, group, client_factory=refused)

    run = slurm_power.Power(config(), runner=scontrol, provider_factory=provider, sleep=lambda seconds: None)
    assert run.resume(["hpc-burst01"]) == 1
    (down,) = [argv for argv in scontrol.calls if "state=DOWN" in argv]
    assert down[4] == (
        "reason=hpcstack-power: launch failed: engine unix:///var/run/docker.sock: "
        "TLS: [SSL: TLSV1_ALERT_UNKNOWN_CA] tlsv1 alert unknown ca"
    )


def test_tls_failure_of_a_later_step_names_the_step() -> None:
    """A TLS failure after the client was made (the engine's certificate expired between two calls) names the step."""
    client = FakeClient()
    client.failures["create_container"] = requests.exceptions.SSLError(
        urllib3.exceptions.MaxRetryError(
            urllib3.HTTPSConnectionPool("engine.example", 2376),
            "/containers/create",
            urllib3.exceptions.SSLError(
                ssl.SSLCertVerificationError(
                    1,
                    "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: certificate has expired (_ssl.c:1006)",
                )
            ),
        )
    )
    provider = slurm_power.DockerProvider("hpcstack", config().groups[0], client_factory=lambda settings: client)
    with pytest.raises(slurm_power.ProviderError) as raised:
        provider.resume("hpc-burst01")
    assert str(raised.value) == (
        "create container: TLS: [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: certificate has expired"
    )


# --- resume -----------------------------------------------------------------------------------------------------------
def test_resume_starts_the_container_and_gives_slurm_its_address(caplog: pytest.LogCaptureFixture) -> None:
    """The container is made as the cluster's node containers are (systemd, caps, cgroupns host, cgroup bind,
    tmpfs, hosts), labelled, on the group's network; slurmctld gets its address and host name."""
    client, scontrol = FakeClient(), Scontrol()
    assert power(client, scontrol).resume(["hpc-burst01"]) == 0

    ((host_args, host_kwargs),) = client.called("create_host_config")
    assert host_args == ()
    assert host_kwargs == {
        "cap_add": ["SYS_ADMIN", "SYS_NICE", "NET_ADMIN"],
        "security_opt": ["seccomp=unconfined", "apparmor=unconfined"],
        "binds": ["/sys/fs/cgroup:/sys/fs/cgroup:rw"],
        "tmpfs": {"/run": "", "/run/lock": "", "/tmp": ""},
        "extra_hosts": {"hpc-controller": "10.100.1.11"},
        "devices": ["/dev/fuse"],
        "network_mode": NETWORK,
    }
    (((image,), create),) = client.called("create_container")
    assert image == IMAGE
    assert create["name"] == create["hostname"] == "hpc-burst01"
    assert create["command"] == ["/lib/systemd/systemd"]
    assert create["stop_signal"] == "SIGRTMIN+3"
    assert create["host_config"] == {"made_by": "create_host_config", **host_kwargs, "CgroupnsMode": "host"}
    assert list(create["networking_config"]["EndpointsConfig"]) == [NETWORK]
    assert create["labels"] == {
        "org.hpcstack.owner": "hpcstack",
        "org.hpcstack.cluster": "hpcstack",
        "org.hpcstack.node": "hpc-burst01",
        "org.hpcstack.role": "",
        "org.hpcstack.elastic": "cloud",
    }
    assert client.made["hpc-burst01"]["running"]
    assert scontrol.calls == [
        ["scontrol", "update", "nodename=hpc-burst01", "nodeaddr=10.100.1.5", "nodehostname=hpc-burst01"]
    ]
    assert "resume hpc-burst01: container started at 10.100.1.5" in messages(caplog)


def test_resume_removes_a_leftover_first() -> None:
    """A container of the node's name left behind is removed (with its volumes) before the new one is made."""
    client, scontrol = FakeClient(), Scontrol()
    client.made["hpc-burst01"] = {"image": "old", "labels": {"org.hpcstack.elastic": "cloud"}}
    assert power(client, scontrol).resume(["hpc-burst01"]) == 0

    names = [name for name, _args, _kwargs in client.calls]
    assert names.index("remove_container") < names.index("create_container")
    assert client.called("remove_container")[0] == (("hpc-burst01",), {"force": True, "v": True})
    assert client.made["hpc-burst01"]["image"] == IMAGE


def test_resume_several_nodes() -> None:
    """Each node of the hostlist gets its own container and address."""
    client, scontrol = FakeClient(), Scontrol()
    assert power(client, scontrol).resume(["hpc-burst01", "hpc-burst02"]) == 0
    assert sorted(client.made) == ["hpc-burst01", "hpc-burst02"]
    assert sorted(call[3] for call in scontrol.calls) == ["nodeaddr=10.100.1.5", "nodeaddr=10.100.1.6"]


def test_node_in_no_group_is_not_touched(caplog: pytest.LogCaptureFixture) -> None:
    """A node the configuration does not name: an error, and nothing asked of the engine or slurmctld for it."""
    client, scontrol = FakeClient(), Scontrol()
    client.made["hpc-compute01"] = {"image": "static"}
    assert power(client, scontrol).resume(["hpc-compute01", "hpc-burst01"]) == 1

    assert all("hpc-compute01" not in args for _name, args, _kwargs in client.calls)
    assert all("nodename=hpc-compute01" not in argv for argv in scontrol.calls)
    assert "hpc-compute01" in client.made
    assert "hpc-burst01" in client.made
    assert any("hpc-compute01" in m and "no node group" in m for m in messages(caplog, logging.ERROR))


def test_failed_launch_sets_down_then_powers_down(caplog: pytest.LogCaptureFixture) -> None:
    """The image is missing: no container is left, the node is DOWN with the engine's message as its reason (Slurm
    requeues the job), and after the back-off it is powered down; the nodes that failed share one sleep."""
    client, scontrol = FakeClient(images=()), Scontrol()
    assert power(client, scontrol, config(launch_backoff=0)).resume(["hpc-burst01", "hpc-burst02"]) == 1

    assert client.made == {}
    downs = [argv for argv in scontrol.calls if "state=DOWN" in argv]
    assert sorted(argv[2] for argv in downs) == ["nodename=hpc-burst01", "nodename=hpc-burst02"]
    for argv in downs:
        assert argv[:2] == ["scontrol", "update"]
        assert argv[4].startswith("reason=hpcstack-power: launch failed: ")
        assert f"No such image: {IMAGE}" in argv[4]
    assert scontrol.calls[2:] == [
        ["sleep", "0"],
        ["scontrol", "update", "nodename=hpc-burst01", "state=POWER_DOWN"],
        ["scontrol", "update", "nodename=hpc-burst02", "state=POWER_DOWN"],
    ]
    assert any("resume hpc-burst01: launch failed" in m for m in messages(caplog, logging.ERROR))


def test_failed_start_removes_the_half_made_container() -> None:
    """The engine refuses to start the container: it is removed; the reason is one line of at most 200 characters
    without double quotes (it is scontrol's reason=)."""
    client, scontrol = FakeClient(), Scontrol()
    client.failures["start"] = docker.errors.APIError('error "gathering"\ndevice information ' + "x" * 300)
    assert power(client, scontrol).resume(["hpc-burst01"]) == 1

    assert client.made == {}
    assert [args for args, _kwargs in client.called("remove_container")] == [("hpc-burst01",)]
    (down,) = [argv for argv in scontrol.calls if "state=DOWN" in argv]
    reason = down[4].removeprefix("reason=hpcstack-power: launch failed: ")
    assert reason.startswith("start container: error 'gathering' device information x")
    assert len(reason) == 200
    assert '"' not in down[4]
    assert "\n" not in down[4]
    assert scontrol.calls[-2:] == [["sleep", "60"], ["scontrol", "update", "nodename=hpc-burst01", "state=POWER_DOWN"]]


def test_failed_scontrol_update_is_a_failed_launch() -> None:
    """slurmctld refusing the address counts as a failed launch: the container goes, the node goes DOWN."""
    client, scontrol = FakeClient(), Scontrol()
    scontrol.failures.add("nodeaddr=10.100.1.5")
    assert power(client, scontrol).resume(["hpc-burst01"]) == 1

    assert client.made == {}
    assert [argv[3] for argv in scontrol.calls if argv[0] == "scontrol"] == [
        "nodeaddr=10.100.1.5",
        "state=DOWN",
        "state=POWER_DOWN",
    ]


def test_unreachable_engine_is_a_failed_launch() -> None:
    """No engine behind the socket: the node goes DOWN naming the engine."""
    scontrol = Scontrol()

    def provider(cluster: str, group: Any) -> Any:
        def unreachable(settings: dict[str, Any]) -> Any:
            raise docker.errors.DockerException("Error while fetching server API version: Connection refused")

        return slurm_power.DockerProvider(cluster, group, client_factory=unreachable)

    run = slurm_power.Power(config(), runner=scontrol, provider_factory=provider, sleep=lambda seconds: None)
    assert run.resume(["hpc-burst01"]) == 1
    (down,) = [argv for argv in scontrol.calls if "state=DOWN" in argv]
    assert "engine unix:///var/run/docker.sock: Error while fetching server API version" in down[4]


# --- suspend, resume-fail ---------------------------------------------------------------------------------------------
def test_suspend_removes_the_container(caplog: pytest.LogCaptureFixture) -> None:
    client, scontrol = FakeClient(), Scontrol()
    client.made["hpc-burst01"] = {"image": IMAGE, "labels": {"org.hpcstack.elastic": "cloud"}}
    assert power(client, scontrol).suspend(["hpc-burst01", "hpc-burst02"]) == 0

    assert client.made == {}
    assert client.called("remove_container") == [(("hpc-burst01",), {"force": True, "v": True})]
    assert scontrol.calls == []
    assert "suspend hpc-burst01: container removed" in messages(caplog)
    assert "suspend hpc-burst02: no container" in messages(caplog)  # docker.errors.NotFound is fine


def test_a_container_that_is_not_an_elastic_node_is_never_removed() -> None:
    """A group that names a static node's container by mistake: resume and suspend leave it running."""
    client, scontrol = FakeClient(), Scontrol()
    client.made["hpc-burst01"] = {"image": "static", "labels": {"org.hpcstack.node": "hpc-burst01"}}
    assert power(client, scontrol).suspend(["hpc-burst01"]) == 1
    assert power(client, scontrol).resume(["hpc-burst01"]) == 1
    assert client.called("remove_container") == []
    assert client.made["hpc-burst01"]["image"] == "static"
    (down,) = [argv for argv in scontrol.calls if "state=DOWN" in argv]
    assert "has no org.hpcstack.elastic label: not ours, left alone" in down[-1]


def test_suspend_failure_is_reported() -> None:
    client, scontrol = FakeClient(), Scontrol()
    client.made["hpc-burst01"] = {"image": IMAGE, "labels": {"org.hpcstack.elastic": "cloud"}}
    client.failures["remove_container"] = docker.errors.APIError("removal of container hpc-burst01 is in progress")
    assert power(client, scontrol).suspend(["hpc-burst01"]) == 1


def test_resume_fail_removes_and_forces_power_down(caplog: pytest.LogCaptureFixture) -> None:
    """A node that did not register: its container goes and Slurm powers it down (POWER_DOWN_FORCE); warnings."""
    client, scontrol = FakeClient(), Scontrol()
    client.made["hpc-burst02"] = {"image": IMAGE, "labels": {"org.hpcstack.elastic": "cloud"}}
    assert power(client, scontrol).resume_fail(["hpc-burst02"]) == 0

    assert client.made == {}
    assert scontrol.calls == [["scontrol", "update", "nodename=hpc-burst02", "state=POWER_DOWN_FORCE"]]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "resume-fail hpc-burst02: container removed" in warnings


# --- command line -----------------------------------------------------------------------------------------------------
@pytest.fixture
def config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """CONFIG at the default path the links read."""
    path = tmp_path / "hpcstack-power.json"
    path.write_text(json.dumps(CONFIG))
    monkeypatch.setattr(slurm_power, "DEFAULT_CONFIG", str(path))
    return path


@pytest.fixture
def popen(monkeypatch: pytest.MonkeyPatch) -> list[tuple[list[str], dict[str, Any]]]:
    """Records the background starts instead of making them."""
    started: list[tuple[list[str], dict[str, Any]]] = []
    monkeypatch.setattr(slurm_power.subprocess, "Popen", lambda argv, **kwargs: started.append((argv, kwargs)))
    return started


@pytest.mark.parametrize(
    ("link", "action"),
    [("hpcstack-resume", "resume"), ("hpcstack-suspend", "suspend"), ("hpcstack-resume-fail", "resume-fail")],
)
def test_link_starts_the_work_in_the_background(
    config_file: Path, popen: list[tuple[list[str], dict[str, Any]]], link: str, action: str
) -> None:
    """What slurmctld runs returns at once: it expands the hostlist and starts itself with --foreground and the
    action of the link's name, in a session of its own, detached from slurmctld's pipes."""
    scontrol = Scontrol()
    assert slurm_power.main(["hpc-burst[01-02]"], program=f"/usr/local/sbin/{link}", runner=scontrol) == 0

    assert scontrol.calls == [["scontrol", "show", "hostnames", "hpc-burst[01-02]"]]
    ((argv, kwargs),) = popen
    assert argv == [
        sys.executable,
        str(SCRIPT),
        "--config",
        str(config_file),
        "--foreground",
        action,
        "hpc-burst[01-02]",
    ]
    assert kwargs["start_new_session"] is True
    assert kwargs["stdin"] == kwargs["stdout"] == kwargs["stderr"] == subprocess.DEVNULL


def test_link_takes_only_the_hostlist(config_file: Path, popen: list) -> None:
    with pytest.raises(SystemExit) as exit_info:
        slurm_power.main(["--foreground", "hpc-burst01"], program="hpcstack-suspend", runner=Scontrol())
    assert exit_info.value.code == 2
    assert popen == []


def test_bad_config_stops_before_the_background(config_file: Path, popen: list) -> None:
    """A malformed configuration is reported to slurmctld (exit 2) instead of failing unseen in the background."""
    config_file.write_text(json.dumps({"cluster": "hpcstack"}))
    with pytest.raises(SystemExit) as exit_info:
        slurm_power.main(["hpc-burst01"], program="hpcstack-resume", runner=Scontrol())
    assert exit_info.value.code == 2
    assert popen == []


def test_resume_file_job_ids_are_logged(
    config_file: Path,
    popen: list,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Slurm 24.11's SLURM_RESUME_FILE (deleted soon after) is read at once for the job ids it names."""
    resume_file = tmp_path / "resume.json"
    resume_file.write_text(
        json.dumps(
            {
                "all_nodes_resume": "hpc-burst[01-02]",
                "jobs": [
                    {"job_id": 12, "nodes_alloc": "hpc-burst01", "nodes_resume": "hpc-burst01", "partition": "cloud"},
                    {"job_id": 13, "nodes_alloc": "hpc-burst02", "nodes_resume": "hpc-burst02", "partition": "cloud"},
                ],
            }
        )
    )
    monkeypatch.setenv("SLURM_RESUME_FILE", str(resume_file))
    assert slurm_power.main(["hpc-burst[01-02]"], program="hpcstack-resume", runner=Scontrol()) == 0
    assert "resume hpc-burst[01-02]: for jobs 12, 13" in messages(caplog)
    assert len(popen) == 1


def test_resume_file_gone_is_only_a_warning(config_file: Path, popen: list, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLURM_RESUME_FILE", "/nonexistent/resume.json")
    assert slurm_power.main(["hpc-burst01"], program="hpcstack-resume", runner=Scontrol()) == 0
    assert len(popen) == 1


def test_foreground_does_the_work(config_file: Path, popen: list, monkeypatch: pytest.MonkeyPatch) -> None:
    """--foreground (what the background start runs): the action itself, through the group's engine."""
    client, scontrol = FakeClient(), Scontrol()
    client.made["hpc-burst01"] = {"image": IMAGE, "labels": {"org.hpcstack.elastic": "cloud"}}
    monkeypatch.setattr(slurm_power, "docker_client", lambda settings: client)
    argv = ["--config", str(config_file), "--foreground", "suspend", "hpc-burst01"]

    assert slurm_power.main(argv, program="hpcstack-power", runner=scontrol) == 0
    assert popen == []
    assert client.made == {}
    assert scontrol.calls == [["scontrol", "show", "hostnames", "hpc-burst01"]]


def test_foreground_leaves_other_nodes_alone(config_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    client, scontrol = FakeClient(), Scontrol()
    client.made["hpc-compute01"] = {"image": "static"}
    monkeypatch.setattr(slurm_power, "docker_client", lambda settings: client)
    argv = ["--foreground", "resume-fail", "hpc-burst01,hpc-compute01"]

    assert slurm_power.main(argv, program="slurm_power.py", runner=scontrol) == 1
    assert "hpc-compute01" in client.made
    assert scontrol.calls[1:] == [["scontrol", "update", "nodename=hpc-burst01", "state=POWER_DOWN_FORCE"]]


# --- bake -------------------------------------------------------------------------------------------------------------
def bake(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], client: FakeClient, *extra: str
) -> tuple[int, dict[str, Any]]:
    """Run the bake action as Ansible does; its exit status and its one JSON line."""
    monkeypatch.setattr(slurm_power, "docker_client", lambda settings: client)
    status = slurm_power.main(["bake", "--group", "cloud", "--from", "hpc-compute01", *extra], program="hpcstack-power")
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1, lines
    return status, json.loads(lines[0])


def test_bake_keeps_an_existing_image(
    config_file: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    client = FakeClient()
    client.made["hpc-compute01"] = {"image": "static"}  # made before the image
    assert bake(monkeypatch, capsys, client) == (0, {"changed": False, "image": IMAGE})
    assert client.called("commit") == []
    assert client.called("create_container") == []


def test_bake_remakes_an_image_older_than_its_source_container(
    config_file: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A new cluster's node (new munge key) is newer than the image an earlier cluster left: baked again."""
    client = FakeClient()
    client.made["hpc-compute01"] = {"image": "static", "created": "2026-12-01T12:00:00Z"}
    assert bake(monkeypatch, capsys, client) == (0, {"changed": True, "image": IMAGE})
    assert [args[0] for args, _kwargs in client.called("commit")] == ["hpc-compute01", "hpcstack-bake-hpcstack-cloud"]


def test_bake_makes_the_image(
    config_file: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The converged node is committed raw, cleaned in a container of that image (its name, spool, logs and
    machine-id dropped), committed with systemd as its command; the temporary container and raw image go."""
    client = FakeClient(images=())
    assert bake(monkeypatch, capsys, client) == (0, {"changed": True, "image": IMAGE})

    raw_commit, final_commit = client.called("commit")
    assert raw_commit == (("hpc-compute01",), {"repository": "hpcstack/node", "tag": "hpcstack-raw"})
    ((image,), create) = client.called("create_container")[0]
    assert image == "hpcstack/node:hpcstack-raw"
    assert create["command"] == ["sh", "-c", slurm_power.CLEAN]
    assert create["entrypoint"] == []
    scratch = create["name"]
    assert client.called("start") == [((scratch,), {})]
    assert client.called("wait") == [((scratch,), {})]
    assert final_commit == (
        (scratch,),
        {
            "repository": "hpcstack/node",
            "tag": "hpcstack",
            "changes": [
                'CMD ["/lib/systemd/systemd"]',
                'LABEL org.hpcstack.node="" org.hpcstack.role=""',
            ],
        },
    )
    assert client.made == {}
    assert client.images == {IMAGE}
    assert client.called("remove_image") == [(("hpcstack/node:hpcstack-raw",), {})]


def test_clean_script() -> None:
    """What the clean step runs on the raw image: slurmd's -N goes (it registers under the host name)."""
    assert f"sed -i -E '{slurm_power.SLURMD_OPTIONS_SED}' /etc/default/slurmd" in slurm_power.CLEAN
    assert "rm -rf /var/lib/slurm/slurmd/* /var/log/slurm/*" in slurm_power.CLEAN
    assert ": > /etc/machine-id" in slurm_power.CLEAN
    assert slurm_power.CLEAN.startswith("set -eu\n")


def test_bake_force_remakes_an_existing_image(
    config_file: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    client = FakeClient()
    assert bake(monkeypatch, capsys, client, "--force") == (0, {"changed": True, "image": IMAGE})
    assert len(client.called("commit")) == 2


def test_bake_fails_when_cleaning_fails(
    config_file: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The clean step exits non-zero: failed JSON with its output, exit 1, no final image, nothing left over."""
    client = FakeClient(images=())
    client.exit_code = 2
    client.log_text = b"sed: can't read /etc/default/slurmd: No such file or directory\n"
    status, result = bake(monkeypatch, capsys, client)

    assert status == 1
    assert result["failed"] is True
    assert "exited 2" in result["msg"]
    assert "can't read /etc/default/slurmd" in result["msg"]
    assert len(client.called("commit")) == 1
    assert client.images == set()
    assert client.made == {}


def test_bake_unknown_group(config_file: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setattr(slurm_power, "docker_client", lambda settings: FakeClient())
    status = slurm_power.main(["bake", "--group", "gpu", "--from", "hpc-compute01"], program="hpcstack-power")
    result = json.loads(capsys.readouterr().out)
    assert status == 1
    assert result["failed"] is True
    assert "gpu" in result["msg"]


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        ("hpcstack/node:hpcstack", ("hpcstack/node", "hpcstack")),
        ("hpcstack/node", ("hpcstack/node", "latest")),
        ("registry.example:5000/node", ("registry.example:5000/node", "latest")),
        ("registry.example:5000/node:v2", ("registry.example:5000/node", "v2")),
    ],
)
def test_split_image(image: str, expected: tuple[str, str]) -> None:
    assert slurm_power.split_image(image) == expected


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ('SLURMD_OPTIONS="--conf-server ctl:6817 -N hpc-compute01"', 'SLURMD_OPTIONS="-b --conf-server ctl:6817"'),
        ('SLURMD_OPTIONS="-N hpc-compute01"', 'SLURMD_OPTIONS="-b "'),
        ('SLURMD_OPTIONS="-b --conf-server ctl:6817"', 'SLURMD_OPTIONS="-b --conf-server ctl:6817"'),
    ],
)
def test_the_baked_slurmd_options_lose_the_node_name_and_report_the_start_as_boot(tmp_path: Path, before, after):
    """GNU sed, as the bake runs it on Debian's /etc/default/slurmd (comments kept)."""
    defaults = tmp_path / "slurmd"
    defaults.write_text(f"# Additional options\n{before}\n")
    subprocess.run(["sed", "-i", "-E", slurm_power.SLURMD_OPTIONS_SED, str(defaults)], check=True)
    assert defaults.read_text() == f"# Additional options\n{after}\n"


# --- reconcile -------------------------------------------------------------------------------------------------------
def elastic(node: str, running: bool = True, created: float = 1_000, cluster: str = "hpcstack") -> dict[str, Any]:
    labels = {"org.hpcstack.elastic": "cloud", "org.hpcstack.cluster": cluster, "org.hpcstack.node": node}
    return {"image": IMAGE, "labels": labels, "running": running, "created_epoch": created}


def test_reconcile_removes_containers_of_powered_down_nodes_once_older_than_the_grace(caplog):
    """A container Slurm did not ask for (its node powered down) is a leak: removed after orphan_grace (300 s)."""
    client, scontrol = FakeClient(), Scontrol()
    scontrol.states = {"hpc-burst01": "IDLE+CLOUD+POWERED_DOWN", "hpc-burst02": "IDLE+CLOUD+POWERED_DOWN"}
    client.made["hpc-burst01"] = elastic("hpc-burst01", created=1_000)  # 400 s old
    client.made["hpc-burst02"] = elastic("hpc-burst02", created=1_200)  # 200 s old: within the grace
    client.made["other-cluster"] = elastic("hpc-burst01", cluster="elsewhere")  # not this cluster's
    assert power(client, scontrol).reconcile(now=lambda: 1_400) == 0
    assert sorted(client.made) == ["hpc-burst02", "other-cluster"]
    assert "reconcile hpc-burst01: removed a container Slurm has not powered up" in messages(caplog)
    assert [argv for argv in scontrol.calls if "update" in argv] == []


def test_reconcile_leaves_starting_and_running_nodes_alone():
    client, scontrol = FakeClient(), Scontrol()
    scontrol.states = {"hpc-burst01": "MIXED+CLOUD", "hpc-burst02": "IDLE+CLOUD+POWERING_UP"}
    client.made["hpc-burst01"] = elastic("hpc-burst01")
    client.made["hpc-burst02"] = elastic("hpc-burst02")
    assert power(client, scontrol).reconcile(now=lambda: 10_000) == 0
    assert sorted(client.made) == ["hpc-burst01", "hpc-burst02"]
    assert [argv for argv in scontrol.calls if "update" in argv] == []


def test_reconcile_powers_down_a_powered_up_node_whose_container_vanished_or_stopped(caplog):
    client, scontrol = FakeClient(), Scontrol()
    scontrol.states = {"hpc-burst01": "IDLE+CLOUD+NOT_RESPONDING", "hpc-burst02": "ALLOCATED+CLOUD"}
    client.made["hpc-burst02"] = elastic("hpc-burst02", running=False)
    assert power(client, scontrol).reconcile(now=lambda: 1_100) == 0
    updates = [argv for argv in scontrol.calls if "update" in argv]
    assert sorted(updates) == [
        ["scontrol", "update", "nodename=hpc-burst01", "state=POWER_DOWN_FORCE"],
        ["scontrol", "update", "nodename=hpc-burst02", "state=POWER_DOWN_FORCE"],
    ]
    assert client.made == {}  # the stopped one removed too
    assert "reconcile hpc-burst01: Slurm has it powered up (IDLE+CLOUD+NOT_RESPONDING) but its container is gone" in (
        messages(caplog)
    )


def test_reconcile_leaves_a_failed_launch_to_its_back_off():
    client, scontrol = FakeClient(), Scontrol()
    scontrol.states = {"hpc-burst01": "DOWN+CLOUD", "hpc-burst02": "DOWN+CLOUD"}
    scontrol.reasons = {"hpc-burst01": "hpcstack-power: launch failed: No such image", "hpc-burst02": "admin"}
    assert power(client, scontrol).reconcile(now=lambda: 1_100) == 0
    assert [argv for argv in scontrol.calls if "update" in argv] == [
        ["scontrol", "update", "nodename=hpc-burst02", "state=POWER_DOWN_FORCE"]
    ]


def test_reconcile_reports_an_engine_it_cannot_reach(caplog):
    client, scontrol = FakeClient(), Scontrol()
    client.failures["containers"] = docker.errors.APIError("engine gone")
    assert power(client, scontrol).reconcile(now=lambda: 1_100) == 1
    assert any("reconcile cloud: list containers: engine gone" in line for line in messages(caplog))


def test_reconcile_is_an_action_without_arguments(config_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    client, scontrol = FakeClient(), Scontrol()
    monkeypatch.setattr(slurm_power, "docker_client", lambda settings: client)
    assert slurm_power.main(["--config", str(config_file), "reconcile"], program="hpcstack-power", runner=scontrol) == 0
    assert scontrol.calls == [["scontrol", "--oneliner", "show", "node"]]
    with pytest.raises(SystemExit):
        slurm_power.main(["--config", str(config_file), "reconcile", "hpc-burst01"], program="hpcstack-power")


# --- resume claims, max_nodes, nodes left powering up ---------------------------------------------------------------
class Starts(FakeClient):
    """A client that notes, when each container starts, which claim files the resume holds."""

    def __init__(self, state_dir: Path) -> None:
        super().__init__()
        self.state_dir = state_dir
        self.claimed: dict[str, str] = {}

    def start(self, container: str) -> None:
        super().start(container)
        path = self.state_dir / f"{container}.resume"
        self.claimed[container] = path.read_text().strip() if path.exists() else ""


def test_resume_claims_its_nodes_while_it_works_and_releases_them(tmp_path: Path) -> None:
    client, scontrol = Starts(tmp_path), Scontrol()
    assert power(client, scontrol, config(state_dir=str(tmp_path))).resume(["hpc-burst01", "hpc-burst02"]) == 0
    assert client.claimed == {"hpc-burst01": str(os.getpid()), "hpc-burst02": str(os.getpid())}
    assert list(tmp_path.iterdir()) == []


def test_a_later_resumes_claim_is_not_released(tmp_path: Path) -> None:
    claims = slurm_power.Claims(str(tmp_path))
    claims.claim(["hpc-burst01"], 111)
    claims.claim(["hpc-burst01"], 222)
    claims.release(["hpc-burst01"], 111)
    assert claims.holder("hpc-burst01") == 222
    claims.release(["hpc-burst01"], 222)
    assert claims.holder("hpc-burst01") is None


def test_a_claim_holds_only_while_its_process_runs_this_program(tmp_path: Path) -> None:
    claims = slurm_power.Claims(str(tmp_path))
    # A process whose command line names the program, as the background resume's does (python3 PROGRAM ...).
    program = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", str(SCRIPT)])
    deadline = time.monotonic() + 5
    while not Path(f"/proc/{program.pid}/cmdline").read_bytes() and time.monotonic() < deadline:
        time.sleep(0.01)  # the command line is readable once the exec is done
    try:
        claims.claim(["hpc-burst02"], program.pid)
        assert claims.held("hpc-burst02")
    finally:
        program.kill()
        program.wait()
    assert not claims.held("hpc-burst02")
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])  # not hpcstack-power
    try:
        claims.claim(["hpc-burst01"], child.pid)
        assert not claims.held("hpc-burst01")
    finally:
        child.kill()
        child.wait()
    claims.claim(["hpc-burst01"], child.pid)  # ended
    assert not claims.held("hpc-burst01")
    assert not claims.held("hpc-burst02")  # no claim


def test_max_nodes_refuses_the_nodes_beyond_it_as_a_failed_launch(caplog: pytest.LogCaptureFixture) -> None:
    """max_nodes 1 and both nodes asked for: the first starts; the second is DOWN with the reason (Slurm requeues
    its job) and powered down after the back-off, so that Slurm tries it again when there is room."""
    client, scontrol = FakeClient(), Scontrol()
    scontrol.states = {"hpc-burst01": "IDLE+CLOUD+POWERING_UP", "hpc-burst02": "IDLE+CLOUD+POWERING_UP"}
    cfg = config(max_nodes=1, launch_backoff=0)
    assert power(client, scontrol, cfg).resume(["hpc-burst01", "hpc-burst02"]) == 1
    assert sorted(client.made) == ["hpc-burst01"]
    updates = [argv for argv in scontrol.calls if argv[:2] in (["scontrol", "update"], ["sleep", "0"])]
    assert updates == [
        [
            "scontrol",
            "update",
            "nodename=hpc-burst02",
            "state=DOWN",
            "reason=hpcstack-power: launch refused: max_nodes (1) nodes are powered up",
        ],
        ["scontrol", "update", "nodename=hpc-burst01", "nodeaddr=10.100.1.5", "nodehostname=hpc-burst01"],
        ["sleep", "0"],
        ["scontrol", "update", "nodename=hpc-burst02", "state=POWER_DOWN"],
    ]
    assert "resume hpc-burst02: refused, max_nodes (1) nodes are powered up" in messages(caplog)


@pytest.mark.parametrize(
    ("other_state", "started"),
    [("ALLOCATED+CLOUD", []), ("IDLE+CLOUD+POWERING_DOWN", []), ("IDLE+CLOUD+POWERED_DOWN", ["hpc-burst01"])],
)
def test_max_nodes_counts_every_other_node_not_powered_down(other_state: str, started: list[str]) -> None:
    client, scontrol = FakeClient(), Scontrol()
    scontrol.states = {"hpc-burst01": "IDLE+CLOUD+POWERING_UP", "hpc-burst02": other_state}
    power(client, scontrol, config(max_nodes=1, launch_backoff=0)).resume(["hpc-burst01"])
    assert sorted(client.made) == started


def test_max_nodes_refuses_all_when_the_states_cannot_be_read() -> None:
    client, scontrol = FakeClient(), Scontrol()
    scontrol.failures = {"--oneliner"}
    assert power(client, scontrol, config(max_nodes=2, launch_backoff=0)).resume(["hpc-burst01"]) == 1
    assert client.made == {}


def test_no_max_nodes_reads_no_states() -> None:
    client, scontrol = FakeClient(), Scontrol()
    assert power(client, scontrol).resume(["hpc-burst01"]) == 0
    assert ["scontrol", "--oneliner", "show", "node"] not in scontrol.calls


def test_reconcile_powers_down_a_node_left_powering_up_with_no_resume_at_work(tmp_path: Path, caplog) -> None:
    """slurmctld restarted during a resume, which ended with it: the node would power up until ResumeTimeout. A node
    whose claim is held by a running resume, or that has its container, is left alone."""
    client, scontrol = FakeClient(), Scontrol()
    scontrol.states = {
        "hpc-burst01": "ALLOCATED+CLOUD+POWERING_UP",  # no container, no claim: stuck
        "hpc-burst02": "IDLE+CLOUD+POWERING_UP",  # claimed by this (running) process
    }
    claims = slurm_power.Claims(str(tmp_path), alive=lambda pid: pid == os.getpid())
    claims.claim(["hpc-burst02"], os.getpid())
    cfg = config(state_dir=str(tmp_path))
    assert power(client, scontrol, cfg, claims).reconcile(now=lambda: 1_100) == 0
    assert [argv for argv in scontrol.calls if argv[:2] in (["scontrol", "update"], ["sleep", "5"])] == [
        ["sleep", "5"],
        ["scontrol", "update", "nodename=hpc-burst01", "state=POWER_DOWN_FORCE"],
    ]
    assert (
        "reconcile hpc-burst01: powering up (ALLOCATED+CLOUD+POWERING_UP) with no instance and no resume at work"
        in messages(caplog)
    )


def test_reconcile_leaves_a_node_its_resume_claims_during_the_wait(tmp_path: Path) -> None:
    """slurmctld sets POWERING_UP before it runs the ResumeProgram: a claim made within the wait counts."""
    client, scontrol = FakeClient(), Scontrol()
    scontrol.states = {"hpc-burst01": "IDLE+CLOUD+POWERING_UP", "hpc-burst02": "IDLE+CLOUD+POWERED_DOWN"}
    claims = slurm_power.Claims(str(tmp_path), alive=lambda pid: pid == 4242)

    def sleep(seconds: float) -> None:
        claims.claim(["hpc-burst01"], 4242)

    reconciler = slurm_power.Power(
        config(state_dir=str(tmp_path)),
        runner=scontrol,
        provider_factory=lambda cluster, group: slurm_power.DockerProvider(cluster, group, lambda settings: client),
        sleep=sleep,
        claims=claims,
    )
    assert reconciler.reconcile(now=lambda: 1_100) == 0
    assert [argv for argv in scontrol.calls if "update" in argv] == []


def test_reconcile_without_a_claims_directory_resets_nothing(tmp_path: Path, caplog) -> None:
    client, scontrol = FakeClient(), Scontrol()
    scontrol.states = {"hpc-burst01": "IDLE+CLOUD+POWERING_UP"}
    assert power(client, scontrol, config(state_dir=str(tmp_path / "none"))).reconcile(now=lambda: 1_100) == 0
    assert [argv for argv in scontrol.calls if "update" in argv] == []
    assert any("no claims directory" in line for line in messages(caplog, logging.WARNING))


def test_reconcile_leaves_a_refused_launch_to_its_back_off() -> None:
    client, scontrol = FakeClient(), Scontrol()
    scontrol.states = {"hpc-burst01": "DOWN+CLOUD"}
    scontrol.reasons = {"hpc-burst01": "hpcstack-power: launch refused: max_nodes (1) nodes are powered up"}
    assert power(client, scontrol).reconcile(now=lambda: 1_100) == 0
    assert [argv for argv in scontrol.calls if "update" in argv] == []


def test_reconcile_adds_what_it_did_to_its_counters(tmp_path: Path) -> None:
    """The counters the Slurm metrics collector exports: totals over the runs, and when it last ran."""
    client, scontrol = FakeClient(), Scontrol()
    scontrol.states = {"hpc-burst01": "IDLE+CLOUD+POWERED_DOWN", "hpc-burst02": "ALLOCATED+CLOUD"}
    client.made["hpc-burst01"] = elastic("hpc-burst01", created=1_000)  # a leak: removed
    cfg = config(state_dir=str(tmp_path))
    assert power(client, scontrol, cfg).reconcile(now=lambda: 1_400) == 0  # and hpc-burst02 has no container
    counters = tmp_path / "reconcile.json"
    assert json.loads(counters.read_text()) == {"removed": 1, "powered_down": 1, "reset": 0, "last_run": 1_400}
    assert counters.stat().st_mode & 0o777 == 0o644
    scontrol.states = {"hpc-burst01": "IDLE+CLOUD+POWERED_DOWN", "hpc-burst02": "IDLE+CLOUD+POWERED_DOWN"}
    assert power(client, scontrol, cfg).reconcile(now=lambda: 1_460) == 0
    assert json.loads(counters.read_text()) == {"removed": 1, "powered_down": 1, "reset": 0, "last_run": 1_460}
    assert sorted(path.name for path in tmp_path.iterdir()) == ["reconcile.json"]
