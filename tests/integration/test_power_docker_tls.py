"""The docker provider of the elastic-node power programs against a Docker engine over TLS (a site's engine).

roles/slurm_controller/files/slurm_power.py reaches a group's engine at `tcp://HOST:PORT` with `tls` (ca_cert,
client_cert, client_key, verify), as dockerd --tlsverify expects. Here the local engine (/var/run/docker.sock) is put
behind a TLS-terminating proxy on 127.0.0.1 that, like dockerd --tlsverify, requires a client certificate signed by
its CA; the certificates are made by the test (a throw-away CA, a server certificate for 127.0.0.1, client
certificates of that CA and of another one). The real provider code resumes a node through the proxy, lists and
removes it, and is refused (a one-line ProviderError naming the TLS failure: the node's DOWN reason in Slurm) without
a client certificate, with one of another CA and where the engine's certificate is not of the configured CA. The
environment's CA bundle for requests (REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE) neither replaces nor loosens the group's CA;
verify false skips the engine's certificate only. Works with docker-py 5.0.3 (Debian 12's python3-docker) and 7.x.

Everything the test makes (the network, the node container, the files, the proxy) is removed when it ends, also on
failure. Run: pytest -p no:cacheprovider tests/integration/test_power_docker_tls.py
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import importlib.util
import ipaddress
import re
import secrets
import ssl
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import docker.errors
import docker.tls
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "roles/slurm_controller/files/slurm_power.py"
if "slurm_power" in sys.modules:  # loaded by the unit tests in the same session
    slurm_power = sys.modules["slurm_power"]
else:
    _spec = importlib.util.spec_from_file_location("slurm_power", SCRIPT)
    slurm_power = importlib.util.module_from_spec(_spec)
    sys.modules["slurm_power"] = slurm_power
    _spec.loader.exec_module(slurm_power)

SOCKET = "/var/run/docker.sock"
IMAGE = "hpcstack/debian:bookworm"  # made by `make images` (tools/build-images.sh); has /lib/systemd/systemd
RUN = secrets.token_hex(3)
CLUSTER = f"tlstest{RUN}"
GROUP = "tls"
NODE = f"hpc-tlsburst-{RUN}"
HANDSHAKE_TIMEOUT = 10
# requests' CA bundle variables, which must not replace a group's CA.
CA_BUNDLE_VARIABLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")
# What names a TLS failure in a message (OpenSSL's reason, or the alert the engine sent).
TLS_FAILURE = re.compile(r"SSL|TLS|certificate|alert", re.IGNORECASE)

pytestmark = pytest.mark.skipif(not Path(SOCKET).exists(), reason=f"no Docker engine at {SOCKET}")


# --- Certificates -----------------------------------------------------------------------------------------------------
@dataclass
class Pki:
    """The PEM files of the test: the CA, the engine's (server) certificate, a client certificate of the CA, and a CA
    and client certificate that the engine does not trust."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    other_ca: Path
    other_cert: Path
    other_key: Path

    def private_keys(self) -> list[str]:
        """The private keys' PEM text, which no message may show."""
        return [path.read_text() for path in (self.server_key, self.client_key, self.other_key)]

    def tls(self, **changes: Any) -> dict[str, Any]:
        """The group's tls settings (those of the docker CLI's ~/.docker: ca.pem, cert.pem, key.pem)."""
        settings = {"ca_cert": str(self.ca), "client_cert": str(self.client_cert), "client_key": str(self.client_key)}
        return settings | {"verify": True} | changes


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write(path: Path, certificate: x509.Certificate, key: ec.EllipticCurvePrivateKey | None = None) -> None:
    path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    if key is not None:
        key_path = path.with_name(path.name.replace("cert", "key"))
        key_path.touch(mode=0o600)
        key_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )


