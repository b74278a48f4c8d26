"""Slurm works as a cluster: nodes idle, jobs run across both nodes and are recorded in accounting."""

from __future__ import annotations

import os


def test_both_compute_nodes_are_idle(controller, computes, cloud_nodes, wait_for):
    """The elastic nodes are listed too (PrivateData=cloud), idle and powered down ('~') until a job needs them."""

    def sinfo():
        return sorted(controller.check_output("sinfo --noheader --Node --format='%N %T'").splitlines())

    expected = sorted([f"{name} idle" for name in computes] + [f"{name} idle~" for name in cloud_nodes])
    out = wait_for(sinfo, lambda out: out == expected, 60, "sinfo")
    assert out == expected


def test_srun_runs_on_both_nodes(controller, computes):
    out = controller.check_output("srun --nodes=2 --time=1 hostname")
    assert sorted(out.split()) == computes


def test_batch_job_completes_and_is_in_accounting(controller, computes, job_state, wait_for):
    job = controller.run("sbatch --parsable --wait --nodes=2 --time=1 --wrap='srun hostname'")
    assert job.rc == 0, job.stderr
    job_id = job.stdout.strip()
    wait_for(lambda: job_state(job_id), lambda s: s == "COMPLETED", 60, f"sacct state of job {job_id}")
    nodes = controller.check_output("sacct --noheader --parsable2 --jobs %s.0 --format=NodeList", job_id)
    assert nodes.strip() == controller.check_output("scontrol show hostlist %s", ",".join(computes)).strip()


def test_cluster_is_registered_in_accounting(controller):
    name = controller.check_output("scontrol show config | awk '$1 == \"ClusterName\" {print $3}'").strip()
    clusters = controller.check_output("sacctmgr --noheader --parsable2 show cluster format=cluster").split()
    assert name == os.environ.get("MOLECULE_DEBIAN", "bookworm")  # molecule.yml's slurm_cluster_name
    assert name in clusters


def test_slurm_conf_has_one_compressed_node_line_and_accounting(controller, computes, cloud_nodes):
    conf = controller.file("/etc/slurm/slurm.conf").content_string
    node_lines = [line for line in conf.splitlines() if line.startswith("NodeName=")]
    static = [line for line in node_lines if not line.endswith(" State=CLOUD")]
    assert len(static) == 1
    hostlist = controller.check_output("scontrol show hostlist %s", ",".join(computes)).strip()
    assert static[0].startswith(f"NodeName={hostlist} CPUs=")
    assert "[" in hostlist
    # The elastic nodes: one compressed line too.
    cloud = controller.check_output("scontrol show hostlist %s", ",".join(cloud_nodes)).strip()
    (elastic,) = [line for line in node_lines if line not in static]
    assert elastic.startswith(f"NodeName={cloud} CPUs=")
    assert "AccountingStorageType=accounting_storage/slurmdbd" in conf.splitlines()
    # configless; a powered-down elastic node is IDLE, so that a job is scheduled on it (and resumes it)
    parameters = [line.split("=", 1)[1] for line in conf.splitlines() if line.startswith("SlurmctldParameters=")]
    assert [value.split(",") for value in parameters] == [["enable_configless", "idle_on_node_suspend"]]


def test_jobs_get_a_share_of_memory_per_cpu_by_default(controller):
    """Without DefMemPerCPU a job asking for no memory would hold a whole node's memory (CR_Core_Memory). It is the
    smallest node's memory per CPU, the elastic nodes' included (their RealMemory and CPUs from slurm_cloud_nodes)."""
    config = controller.check_output("scontrol show config")
    pairs = (line.partition("=") for line in config.splitlines())
    settings = {key.strip(): value.strip() for key, _sep, value in pairs}
    nodes = [line.split() for line in controller.check_output("sinfo --noheader --Node --format='%c %m'").splitlines()]
    assert settings["DefMemPerCPU"] == str(min(int(memory) // int(cpus) for cpus, memory in nodes))


def test_compute_nodes_are_configless(node, computes, controller):
    for name in computes:
        compute = node(name)
        assert not compute.file("/etc/slurm/slurm.conf").exists
        options = compute.file("/etc/default/slurmd").content_string
        assert f"--conf-server {controller.backend.get_hostname()}:6817" in options
        assert compute.service("slurmd").is_running
        assert compute.service("slurmd").is_enabled


def test_slurmdbd_conf_is_private_to_slurm(controller):
    conf = controller.file("/etc/slurm/slurmdbd.conf")
    assert (conf.user, conf.group, conf.mode) == ("slurm", "slurm", 0o600)
    assert "StoragePass=" in controller.check_output("cat /etc/slurm/slurmdbd.conf")


def test_mariadb_is_secured_and_local(controller):
    insecure = controller.check_output(
        "mariadb --batch --skip-column-names -e \"SELECT CONCAT(User, '@', Host) FROM mysql.user "
        "WHERE User = '' OR (User = 'root' AND Host NOT IN ('localhost', '127.0.0.1', '::1'))\""
    )
    assert insecure.strip() == ""
    assert controller.check_output("mariadb --batch --skip-column-names -e \"SHOW DATABASES LIKE 'test'\"") == ""
    buffer_pool = controller.check_output(
        "mariadb --batch --skip-column-names -e 'SELECT @@innodb_buffer_pool_size, @@innodb_lock_wait_timeout'"
    )
    assert buffer_pool.split() == [str(128 * 1024 * 1024), "900"]
    bind = controller.check_output("mariadb --batch --skip-column-names -e 'SELECT @@bind_address'")
    assert bind.strip() in ("127.0.0.1", "localhost")


def test_every_slurm_daemon_is_enabled(controller):
    for unit in ("munge", "mariadb", "slurmdbd", "slurmctld"):
        assert controller.service(unit).is_enabled, unit
        assert controller.service(unit).is_running, unit
