"""Slurm works as a cluster: nodes idle, jobs run across both nodes and are recorded in accounting."""

from __future__ import annotations


def test_both_compute_nodes_are_idle(controller, computes, wait_for):
    def sinfo():
        return controller.check_output("sinfo --noheader --Node --format='%N %T'")

    out = wait_for(sinfo, lambda out: out.split() == [w for c in computes for w in (c, "idle")], 60, "sinfo")
    assert out.split() == [computes[0], "idle", computes[1], "idle"]


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
    assert name.startswith("debian")
    assert name in clusters


def test_slurm_conf_has_one_compressed_node_line_and_accounting(controller, computes):
    conf = controller.file("/etc/slurm/slurm.conf").content_string
    node_lines = [line for line in conf.splitlines() if line.startswith("NodeName=")]
    assert len(node_lines) == 1
    hostlist = controller.check_output("scontrol show hostlist %s", ",".join(computes)).strip()
    assert node_lines[0].startswith(f"NodeName={hostlist} CPUs=")
    assert "[" in hostlist
    assert "AccountingStorageType=accounting_storage/slurmdbd" in conf.splitlines()
    assert "SlurmctldParameters=enable_configless" in conf.splitlines()


def test_jobs_get_a_share_of_memory_per_cpu_by_default(controller):
    """Without DefMemPerCPU a job asking for no memory would hold a whole node's memory (CR_Core_Memory)."""
    config = controller.check_output("scontrol show config")
    pairs = (line.partition("=") for line in config.splitlines())
    settings = {key.strip(): value.strip() for key, _sep, value in pairs}
    cpus, memory = controller.check_output("sinfo --noheader --Node --format='%c %m'").split()[:2]
    assert settings["DefMemPerCPU"] == str(int(memory) // int(cpus))


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
