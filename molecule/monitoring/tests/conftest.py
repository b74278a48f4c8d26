"""Fixtures of the monitoring scenario: the Prometheus of the scenario, asked through its HTTP API.

Prometheus listens inside the monitoring container; the requests are made there (python3's urllib through
`docker exec`), so the tests need no published port.
"""

from __future__ import annotations

import json
import os
import urllib.parse
from collections.abc import Callable

import pytest

# Prints the JSON answer of a GET on Prometheus' API made on the monitoring host itself.
API_GET = """
import sys, urllib.error, urllib.request
try:
    with urllib.request.urlopen(sys.argv[1], timeout=15) as response:
        print(response.read().decode())
except urllib.error.HTTPError as error:
    print(error.read().decode())
"""


@pytest.fixture(scope="session")
def monitoring_host(group_hosts: Callable[[str], list[str]]) -> str:
    """The inventory name of the host that runs Prometheus and Grafana."""
    hosts = group_hosts("monitoring")
    assert len(hosts) == 1, f"the scenario has one monitoring host, not {hosts}"
    return hosts[0]


@pytest.fixture(scope="session")
def grafana_admin_password() -> str:
    """Grafana's administrator password: the scenario makes it up in its ephemeral directory (molecule.yml)."""
    directory = os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "")
    assert directory, "MOLECULE_EPHEMERAL_DIRECTORY is not set: run these tests through molecule verify"
    with open(os.path.join(directory, "grafana_admin_password"), encoding="utf-8") as secret:
        return secret.read().split()[0]


@pytest.fixture(scope="session")
def prometheus_api(node: Callable, monitoring_host: str) -> Callable[..., dict]:
    """Return a function GETting /api/v1/<path> with query parameters; it returns `data`, failing on an error."""
    host = node(monitoring_host)

    def get(path: str, **params: str) -> dict:
        url = f"http://127.0.0.1:9090/api/v1/{path}?{urllib.parse.urlencode(params)}"
        answer = json.loads(host.check_output(f"python3 -c {_quote(API_GET)} {_quote(url)}"))
        assert answer.get("status") == "success", f"Prometheus answered {answer} to {path} {params}"
        return answer["data"]

    return get


@pytest.fixture(scope="session")
def promql(prometheus_api: Callable[..., dict]) -> Callable[[str], list[dict]]:
    """Return a function running an instant PromQL query; it returns the result vector."""

    def query(expr: str) -> list[dict]:
        return prometheus_api("query", query=expr)["result"]

    return query


@pytest.fixture(scope="session")
def wait_for_query(
    promql: Callable[[str], list[dict]], wait_for: Callable[..., list[dict]]
) -> Callable[..., list[dict]]:
    """Return a function polling a query until `accept(result)` holds; it returns the result or fails the test."""

    def wait(expr: str, accept: Callable[[list[dict]], bool], timeout: float = 90, what: str = "") -> list[dict]:
        return wait_for(lambda: promql(expr), accept, timeout, what or expr)

    return wait


def _quote(text: str) -> str:
    """Single-quote text for the shell."""
    return "'" + text.replace("'", "'\\''") + "'"
