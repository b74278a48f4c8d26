# hpcstack.cluster: the two set-up commands are `make cluster` and `make test`; the rest are their parts.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

VENV ?= .venv
PYTHON ?= python3
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export MOLECULE_GLOB := molecule/*/molecule.yml
export ANSIBLE_FORCE_COLOR ?= 0
export PY_COLORS ?= 0
STAGE := tools/stage.sh
INVENTORY ?= inventories/local
BENCH_SIZES ?= 2 16
BENCH_SLURM ?= slurm:2
BENCH_RUNS ?= 3
BENCH_MODEL_SIZES ?= 100 1000 5000
BENCH_USERS ?= 1000
BENCH_INSTANCES ?= 5000
# Longest first (CI's figures), then any new scenario: `make molecule` runs MOLECULE_JOBS of them side by side and
# starts the next as soon as one ends, so the longest do not end up last.
SCENARIOS_LONGEST_FIRST := slurm_bookworm slurm_trixie monitoring bastion spack_buildhost nvidia_toolkit munge
# molecule/slurm runs once per Debian release: molecule-slurm_bookworm and molecule-slurm_trixie (below).
SCENARIO_DIRS := $(patsubst slurm,slurm_bookworm slurm_trixie,\
  $(sort $(notdir $(patsubst %/molecule.yml,%,$(wildcard molecule/*/molecule.yml)))))
SCENARIOS ?= $(filter $(SCENARIO_DIRS),$(SCENARIOS_LONGEST_FIRST)) $(filter-out $(SCENARIOS_LONGEST_FIRST),$(SCENARIO_DIRS))
# Two at a time on the 2-core test machine: a scenario mostly waits (apt, daemons starting, jobs), so two take
# little longer than one. Each scenario's output is printed whole when it ends.
MOLECULE_JOBS ?= 2
# What `make molecule` runs side by side.
DAEMON_TESTS ?= $(addprefix molecule-,$(SCENARIOS))
# The parts of `make test`, longest first by CI's figures (seconds, in two lanes: cluster test 1,480, slurm_bookworm
# 846, slurm_trixie 683, integration 483, monitoring 430, bastion 350, spack 300, nvidia 290, munge 260), except the
# static checks (558), second: they need only the virtualenv, so they run while the base images are built.
# test-newest-ansible comes right after molecule-munge, last: both converge the munge scenario's containers (munge-ctl,
# munge-c1, munge-c2, fixed names), so the two must never converge at the same time. The lanes take parts in order, so
# the other lane starts test-newest-ansible while munge may still run: its unit, sanity and collection stages (no
# munge containers) overlap munge's run; its molecule stage waits for .cache/munge.lock, which molecule-munge holds.
TEST_PARTS ?= cluster-test-steps test-checks $(addprefix molecule-,$(wordlist 1,2,$(SCENARIOS))) test-integration \
  $(addprefix molecule-,$(wordlist 3,$(words $(SCENARIOS)),$(SCENARIOS))) test-newest-ansible

.PHONY: help
help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

# --- set-up pieces ---------------------------------------------------------------------------------------
# Two steps: what ansible-playbook needs (all `make cluster` waits for), then the test tools. --no-compile: byte-compiling
# the ansible package's ~15,000 collection files took 42 s of CPU on 2 cores. Everything else is byte-compiled here
# (about 7 s), once: where PYTHONDONTWRITEBYTECODE is set, as on the test machines, Python never caches what it
# compiles, and every ansible-playbook run compiled ansible-core, Jinja and Mitogen again (0.6 s of each run's start).
COMPILE_VENV = $(VENV)/bin/python -m compileall -q -j0 -x '/ansible_collections/' $(VENV)/lib > /dev/null
$(VENV)/.runtime: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet --no-compile -r requirements.txt
	$(COMPILE_VENV)
	touch $@

$(VENV)/.installed: requirements-dev.txt $(VENV)/.runtime
	$(VENV)/bin/pip install --quiet --no-compile -r requirements-dev.txt
	$(COMPILE_VENV)
	touch $@

.PHONY: venv venv-runtime engine images images-cluster images-rebuild wheels
venv: $(VENV)/.installed ## Python virtualenv with ansible, molecule and the test tools
venv-runtime: $(VENV)/.runtime ## Python virtualenv with what ansible-playbook needs for this collection (no test tools)

