"""A configuration change restarts only what needs it: partitions reconfigure, node definitions restart.

A restart here means systemd restarting the unit (its ActiveEnterTimestamp moves). `scontrol reconfigure` is not
one, although Slurm 23.11+ re-executes its daemons for it (new PIDs, same unit activation).
"""

from __future__ import annotations

import pytest

SLURM_PLAYBOOK = [{"ansible.builtin.import_playbook": "hpcstack.cluster.slurm"}]
DEFAULT_PARTITIONS = [{"name": "batch", "default": True}]
WITH_DEBUG = [*DEFAULT_PARTITIONS, {"name": "debug", "options": {"MaxTime": "00:30:00"}}]


@pytest.fixture
def unit_starts(controller, computes, node):
    """Return a function giving when systemd last started slurmctld and every slurmd."""
    show = "systemctl show --property=ActiveEnterTimestampMonotonic --value %s"

    def starts() -> dict[str, str]:
        result = {"slurmctld": controller.check_output(show, "slurmctld")}
        for name in computes:
            result[name] = node(name).check_output(show, "slurmd")
        return result

    return starts


def converge(run_playbook, *options: str, **extra_vars) -> str:
    result = run_playbook(SLURM_PLAYBOOK, extra_vars, options)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    return result.stdout


def outcomes(output: str, task: str) -> list[str]:
    """Return the result words (ok, changed, skipping) a task printed, for each host, in a playbook's output."""
    words, inside = [], False
    for line in output.splitlines():
        if line.startswith(("TASK [", "RUNNING HANDLER [")):
            inside = line.split("[", 1)[1].startswith(task)
        elif inside and line.split(":", 1)[0] in ("ok", "changed", "skipping", "failed", "fatal"):
            words.append(line.split(":", 1)[0])
    return words


def features(controller, computes) -> dict[str, str]:
    """Return {node: AvailableFeatures} of the compute nodes (not the elastic ones) as slurmctld reports them."""
    out = controller.check_output("scontrol show node --oneliner")
    return {
        fields["NodeName"]: fields["AvailableFeatures"]
        for fields in (dict(word.split("=", 1) for word in line.split() if "=" in word) for line in out.splitlines())
        if fields["NodeName"] in computes
    }


def sinfo_features(controller, computes) -> list[str]:
    """[node, its features, ...] of the compute nodes as sinfo lists them (the elastic nodes are listed too)."""
    return controller.check_output("sinfo --noheader --Node --nodes=%s --format='%%N %%f'", ",".join(computes)).split()


def test_new_partition_is_a_reconfigure_not_a_restart(controller, unit_starts, run_playbook):
    before = unit_starts()
    output = converge(run_playbook, slurm_partitions=WITH_DEBUG)
    assert "RUNNING HANDLER [hpcstack.cluster.slurm_controller : Reconfigure slurmctld]" in output
    assert outcomes(output, "hpcstack.cluster.slurm_controller : Restart slurmctld") == ["skipping"]
    assert "MaxTime=00:30:00" in controller.check_output("scontrol show partition debug")
    assert unit_starts() == before


def test_changed_node_definition_restarts_the_daemons(
    controller, computes, unit_starts, node_states, run_playbook, wait_for
):
    before = unit_starts()
    converge(run_playbook, slurm_partitions=DEFAULT_PARTITIONS, slurm_node={"Feature": ["fast"]})
    after = unit_starts()
    assert all(after[daemon] != before[daemon] for daemon in after), (before, after)
    assert sinfo_features(controller, computes) == [word for name in computes for word in (name, "fast")]
    assert controller.run("scontrol show partition debug").rc != 0
    wait_for(lambda: set(node_states().values()), lambda s: s == {"IDLE"}, 60, "node states after the restart")


@pytest.mark.parametrize(
    ("feature", "controller_run", "compute_run"),
    [
        ("limited", ("--limit", "slurm_controller"), ("--limit", "slurm_compute")),
        ("tagged", ("--tags", "slurm_controller"), ("--tags", "slurm_compute")),
    ],
    ids=["limit", "tags"],
)
def test_restart_only_change_reaches_every_daemon_one_part_at_a_time(
    controller, computes, unit_starts, node_states, run_playbook, wait_for, feature, controller_run, compute_run
):
    """The controller converged alone restarts slurmctld; the compute nodes converged later restart their slurmd.

    With --limit the model reads the compute hosts' hardware (and the controller's name) from the controller's
    record; each slurmd compares the settings it runs with (its record) with what slurmctld serves.
    """
    new_node = {"slurm_partitions": DEFAULT_PARTITIONS, "slurm_node": {"Feature": [feature]}}
    before = unit_starts()
    converge(run_playbook, *controller_run, **new_node)
    middle = unit_starts()
    assert middle["slurmctld"] != before["slurmctld"]
    assert all(middle[name] == before[name] for name in computes), "a compute node was touched"
    assert set(features(controller, computes).values()) == {feature}
    converge(run_playbook, *compute_run, **new_node)
    after = unit_starts()
    assert after["slurmctld"] == middle["slurmctld"]
    assert all(after[name] != middle[name] for name in computes), (middle, after)
    wait_for(lambda: set(node_states().values()), lambda s: s == {"IDLE"}, 60, "node states after the restart")
    ran_on = controller.check_output(f"srun --nodes=2 --constraint={feature} --time=1 hostname").split()
    assert sorted(ran_on) == computes
    if controller_run[0] == "--limit":
        # The records the partial runs left are consistent: the whole cluster converged again changes nothing.
        again = converge(run_playbook, **new_node)
        assert unit_starts() == after
        assert not [line for line in again.splitlines() if line.startswith("changed:")], again[-3000:]


def test_push_mode_writes_slurm_conf_on_every_node_and_jobs_run(controller, computes, node, run_playbook):
    # Elastic nodes fetch slurm.conf from slurmctld (the model refuses them in push mode): none in this run; the next
    # test's converge brings them back.
    converge(run_playbook, slurm_config_mode="push", slurm_cloud_nodes=[])
    conf = controller.file("/etc/slurm/slurm.conf")
    assert "enable_configless" not in conf.content_string
    for name in computes:
        compute = node(name)
        assert compute.file("/etc/slurm/slurm.conf").sha256sum == conf.sha256sum
        assert compute.file("/etc/slurm/cgroup.conf").sha256sum == controller.file("/etc/slurm/cgroup.conf").sha256sum
        assert "--conf-server" not in compute.file("/etc/default/slurmd").content_string
    assert sorted(controller.check_output("srun --nodes=2 --time=1 hostname").split()) == computes


def test_back_to_the_scenario_configuration(controller, computes, node, node_states, run_playbook, wait_for):
    converge(run_playbook)
    for name in computes:
        assert not node(name).file("/etc/slurm/slurm.conf").exists
    assert "enable_configless" in controller.file("/etc/slurm/slurm.conf").content_string
    assert sinfo_features(controller, computes) == [word for name in computes for word in (name, "(null)")]
    wait_for(lambda: set(node_states().values()), lambda s: s == {"IDLE"}, 60, "node states after the restart")
