#!/usr/bin/env bash
# Make what every daemon test needs: the Docker network and the apt cache each scenario's create makes
# (molecule/shared/create.yml with no platforms). `make test` runs its two lanes side by side, so this runs under a
# lock, and once per run (HPCSTACK_TEST_RUN, set by `make test`); elsewhere at every call.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .cache
exec 9> .cache/molecule-setup.lock
flock 9
run=${HPCSTACK_TEST_RUN:-}
if [[ -n $run && "$(cat .cache/molecule-setup.run 2> /dev/null)" == "$run" ]]; then
  exit 0
fi
ansible-playbook -i localhost, -c local -e "ansible_python_interpreter=$PWD/${VENV:-.venv}/bin/python" \
  -e '{"molecule_yml": {"platforms": []}}' molecule/shared/create.yml > /dev/null
echo "$run" > .cache/molecule-setup.run
