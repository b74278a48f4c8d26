# shellcheck shell=bash
# ElasticBurst: a batch job sent to an elastic partition ($1) powers up one of its nodes (slurmctld's ResumeProgram
# starts it), runs there and is recorded in slurmdbd; then the node's state.
set -uo pipefail
id=$(sbatch --parsable --wait --partition="$1" --job-name=rfm_burst --chdir=/tmp --output=/dev/null --nodes=1 \
  --time=5 --wrap=hostname)
echo "submitted $id"
final='(COMPLETED|FAILED|CANCELLED|TIMEOUT|NODE_FAIL|OUT_OF_MEMORY)'
for _ in $(seq 30); do
  record=$(sacct --noheader --allocations --parsable2 --jobs="$id" --format=JobID,JobName,State,ExitCode,NodeList)
  [[ $record =~ ^$id\|rfm_burst\|$final ]] && break
  sleep 2
done
echo "sacct: $record"
node=${record##*|}
echo "node $node: $(scontrol -o show node "$node" | grep -o ' State=[^ ]*')"
