"""Bad input fails before any daemon is touched, naming the variable; a bad slurm.conf never replaces the good one."""

from __future__ import annotations

import pytest

SLURM_PLAYBOOK = [{"ansible.builtin.import_playbook": "hpcstack.cluster.slurm"}]
DAEMONS = {"slurm_controller": ["slurmctld", "slurmdbd", "mariadb", "munge"], "slurm_compute": ["slurmd", "munge"]}


@pytest.fixture
def unchanged(node, group_hosts):
    """Snapshot the daemons' PIDs and the Slurm files; the test then asserts that the failed run left them alone."""

    def snapshot():
        state = {}
        for group, units in DAEMONS.items():
            for name in group_hosts(group):
                host = node(name)
                for unit in units:
                    state[(name, unit)] = host.check_output("systemctl show --property=MainPID --value %s", unit)
                for path in ("/etc/slurm/slurm.conf", "/etc/slurm/slurmdbd.conf", "/etc/default/slurmd"):
                    state[(name, path)] = host.run("sha256sum %s", path).stdout
        return state

    before = snapshot()
    yield
    assert snapshot() == before


def failed_output(result) -> str:
    assert result.returncode != 0, "the run succeeded"
    return result.stdout + result.stderr


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize(
    ("extra_vars", "message"),
    [
        (
            {"slurm_partitions": [{"name": "gpu", "nodes": "gpu[01-02]"}]},
            "slurm_partitions[0].nodes of partition 'gpu' names hosts that are not compute nodes",
        ),
        ({"slurm_node": {"CPUs": 0}}, "slurm_node.CPUs of compute host"),
        ({"slurm_node": {"CPUs": 2, "RealMemory": "lots"}}, "slurm_node.RealMemory of compute host"),
        ({"slurm_cluster_name": "Bad Name"}, "slurm_cluster_name 'Bad Name' is not a valid cluster name"),
        ({"slurmdbd_db_password": ""}, "slurmdbd_db_password is missing"),
    ],
    ids=["unknown-partition-node", "no-cpus", "bad-memory", "bad-cluster-name", "empty-db-password"],
)
def test_bad_variable_fails_preflight_naming_it(run_playbook, extra_vars, message):
    output = failed_output(run_playbook(SLURM_PLAYBOOK, extra_vars))
    assert message in output
    assert "Install the munge packages" not in output, "a host was touched before the check failed"


@pytest.mark.usefixtures("unchanged")
def test_missing_db_password_fails_preflight(run_playbook):
    unset = {"slurmdbd_db_password": "{{ undef() }}"}
    plays = [{"ansible.builtin.import_playbook": "hpcstack.cluster.slurm", "vars": unset}]
    output = failed_output(run_playbook(plays))
    assert "slurmdbd_db_password is missing" in output
    assert "Install the munge packages" not in output


@pytest.mark.usefixtures("unchanged")
def test_slurm_conf_slurm_rejects_never_replaces_the_running_one(run_playbook):
    bad_options = {"slurm_conf_options": {"SlurmdTimeout": 20, "NoSuchOption": 1}}
    output = failed_output(run_playbook(SLURM_PLAYBOOK, bad_options))
    assert "Write slurm.conf" in output
    assert "NoSuchOption" in output
