"""Grafana on the monitoring host: its provisioning points at the scenario's live Prometheus, grafana.ini is private
and locked down, and every query of every dashboard returns data from that Prometheus. Where Grafana itself is
installed, its API serves the provisioned data source and dashboards to the administrator only.

The dashboards are read from the repository (roles/grafana/files/dashboards) and compared with what the role put
on the host; their queries run through the `promql` fixture with Grafana's variables replaced the way Grafana does
when 'All' is selected.
"""

from __future__ import annotations

import configparser
import hashlib
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

DASHBOARDS_DIR = Path(__file__).resolve().parents[3] / "roles" / "grafana" / "files" / "dashboards"
GRAFANA_INI = "/etc/grafana/grafana.ini"
DATASOURCES = "/etc/grafana/provisioning/datasources/hpcstack.yml"
DASHBOARD_PROVIDERS = "/etc/grafana/provisioning/dashboards/hpcstack.yml"
UIDS = {"hpcstack-cluster", "hpcstack-node", "hpcstack-gpu"}
PROMETHEUS_SOURCE = {"type": "prometheus", "uid": "prometheus"}
# The dashboards' variables have allValue '.+' (what Grafana sends when 'All' is selected); $__rate_interval is at
# least four scrape intervals, and the scenario scrapes every 5 s.
SUBSTITUTIONS = {"__rate_interval": "1m", "host": ".+", "partition": ".+", "gpu": ".+"}
VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)")
LABEL_VALUES = re.compile(r"^label_values\((?:(?P<selector>.+),\s*)?(?P<label>\w+)\)$")
QUERY_TIMEOUT = 60
NOT_INSTALLED = (
    "Grafana is not installed on this machine: its APT repository is not reachable here (see TESTBED.md); "
    "the provisioning files and every panel query were checked above"
)
# Prints the HTTP status, then the body, of a GET made on the host itself. With argv[2] == "admin" it logs in as
# grafana.ini's administrator (test_grafana_ini_is_private_and_locks_grafana_down proves that password is the
# scenario's), so the password never travels on a command line or into the test's output.
HTTP_GET = """
import base64, configparser, sys, urllib.error, urllib.request
request = urllib.request.Request(sys.argv[1])
if sys.argv[2] == "admin":
    ini = configparser.ConfigParser(interpolation=None)
    ini.read("/etc/grafana/grafana.ini")
    user = ini["security"]["admin_user"]
    password = ini["security"]["admin_password"].removeprefix('"' * 3).removesuffix('"' * 3)
    request.add_header("Authorization", "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode())
try:
    with urllib.request.urlopen(request, timeout=10) as response:
        print(response.status)
        print(response.read().decode())
except urllib.error.HTTPError as error:
    print(error.code)
    print(error.read().decode())
"""


def load_dashboards() -> dict[str, dict]:
    """Return the repository's dashboards, file name to JSON model."""
    return {path.name: json.loads(path.read_text()) for path in sorted(DASHBOARDS_DIR.glob("*.json"))}


DASHBOARDS = load_dashboards()


def panels_of(dashboard: dict) -> Iterator[dict]:
    """Yield every panel of a dashboard, those folded into rows included (rows themselves left out)."""
    for panel in dashboard.get("panels", []):
        if panel.get("type") == "row":
            yield from panel.get("panels", [])
        else:
            yield panel


def substitute(expr: str) -> str:
    """Return a panel's expression with Grafana's variables replaced; fail on a variable this test cannot fill."""

    def value(match: re.Match) -> str:
        name = match.group(1) or match.group(2)
        if name not in SUBSTITUTIONS:
            pytest.fail(f"unknown variable ${name} in {expr!r}")
        return SUBSTITUTIONS[name]

    return VARIABLE.sub(value, expr)


def panel_queries() -> Iterator[pytest.ParameterSet]:
    """Yield one parameter per panel target: its expression, named dashboard/panel/refId."""
    for dashboard in DASHBOARDS.values():
        for panel in panels_of(dashboard):
            for target in panel.get("targets", []):
                name = f"{dashboard['uid']}/{panel.get('title')}/{target.get('refId')}"
                yield pytest.param(target.get("expr", ""), id=name)


def template_queries() -> Iterator[pytest.ParameterSet]:
    """Yield one parameter per query variable: its label_values() definition, named dashboard/variable."""
    for dashboard in DASHBOARDS.values():
        for variable in dashboard.get("templating", {}).get("list", []):
            if variable.get("type") == "query":
                yield pytest.param(variable.get("definition", ""), id=f"{dashboard['uid']}/{variable['name']}")


