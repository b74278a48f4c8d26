"""Monitoring on real daemons: every exporter is a live Prometheus target, Slurm's state reaches Prometheus through
the textfile collector and follows a real job, a stopped node_exporter raises ExporterDown, a stopped slurmctld
turns into a failed collector (no stale figures), the alert rules pass their promtool unit tests, and bad input
fails before anything is changed."""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path

import pytest

MONITORING_PLAYBOOK = [{"ansible.builtin.import_playbook": "hpcstack.cluster.monitoring"}]
RULES_TEST = Path(__file__).with_name("promtool") / "hpcstack_rules_test.yml"
RULES_FILE = "/etc/prometheus/rules/hpcstack.rules.yml"
CONFIG_FILE = "/etc/prometheus/prometheus.yml"
SLURM_FILE = "/var/lib/prometheus/node-exporter/slurm.prom"


def values(result: list[dict]) -> list[float]:
    """The values of an instant query's result vector."""
    return [float(series["value"][1]) for series in result]


def one_value(expected: float) -> Callable[[list[dict]], bool]:
    """Accept a result of exactly one series with the expected value."""
    return lambda result: values(result) == [expected]


@pytest.fixture(scope="module")
def controller(node, group_hosts):
    """The Slurm controller's testinfra host."""
    return node(group_hosts("slurm_controller")[0])


def test_every_exporter_is_an_up_target(group_hosts, monitoring_host, wait_for_query):
    """One job per inventory group (a host scraped once, in its first group), the Slurm controller's node_exporter,
    the GPU node's DCGM exporter and Prometheus itself: all up."""
    expected = {("prometheus", monitoring_host)}
    expected |= {("slurm_controller", host) for host in group_hosts("slurm_controller")}
    expected |= {("slurm_compute", host) for host in group_hosts("slurm_compute")}
    expected |= {("gpu", host) for host in group_hosts("gpu")}

    def all_up(result: list[dict]) -> bool:
        seen = {(s["metric"]["job"], s["metric"]["host"]): float(s["value"][1]) for s in result}
        return set(seen) == expected and set(seen.values()) == {1.0}

    # host!="": Debian's package first starts Prometheus with its own configuration (localhost:9090 and :9100, no
    # host label); those series stay in the 5-minute lookback after the restart onto ours.
    wait_for_query('up{host!=""}', all_up, what=f"every target of {sorted(expected)} up")


def test_node_exporter_serves_the_textfile_collector(node, group_hosts, controller):
    """node_exporter runs on every node with the textfile directory; only the controller runs the Slurm timer and
    its file is the collector's, owned by the unprivileged prometheus user."""
    for name in group_hosts("cluster"):
        host = node(name)
        service = host.service("prometheus-node-exporter")
        assert service.is_running, name
        assert service.is_enabled, name
        metrics = host.check_output(
            "python3 -c %s",
            "import urllib.request as u; print(u.urlopen('http://127.0.0.1:9100/metrics').read().decode())",
        )
        assert "node_textfile_scrape_error 0" in metrics, name
        timer = host.service("hpcstack-slurm-metrics.timer")
        if name == controller.backend.host:
            assert timer.is_enabled
            assert host.file(SLURM_FILE).user == "prometheus"
            assert 'slurm_collector_success{collector="sinfo"} 1.0' in host.file(SLURM_FILE).content_string
        else:
            assert not host.file("/etc/systemd/system/hpcstack-slurm-metrics.timer").exists, name
            assert not host.file(SLURM_FILE).exists, name


def test_slurm_metrics_reach_prometheus(group_hosts, promql, wait_for_query):
    """The Slurm figures in Prometheus describe the scenario's cluster: every compute node idle, the CPUs of all of
    them, one partition, every collector working."""
    compute = group_hosts("slurm_compute")
    wait_for_query("slurm_nodes_idle", one_value(len(compute)))
    total = values(promql("slurm_cpus_total"))[0]
    assert total >= len(compute)
    assert values(promql('slurm_partition_cpus_total{partition="batch"}')) == [total]
    assert {s["metric"]["node"] for s in promql("slurm_node_state")} == set(compute)
    assert values(promql("slurm_controller_up")) == [1.0]
    assert sorted(s["metric"]["collector"] for s in promql("slurm_collector_success == 1")) == [
        "ping",
        "sdiag",
        "sinfo",
        "squeue",
    ]
    assert values(promql("slurm_scheduler_threads")) != [0.0]


