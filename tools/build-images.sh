#!/usr/bin/env bash
# Build the local base images of the test bed: Debian with systemd as PID 1 and python3, made by
# mmdebstrap (Debian's debootstrap alternative: apt fetches the packages in parallel and dpkg installs them in one
# run, about twice as fast on the test machine: 35 s against 73-80 s) and `docker import`, because no container
# registry is reachable.
#
#   tools/build-images.sh [SUITE...]       build the missing ones (default: bookworm trixie)
#   FORCE=1 tools/build-images.sh          rebuild even when present
#
# The mirror comes from HPCSTACK_APT_MIRROR, else from this machine's own apt configuration.
# Also builds hpcstack/apt-cache, the apt-cacher-ng container every test node fetches packages through.
set -euo pipefail

suites=("$@")
[[ ${#suites[@]} -gt 0 ]] || suites=(bookworm trixie)
prefix=${HPCSTACK_IMAGE_PREFIX:-hpcstack/debian}
include=systemd,systemd-sysv,dbus,python3,python3-apt,iproute2,procps,ca-certificates,gpg,sudo,less

# Print the first Debian archive URI of the machine's apt configuration (deb822 or one-line style),
# skipping the security archive, whose layout differs.
mirror_from_apt_config() {
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [[ -f $f ]] || continue
    awk '/^URIs:/ {uri=$2} /^Suites:/ { if ($0 !~ /-security/ && uri != "") { print uri; exit } } /^$/ {uri=""}' "$f"
  done | head -n1 | grep . && return 0
  grep -hsE '^deb[[:space:]]' /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
    | grep -v -- '-security' | awk '{ for (i = 2; i <= NF; i++) if ($i ~ /^(http|https|file):/) { print $i; exit } }' \
    | head -n1 | grep .
}

mirror=${HPCSTACK_APT_MIRROR:-$(mirror_from_apt_config || true)}
if [[ -z $mirror ]]; then
  echo "build-images: no Debian mirror in /etc/apt and HPCSTACK_APT_MIRROR is unset" >&2
  exit 1
fi
# shellcheck source=tools/lib.sh
source "$(dirname "$0")/lib.sh"
ensure_command mmdebstrap mmdebstrap

# mmdebstrap needs no engine: with ENGINE_WAIT=N (make cluster, which starts the engine beside this) a missing
# engine only stops the build at `docker import`, after waiting up to N seconds for it.
engine_wait=${ENGINE_WAIT:-0}
wait_for_engine() {
  local _
  for _ in $(seq 0 "$engine_wait"); do
    docker info >/dev/null 2>&1 && return 0
    sleep 1
  done
  echo "build-images: no Docker engine answers (make engine starts one)" >&2
  return 1
}

build_suite() {
  local suite=$1 image=$prefix:$1 rootfs start=$SECONDS
  if docker info >/dev/null 2>&1 && docker image inspect "$image" >/dev/null 2>&1 && [[ -z ${FORCE:-} ]]; then
    echo "build-images: $image present, reused (FORCE=1 rebuilds)"
    return 0
  fi
  rootfs=$(mktemp -d "/var/tmp/hpcstack-rootfs-$suite.XXXXXX")
  # build_suite runs in a background subshell: this removes the scratch tree however it ends.
  trap 'rm -rf "$rootfs" "$rootfs.log"' EXIT
  echo "build-images: mmdebstrap $suite"
  if ! mmdebstrap --variant=minbase --include="$include" "$suite" "$rootfs" "$mirror" >"$rootfs.log" 2>&1; then
    tail -n 30 "$rootfs.log" >&2
    return 1
  fi
  echo "deb $mirror $suite main contrib non-free" >"$rootfs/etc/apt/sources.list"
  # A container must not start gettys, udev or time sync; the hostname and machine-id come from docker.
  for unit in getty.target systemd-udevd.service systemd-timesyncd.service systemd-networkd.service \
              systemd-resolved.service console-getty.service; do
    ln -sf /dev/null "$rootfs/etc/systemd/system/$unit"
  done
  # As Docker's own Debian images: a container's disk is scratch, so dpkg need not fsync each file it unpacks, and
  # a node needs no manuals, no documentation beyond the licences, no translated package descriptions. The first
  # converge unpacks a few hundred packages per node on 2 cores: this is most of its disk time.
  cat >"$rootfs/etc/dpkg/dpkg.cfg.d/hpcstack-container" <<'DPKG'
force-unsafe-io
path-exclude=/usr/share/doc/*
path-include=/usr/share/doc/*/copyright
path-exclude=/usr/share/man/*
path-exclude=/usr/share/info/*
DPKG
  echo 'Acquire::Languages "none";' >"$rootfs/etc/apt/apt.conf.d/90hpcstack-container"
  : >"$rootfs/etc/machine-id"
  : >"$rootfs/etc/resolv.conf" # docker gives each container its own
  rm -f "$rootfs/etc/hostname" "$rootfs/var/cache/apt/archives/"*.deb
  # Empty package lists dated 1970, so the first `apt update_cache cache_valid_time=...` really updates.
  rm -rf "$rootfs/var/lib/apt/lists/"*
  touch -d @0 "$rootfs/var/lib/apt/lists"
  wait_for_engine || return 1
  docker image inspect "$image" >/dev/null 2>&1 && [[ -z ${FORCE:-} ]] && { echo "build-images: $image present"; return 0; }
  tar -C "$rootfs" --numeric-owner -c . | docker import \
    --change 'ENV container=docker' \
    --change 'CMD ["/lib/systemd/systemd"]' \
    --change "LABEL org.hpcstack.suite=$suite org.hpcstack.role=base" \
    - "$image" >/dev/null
  echo "build-images: $image built in $((SECONDS - start)) s"
}

build_apt_cache() {
  local image=hpcstack/apt-cache:latest base=$prefix:${suites[0]}
  if docker image inspect "$image" >/dev/null 2>&1 && [[ -z ${FORCE:-} ]]; then
    echo "build-images: $image present, reused"
    return 0
  fi
  local out
  out=$(DOCKER_BUILDKIT=0 docker build -q -t "$image" --build-arg BASE="$base" - 2>&1 <<'DOCKERFILE'
ARG BASE
FROM ${BASE}
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends apt-cacher-ng \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb
# Debian mirrors are remapped to one cache namespace; anything else is cached under its own host name.
EXPOSE 3142
USER apt-cacher-ng
CMD ["/usr/sbin/apt-cacher-ng", "-c", "/etc/apt-cacher-ng", "ForeGround=1", "LogDir=/var/cache/apt-cacher-ng"]
DOCKERFILE
  ) || { echo "$out" >&2; echo "build-images: building $image failed" >&2; return 1; }
  echo "build-images: $image built"
}

pids=()
for suite in "${suites[@]}"; do
  build_suite "$suite" &
  pids+=($!)
done
rc=0
for pid in "${pids[@]}"; do wait "$pid" || rc=1; done
[[ $rc -eq 0 ]] || exit 1
build_apt_cache