def _certificate(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None = None,
    usage: x509.ObjectIdentifier | None = None,
    addresses: tuple[str, ...] = (),
) -> x509.Certificate:
    """A CA certificate (no issuer: self-signed) or a leaf of issuer for usage (server or client authentication)."""
    now = datetime.datetime.now(datetime.UTC)
    issuer_name, signing_key = (issuer[0].subject, issuer[1]) if issuer else (_name(subject), key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=0 if issuer is None else None), True)
    )
    unused = ("content_commitment", "key_encipherment", "data_encipherment", "key_agreement", "encipher_only")
    usages = dict.fromkeys((*unused, "decipher_only"), False)
    if issuer is None:
        builder = builder.add_extension(
            x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, **usages), critical=True
        )
    else:
        builder = (
            builder.add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer[1].public_key()), critical=False
            )
            .add_extension(
                x509.KeyUsage(digital_signature=True, key_cert_sign=False, crl_sign=False, **usages), critical=True
            )
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        )
        if addresses:
            names = [x509.IPAddress(ipaddress.ip_address(address)) for address in addresses]
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(signing_key, hashes.SHA256())


@pytest.fixture(scope="module")
def scratch() -> Iterator[Path]:
    """The module's files (certificates and keys, the power programs' state directory), removed when it ends."""
    with tempfile.TemporaryDirectory(prefix="hpcstack-tlstest-") as directory:
        yield Path(directory)


@pytest.fixture(scope="module")
def pki(scratch: Path) -> Pki:
    """A throw-away CA with a server certificate for 127.0.0.1 and a client certificate; another CA with a client
    certificate. EC P-256 keys (fast to make)."""
    directory = scratch / "pki"
    directory.mkdir()
    cas = {}
    for label in ("ca", "other-ca"):
        key = ec.generate_private_key(ec.SECP256R1())
        cas[label] = (_certificate(f"hpcstack test {label} {RUN}", key), key)
        _write(directory / f"{label}.pem", cas[label][0])
    leaves = {
        "server-cert.pem": ("ca", ExtendedKeyUsageOID.SERVER_AUTH, ("127.0.0.1",)),
        "cert.pem": ("ca", ExtendedKeyUsageOID.CLIENT_AUTH, ()),
        "other-cert.pem": ("other-ca", ExtendedKeyUsageOID.CLIENT_AUTH, ()),
    }
    for file, (ca, usage, addresses) in leaves.items():
        key = ec.generate_private_key(ec.SECP256R1())
        _write(directory / file, _certificate(file.removesuffix(".pem"), key, cas[ca], usage, addresses), key)
    return Pki(
        ca=directory / "ca.pem",
        server_cert=directory / "server-cert.pem",
        server_key=directory / "server-key.pem",
        client_cert=directory / "cert.pem",
        client_key=directory / "key.pem",
        other_ca=directory / "other-ca.pem",
        other_cert=directory / "other-cert.pem",
        other_key=directory / "other-key.pem",
    )


