"""Faults an operator meets: a node dies and comes back, slurmctld restarts with work queued, MariaDB restarts."""

from __future__ import annotations

import subprocess

SLURM_PLAYBOOK = [{"ansible.builtin.import_playbook": "hpcstack.cluster.slurm"}]


def docker(*args: str) -> None:
    subprocess.run(["docker", *args], check=True, capture_output=True, text=True, timeout=120)


def test_stopped_node_goes_down_and_returns_after_converge(computes, node, node_states, run_playbook, wait_for):
    victim = computes[-1]
    docker("stop", victim)
    try:
        state = wait_for(
            lambda: node_states()[victim],
            lambda s: "NOT_RESPONDING" in s or s.startswith("DOWN"),
            90,
            f"controller's view of stopped {victim}",
        )
        assert "NOT_RESPONDING" in state or state.startswith("DOWN")
    finally:
        docker("start", victim)
    node(victim).run("systemctl is-system-running --wait")
    result = run_playbook(SLURM_PLAYBOOK)
    assert result.returncode == 0, result.stdout[-3000:]
    wait_for(lambda: node_states()[victim], lambda s: s == "IDLE", 60, f"state of restarted {victim}")


def test_queued_job_survives_a_slurmctld_restart(controller, job_state, wait_for):
    job_id = controller.check_output("sbatch --parsable --hold --time=1 --wrap=hostname").strip()
    assert controller.check_output("squeue --noheader --jobs %s --format=%%T", job_id).strip() == "PENDING"
    controller.check_output("systemctl restart slurmctld")
    wait_for(lambda: controller.run("scontrol ping").stdout, lambda out: "is UP" in out, 60, "scontrol ping")
    assert controller.check_output("squeue --noheader --jobs %s --format=%%T", job_id).strip() == "PENDING"
    # Until slurmdbd has given the job its database index, slurmctld refuses updates ("try again in a bit").
    wait_for(lambda: controller.run("scontrol release %s", job_id).rc, lambda rc: rc == 0, 30, f"release of {job_id}")
    wait_for(lambda: job_state(job_id), lambda s: s == "COMPLETED", 60, f"sacct state of released job {job_id}")


def test_accounting_survives_a_mariadb_restart(controller, job_state, wait_for):
    before = controller.check_output("sbatch --parsable --wait --time=1 --wrap=hostname").strip()
    wait_for(lambda: job_state(before), lambda s: s == "COMPLETED", 60, f"sacct state of job {before}")
    controller.check_output("systemctl restart mariadb")
    after = controller.check_output("sbatch --parsable --wait --time=1 --wrap=hostname").strip()
    wait_for(lambda: job_state(after), lambda s: s == "COMPLETED", 90, f"sacct state of job {after} after the restart")
    assert job_state(before) == "COMPLETED"
    # Every job submitted in this scenario so far (ids 1..after) has its record.
    ids = ",".join(str(job) for job in range(1, int(after) + 1))

    def missing() -> str:
        listed = controller.check_output("sacct --noheader --parsable2 --allusers -X --jobs %s --format=JobID", ids)
        return ",".join(job for job in ids.split(",") if job not in listed.split())

    wait_for(missing, lambda lost: lost == "", 60, "job records missing from accounting")