def test_a_job_changes_the_slurm_metrics(controller, group_hosts, promql, wait_for_query):
    """A job on every node turns them allocated in Prometheus; a job held back pends and ages; after scancel the
    cluster is idle again."""
    compute = len(group_hosts("slurm_compute"))
    total = values(promql("slurm_cpus_total"))[0]
    running = controller.check_output(f"sbatch --parsable -N{compute} --exclusive --wrap 'sleep 600'")
    held = controller.check_output("sbatch --parsable --begin=now+1hour --wrap true")
    try:
        wait_for_query("slurm_queue_running", one_value(1))
        wait_for_query("slurm_nodes_alloc", one_value(compute))
        wait_for_query("slurm_cpus_alloc", one_value(total))
        wait_for_query('slurm_partition_jobs{partition="batch",state="running"}', one_value(1))
        wait_for_query("slurm_queue_pending", one_value(1))
        wait_for_query('slurm_partition_jobs_pending_oldest_seconds{partition="batch"} > 0', lambda r: len(r) == 1)
    finally:
        controller.run(f"scancel {running} {held}")
    wait_for_query("slurm_nodes_idle", one_value(compute))
    wait_for_query("slurm_queue_running + slurm_queue_pending", one_value(0))


def test_stopped_node_exporter_raises_exporter_down(node, group_hosts, prometheus_api, wait_for_query):
    """Stopping one compute node's node_exporter makes its target down and ExporterDown pending, then firing."""
    name = group_hosts("slurm_compute")[0]
    host = node(name)

    def alert_state() -> str | None:
        for alert in prometheus_api("alerts")["alerts"]:
            if alert["labels"]["alertname"] == "ExporterDown" and alert["labels"].get("host") == name:
                return alert["state"]
        return None

    assert alert_state() is None
    host.check_output("systemctl stop prometheus-node-exporter")
    try:
        wait_for_query(f'up{{host="{name}",job="slurm_compute"}}', one_value(0))
        wait_for_query(
            f'ALERTS{{alertname="ExporterDown",host="{name}"}}',
            lambda result: bool(result) and result[0]["metric"]["alertstate"] in ("pending", "firing"),
        )
        assert alert_state() in ("pending", "firing")
    finally:
        host.check_output("systemctl start prometheus-node-exporter")
    wait_for_query(f'up{{host="{name}",job="slurm_compute"}}', one_value(1))


def test_stopped_slurmctld_is_a_failed_collector_not_stale_figures(controller, promql, wait_for_query):
    """With slurmctld stopped the collector reports the controller down and its commands failed, and the Slurm
    figures disappear from Prometheus instead of repeating their last values."""
    controller.check_output("systemctl stop slurmctld")
    try:
        wait_for_query("slurm_controller_up", one_value(0))
        wait_for_query('slurm_collector_success{collector="sinfo"}', one_value(0))
        assert promql("slurm_nodes_idle") == []
        assert promql("slurm_cpus_total") == []
    finally:
        controller.check_output("systemctl start slurmctld")
    wait_for_query("slurm_controller_up", one_value(1))
    wait_for_query("min(slurm_collector_success)", one_value(1))


def test_alert_rules_pass_their_promtool_unit_tests(node, monitoring_host):
    """The rendered rules file, with the role's default thresholds, passes promtool's rule unit tests."""
    host = node(monitoring_host)
    encoded = base64.b64encode(RULES_TEST.read_bytes()).decode()
    host.check_output(f"echo {encoded} | base64 -d > /root/hpcstack_rules_test.yml")
    result = host.run("promtool test rules /root/hpcstack_rules_test.yml")
    assert result.rc == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr


def test_prometheus_sends_alerts_to_the_alertmanagers(prometheus_api):
    """prometheus_alertmanager_targets reaches Prometheus' alerting configuration."""
    active = [a["url"] for a in prometheus_api("alertmanagers")["activeAlertmanagers"]]
    assert active == ["http://mon-ctl:9093/api/v2/alerts"]


def test_live_configuration_passes_promtool(node, monitoring_host):
    """The running configuration and rules pass promtool, and Prometheus loaded them."""
    host = node(monitoring_host)
    host.check_output(f"promtool check config {CONFIG_FILE}")
    host.check_output(f"promtool check rules {RULES_FILE}")
    assert "--storage.tsdb.retention.time=15d" in host.file("/etc/default/prometheus").content_string