def http_get(host, url: str, *, admin: bool = False) -> tuple[int, str]:
    """Return (status, body) of a GET made on the host itself, as grafana.ini's administrator when admin is true."""
    status, body = host.check_output("python3 -c %s %s %s", HTTP_GET, url, "admin" if admin else "-").split("\n", 1)
    return int(status), body


def host_variable(host, name: str, default: object) -> object:
    """Return an inventory variable of a host, or the role's default when the scenario does not set it."""
    return host.ansible.get_variables().get(name, default)


@pytest.fixture
def monitor(node, monitoring_host: str):
    """The testinfra host running Prometheus and Grafana."""
    return node(monitoring_host)


@pytest.fixture
def grafana_installed(monitor) -> bool:
    """Whether Grafana itself is on the monitoring host (the scenario installs it only where its repository is)."""
    return monitor.exists("grafana-server")


@pytest.fixture
def grafana_get(monitor, grafana_installed: bool) -> Callable[..., tuple[int, str]]:
    """Return a function making a GET to Grafana's API on its host: (status, body); skip where Grafana is missing."""
    if not grafana_installed:
        pytest.skip(NOT_INSTALLED)
    base = f"http://127.0.0.1:{host_variable(monitor, 'grafana_http_port', 3000)}"

    def get(path: str, *, admin: bool = True) -> tuple[int, str]:
        return http_get(monitor, base + path, admin=admin)

    return get


# --- provisioning on the host ---------------------------------------------------------------------------------


def test_datasource_points_at_the_scenario_prometheus(monitor, promql):
    provisioning = yaml.safe_load(monitor.file(DATASOURCES).content_string)
    assert provisioning["apiVersion"] == 1
    [source] = provisioning["datasources"]
    assert source["name"] == "Prometheus"
    assert {"type": source["type"], "uid": source["uid"]} == PROMETHEUS_SOURCE
    assert source["access"] == "proxy"
    assert source["isDefault"] is True
    assert source["jsonData"]["timeInterval"] == host_variable(monitor, "grafana_prometheus_scrape_interval", "15s")
    # Fetched from the monitoring host, as Grafana's server (access: proxy) fetches it: a ready Prometheus that
    # scrapes the scenario's targets.
    url = source["url"].rstrip("/")
    assert http_get(monitor, f"{url}/-/ready")[0] == 200
    status, body = http_get(monitor, f"{url}/api/v1/query?query=up")
    assert status == 200, body
    targets = {series["metric"]["instance"] for series in json.loads(body)["data"]["result"]}
    assert targets == {series["metric"]["instance"] for series in promql("up")}


def test_dashboard_provider_serves_exactly_the_repository_dashboards(monitor):
    provisioning = yaml.safe_load(monitor.file(DASHBOARD_PROVIDERS).content_string)
    assert provisioning["apiVersion"] == 1
    [provider] = provisioning["providers"]
    assert provider["type"] == "file"
    assert provider["folder"] == host_variable(monitor, "grafana_dashboards_folder", "HPC")
    assert provider["disableDeletion"] is True
    assert provider["allowUiUpdates"] is False
    path = provider["options"]["path"]
    assert monitor.file(path).is_directory
    on_host = {name: monitor.file(f"{path}/{name}").sha256sum for name in monitor.file(path).listdir()}
    in_repository = {name: hashlib.sha256((DASHBOARDS_DIR / name).read_bytes()).hexdigest() for name in DASHBOARDS}
    assert len(in_repository) == len(UIDS)
    assert on_host == in_repository


def test_grafana_ini_is_private_and_locks_grafana_down(monitor, grafana_installed: bool, grafana_admin_password: str):
    ini = monitor.file(GRAFANA_INI)
    assert ini.user == "root"
    assert ini.group == ("grafana" if grafana_installed else "root")
    assert ini.mode & 0o007 == 0, f"{GRAFANA_INI} is {ini.mode:04o}: readable by every user"
    settings = configparser.ConfigParser(interpolation=None)
    settings.read_string(ini.content_string)
    assert settings["auth.anonymous"]["enabled"] == "false"
    assert settings["users"]["allow_sign_up"] == "false"
    assert settings["analytics"]["reporting_enabled"] == "false"
    assert settings["analytics"]["check_for_updates"] == "false"
    assert settings["paths"]["provisioning"] == "/etc/grafana/provisioning"
    assert settings["security"]["admin_user"] == host_variable(monitor, "grafana_admin_user", "admin")
    written = settings["security"]["admin_password"].removeprefix('"""').removesuffix('"""')
    # Compared as hashes apart from the assertion, so that a failure does not print the password.
    matches = (
        hashlib.sha256(written.encode()).hexdigest() == hashlib.sha256(grafana_admin_password.encode()).hexdigest()
    )
    assert matches, "admin_password in grafana.ini is not the scenario's grafana_admin_password"