# --- The TLS engine ---------------------------------------------------------------------------------------------------
class TlsProxy:
    """A TLS endpoint on 127.0.0.1 (a free port) in front of the local engine's unix socket, as dockerd --tlsverify:
    the handshake requires a client certificate signed by the context's CA, and a refused client gets the TLS alert
    (the TLS is done on memory buffers, so that the alert is sent: asyncio's own TLS closes without it). A connection
    that passes is a plain byte pump to the socket in both directions (HTTP, keep-alive, streams and hijacked
    connections alike), until either side ends it. An asyncio loop in its own thread, started and stopped by this
    handle."""

    def __init__(self, context: ssl.SSLContext, target: str) -> None:
        self.context = context
        self.target = target
        self.port = 0
        self.accepted = 0  # connections that passed the handshake
        self.refused: list[str] = []  # why the others did not
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="tls-proxy", daemon=True)
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        self._thread.start()
        made = asyncio.run_coroutine_threadsafe(asyncio.start_server(self._handle, "127.0.0.1", 0), self._loop)
        self._server = made.result(10)
        self.port = self._server.sockets[0].getsockname()[1]

    def stop(self) -> None:
        async def shutdown() -> None:
            if self._server is not None:
                self._server.close()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)

        if self._thread.is_alive():
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(10)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
        if not self._thread.is_alive():
            self._loop.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = self.context.wrap_bio(incoming, outgoing, server_side=True)
        engine: asyncio.StreamWriter | None = None

        async def flush() -> None:
            """Send what the TLS object wrote (handshake messages, alerts, records)."""
            if data := outgoing.read():
                writer.write(data)
                await writer.drain()

        async def feed() -> None:
            """Give the TLS object the client's next bytes (the end, where the client closed)."""
            data = await reader.read(65536)
            if data:
                incoming.write(data)
            else:
                incoming.write_eof()

        async def client_to_engine(engine_writer: asyncio.StreamWriter) -> None:
            while True:
                try:
                    data = tls.read(65536)
                except ssl.SSLWantReadError:
                    await flush()
                    await feed()
                    continue
                except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                    data = b""
                if not data:
                    break
                engine_writer.write(data)
                await engine_writer.drain()
            with contextlib.suppress(OSError):
                engine_writer.write_eof()  # the client is done; the engine may still answer

        async def engine_to_client(engine_reader: asyncio.StreamReader) -> None:
            while data := await engine_reader.read(65536):
                tls.write(data)
                await flush()
            with contextlib.suppress(ssl.SSLError):
                tls.unwrap()  # close_notify
            await flush()

        try:
            try:
                async with asyncio.timeout(HANDSHAKE_TIMEOUT):
                    while True:
                        try:
                            tls.do_handshake()
                            break
                        except ssl.SSLWantReadError:
                            await flush()
                            await feed()
            except (OSError, TimeoutError) as exc:  # ssl.SSLError is an OSError
                self.refused.append(f"{type(exc).__name__}: {exc}")
                with contextlib.suppress(OSError):
                    await flush()  # the alert that says why
                return
            await flush()
            self.accepted += 1
            engine_reader, engine = await asyncio.open_unix_connection(self.target)
            pumps = [
                asyncio.ensure_future(client_to_engine(engine)),
                asyncio.ensure_future(engine_to_client(engine_reader)),
            ]
            try:
                await asyncio.wait(pumps, return_when=asyncio.FIRST_EXCEPTION)
            finally:
                writer.close()
                engine.close()
                for pump in pumps:
                    pump.cancel()
                await asyncio.gather(*pumps, return_exceptions=True)
        finally:
            writer.close()
            if engine is not None:
                engine.close()
            self._tasks.discard(task)


@pytest.fixture(scope="module")
def engine(pki: Pki) -> Iterator[TlsProxy]:
    """The local engine over TLS, with client certificates required (the proxy is stopped when the module ends)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_cert_chain(pki.server_cert, pki.server_key)
    context.load_verify_locations(cafile=pki.ca)
    proxy = TlsProxy(context, SOCKET)
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.stop()


# --- The local engine: what the test makes and checks -----------------------------------------------------------------
@pytest.fixture(scope="module")
def local() -> Iterator[Any]:
    """A client of the local engine through its socket (not through the proxy): to check and clean up."""
    try:
        client = docker.APIClient(base_url=f"unix://{SOCKET}", version="auto", timeout=60)
    except docker.errors.DockerException as exc:
        pytest.skip(f"the Docker engine at {SOCKET} does not answer: {exc}")
    try:
        client.inspect_image(IMAGE)
    except docker.errors.ImageNotFound:
        client.close()
        pytest.skip(f"image {IMAGE} is missing (make images)")
    yield client
    client.close()


def ours(local: Any) -> list[dict[str, Any]]:
    """The containers of the test's cluster, on the local engine."""
    return local.containers(all=True, filters={"label": f"org.hpcstack.cluster={CLUSTER}"})


def remove_ours(local: Any) -> None:
    for container in ours(local):
        with contextlib.suppress(docker.errors.NotFound):
            local.remove_container(container["Id"], force=True, v=True)