# --- bad input ---------------------------------------------------------------------------------------------------


@pytest.fixture
def unchanged(node, group_hosts, monitoring_host):
    """The failed run must leave Prometheus' files, the node_exporter flags and the daemons' PIDs as they were."""

    def snapshot() -> dict:
        state = {}
        monitor = node(monitoring_host)
        for path in (CONFIG_FILE, RULES_FILE, "/etc/default/prometheus", "/etc/grafana/grafana.ini"):
            state[path] = monitor.run("sha256sum %s", path).stdout
        state["prometheus"] = monitor.check_output("systemctl show --property=MainPID --value prometheus")
        for name in group_hosts("cluster"):
            host = node(name)
            state[name] = host.check_output("systemctl show --property=MainPID --value prometheus-node-exporter")
            state[name, "args"] = host.run("sha256sum /etc/default/prometheus-node-exporter").stdout
        return state

    before = snapshot()
    yield
    assert snapshot() == before


def failed_output(result) -> str:
    """The output of a run that must have failed."""
    assert result.returncode != 0, "the run succeeded"
    return result.stdout + result.stderr


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize(
    ("plays", "extra_vars", "message"),
    [
        (
            [{**MONITORING_PLAYBOOK[0], "vars": {"grafana_admin_password": "{{ undef() }}"}}],
            None,
            "grafana_admin_password is missing",
        ),
        (MONITORING_PLAYBOOK, {"grafana_admin_password": "admin"}, "grafana_admin_password is missing, empty, 'admin'"),
        (
            MONITORING_PLAYBOOK,
            {"prometheus_alert_disk_used_percent": "ninety"},
            "prometheus_alert_disk_used_percent is 'ninety'; give a number",
        ),
        (
            MONITORING_PLAYBOOK,
            {"prometheus_alert_exporter_down_for": "a minute"},
            "prometheus_alert_exporter_down_for is 'a minute'; give a Prometheus duration",
        ),
        (
            MONITORING_PLAYBOOK,
            {"prometheus_scrape_groups": ["slurm_compute", "spack_buildhost"]},
            "these have no hosts (or are not groups): spack_buildhost",
        ),
        (
            MONITORING_PLAYBOOK,
            {"node_exporter_slurm_metrics_interval": 10, "node_exporter_slurm_metrics_timeout": 30},
            "node_exporter_slurm_metrics_timeout (30) whole seconds below it",
        ),
        (
            MONITORING_PLAYBOOK,
            {"prometheus_alertmanager_targets": ["alertmanager"]},
            "prometheus_alertmanager_targets must be a list of host:port addresses",
        ),
    ],
    ids=[
        "no-grafana-password",
        "grafana-password-admin",
        "threshold-not-a-number",
        "bad-duration",
        "empty-group",
        "timeout",
        "alertmanager-without-port",
    ],
)
def test_bad_variable_fails_preflight_naming_it(run_playbook, plays, extra_vars, message):
    output = failed_output(run_playbook(plays, extra_vars))
    assert message in " ".join(output.split())
    assert "Install node_exporter" not in output, "a host was touched before the check failed"


@pytest.mark.usefixtures("unchanged")
def test_rules_promtool_rejects_never_go_live(run_playbook):
    """A site rule with a broken expression stops at promtool; the running rules stay."""
    broken = {"prometheus_extra_alert_rules": [{"alert": "Broken", "expr": "up ==", "for": "1m"}]}
    output = failed_output(run_playbook(MONITORING_PLAYBOOK, broken))
    assert "Write the alert rules" in output
    assert "failed to validate" in output


@pytest.mark.usefixtures("unchanged")
def test_configuration_promtool_rejects_never_goes_live(run_playbook):
    """A scrape job promtool rejects stops at promtool; the running configuration stays."""
    broken = {"prometheus_extra_scrape_configs": [{"job_name": "broken", "scrape_interval": "soon"}]}
    output = failed_output(run_playbook(MONITORING_PLAYBOOK, broken))
    assert "Write prometheus.yml" in output
    assert "failed to validate" in output


def test_second_run_changes_nothing_and_never_prints_the_password(run_playbook, grafana_admin_password):
    """A converge run after the tests above changes nothing and does not print Grafana's password."""
    result = run_playbook(MONITORING_PLAYBOOK)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "changed=0" in result.stdout
    assert "changed=1" not in result.stdout
    assert grafana_admin_password not in result.stdout + result.stderr
