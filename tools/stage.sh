#!/usr/bin/env bash
# Run one stage of a make target and print how long it took: `tools/stage.sh NAME COMMAND...`.
name=$1
shift
start=$(date +%s)
echo "=== stage $name: start"
"$@"
rc=$?
echo "=== stage $name: $([[ $rc -eq 0 ]] && echo ok || echo "FAILED (rc $rc)") in $(($(date +%s) - start)) s"
exit $rc
