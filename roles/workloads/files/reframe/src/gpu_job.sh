# shellcheck shell=bash disable=SC2016  # single-quoted commands expand on the nodes, not here
# GpuJob: one single-GPU job on each node given as an argument; Slurm sets CUDA_VISIBLE_DEVICES to its GPU.
set -uo pipefail
for node in "$@"; do
  srun --nodelist="$node" --nodes=1 --ntasks=1 --gres=gpu:1 --time=1 --chdir=/tmp \
    bash -c 'echo "gpu job on $(hostname): CUDA_VISIBLE_DEVICES=${CUDA_VISIBLE_DEVICES:-}"'
done
