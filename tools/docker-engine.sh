#!/usr/bin/env bash
# Make a Docker engine available for the test bed and the local cluster.
# Uses the engine that answers; otherwise, and only as root on Debian, installs Debian's docker.io and
# starts dockerd in the background (no systemd on CI machines). Anything else gets a clear message.
set -euo pipefail

if docker info >/dev/null 2>&1; then
  echo "docker-engine: an engine answers ($(docker info --format '{{.ServerVersion}} {{.Driver}}'))"
  exit 0
fi

if [[ $(id -u) -ne 0 ]] || ! grep -qs '^ID=debian' /etc/os-release; then
  echo "docker-engine: no Docker engine answers and this is not root on Debian;" >&2
  echo "  start an engine yourself (or set DOCKER_HOST) and run again." >&2
  exit 1
fi

if ! command -v dockerd >/dev/null 2>&1; then
  # shellcheck source=tools/lib.sh
  source "$(dirname "$0")/lib.sh"
  ensure_command dockerd docker.io
  # The package's maintainer scripts may have started an engine already.
  if docker info >/dev/null 2>&1; then
    echo "docker-engine: the docker.io package started an engine"
    exit 0
  fi
fi

log=/var/log/hpcstack-dockerd.log
echo "docker-engine: starting dockerd (log: $log)"
nohup dockerd >"$log" 2>&1 &
echo $! >/run/hpcstack-dockerd.pid
for _ in $(seq 1 60); do
  if docker info >/dev/null 2>&1; then
    echo "docker-engine: dockerd $(docker info --format '{{.ServerVersion}} {{.Driver}}') is up (pid $(cat /run/hpcstack-dockerd.pid))"
    exit 0
  fi
  sleep 1
done
echo "docker-engine: dockerd did not answer within 60 s; last lines of $log:" >&2
tail -n 20 "$log" >&2
exit 1
