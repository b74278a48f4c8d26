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
BENCH_SIZES ?= 2 16 2+db
BENCH_USERS ?= 1000
BENCH_INSTANCES ?= 5000
SCENARIOS ?= $(sort $(notdir $(patsubst %/molecule.yml,%,$(wildcard molecule/*/molecule.yml))))

.PHONY: help
help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

# --- set-up pieces ---------------------------------------------------------------------------------------
$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements-dev.txt
	touch $@

.PHONY: venv engine images images-rebuild
venv: $(VENV)/.installed ## Python virtualenv with ansible, molecule and the test tools

engine: ## make a Docker engine available (installs/starts Debian's docker.io only when none answers)
	tools/docker-engine.sh

images: engine ## build the local Debian base images when missing
	tools/build-images.sh

images-rebuild: engine ## rebuild the local base images
	FORCE=1 tools/build-images.sh

# --- the local cluster -------------------------------------------------------------------------------------
.PHONY: cluster cluster-down
cluster: venv images ## bring up the local Docker cluster and converge site.yml on it
	@$(STAGE) containers ansible-playbook -i $(INVENTORY) playbooks/docker_nodes.yml
	@$(STAGE) site ansible-playbook -i $(INVENTORY) site.yml
	@$(STAGE) smoke ansible-playbook -i $(INVENTORY) playbooks/smoke.yml
	@echo "The local cluster is up. Reach a node with: docker exec -it hpc-controller bash"
	@echo "The bastion (hpc-bastion) runs the hardened sshd and fail2ban; operators' keys go in bastion_users."
	@echo "Prometheus: http://127.0.0.1:9090 (alerts: /alerts). Grafana: http://127.0.0.1:3000 where it is installed (set GRAFANA_APT_REPO_URL),"
	@echo "  user admin, password in inventories/local/.secrets/grafana_admin_password."

cluster-down: venv ## remove the local cluster's containers
	ansible-playbook -i $(INVENTORY) playbooks/docker_nodes.yml -e docker_nodes_state=absent

# --- tests -------------------------------------------------------------------------------------------------
.PHONY: test lint unit integration argspecs sanity collection molecule
test: venv images ## everything CI runs: lint, unit and integration tests, argument specs, sanity, collection, molecule
	@$(STAGE) lint $(MAKE) --no-print-directory lint
	@$(STAGE) unit $(MAKE) --no-print-directory unit
	@$(STAGE) integration $(MAKE) --no-print-directory integration
	@$(STAGE) argspecs $(MAKE) --no-print-directory argspecs
	@$(STAGE) sanity $(MAKE) --no-print-directory sanity
	@$(STAGE) collection $(MAKE) --no-print-directory collection
	@$(MAKE) --no-print-directory molecule

lint: venv ## ansible-lint (production profile) and ruff
	ansible-lint --profile production
	ruff check plugins roles tests tools molecule
	ruff format --check plugins roles tests tools molecule

unit: venv ## pytest tests/unit
	pytest tests/unit

integration: venv engine images ## pytest tests/integration: a moto EC2 server on 127.0.0.1 and real local containers
	pytest -p no:cacheprovider tests/integration

argspecs: venv ## every role's meta/argument_specs.yml matches its defaults/main.yml, and its README is generated from them
	python tools/check_argument_specs.py roles
	python tools/role_readme.py --check roles

sanity: venv ## ansible-test sanity from an ansible_collections/hpcstack/cluster copy
	tools/sanity.sh

collection: venv ## build the collection, install it offline and use it by FQCN
	tools/collection-check.sh

molecule: venv images ## run the molecule scenarios (SCENARIOS="munge ..." to choose)
	@for s in $(SCENARIOS); do $(STAGE) molecule-$$s molecule test -s $$s; done

# --- benchmarks --------------------------------------------------------------------------------------------
.PHONY: bench
bench: venv images ## converge timings; 1,000 Slurm users (slurm_user vs a loop); 5,000 EC2 instances (hybrid vs aws_ec2)
	python tools/bench.py $(BENCH_SIZES)
	python tools/bench_accounting.py $(BENCH_USERS)
	python tools/bench_inventory.py $(BENCH_INSTANCES)
