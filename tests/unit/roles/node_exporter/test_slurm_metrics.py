"""The Slurm textfile collector (roles/node_exporter/files/slurm_metrics.py) on outputs of real Slurm daemons.

fixtures/slurm-<version>/<state>/ holds what sinfo, squeue, sdiag and `scontrol ping` printed (stdout, and
stderr where they failed) on the collection's own test clusters (Debian 12's Slurm 22.05.8 and Debian 13's
24.11.5), with exactly the collector's command lines:
- busy: one node mixed (a job running), one drained with a reason, jobs pending on resources, priority and a
  dependency, one completed;
- controller_down: slurmctld stopped.
subprocess.run is replaced by a replay of those files, so the whole script runs as on the controller.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parents[4]
FIXTURES = Path(__file__).with_name("fixtures")
SCRIPT = ROOT / "roles/node_exporter/files/slurm_metrics.py"

spec = importlib.util.spec_from_file_location("slurm_metrics", SCRIPT)
slurm_metrics = importlib.util.module_from_spec(spec)
sys.modules["slurm_metrics"] = slurm_metrics
spec.loader.exec_module(slurm_metrics)

FILES = {"sinfo": "sinfo", "squeue": "squeue", "sdiag": "sdiag", "scontrol": "ping"}
# Exit statuses the commands had when the fixtures were captured with slurmctld stopped.
DOWN_EXIT = {"sinfo": 1, "squeue": 1, "sdiag": 255, "scontrol": 1}
VERSIONS = sorted(p.name for p in FIXTURES.iterdir() if p.is_dir())


class Replay:
    """Stands in for subprocess.run: answers each Slurm command from a fixture directory."""

    def __init__(self, directory: Path, exit_codes: dict[str, int] | None = None) -> None:
        self.directory = directory
        self.exit_codes = exit_codes or {}
        self.calls: list[list[str]] = []
        self.failures: dict[str, BaseException | tuple[int, str, str]] = {}

    def __call__(self, argv: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        assert kwargs.get("timeout"), "every Slurm command must run with a timeout"
        self.calls.append(list(argv))
        command = argv[0]
        if command in self.failures:
            failure = self.failures[command]
            if isinstance(failure, BaseException):
                raise failure
            return subprocess.CompletedProcess(argv, failure[0], failure[1], failure[2])
        base = self.directory / FILES[command]
        stdout = base.with_suffix(".txt").read_text()
        stderr_file = base.with_suffix(".stderr")
        stderr = stderr_file.read_text() if stderr_file.exists() else ""
        return subprocess.CompletedProcess(argv, self.exit_codes.get(command, 0), stdout, stderr)


def scrape(
    monkeypatch: pytest.MonkeyPatch, replay: Replay, now: float | None = None, reconcile_state: str = "/nonexistent"
) -> dict[str, dict]:
    """Run the collector once through a registry, as main() does; {metric name: {labels tuple: value}}."""
    monkeypatch.setattr(slurm_metrics.subprocess, "run", replay)
    collector = slurm_metrics.SlurmCollector(
        lambda cmd: slurm_metrics.run_command(cmd, 20), now=lambda: now or 0.0, reconcile_state=reconcile_state
    )
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    samples: dict[str, dict] = {}
    for family in text_string_to_metric_families(generate_latest(registry).decode()):
        for sample in family.samples:
            samples.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    samples["_errors"] = {(): collector.errors}
    return samples


def value(samples: dict[str, dict], name: str, **labels: str) -> float:
    """One sample's value; KeyError when the series is absent."""
    return samples[name][tuple(sorted(labels.items()))]


# What each capture shows (read off the captured text by hand): the controller, the nodes' names, the jobs by
# state (pending includes dependency waits in the per-partition figures), the oldest submit time, sdiag's values.
BUSY = {
    "slurm-22.05": {
        "controller": "hpc-controller",
        "nodes": ("hpc-compute01", "hpc-compute02"),
        "queue": {"pending": 2, "pending_dependency": 1, "running": 1, "completed": 1, "failed": 0},
        "partition_pending": 3,
        "oldest_submit": "2026-11-23T15:34:20",
        "sdiag": {
            "threads": 3,
            "last_cycle": 41,
            "mean_cycle": 302,
            "cycle_per_minute": 1,
            "backfill_last_cycle": 983,
            "backfill_mean_cycle": 60,
            "backfill_depth_mean": 1,
            "backfilled_jobs_since_start_total": 3,
            "dbd_queue_size": 0,
        },
    },
    "slurm-24.11": {
        "controller": "slurm13-ctl",
        "nodes": ("slurm13-c1", "slurm13-c2"),
        "queue": {"pending": 3, "pending_dependency": 1, "running": 1, "completed": 0, "failed": 0},
        "partition_pending": 4,
        "oldest_submit": "2026-11-23T16:19:21",
        "sdiag": {
            "threads": 1,
            "last_cycle": 41,
            "mean_cycle": 181,
            "cycle_per_minute": 2,
            "backfill_last_cycle": 0,  # no backfill cycle yet: sdiag prints 0 and no mean lines
            "backfill_mean_cycle": 0,
            "backfill_depth_mean": 0,
            "backfilled_jobs_since_start_total": 0,
            "dbd_queue_size": 0,
        },
    },
}