# --- the dashboards' JSON -------------------------------------------------------------------------------------


def test_dashboards_have_unique_uids():
    uids = [dashboard.get("uid") for dashboard in DASHBOARDS.values()]
    assert sorted(uids) == sorted(UIDS)


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_dashboard_is_complete(name: str):
    dashboard = DASHBOARDS[name]
    assert name == f"{dashboard['uid']}.json"
    assert dashboard["title"].strip()
    assert "hpcstack" in dashboard["tags"]
    assert dashboard["schemaVersion"] == 39
    panels = list(panels_of(dashboard))
    assert 6 <= len(panels) <= 12, f"{len(panels)} panels"
    variables = {variable["name"] for variable in dashboard.get("templating", {}).get("list", [])}
    for panel in panels:
        title = panel.get("title")
        assert title, f"a panel of {name} has no title"
        assert panel.get("datasource") == PROMETHEUS_SOURCE, title
        targets = panel.get("targets", [])
        assert targets, f"panel {title!r} has no query"
        ref_ids = [target.get("refId") for target in targets]
        assert len(set(ref_ids)) == len(ref_ids), f"panel {title!r} repeats a refId: {ref_ids}"
        for target in targets:
            assert target.get("expr", "").strip(), f"panel {title!r}, query {target.get('refId')} is empty"
            assert target.get("datasource", PROMETHEUS_SOURCE) == PROMETHEUS_SOURCE, title
            used = {m.group(1) or m.group(2) for m in VARIABLE.finditer(target["expr"])}
            undefined = {v for v in used if not v.startswith("__")} - variables
            assert not undefined, f"panel {title!r} uses variables the dashboard does not define: {undefined}"


# --- the queries against the scenario's Prometheus ------------------------------------------------------------


@pytest.mark.parametrize("expr", list(panel_queries()))
def test_panel_query_returns_data(wait_for_query, expr: str):
    # Polled: rates need two scrapes.
    wait_for_query(substitute(expr), bool, QUERY_TIMEOUT, f"{expr!r} returning a series")


@pytest.mark.parametrize("definition", list(template_queries()))
def test_template_variable_has_values(wait_for_query, definition: str):
    match = LABEL_VALUES.match(definition)
    assert match, f"{definition!r} is not label_values(selector, label)"
    label = match["label"]
    selector = substitute(match["selector"]) if match["selector"] else f'{{{label}=~".+"}}'
    series = wait_for_query(f"count by ({label}) ({selector})", bool, QUERY_TIMEOUT)
    assert all(item["metric"].get(label) for item in series), series


# --- Grafana itself -------------------------------------------------------------------------------------------


def test_grafana_is_healthy(grafana_get):
    status, body = grafana_get("/api/health", admin=False)
    assert status == 200, body
    assert json.loads(body)["database"] == "ok"


def test_grafana_lists_the_provisioned_dashboards_in_their_folder(grafana_get, monitor):
    status, body = grafana_get("/api/search?tag=hpcstack")
    assert status == 200, body
    found = {item["uid"]: item for item in json.loads(body)}
    assert set(found) >= UIDS
    folder = host_variable(monitor, "grafana_dashboards_folder", "HPC")
    assert {found[uid].get("folderTitle") for uid in UIDS} == {folder}


def test_grafana_data_source_reaches_prometheus(grafana_get):
    status, body = grafana_get("/api/datasources/uid/prometheus")
    assert status == 200, body
    source = json.loads(body)
    assert (source["type"], source["name"], source["isDefault"]) == ("prometheus", "Prometheus", True)
    status, body = grafana_get("/api/datasources/uid/prometheus/health")
    assert status == 200, body
    assert json.loads(body)["status"] == "OK", body


def test_grafana_refuses_anonymous_users(grafana_get):
    status = grafana_get("/api/search", admin=False)[0]
    assert status == 401
