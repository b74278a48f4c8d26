# shellcheck shell=bash disable=SC2016  # single-quoted commands expand on the nodes, not here
# MungeAcrossNodes: a credential made here decodes on every node, and every node's credential decodes here.
set -uo pipefail
# The static nodes: powered-down elastic nodes (State=...+CLOUD) are not running; ElasticBurst starts one.
nodes=$(scontrol -o show nodes | awk '!/ State=[^ ]*CLOUD/ { sub(/^NodeName=/, "", $1); print $1 }' | paste -sd,)
count=$(tr , '\n' <<<"$nodes" | wc -l)
run_on_each() { srun --nodelist="$nodes" --nodes="$count" --ntasks-per-node=1 --time=1 --chdir=/tmp "$@"; }

HPCSTACK_CRED=$(munge --no-input)
export HPCSTACK_CRED
run_on_each bash -c 'echo "decoded on $(hostname): $(unmunge <<<"$HPCSTACK_CRED" | grep ^STATUS:)"'

run_on_each bash -c 'echo "$(hostname) $(munge --no-input)"' | while read -r host cred; do
  echo "encoded on $host: $(unmunge <<<"$cred" | grep ^STATUS:)"
done