# The lock files: every package a workload installs, pinned with its files' hashes (--require-hashes, here and on the
# nodes). `make workloads-lock` makes them again from each workload's requirements.txt.
WORKLOAD_LOCKS := $(wildcard roles/workloads/files/*/requirements.lock)
.cache/wheels/.done: $(WORKLOAD_LOCKS) | $(VENV)/.runtime
	for r in $(WORKLOAD_LOCKS); do \
	  $(VENV)/bin/pip download --quiet --require-hashes --no-deps --dest .cache/wheels/$$(basename $$(dirname $$r)) -r $$r 2>&1 \
	    | { grep -v '^WARNING: Location' || true; }; \
	done
	touch $@

wheels: .cache/wheels/.done ## the workloads' Python wheels (ReFrame, Streamlit) in .cache/wheels, for nodes without an index

.PHONY: workloads-lock
workloads-lock: venv-runtime ## pin the workloads' packages with their hashes again (pip-compile: requirements.txt -> requirements.lock)
	tools/lock-workloads.sh

# Under a lock: `make test`'s two lanes may both ask for them. -o: the dockerd the script starts must not inherit
# the lock's descriptor, or it holds the lock for its whole life and the other lane waits forever.
engine: ## make a Docker engine available (installs/starts Debian's docker.io only when none answers)
	@mkdir -p .cache
	flock -o .cache/engine.lock tools/docker-engine.sh

images: engine ## build the local Debian base images when missing
	flock -o .cache/images.lock tools/build-images.sh

# The local cluster's containers run one suite (inventories/local: docker_node_image); the tests run both.
CLUSTER_SUITES ?= bookworm
# No engine prerequisite: make cluster starts the engine beside it, and mmdebstrap does not need one.
images-cluster: ## build the base image of the local cluster (CLUSTER_SUITES) when missing
	ENGINE_WAIT=300 tools/build-images.sh $(CLUSTER_SUITES)

images-rebuild: engine ## rebuild the local base images
	FORCE=1 tools/build-images.sh

# --- the local cluster -------------------------------------------------------------------------------------
.PHONY: cluster cluster-down health
cluster: ## bring up the local Docker cluster, converge site.yml and the workloads on it, run a smoke job
	@# Side by side: the engine (installed on a bare machine), the base image (mmdebstrap needs no engine until its
	@# import), the virtualenv then the wheels. pip and mmdebstrap mostly wait on the network.
	@$(STAGE) prepare $(MAKE) --no-print-directory --jobs=4 --output-sync=target engine venv-runtime images-cluster wheels
	@$(STAGE) containers ansible-playbook -i $(INVENTORY) playbooks/docker_nodes.yml
	@$(STAGE) site ansible-playbook -i $(INVENTORY) site.yml
	@$(STAGE) workloads ansible-playbook -i $(INVENTORY) playbooks/workloads.yml
	@$(STAGE) smoke ansible-playbook -i $(INVENTORY) playbooks/smoke.yml
	@echo "The local cluster is up: the hybrid reference design, one Slurm cluster over two sites."
	@echo "  Cloud site (Docker network hpcstack-vpc): hpc-bastion, hpc-controller (slurmctld, slurmdbd, Prometheus), hpc-compute01, hpc-build"
	@echo "  On-prem site (hpcstack-onprem, no route to the VPC): hpc-compute02 (2 emulated GPUs), joined by the WireGuard"
	@echo "    site link through the bastion (overlay 10.254.0.0/24): docker exec hpc-bastion wg show"
	@echo "  A job across the sites: docker exec hpc-controller srun -N2 --constraint='[cloud*1&onprem*1]' hostname"
	@echo "  Bursting: partition cloud has eight elastic nodes, powered down until a job needs them; started as containers"
	@echo "    and removed 30 idle seconds after: docker exec hpc-controller sbatch -p cloud -N2 --wrap 'srun hostname'"
	@echo "    then watch: docker ps --filter label=org.hpcstack.elastic; docker exec hpc-controller sinfo -p cloud"
	@echo "  SSH goes through the bastion (published on 127.0.0.1:2200) with the operator key made in $(INVENTORY)/.secrets:"
	@echo "    ssh -F $(INVENTORY)/.secrets/ssh_config -N -L 8501:hpc-compute01:8501 bastion   # a tunnel to a compute node"
	@echo "  Nodes' shells: docker exec -it hpc-controller bash   (sinfo, sbatch, sacct; examples in /opt/hpcstack/examples)"
	@echo "  Streamlit on Slurm: sbatch /opt/hpcstack/examples/streamlit/streamlit.sbatch on hpc-controller, then open"
	@echo "    the tunnel above to the node squeue shows and browse http://127.0.0.1:8501"
	@echo "  Health suite (ReFrame): make health"
	@echo "  Prometheus: http://127.0.0.1:9090 (alerts: /alerts). Grafana: http://127.0.0.1:3000 where it is installed"
	@echo "    (set GRAFANA_APT_REPO_URL), user admin, password in $(INVENTORY)/.secrets/grafana_admin_password."

health: venv-runtime ## run the ReFrame health suite on the local cluster (after make cluster)
	@$(STAGE) health ansible-playbook -i $(INVENTORY) playbooks/health.yml

cluster-down: venv-runtime ## remove the local cluster's containers (and the bastion host key the operator's ssh learnt)
	ansible-playbook -i $(INVENTORY) playbooks/docker_nodes.yml -e docker_nodes_state=absent
	@# The next cluster's bastion has a new host key: a stale one would stop the operator's ssh (StrictHostKeyChecking).
	rm -f $(INVENTORY)/.secrets/known_hosts

# --- tests -------------------------------------------------------------------------------------------------
.PHONY: test cluster-test lint unit integration argspecs sanity collection molecule molecule-setup
# Two lanes side by side, each taking the next of TEST_PARTS (in order, from a queue under a lock) when its part
# ends: the longest first, and no lane idle while parts remain. A lane goes on after a part fails, and fails at its
# end; every part's output is printed whole when it ends, with its stages' times. (make's own job pool started the
# short parts first: its waiting jobs are taken last in, first out.)
test: venv ## everything CI runs: lint, unit and integration tests, argument specs, sanity, collection, molecule and the main job's cluster test
	@mkdir -p .cache && printf '%s\n' $(TEST_PARTS) > .cache/test-parts
	@$(STAGE) lanes $(MAKE) --no-print-directory --keep-going --jobs=2 --output-sync=target lane-a lane-b \
	  HPCSTACK_TEST_RUN=$$(date +%s%N)

.PHONY: lane-a lane-b
lane-a lane-b:
	@failed=""; \
	while part=$$(flock .cache/test-parts.lock sh -c 'head -n 1 .cache/test-parts; sed -i 1d .cache/test-parts') \
	  && [[ -n $$part ]]; do \
	  $(MAKE) --no-print-directory $$part || failed="$$failed $$part"; \
	done; \
	if [[ -n $$failed ]]; then echo "=== $@: failed:$$failed"; exit 1; fi

.PHONY: test-checks test-integration
test-checks: venv
	@$(STAGE) lint $(MAKE) --no-print-directory lint
	@$(STAGE) unit $(MAKE) --no-print-directory unit
	@$(STAGE) argspecs $(MAKE) --no-print-directory argspecs
	@$(STAGE) sanity $(MAKE) --no-print-directory sanity
	@$(STAGE) collection $(MAKE) --no-print-directory collection

test-integration: venv images
	@$(STAGE) integration $(MAKE) --no-print-directory integration

# One converge of the local topology serves the main job and its tests: no molecule scenario converges it again.
cluster-test: cluster-test-steps ## make cluster, tested: a --check preview on its fresh containers, tests/cluster on it (health suite, the site link, services through the bastion, check mode changes nothing), a no-op re-run

# The steps, which `make test` runs first in lane A. Their set-up is the scenarios' (molecule-setup).
.PHONY: cluster-test-steps
cluster-test-steps: molecule-setup
	@$(STAGE) cluster-test-containers ansible-playbook -i $(INVENTORY) playbooks/docker_nodes.yml
	@$(STAGE) cluster-test-check ansible-playbook -i $(INVENTORY) site.yml --check --diff
	@$(MAKE) --no-print-directory cluster
	@$(STAGE) cluster-test-pytest env HPCSTACK_TEST_INVENTORY=$(CURDIR)/$(INVENTORY) pytest -p no:cacheprovider --durations=15 tests/cluster
	@# The re-run must change nothing. Under Mitogen (ansible.cfg), as users run it: Ansible's default executor takes
	@# almost three times as long here (232 s against 82 s), and the munge scenario keeps it green with a converge and its
	@# idempotence check.
	@mkdir -p .cache
	@$(STAGE) cluster-test-noop bash -c 'set -o pipefail; \
	  $(MAKE) --no-print-directory cluster | tee .cache/cluster-noop.log; \
	  ! grep -E "changed=[1-9]" .cache/cluster-noop.log'

lint: venv ## ansible-lint (production profile) and ruff
	ansible-lint --profile production
	ruff check plugins roles tests tools molecule playbooks
	ruff format --check plugins roles tests tools molecule playbooks

unit: venv ## pytest tests/unit
	@# The modules' tests run this machine's gpg and nft (in network namespaces of their own).
	@bash -c 'source tools/lib.sh && ensure_command gpg gpg && ensure_command nft nftables'
	pytest tests/unit

integration: venv engine images ## pytest tests/integration: a moto EC2 server on 127.0.0.1 and real local containers
	pytest -p no:cacheprovider --durations=15 tests/integration

argspecs: venv ## every role's meta/argument_specs.yml matches its defaults/main.yml, and its README is generated from them
	python tools/check_argument_specs.py roles
	python tools/role_readme.py --check roles

sanity: venv ## ansible-test sanity from an ansible_collections/hpcstack/cluster copy
	tools/sanity.sh

collection: venv ## build the collection, install it offline and use it by FQCN
	tools/collection-check.sh

molecule: ## run the molecule scenarios (SCENARIOS="munge ..." to choose; MOLECULE_JOBS=1: one at a time)
	@# Every scenario's target needs molecule-setup: this make makes it once, before any scenario starts.
	@# (`make test` runs the scenarios in its two lanes instead: LANE_A, LANE_B.)
	@$(STAGE) molecule $(MAKE) --no-print-directory --keep-going --jobs=$(MOLECULE_JOBS) --output-sync=target \
	  $(DAEMON_TESTS)

# What every daemon test needs: the network and the apt cache every scenario's create makes (under a lock, once per
# `make test` run: two creates racing would both try to make them).
molecule-setup: venv images wheels
	@VENV=$(VENV) tools/molecule-setup.sh

molecule-%: molecule-setup
	@$(STAGE) molecule-$* molecule test -s $*

# One scenario definition, molecule/slurm, on each Debian release (MOLECULE_DEBIAN: bookworm or trixie). Each run has
# containers of its own names and a molecule state directory of its own (molecule keys the default one by scenario
# name), so CI's two lanes run both releases at once.
molecule-slurm_%: molecule-setup
	@$(STAGE) molecule-slurm_$* env MOLECULE_DEBIAN=$* MOLECULE_EPHEMERAL_DIRECTORY=$(CURDIR)/.cache/molecule/slurm_$* \
	  molecule test -s slurm

# The munge scenario's container names are fixed: its run here and test-newest-ansible's molecule stage take turns.
molecule-munge: molecule-setup
	@mkdir -p .cache
	@$(STAGE) molecule-munge flock .cache/munge.lock molecule test -s munge

# The newest Ansible the collection claims (ansible 14, ansible-core 2.21: Python >= 3.12) in a Debian 13 controller
# container; this .venv (Python 3.11) is the oldest (ansible 12, ansible-core 2.19). Its own stages' times are printed;
# its molecule stage takes .cache/munge.lock (see TEST_PARTS).
.PHONY: test-newest-ansible
test-newest-ansible: images ## unit tests, sanity, collection check, munge converge + idempotence under the newest Ansible (ansible 14, a trixie controller container)
	@$(STAGE) newest-ansible tools/newest-ansible.sh

# --- benchmarks --------------------------------------------------------------------------------------------
.PHONY: bench bench-cluster
bench: venv images ## the Slurm model at 100/1,000/5,000 nodes; site.yml timings under Mitogen and the default executor (slurm:2, 3 runs; local topology 2/16 compute); 1,000 Slurm users (slurm_user vs a loop); 5,000 EC2 instances (hybrid vs aws_ec2); the first and no-op make cluster; the site link (ping, iperf3 vs one network; link return to idle); a burst (sbatch to start on 1 and 8 powered-down elastic nodes)
	python tools/bench_model.py $(BENCH_MODEL_SIZES)
	python tools/bench.py --runs $(BENCH_RUNS) $(BENCH_SLURM)
	python tools/bench.py $(BENCH_SIZES)
	python tools/bench_accounting.py $(BENCH_USERS)
	python tools/bench_inventory.py $(BENCH_INSTANCES)
	tools/bench_cluster.sh
	python tools/bench_site_link.py
	python tools/bench_burst.py

bench-cluster: ## the first make cluster in a fresh clone, stage by stage, and its no-op re-run (BENCH_BARE=1: no images, apt or pip cache)
	tools/bench_cluster.sh