@pytest.fixture(scope="module")
def module_network(local: Any) -> Iterator[str]:
    """A throw-away bridge network for the node, removed (after the test's containers) when the module ends."""
    name = f"hpcstack-tlstest-{RUN}"
    local.create_network(name, driver="bridge", labels={"org.hpcstack.test": "test_power_docker_tls"})
    try:
        yield name
    finally:
        remove_ours(local)
        local.remove_network(name)


@pytest.fixture
def network(local: Any, module_network: str) -> Iterator[str]:
    """The module's network; the test's containers are removed after each test, whatever its outcome."""
    try:
        yield module_network
    finally:
        remove_ours(local)


def config(port: int, network: str, tls: dict[str, Any] | None, scratch: Path) -> Any:
    """The power programs' configuration of one docker group on the TLS engine (as the role writes it)."""
    group = {
        "name": GROUP,
        "provider": "docker",
        "nodes": [NODE],
        "docker": {"engine": f"tcp://127.0.0.1:{port}", "tls": tls, "image": IMAGE, "network": network},
    }
    state_dir = scratch / "state"
    state_dir.mkdir(exist_ok=True)
    data = {"cluster": CLUSTER, "launch_backoff": 0, "state_dir": str(state_dir), "groups": [group]}
    return slurm_power.parse_config(data, path="(test)")


