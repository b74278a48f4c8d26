# shellcheck shell=bash
# AccountingRecordsJob: run a batch job to its end, then read its record back from slurmdbd.
set -uo pipefail
id=$(sbatch --parsable --wait --job-name=rfm_accounting --chdir=/tmp --output=/dev/null --nodes=1 --time=1 \
  --wrap=hostname)
echo "submitted $id"
# slurmctld hands the record to slurmdbd asynchronously, and slurmdbd may first hold one without the job's name
# (JobName "allocation", State COMPLETED): wait for the job's own record in a final state.
final='(COMPLETED|FAILED|CANCELLED|TIMEOUT|NODE_FAIL|OUT_OF_MEMORY)'
for _ in $(seq 30); do
  record=$(sacct --noheader --allocations --parsable2 --jobs="$id" --format=JobID,JobName,State,ExitCode)
  [[ $record =~ ^$id\|rfm_accounting\|$final ]] && break
  sleep 2
done
echo "sacct: $record"
scontrol show config | grep -E '^AccountingStorageType'
