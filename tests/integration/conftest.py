"""Fixtures of the integration tests: a moto EC2 server on 127.0.0.1 and the local Docker engine.

The moto server is started by the test session and stopped by its process id when the session ends; nothing
leaves this machine. AWS credentials in the environment are fake ones that moto accepts.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class MotoServer:
    """A moto server process of our own on 127.0.0.1."""

    def __init__(self, log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        server = shutil.which("moto_server", path=str(Path(sys.executable).parent)) or "moto_server"
        self._log = log.open("w")
        self.process = subprocess.Popen(
            [server, "-H", "127.0.0.1", "-p", str(self.port)], stdout=self._log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/moto-api/", timeout=2):
                    break
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    pytest.fail(f"moto server did not start on {self.url}; see {log}")
                time.sleep(0.2)

    def reset(self) -> None:
        """Forget every resource (moto's reset API), so each test starts from an empty account."""
        request = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=10):
            pass

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


@pytest.fixture
def unused_port() -> int:
    """A TCP port on 127.0.0.1 with nothing listening: an endpoint that cannot be reached."""
    return free_port()


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
    server = MotoServer(tmp_path_factory.mktemp("moto") / "moto.log")
    yield server
    server.stop()


@pytest.fixture
def moto(moto_server: MotoServer) -> MotoServer:
    """The session's moto server, emptied before the test."""
    moto_server.reset()
    return moto_server
