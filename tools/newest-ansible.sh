#!/usr/bin/env bash
# The newest Ansible lane of CI: the unit tests, ansible-test sanity, the collection check and the munge scenario's
# converge and idempotence under the newest ansible the collection claims (ansible 14, ansible-core 2.21), which needs
# Python >= 3.12. This machine's .venv (Python 3.11) resolves the oldest (ansible 12, ansible-core 2.19), so the
# newest runs in a controller container: Debian 13 (python3 3.13) from the local base image hpcstack/debian:trixie,
# with the Docker CLI and this machine's engine socket, so the scenario's node containers are siblings of it.
#
#   tools/newest-ansible.sh           build the controller image when missing (cached by a hash of what goes into
#                                     it), then run the stages in a container of it with this checkout mounted
#   FORCE=1 tools/newest-ansible.sh   rebuild the image even when present
#
# apt inside the build uses the base image's mirror, through the test bed's apt cache (hpcstack-apt-cache) when it
# runs; pip uses the package index of this machine's pip configuration (index-url, cert), passed into the build.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
stage=$top/tools/stage.sh
base=${HPCSTACK_IMAGE_PREFIX:-hpcstack/debian}:trixie
label=org.hpcstack.lane=newest-ansible
scenario=munge
started=$(date +%s)

scratch=$(mktemp -d /tmp/hpcstack-newest-ansible.XXXXXX)
controller=hpcstack-newest-ansible-$$
cleanup() {
  local rc=$? name created
  docker rm -f "$controller" >/dev/null 2>&1 || true
  # A run stopped from outside kills the controller before its own destroy: remove the scenario's containers this run
  # made (created after it started; an older munge-* belongs to someone else).
  for name in $(docker ps -a --format '{{.Names}}' --filter "label=org.hpcstack.node" | grep "^$scenario-" || true); do
    created=$(date -d "$(docker inspect -f '{{.Created}}' "$name" 2>/dev/null)" +%s 2>/dev/null || echo 0)
    if ((created >= started)); then
      echo "newest-ansible: removing $name, left by this run"
      docker rm -f "$name" >/dev/null 2>&1 || true
    fi
  done
  rm -rf "$scratch"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

docker image inspect "$base" >/dev/null 2>&1 || { echo "newest-ansible: $base missing (make images)" >&2; exit 1; }

# --- what goes into the image: requirements-dev.txt without the linters (the oldest lane runs them), ansible 14 ---
{
  echo 'ansible>=14,<15'
  grep -hvE '^\s*(#|-r|ansible>|ansible-lint|ruff)|^\s*$' requirements.txt requirements-dev.txt \
    | sed 's/[[:space:]]*#.*//'
} >"$scratch/requirements.txt"
# pip's own settings on this machine: an index and a CA bundle (a site's TLS-inspecting egress) go into the build.
pip_index=${PIP_INDEX_URL:-$(pip3 config get global.index-url 2>/dev/null || true)}
pip_cert=${PIP_CERT:-$(pip3 config get global.cert 2>/dev/null || true)}
if [[ -n $pip_cert && -f $pip_cert ]]; then cp "$pip_cert" "$scratch/ca.crt"; else : >"$scratch/ca.crt"; fi
cat >"$scratch/Dockerfile" <<'DOCKERFILE'
ARG BASE
FROM ${BASE}
ARG APT_PROXY=
ARG PIP_INDEX_URL=
# The Docker CLI (the engine is the host's, through its socket), git (sanity.sh lists files with it), shellcheck
# (ansible-test's shellcheck test), gpg and nftables (unit tests of the modules; gpg-agent: gpg makes keys through
# it), python3-venv.
RUN apt-get ${APT_PROXY:+-o Acquire::http::Proxy=$APT_PROXY} update -qq \
    && DEBIAN_FRONTEND=noninteractive apt-get ${APT_PROXY:+-o Acquire::http::Proxy=$APT_PROXY} install -y -qq \
       --no-install-recommends python3-venv docker-cli git shellcheck gpg gpg-agent nftables util-linux >/dev/null \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb
COPY ca.crt requirements.txt /opt/hpcstack/
# pip's settings in /etc/pip.conf, not the environment: ansible-test passes few variables to the pip of its sanity
# virtualenvs. The CA bundle (when given; empty otherwise) joins the image's trust store, so every client trusts it.
RUN if [ -s /opt/hpcstack/ca.crt ]; then cp /opt/hpcstack/ca.crt /usr/local/share/ca-certificates/hpcstack-pip.crt \
      && update-ca-certificates >/dev/null; fi; \
    printf '[global]\ncert = /etc/ssl/certs/ca-certificates.crt\ndisable-pip-version-check = true\n' >/etc/pip.conf; \
    if [ -n "$PIP_INDEX_URL" ]; then printf 'index-url = %s\n' "$PIP_INDEX_URL" >>/etc/pip.conf; fi; \
    unset PIP_INDEX_URL; \
    python3 -m venv /opt/venv && /opt/venv/bin/pip install -q --upgrade pip \
    && /opt/venv/bin/pip install -q --no-compile -r /opt/hpcstack/requirements.txt \
    && /opt/venv/bin/python -m compileall -q -j0 -x '/ansible_collections/' /opt/venv/lib >/dev/null \
    && rm -rf /root/.cache/pip
ENV PATH=/opt/venv/bin:$PATH
LABEL org.hpcstack.role=controller
DOCKERFILE
hash=$( { cat "$scratch/Dockerfile" "$scratch/requirements.txt" "$scratch/ca.crt"; echo "$pip_index";
          docker image inspect -f '{{.Id}}' "$base"; } | sha256sum | cut -c1-12)
image=hpcstack/ansible-newest:$hash

build_image() {
  if docker image inspect "$image" >/dev/null 2>&1 && [[ -z ${FORCE:-} ]]; then
    echo "newest-ansible: $image present, reused (FORCE=1 rebuilds)"
    return 0
  fi
  local net=() proxy=
  # The node images' apt cache, when it runs: the packages come from the same cache as the nodes'.
  if [[ $(docker inspect -f '{{.State.Running}}' hpcstack-apt-cache 2>/dev/null) == true ]]; then
    net=(--network hpcstack)
    proxy=http://hpcstack-apt-cache:3142
  fi
  DOCKER_BUILDKIT=0 docker build -q --rm --force-rm "${net[@]}" -t "$image" --label "$label" \
    --build-arg BASE="$base" --build-arg APT_PROXY="$proxy" --build-arg PIP_INDEX_URL="$pip_index" "$scratch" >/dev/null
  docker run --rm --label "$label" "$image" ansible --version | head -n 1
}
# Under a lock: two runs must not build the same image at once.
mkdir -p "$top/.cache"
touch "$top/.cache/munge.lock"
exec 8>"$top/.cache/newest-ansible-image.lock"
flock 8
# tools/stage.sh (a bash script) runs the function, exported with what it reads.
export -f build_image
export image base scratch label pip_index
"$stage" newest-ansible-image build_image
flock -u 8

# --- the stages, in a container of that image ---------------------------------------------------------------
# The checkout read-only, at its own path (the tools find it with git); SYS_ADMIN and NET_ADMIN without seccomp or
# AppArmor confinement (as the node containers): the nft_allowlist tests make network namespaces of their own.
# /tmp and HOME are the container's: ansible-test's virtualenvs and molecule's state live there. The munge lock file
# (Makefile, TEST_PARTS) is shared with the host: its molecule-munge and this molecule stage take turns.
env_args=(-e ANSIBLE_FORCE_COLOR=0 -e PY_COLORS=0 -e PYTHONDONTWRITEBYTECODE=1 -e "ANSIBLE_CONFIG=$top/ansible.cfg"
          -e "MOLECULE_GLOB=molecule/*/molecule.yml")
docker run --rm --name "$controller" --label "$label" --init \
  -v "$top:$top:ro" -w "$top" -v /var/run/docker.sock:/var/run/docker.sock \
  -v "$top/.cache/munge.lock:/run/hpcstack-munge.lock" \
  --cap-add SYS_ADMIN --cap-add NET_ADMIN --security-opt seccomp=unconfined --security-opt apparmor=unconfined \
  "${env_args[@]}" "$image" bash -euo pipefail -c '
    stage=tools/stage.sh
    ansible --version | head -n 1
    failed=""
    $stage newest-unit pytest -p no:cacheprovider -q tests/unit || failed="$failed unit"
    $stage newest-sanity tools/sanity.sh || failed="$failed sanity"
    $stage newest-collection bash -c \
      "tools/collection-check.sh >/tmp/collection.log || { cat /tmp/collection.log; exit 1; }" \
      || failed="$failed collection"
    # Whether Mitogen loads under this ansible-core: reported, not a failure (the scenario runs without it).
    if ANSIBLE_STRATEGY=hpcstack.cluster.mitogen_linear ansible localhost -c local -m ansible.builtin.ping \
         -e ansible_python_interpreter=/opt/venv/bin/python >/tmp/mitogen.log 2>&1; then
      echo "=== newest ansible: Mitogen $(pip show mitogen | sed -n "s/^Version: //p") loads and runs a task"
    else
      echo "=== newest ansible: Mitogen does not run under this ansible-core:"; tail -n 5 /tmp/mitogen.log
    fi
    # The scenario'"'"'s containers have fixed names: `make molecule-munge` on this machine holds the same lock.
    $stage newest-molecule flock /run/hpcstack-munge.lock bash -c "
      trap \"molecule destroy -s '"$scenario"' >/dev/null 2>&1\" EXIT
      molecule converge -s '"$scenario"' && molecule idempotence -s '"$scenario"'" \
      || failed="$failed molecule"
    if [[ -n $failed ]]; then echo "=== newest ansible: failed:$failed"; exit 1; fi
  ' &
# In the background, waited for: a signal interrupts `wait` at once (not a foreground docker run), and the trap
# removes the container.
wait $!
