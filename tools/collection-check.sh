#!/usr/bin/env bash
# Build the collection artifact, install it offline into a scratch collections path (its dependencies come
# from the `ansible` package) and use it by FQCN from outside the checkout, as a user of Galaxy would.
set -euo pipefail
top=$(git rev-parse --show-toplevel)
scratch=$(mktemp -d /tmp/hpcstack-collection.XXXXXX)
trap 'rm -rf "$scratch"' EXIT

ansible-galaxy collection build --output-path "$scratch/dist" "$top" >/dev/null
tarball=$(echo "$scratch"/dist/hpcstack-cluster-*.tar.gz)
echo "built $(basename "$tarball") ($(du -k "$tarball" | cut -f1) KiB, $(tar -tzf "$tarball" | wc -l) entries)"
if tar -tzf "$tarball" | grep -E '^(molecule|tests|tools|\.collections|\.config|\.venv|\.ci)(/|$)'; then
  echo "collection-check: development files above leaked into the artifact; extend build_ignore" >&2
  exit 1
fi

# From here on, nothing of the checkout (its ansible.cfg, its .collections link) may be seen.
cd "$scratch"
printf '[defaults]\n' >"$scratch/ansible.cfg"
export ANSIBLE_CONFIG=$scratch/ansible.cfg ANSIBLE_COLLECTIONS_PATH=$scratch/collections
ansible-galaxy collection install --offline "$tarball"
ansible-doc -l hpcstack.cluster | tee "$scratch/modules.txt"
for module in "$top"/plugins/modules/*.py; do  # listed, and its manual renders (DOCUMENTATION, EXAMPLES, RETURN)
  name=hpcstack.cluster.$(basename "$module" .py)
  grep -q "^$name " "$scratch/modules.txt" \
    || { echo "collection-check: module $name missing from the installed collection" >&2; exit 1; }
  ansible-doc "$name" | grep -q 'RETURN VALUES' \
    || { echo "collection-check: ansible-doc $name did not render its return values" >&2; exit 1; }
done
ansible-doc -t role -l hpcstack.cluster | tee "$scratch/roles.txt"
for role in "$top"/roles/*/; do
  grep -q "^hpcstack.cluster.$(basename "$role"):" "$scratch/roles.txt" \
    || { echo "collection-check: role $(basename "$role") missing from the installed collection" >&2; exit 1; }
done
# Each role's manual has every entry point of its meta/argument_specs.yml (ansible-doc -t role documents their inputs).
mapfile -t role_names < <(for specs in "$top"/roles/*/meta/argument_specs.yml; do
  echo "hpcstack.cluster.$(basename "$(dirname "$(dirname "$specs")")")"
done)
ansible-doc -t role --json "${role_names[@]}" >"$scratch/roles.json"
python3 - "$top/roles" "$scratch/roles.json" <<'PY'
import json, pathlib, sys, yaml
roles, docs = pathlib.Path(sys.argv[1]), json.loads(pathlib.Path(sys.argv[2]).read_text())
for specs in sorted(roles.glob("*/meta/argument_specs.yml")):
    role = f"hpcstack.cluster.{specs.parent.parent.name}"
    for entry in yaml.safe_load(specs.read_text())["argument_specs"]:
        if entry not in docs.get(role, {}).get("entry_points", {}):
            sys.exit(f"collection-check: ansible-doc -t role {role} does not document the entry point {entry}")
PY
for doc in "$top"/plugins/filter/*.yml; do
  [[ -e $doc ]] || continue
  ansible-doc -t filter "hpcstack.cluster.$(basename "$doc" .yml)" >/dev/null
done
for plugin in "$top"/plugins/inventory/*.py; do  # the installed inventory plugin's manual renders
  ansible-doc -t inventory "hpcstack.cluster.$(basename "$plugin" .py)" | grep -q 'OPTIONS' \
    || { echo "collection-check: inventory plugin $(basename "$plugin" .py) has no manual" >&2; exit 1; }
done
for plugin in "$top"/plugins/strategy/*.py; do  # the installed strategy's manual renders
  ansible-doc -t strategy "hpcstack.cluster.$(basename "$plugin" .py)" | grep -q 'Mitogen' \
    || { echo "collection-check: strategy plugin $(basename "$plugin" .py) has no manual" >&2; exit 1; }
done
printf '[cluster]\nnode1 ansible_connection=local\n' >"$scratch/hosts"
ansible-playbook -i "$scratch/hosts" hpcstack.cluster.site --syntax-check
ansible-playbook -i "$scratch/hosts" hpcstack.cluster.site --list-tasks
