# shellcheck shell=bash
# SlurmNodesHealthy: every node and its long state (%T, with power saving's and not-responding flags), one per line; a
# node in several partitions once.
sinfo -h -N -o '%N %T' | sort -u