# --- Tests ------------------------------------------------------------------------------------------------------------
def test_resume_list_remove_over_tls(
    engine: TlsProxy, pki: Pki, local: Any, network: str, scratch: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the CA and a client certificate of it, the provider starts the node's container on the TLS engine (the
    cluster's node-container settings and labels, on the group's network), lists it and removes it. The group's CA
    holds even where the environment names another bundle for requests (a site's proxy CA in /etc/environment)."""
    for variable in CA_BUNDLE_VARIABLES:
        monkeypatch.setenv(variable, str(pki.other_ca))
    cfg = config(engine.port, network, pki.tls(), scratch)
    provider = slurm_power.make_provider(cfg.cluster, cfg.groups[0])
    accepted = engine.accepted

    address = provider.resume(NODE)

    assert engine.accepted > accepted, "the provider's requests did not go through the TLS engine"
    assert not engine.refused, engine.refused
    info = local.inspect_container(NODE)
    assert info["Config"]["Labels"].items() >= provider.labels(NODE).items()  # and the image's own
    assert info["Config"]["Image"] == IMAGE
    assert info["Config"]["Hostname"] == NODE
    assert info["State"]["Status"] == "running", info["State"]
    assert info["NetworkSettings"]["Networks"][network]["IPAddress"] == address
    assert ipaddress.ip_address(address) in ipaddress.ip_network(
        local.inspect_network(network)["IPAM"]["Config"][0]["Subnet"]
    )
    assert set(slurm_power.NODE_CAPABILITIES) <= set(info["HostConfig"]["CapAdd"])

    assert [(item.node, item.running) for item in provider.instances()] == [(NODE, True)]

    assert provider.remove(NODE) is True
    with pytest.raises(docker.errors.NotFound):
        local.inspect_container(NODE)
    assert provider.remove(NODE) is False
    assert provider.instances() == []
    assert not engine.refused, engine.refused


def _without_client_certificate(pki: Pki) -> Any:
    """A client factory as docker_client, with the CA and no client certificate (the settings cannot leave it out)."""

    def factory(settings: dict[str, Any]) -> Any:
        tls = docker.tls.TLSConfig(ca_cert=str(pki.ca), verify=True)
        return docker.APIClient(base_url=settings["engine"], tls=tls, version="auto", timeout=30)

    return factory


@pytest.mark.parametrize(
    ("case", "failure"),
    [
        # No certificate: the engine's alert (TLS 1.3: certificate required; TLS 1.2, docker-py 5: handshake failure).
        pytest.param(
            "no client certificate",
            re.compile(r"certificate.required|handshake.failure", re.IGNORECASE),
            id="no-client-certificate",
        ),
        # A certificate of another CA: the engine's alert.
        pytest.param(
            "client certificate of another CA", re.compile(r"unknown.ca", re.IGNORECASE), id="client-cert-other-ca"
        ),
        # The engine's certificate is not of the configured CA: the client's own check.
        pytest.param(
            "engine certificate of another CA",
            re.compile(r"certificate.verify.failed", re.IGNORECASE),
            id="engine-cert-other-ca",
        ),
    ],
)
def test_refused(
    case: str,
    failure: re.Pattern[str],
    engine: TlsProxy,
    pki: Pki,
    local: Any,
    network: str,
    scratch: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A client the engine refuses, or an engine the client refuses: ProviderError with one line naming the TLS failure
    (also what Slurm gets as the node's DOWN reason), no key material in it, and no container made. A CA bundle of the
    environment that would trust the engine does not loosen the group's CA."""
    for variable in CA_BUNDLE_VARIABLES:
        monkeypatch.setenv(variable, str(pki.ca))
    factory = None
    tls = pki.tls()
    if case == "no client certificate":
        factory = _without_client_certificate(pki)
    elif case == "client certificate of another CA":
        tls = pki.tls(client_cert=str(pki.other_cert), client_key=str(pki.other_key))
    else:
        tls = pki.tls(ca_cert=str(pki.other_ca))
    cfg = config(engine.port, network, tls, scratch)
    provider = slurm_power.DockerProvider(cfg.cluster, cfg.groups[0], client_factory=factory)
    accepted, refused = engine.accepted, len(engine.refused)

    with pytest.raises(slurm_power.ProviderError) as raised:
        provider.resume(NODE)
    message = str(raised.value)
    print(f"{case}: ProviderError: {message}")

    # The TLS handshake failed (not some other step), and no request passed.
    if case != "engine certificate of another CA":  # there the client ends the handshake (and may raise first)
        assert len(engine.refused) > refused
    assert engine.accepted == accepted
    assert message.startswith(f"engine tcp://127.0.0.1:{engine.port}: TLS: "), message
    assert "\n" not in message
    assert TLS_FAILURE.search(message), message
    assert failure.search(message), message
    for key in pki.private_keys():
        body = [line for line in key.splitlines() if line and not line.startswith("-----")]
        assert not any(line in message for line in body), "key material in the message"
    assert "PRIVATE KEY" not in message
    assert ours(local) == []

    # What Slurm shows: the resume sets the node DOWN with the launch failure as its reason.
    updates: list[list[str]] = []
    power = slurm_power.Power(
        cfg,
        runner=lambda argv: updates.append(argv) or "",
        provider_factory=lambda cluster, group: provider,
        sleep=lambda seconds: None,
        claims=slurm_power.Claims(cfg.state_dir),
    )
    assert power.resume([NODE]) == 1
    down = [argv for argv in updates if "state=DOWN" in argv]
    assert len(down) == 1, updates
    reason = next(arg for arg in down[0] if arg.startswith("reason=")).removeprefix("reason=")
    print(f"{case}: DOWN reason: {reason}")
    assert failure.search(reason), f"the DOWN reason does not name the TLS failure: {reason}"
    assert "PRIVATE KEY" not in reason
    assert ["scontrol", "update", f"nodename={NODE}", "state=POWER_DOWN"] in updates
    assert ours(local) == []


@pytest.mark.filterwarnings("ignore:Unverified HTTPS request")
def test_verify_false_skips_the_engine_check(
    engine: TlsProxy, pki: Pki, local: Any, network: str, scratch: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """tls.verify false: the engine's certificate is not checked (here the group's CA is another one, and so is the
    environment's bundle), the client certificate is still sent and required."""
    for variable in CA_BUNDLE_VARIABLES:
        monkeypatch.setenv(variable, str(pki.other_ca))
    cfg = config(engine.port, network, pki.tls(ca_cert=str(pki.other_ca), verify=False), scratch)
    provider = slurm_power.make_provider(cfg.cluster, cfg.groups[0])
    accepted, refused = engine.accepted, len(engine.refused)

    assert provider.instances() == []
    assert engine.accepted > accepted
    assert len(engine.refused) == refused