@pytest.mark.parametrize("version", VERSIONS)
def test_busy_cluster(monkeypatch: pytest.MonkeyPatch, version: str) -> None:
    """Node, CPU, job and scheduler figures match what the captured commands say."""
    expected = BUSY[version]
    mixed, drained = expected["nodes"]
    now = datetime.fromisoformat("2026-11-23T16:20:00").timestamp()
    samples = scrape(monkeypatch, Replay(FIXTURES / version / "busy"), now=now)

    assert samples["_errors"][()] == []
    for collector in ("ping", "sinfo", "squeue", "sdiag"):
        assert value(samples, "slurm_collector_success", collector=collector) == 1
    assert value(samples, "slurm_controller_up", controller=expected["controller"], role="primary") == 1

    # One node mixed, one drained; prometheus-slurm-exporter's buckets and CPU figures.
    assert value(samples, "slurm_nodes_mix") == 1
    assert value(samples, "slurm_nodes_drain") == 1
    assert value(samples, "slurm_nodes_idle") == 0
    assert value(samples, "slurm_nodes_down") == 0
    assert [value(samples, f"slurm_cpus_{s}") for s in ("alloc", "idle", "other", "total")] == [1, 1, 2, 4]
    assert value(samples, "slurm_partition_cpus_total", partition="batch") == 4  # 'batch*' is the default mark
    assert value(samples, "slurm_partition_cpus_allocated", partition="batch") == 1
    assert value(samples, "slurm_partition_nodes", partition="batch", state="drained") == 1
    assert value(samples, "slurm_node_cpu_alloc", node=mixed, status="mixed") == 1
    assert value(samples, "slurm_node_mem_total", node=drained, status="drained") == 24105
    assert value(samples, "slurm_node_mem_alloc", node=mixed, status="mixed") == 12052
    assert value(samples, "slurm_node_state", node=drained, state="drained") == 1
    reason = "bad DIMM slot 3, ticket 4711 - replaced pending vendor visit"
    assert value(samples, "slurm_node_reason", node=drained, state="drained", reason=reason) == 1
    assert len(samples["slurm_node_reason"]) == 1, "only the drained node has a reason"

    for state, count in expected["queue"].items():
        assert value(samples, f"slurm_queue_{state}") == count, state
    assert value(samples, "slurm_partition_jobs_pending", partition="batch") == expected["partition_pending"]
    assert value(samples, "slurm_partition_jobs", partition="batch", state="running") == 1
    oldest = now - datetime.fromisoformat(expected["oldest_submit"]).timestamp()
    assert value(samples, "slurm_partition_jobs_pending_oldest_seconds", partition="batch") == pytest.approx(oldest)

    # sdiag: the main scheduler and backfill sections told apart (both have 'Last cycle' and 'Mean cycle').
    for name, number in expected["sdiag"].items():
        assert value(samples, f"slurm_scheduler_{name}") == number, name


@pytest.mark.parametrize("version", VERSIONS)
def test_controller_down(monkeypatch: pytest.MonkeyPatch, version: str) -> None:
    """slurmctld stopped: the controller is reported down, the other collectors failed, and no Slurm figure is
    written at all (no zeros that would look like an empty cluster); only ping is run."""
    replay = Replay(FIXTURES / version / "controller_down", DOWN_EXIT)
    samples = scrape(monkeypatch, replay)

    assert value(samples, "slurm_controller_up", controller=BUSY[version]["controller"], role="primary") == 0
    assert value(samples, "slurm_collector_success", collector="ping") == 1
    for collector in ("sinfo", "squeue", "sdiag"):
        assert value(samples, "slurm_collector_success", collector=collector) == 0
    assert not [name for name in samples if name.startswith(("slurm_nodes_", "slurm_queue_", "slurm_cpus_"))]
    assert [call[0] for call in replay.calls] == ["scontrol"]


