"""ReFrame configuration of an hpcstack cluster: ReFrame runs on the Slurm controller (the login node).

The nodes share no file system, so ReFrame's stage directories exist on the controller only. The partition therefore
uses the `local` scheduler: each check runs on the controller and starts its work on the compute nodes itself, with
srun (the MPI check through ReFrame's srun launcher, which broadcasts the program to the nodes with --bcast).
"""

site_configuration = {
    "systems": [
        {
            "name": "hpcstack",
            "descr": "hpcstack.cluster: checks run on the controller, jobs on the compute nodes",
            "hostnames": [".*"],
            "modules_system": "nomod",
            "partitions": [
                {
                    "name": "compute",
                    "descr": "the Slurm cluster, reached with srun/sbatch from the controller",
                    "scheduler": "local",
                    "launcher": "local",
                    "environs": ["openmpi"],
                    "max_jobs": 1,
                }
            ],
        }
    ],
    "environments": [
        {"name": "openmpi", "cc": "mpicc", "cxx": "mpicxx", "ftn": "mpifort", "target_systems": ["hpcstack"]},
    ],
    "general": [{"check_search_recursive": False}],
}
