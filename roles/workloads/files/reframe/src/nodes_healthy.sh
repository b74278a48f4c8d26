# shellcheck shell=bash
# SlurmNodesHealthy: every static node and its long state (%T, with power saving's and not-responding flags), one per
# line; a node in several partitions once. Elastic nodes (State=...+CLOUD, slurm_cloud_nodes) come and go: ElasticBurst
# checks them.
set -uo pipefail
static=$(scontrol -o show nodes | awk '!/ State=[^ ]*CLOUD/ { sub(/^NodeName=/, "", $1); print $1 }')
sinfo -h -N -o '%N %T' | sort -u | grep -Fwf <(printf '%s\n' "$static")