def test_one_failing_command_drops_only_its_metrics(monkeypatch: pytest.MonkeyPatch) -> None:
    """sdiag failing leaves the node and job figures in place and reports the sdiag collector failed."""
    replay = Replay(FIXTURES / VERSIONS[0] / "busy")
    replay.failures["sdiag"] = (1, "", "sdiag: error: Access/permission denied")
    samples = scrape(monkeypatch, replay)

    assert value(samples, "slurm_collector_success", collector="sdiag") == 0
    assert value(samples, "slurm_collector_success", collector="sinfo") == 1
    assert "slurm_scheduler_threads" not in samples
    assert value(samples, "slurm_nodes_mix") == 1
    assert samples["_errors"][()] == ["sdiag: exit 1: sdiag: error: Access/permission denied"]


def test_hanging_command_times_out(monkeypatch: pytest.MonkeyPatch) -> None:
    """A command that does not answer in time counts as failed; the others still run."""
    replay = Replay(FIXTURES / VERSIONS[0] / "busy")
    replay.failures["squeue"] = subprocess.TimeoutExpired(["squeue"], 20)
    samples = scrape(monkeypatch, replay)

    assert value(samples, "slurm_collector_success", collector="squeue") == 0
    assert "slurm_queue_pending" not in samples
    assert value(samples, "slurm_collector_success", collector="sdiag") == 1
    assert "squeue: no answer within 20 s" in samples["_errors"][()]


def test_unreadable_output_is_a_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    """Output in an unexpected shape (another Slurm's format) fails the collector instead of guessing."""
    replay = Replay(FIXTURES / VERSIONS[0] / "busy")
    replay.failures["sinfo"] = (0, "NODELIST PARTITION STATE\nhpc-compute01 batch* idle\n", "")
    samples = scrape(monkeypatch, replay)

    assert value(samples, "slurm_collector_success", collector="sinfo") == 0
    assert "slurm_nodes_idle" not in samples


def test_missing_command(monkeypatch: pytest.MonkeyPatch) -> None:
    """Slurm's client commands not installed: every collector failed, nothing raised."""
    replay = Replay(FIXTURES / VERSIONS[0] / "busy")
    for command in FILES:
        replay.failures[command] = FileNotFoundError(2, "No such file or directory", command)
    samples = scrape(monkeypatch, replay)

    assert samples["slurm_collector_success"] == {
        (("collector", c),): 0.0 for c in ("ping", "sinfo", "squeue", "sdiag")
    }


