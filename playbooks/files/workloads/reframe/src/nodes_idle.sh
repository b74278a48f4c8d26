# shellcheck shell=bash
# SlurmNodesIdle: wait up to a minute for running or completing jobs to end, then list every node and its state.
for _ in $(seq 30); do
  [[ -z "$(sinfo -h -N -t allocated,mixed,completing -o %N)" ]] && break
  sleep 2
done
sinfo -h -N -o '%N %T' | sort -u
