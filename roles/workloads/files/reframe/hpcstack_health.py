"""Health checks of an hpcstack cluster, run by `make health` (playbooks/health.yml) on the Slurm controller.

- SlurmNodesHealthy: every static compute node is registered with slurmctld and up: idle, allocated, mixed or completing
  (a busy cluster is a healthy one), power saving's states included (`~` powered down, `#` powering up, `%` powering
  down, `!` power down pending); down, drained or draining, failing, not responding (`*`) or unknown is not;
- MungeAcrossNodes: a credential made on the controller decodes on every node, and every node's credential decodes
  on the controller (one shared key);
- MpiHelloAcrossNodes: an OpenMPI program built here runs one rank on each of `num_nodes` nodes (srun, PMIx);
- AccountingRecordsJob: a finished batch job is in slurmdbd's accounting, COMPLETED with exit code 0:0;
- JobAcrossSites: one job runs on a node of each site (node features `cloud` and `onprem` by default, `-S sites=a,b`),
  across the WireGuard site link of a hybrid cluster; skipped, and reported as skipped, where a site has no node;
- ElasticBurst: a job sent to an elastic partition (of State=CLOUD nodes, slurm_cloud_nodes) powers up one of its
  nodes, runs there and is COMPLETED in the accounting; skipped, and reported as skipped, where there is none;
- GpuJob: a job asking for one GPU gets one on every node that offers gres/gpu; skipped, and reported as skipped,
  where no node has GPUs.

`-S expected_nodes=a,b` names the compute nodes that must be there (playbooks/health.yml passes the inventory's);
without it any non-empty set of nodes passes. The scripts the checks run are in src/.
"""

import os

import reframe as rfm
from reframe.core.backends import getlauncher
from reframe.core.builtins import run_after, run_before, sanity_function, variable
from reframe.utility import osext
from reframe.utility import sanity as sn
from reframe.utility import typecheck as typ

SUCCESS = r"STATUS:\s+Success \(0\)"


class ClusterCheck(rfm.RunOnlyRegressionTest):
    """A check whose script (in src/) runs on the controller and talks to Slurm itself."""

    valid_systems = ["*"]
    valid_prog_environs = ["*"]
    maintainers = ["hpcstack"]
    tags = {"health"}
    executable = "bash"
    expected_nodes = variable(typ.List[str], value=[])

    def nodes_match(self, pattern):
        """Deferred: the nodes that `pattern` (its group 1) finds in the output are exactly the expected ones, or at
        least one when none is expected."""
        found = sn.extractall(pattern, self.stdout, 1)
        if self.expected_nodes:
            return sn.assert_eq(sn.sorted(sn.defer(set(sn.evaluate(found)))), sorted(self.expected_nodes))
        return sn.assert_gt(sn.count(found), 0, msg="Slurm reports no compute node")


# sinfo's long node states (%T) of a node that works: its base state, then any of power saving's flags.
HEALTHY_STATE = r"(?:idle|allocated|mixed|completing|planned|reserved)[~#%!]*"


@rfm.simple_test
class SlurmNodesHealthy(ClusterCheck):
    descr = "every compute node is registered and up (idle, allocated, mixed or completing)"
    executable_opts = ["nodes_healthy.sh"]

    @sanity_function
    def all_healthy(self):
        return sn.all(
            [
                self.nodes_match(r"^(\S+) \S+$"),
                sn.assert_not_found(rf"^\S+ (?!{HEALTHY_STATE}$)\S+$", self.stdout, msg="a node is not healthy"),
            ]
        )


@rfm.simple_test
class MungeAcrossNodes(ClusterCheck):
    descr = "a munge credential decodes across the controller and every node, both ways"
    executable_opts = ["munge_across.sh"]

    @sanity_function
    def both_ways(self):
        failed = rf"^(?:de|en)coded on \S+: (?!{SUCCESS})"
        return sn.all(
            [
                self.nodes_match(rf"^decoded on (\S+): {SUCCESS}$"),
                self.nodes_match(rf"^encoded on (\S+): {SUCCESS}$"),
                sn.assert_not_found(failed, self.stdout, msg="munge failed on a node"),
            ]
        )


@rfm.simple_test
class MpiHelloAcrossNodes(rfm.RegressionTest):
    descr = "an OpenMPI program runs one rank on each of num_nodes nodes"
    valid_systems = ["*"]
    valid_prog_environs = ["*"]
    maintainers = ["hpcstack"]
    tags = {"health", "mpi"}
    sourcepath = "mpi_hello.c"
    build_system = "SingleSource"
    num_nodes = variable(int, value=2)
    expected_nodes = variable(typ.List[str], value=[])

    @run_before("run")
    def launch_with_srun(self):
        # The stage directory exists on the controller only: srun --bcast copies the program to the nodes (to
        # /var/tmp, as /tmp may be mounted noexec; one fixed name, so repeated runs leave one file).
        self.executable = os.path.join(self.stagedir, os.path.basename(self.executable))
        self.job.launcher = getlauncher("srun")()
        self.job.launcher.options = [
            f"--nodes={self.num_nodes}",
            f"--ntasks={self.num_nodes}",
            "--ntasks-per-node=1",
            "--mpi=pmix",
            "--chdir=/tmp",
            "--bcast=/var/tmp/hpcstack-health-mpi-hello",
            "--job-name=rfm_mpi_hello",
            "--time=2",
        ]

    @sanity_function
    def every_rank_on_its_node(self):
        ranks = sn.extractall(rf"^rank (\d+) of {self.num_nodes} on \S+$", self.stdout, 1, int)
        hosts = sn.extractall(rf"^rank \d+ of {self.num_nodes} on (\S+)$", self.stdout, 1)
        return sn.all(
            [
                sn.assert_eq(sn.sorted(ranks), list(range(self.num_nodes))),
                sn.assert_eq(sn.len(sn.defer(set(sn.evaluate(hosts)))), self.num_nodes, msg="ranks share a node"),
                sn.assert_true(
                    not self.expected_nodes or set(sn.evaluate(hosts)) <= set(self.expected_nodes),
                    msg="a rank ran on a node that is not a compute node of the inventory",
                ),
            ]
        )