def test_main_replaces_the_file_atomically(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """main() writes a complete file by rename, leaves no temporary file node_exporter could read, and a later
    failed run replaces the earlier figures instead of leaving them to look fresh."""
    output = tmp_path / "slurm.prom"
    monkeypatch.setattr(slurm_metrics.subprocess, "run", Replay(FIXTURES / VERSIONS[0] / "busy"))
    assert slurm_metrics.main(["--output", str(output)]) == 0
    first = output.read_text()
    assert "slurm_nodes_mix 1.0" in first
    assert "slurm_collector_success" in first

    renames: list[tuple[str, str]] = []
    real_rename = os.rename

    def spy(src: str, dst: str) -> None:
        renames.append((str(src), str(dst)))
        real_rename(src, dst)

    monkeypatch.setattr(os, "rename", spy)
    monkeypatch.setattr(slurm_metrics.subprocess, "run", Replay(FIXTURES / VERSIONS[0] / "controller_down", DOWN_EXIT))
    assert slurm_metrics.main(["--output", str(output)]) == 0
    second = output.read_text()
    assert renames
    assert renames[-1][1] == str(output)
    assert Path(renames[-1][0]).parent == tmp_path, "the temporary file must sit beside the target to be renamed"
    assert not renames[-1][0].endswith(".prom"), "node_exporter would read a temporary *.prom file"
    assert "slurm_nodes_mix" not in second
    assert 'slurm_collector_success{collector="sinfo"} 0.0' in second
    assert [p.name for p in tmp_path.iterdir()] == ["slurm.prom"]


def test_label_values_are_escaped(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A drain reason with quotes, backslashes and the field separator stays one well-formed label value."""
    busy = FIXTURES / VERSIONS[0] / "busy"
    reason = 'disk "sdb" failed | see C:\\logs'
    sinfo = (
        (busy / "sinfo.txt").read_text().replace("bad DIMM slot 3, ticket 4711 - replaced pending vendor visit", reason)
    )
    replay = Replay(busy)
    replay.failures["sinfo"] = (0, sinfo, "")
    samples = scrape(monkeypatch, replay)

    assert value(samples, "slurm_node_reason", node="hpc-compute02", state="drained", reason=reason) == 1


# --- elastic nodes (power saving) -----------------------------------------------------------------------------------
# sinfo's long states of power saving nodes: ~ powered down, # powering up, % powering down (a failed launch leaves
# the node down, powering up, with the power program's reason).
ELASTIC_SINFO = """hpc-compute01|batch*|idle|0/2/0/2|24105|0|none|
hpc-burst01|cloud|idle~|0/0/2/2|2048|0|none|
hpc-burst02|cloud|idle#|0/2/0/2|2048|0|none|
hpc-burst03|cloud|idle%|0/0/2/2|2048|0|none|
hpc-burst04|cloud|down#|0/0/2/2|2048|0|hpcstack-power: launch failed: No such image: hpcstack/node:missing|
"""


def elastic_replay(tmp_path: Path) -> Replay:
    directory = tmp_path / "elastic"
    shutil.copytree(FIXTURES / "slurm-22.05" / "busy", directory)
    (directory / "sinfo.txt").write_text(ELASTIC_SINFO)
    return Replay(directory)


def test_power_saving_states_and_failed_launches(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    samples = scrape(monkeypatch, elastic_replay(tmp_path))
    assert value(samples, "slurm_nodes_powered_down") == 1
    assert value(samples, "slurm_nodes_powering_up") == 2
    assert value(samples, "slurm_nodes_powering_down") == 1
    assert value(samples, "slurm_nodes_launch_failed") == 1
    assert samples["slurm_node_power"] == {
        (("node", "hpc-burst01"), ("power", "powered_down")): 1,
        (("node", "hpc-burst02"), ("power", "powering_up")): 1,
        (("node", "hpc-burst03"), ("power", "powering_down")): 1,
        (("node", "hpc-burst04"), ("power", "powering_up")): 1,
    }
    # The states without their suffixes, as before: a powered-down idle node is idle.
    assert value(samples, "slurm_node_state", node="hpc-burst01", state="idle") == 1
    assert value(samples, "slurm_nodes_down") == 1


def test_no_power_saving_gives_zero_counts(monkeypatch: pytest.MonkeyPatch) -> None:
    samples = scrape(monkeypatch, Replay(FIXTURES / VERSIONS[0] / "busy"))
    assert value(samples, "slurm_nodes_powered_down") == 0
    assert value(samples, "slurm_nodes_launch_failed") == 0
    assert "slurm_node_power" not in samples
    assert "hpcstack_power_reconcile_removed_total" not in samples  # no reconciler here


def test_the_reconcilers_counters(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    state = tmp_path / "reconcile.json"
    state.write_text(json.dumps({"removed": 3, "powered_down": 1, "reset": 2, "last_run": 1_700_000_000.5}))
    samples = scrape(monkeypatch, Replay(FIXTURES / VERSIONS[0] / "busy"), reconcile_state=str(state))
    assert value(samples, "hpcstack_power_reconcile_removed_total") == 3
    assert value(samples, "hpcstack_power_reconcile_powered_down_total") == 1
    assert value(samples, "hpcstack_power_reconcile_reset_total") == 2
    assert value(samples, "hpcstack_power_reconcile_last_run_timestamp_seconds") == 1_700_000_000.5
    assert ((("collector", "reconcile"),)) not in samples["slurm_collector_success"]


@pytest.mark.parametrize(
    "content", ["{not json", "[]", '{"removed": -1, "powered_down": 0, "reset": 0, "last_run": 1}']
)
def test_an_unreadable_reconciler_file_is_a_failed_collector(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, content: str
) -> None:
    state = tmp_path / "reconcile.json"
    state.write_text(content)
    samples = scrape(monkeypatch, Replay(FIXTURES / VERSIONS[0] / "busy"), reconcile_state=str(state))
    assert value(samples, "slurm_collector_success", collector="reconcile") == 0
    assert "hpcstack_power_reconcile_removed_total" not in samples
    assert value(samples, "slurm_nodes_mix") == 1  # the Slurm figures stay
