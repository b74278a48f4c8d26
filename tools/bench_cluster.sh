#!/usr/bin/env bash
# The first `make cluster` as a new user runs it, stage by stage, then the no-op second run (issue 18, item 4).
#
# Runs in a fresh clone of this checkout (no .venv, no .cache, no .secrets), so the virtualenv, the workloads' wheels
# and the cluster are made from nothing. make cluster's prepare stage installs and starts Debian's docker.io where no
# engine answers (on a bare machine: beside mmdebstrap and pip). BENCH_BARE=1 also removes the base image, the
# apt-cache container and its volume first and turns pip's cache off, so images, wheels and every package are fetched
# again. make cluster's own stages (prepare: the virtualenv then the wheels, beside the base image; containers; site;
# workloads; smoke) are printed. Targets (this machine kind, 2 cores): first run <= 360 s, no-op second run <= 90 s.
#
#   tools/bench_cluster.sh            # or: make bench-cluster;  BENCH_BARE=1 make bench-cluster
#   BENCH_LOG_DIR=dir keeps make's output of each step there (with ANSIBLE_CALLBACKS_ENABLED=ansible.posix.profile_tasks:
#   where the time goes).
#
# Refuses when a local cluster (hpc-* containers) exists: it would be replaced. Removes its cluster and clone at the end.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
target_first=360
target_noop=90

if docker info >/dev/null 2>&1 && [[ -n $(docker ps -aq --filter name='^hpc-') ]]; then
  echo "bench-cluster: hpc-* containers exist (a local cluster is up); run make cluster-down first" >&2
  exit 1
fi
if [[ ${BENCH_BARE:-0} == 1 ]] && docker info >/dev/null 2>&1; then
  echo "bench-cluster: BENCH_BARE=1: removing the base image, the apt-cache container and its volume"
  docker rm -f hpcstack-apt-cache >/dev/null 2>&1 || true
  docker volume rm hpcstack-apt-cache >/dev/null 2>&1 || true
  docker image rm hpcstack/debian:bookworm hpcstack/apt-cache:latest >/dev/null 2>&1 || true
fi
if [[ ${BENCH_BARE:-0} == 1 ]]; then export PIP_NO_CACHE_DIR=1; fi

work=$(mktemp -d /tmp/hpcstack-bench-cluster.XXXXXX)
log=$work/make.log
clone=$work/hpcstack
cleanup() {
  if [[ -x $clone/.venv/bin/ansible-playbook ]]; then
    make -C "$clone" --no-print-directory cluster-down >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
git clone --quiet "$src" "$clone"

declare -a names=() secs=()
step() { # step NAME MAKE-TARGET: time one make target, keep its output in the log
  local name=$1 start=$SECONDS
  shift
  echo "--- bench-cluster: $name"
  if ! make -C "$clone" --no-print-directory "$@" >>"$log" 2>&1; then
    tail -40 "$log" >&2
    echo "bench-cluster: make $* failed (stage $name)" >&2
    exit 1
  fi
  if [[ -n ${BENCH_LOG_DIR:-} ]]; then mkdir -p "$BENCH_LOG_DIR" && cp "$log" "$BENCH_LOG_DIR/bench-cluster-$name.log"; fi
  names+=("$name")
  secs+=($((SECONDS - start)))
}

start=$SECONDS
step cluster cluster
first=$((SECONDS - start))
# make cluster prints its own stages: pick them out of the log.
sub=$(grep -E '^=== stage [a-z]+: ok in [0-9]+ s' "$log" | sed -E 's/^=== stage ([a-z]+): ok in ([0-9]+) s/\1 \2/')
: >"$log"
noop_start=$SECONDS
step noop cluster
noop=$((SECONDS - noop_start))
if grep -qE 'changed=[1-9]' "$log"; then
  grep -E 'changed=[1-9]' "$log" >&2
  echo "bench-cluster: the second make cluster changed something" >&2
  exit 1
fi
noop_site=$(sed -nE 's/^=== stage site: ok in ([0-9]+) s/\1/p' "$log")

echo
# As tools/bench.py prints it: the machine's CPU speed just now, which figures of different runs must share.
"$clone/.venv/bin/python" - "$src/tools" <<'PY' 2>/dev/null || true
import os, sys
sys.path.insert(0, sys.argv[1])
import bench
print(f"machine: {os.cpu_count()} CPUs; a fixed pure-Python loop (20 M additions) took {bench.cpu_loop_seconds():.2f} s (best of 3)")
PY
echo "first make cluster on this machine ($(nproc) CPUs), stage by stage:"
for i in "${!names[@]}"; do
  [[ ${names[$i]} == noop ]] && continue
  printf '  %-10s %5s s\n' "${names[$i]}" "${secs[$i]}"
  if [[ ${names[$i]} == cluster ]]; then
    while read -r n s; do printf '    %-12s %5s s\n' "$n" "$s"; done <<<"$sub"
  fi
done
printf '  %-10s %5s s   (target <= %s s)  %s\n' total "$first" "$target_first" \
  "$([[ $first -le $target_first ]] && echo met || echo MISSED)"
printf 'no-op second make cluster: %s s (site %s s)   (target <= %s s)  %s\n' "$noop" "${noop_site:-?}" "$target_noop" \
  "$([[ $noop -le $target_noop ]] && echo met || echo MISSED)"