@rfm.simple_test
class AccountingRecordsJob(ClusterCheck):
    descr = "a finished batch job is in the accounting database, COMPLETED 0:0"
    executable_opts = ["accounting.sh"]

    @sanity_function
    def recorded(self):
        submitted = sn.extractsingle(r"^submitted (\d+)$", self.stdout, 1)
        recorded = sn.extractsingle(r"^sacct: (\d+)\|rfm_accounting\|COMPLETED\|0:0$", self.stdout, 1)
        return sn.all(
            [
                sn.assert_eq(recorded, submitted),
                sn.assert_found(r"^AccountingStorageType\s*=\s*accounting_storage/slurmdbd$", self.stdout),
            ]
        )


@rfm.simple_test
class JobAcrossSites(ClusterCheck):
    descr = "one job runs on a node of each site (cloud and on-prem), across the site link"
    tags = {"health", "hybrid"}
    sites = variable(typ.List[str], value=["cloud", "onprem"])

    @run_after("setup")
    def find_sites(self):
        lines = osext.run_command("sinfo -h -N -o '%N %f'", check=True).stdout.splitlines()
        features = {line.split()[0]: set(line.split()[-1].split(",")) for line in lines}
        missing = [site for site in self.sites if not any(site in found for found in features.values())]
        self.skip_if(len(self.sites) != 2 or bool(missing), f"no node of site(s) {missing or self.sites}")
        self.executable_opts = ["across_sites.sh", *self.sites]

    @sanity_function
    def one_node_per_site(self):
        ran_on = sn.extractall(r"^task [01] on (\S+)$", self.stdout, 1)
        features = dict(sn.evaluate(sn.extractall(r"^features (\S+) (\S+)$", self.stdout, tag=(1, 2))))
        sites_of = [set(features.get(node, "").split(",")) & set(self.sites) for node in sn.evaluate(ran_on)]
        return sn.all(
            [
                sn.assert_eq(sn.len(ran_on), 2, msg="the job did not run two tasks"),
                sn.assert_eq(
                    sorted(site for found in sites_of for site in found),
                    sorted(self.sites),
                    msg=f"the job's nodes are not one per site: {sites_of}",
                ),
            ]
        )


@rfm.simple_test
class ElasticBurst(ClusterCheck):
    descr = "a job sent to an elastic partition powers up a cloud node, runs there and is in the accounting"
    tags = {"health", "elastic"}

    @run_after("setup")
    def find_elastic_partition(self):
        lines = osext.run_command("scontrol -o show nodes", check=True).stdout.splitlines()
        cloud = [line for line in lines if "CLOUD" in line.split(" State=", 1)[-1].split(" ", 1)[0]]
        partitions = [
            line.split(" Partitions=", 1)[1].split(",", 1)[0].split()[0] for line in cloud if " Partitions=" in line
        ]
        self.skip_if(not partitions, "no elastic (State=CLOUD) node is in a partition")
        self.executable_opts = ["burst.sh", partitions[0] if partitions else ""]

    @sanity_function
    def ran_on_a_cloud_node(self):
        submitted = sn.extractsingle(r"^submitted (\d+)$", self.stdout, 1)
        recorded = sn.extractsingle(r"^sacct: (\d+)\|rfm_burst\|COMPLETED\|0:0\|\S+$", self.stdout, 1)
        return sn.all(
            [
                sn.assert_eq(recorded, submitted),
                sn.assert_found(r"^node \S+:  State=[A-Z+_]*CLOUD", self.stdout, msg="not run on a cloud node"),
            ]
        )


@rfm.simple_test
class GpuJob(ClusterCheck):
    descr = "a job asking for one GPU gets one on every node that offers gres/gpu"
    tags = {"health", "gpu"}

    @run_after("setup")
    def find_gpu_nodes(self):
        lines = osext.run_command("sinfo -h -N -o '%N %G'", check=True).stdout.splitlines()
        self.gpu_nodes = sorted({line.split()[0] for line in lines if "gpu" in line.split()[-1]})
        self.skip_if(not self.gpu_nodes, "no node offers gres/gpu")
        self.executable_opts = ["gpu_job.sh", *self.gpu_nodes]

    @sanity_function
    def got_a_gpu(self):
        nodes = sn.extractall(r"^gpu job on (\S+): CUDA_VISIBLE_DEVICES=\d+$", self.stdout, 1)
        return sn.assert_eq(sn.sorted(nodes), self.gpu_nodes)
