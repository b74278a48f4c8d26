#!/usr/bin/env bash
# ansible-test sanity needs the collection at .../ansible_collections/hpcstack/cluster: copy the tracked and
# new (not ignored) files there, outside this git tree (ansible-test lists files with git), and run it.
# ansible-test's own Python tools (pylint, yamllint, ...) go into virtualenvs it manages itself.
set -euo pipefail
top=$(git rev-parse --show-toplevel)
# shellcheck source=tools/lib.sh
source "$top/tools/lib.sh"

# ansible-test skips its shellcheck test (with only a warning) when the program is missing: never let a
# skipped check pass as a green one.
ensure_command shellcheck shellcheck
scratch=$(mktemp -d /tmp/hpcstack-sanity.XXXXXX)
trap 'rm -rf "$scratch"' EXIT
dest=$scratch/ansible_collections/hpcstack/cluster
mkdir -p "$dest"

# ansible-test bootstraps pip in its virtualenvs with a script it downloads from a host we cannot reach;
# put our stand-in where it looks first, for the pip version it pins.
pip_version=$(python3 -c 'from ansible_test._internal.python_requirements import get_venv_packages
import types; print(get_venv_packages(types.SimpleNamespace(version="3.11"))["pip"])')
get_pip=$HOME/.ansible/test/cache/get_pip_${pip_version//./_}.py
[[ -f $get_pip ]] || install -D -m 0644 "$top/tools/ansible_test_get_pip.py" "$get_pip"
cd "$top"
git ls-files -z --cached --others --exclude-standard --deduplicate | grep -zv '^\.collections/' \
  | tar -cf - --null --no-recursion --ignore-failed-read -T - | tar -C "$dest" -xf -
# The import test loads plugins with only the collections beside this one: put galaxy.yml's dependencies there,
# from the ones the `ansible` package installed.
for dep in $(python3 -c 'import yaml; print(" ".join(yaml.safe_load(open("galaxy.yml"))["dependencies"]))'); do
  src=$(python3 -c 'import importlib.util, sys
print(importlib.util.find_spec("ansible_collections." + sys.argv[1]).submodule_search_locations[0])' "$dep")
  mkdir -p "$scratch/ansible_collections/${dep%%.*}"
  cp -a "$src" "$scratch/ansible_collections/${dep%%.*}/"
done
cd "$dest"
ansible-test sanity --python "$(python3 -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')" \
  --color no "$@"
