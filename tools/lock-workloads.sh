#!/usr/bin/env bash
# Pin every package of each workload (roles/workloads/files/<app>/requirements.txt) with the hashes of its files,
# into <app>/requirements.lock, with pip-tools' pip-compile run by this machine's Python (Debian 12's 3.11, the nodes'
# Python; resolve on the nodes' Python version). The nodes and `make wheels` install from the locks with
# --require-hashes. pip-tools lives in a virtualenv of its own under .cache, not in the collection's.
set -euo pipefail
cd "$(dirname "$0")/.."
tools_venv=.cache/pip-tools-venv
if [[ ! -x $tools_venv/bin/pip-compile ]]; then
  python3 -m venv "$tools_venv"
  "$tools_venv/bin/pip" install --quiet pip-tools 2>&1 | { grep -v '^WARNING: Location' || true; }
fi
for requirements in roles/workloads/files/*/requirements.txt; do
  lock=${requirements%.txt}.lock
  # No index URLs or find-links in the file: they are this machine's, not the nodes'.
  "$tools_venv/bin/pip-compile" --quiet --generate-hashes --strip-extras --no-emit-index-url --no-emit-find-links \
    --no-header --output-file "$lock.new" "$requirements" 2>&1 | { grep -v '^WARNING: Location' || true; }
  {
    echo "# Made by \`make workloads-lock\` (pip-compile --generate-hashes) from requirements.txt beside it; do not edit."
    echo "# Installed with --require-hashes: a file whose hash is not here is refused."
    cat "$lock.new"
  } > "$lock"
  rm -f "$lock.new"
  echo "lock-workloads: $lock: $(grep -c '^[A-Za-z0-9]' "$lock") packages"
done
