# shellcheck shell=bash disable=SC2016  # single-quoted commands expand on the nodes, not here
# JobAcrossSites: one job with one node in each site ($1, $2: node features), each task printing its node; then the
# features of the nodes it ran on. Over the site link: slurmctld and srun on the cloud side, slurmd on both.
set -euo pipefail
srun --nodes=2 --ntasks-per-node=1 --constraint="[$1*1&$2*1]" --job-name=rfm_across_sites --time=2 \
  bash -c 'echo "task $SLURM_PROCID on $SLURMD_NODENAME"' | sort
sinfo -h -N -o '%N %f' | sort -u | sed 's/^/features /'
