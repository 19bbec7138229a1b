#!/usr/bin/env bash
# Runs an mxq sweep as a Slurm job array: task i of n runs every n-th cell (--shard i/n)
# into its own folder; merge the shards when all tasks are done.
#
#   sbatch --array=0-7 experiments/slurm-array.sh experiments/w4a8-mxint-full.json
#   mxq merge results/<name>/slurm-<jobid>/shard-* --out results/<name>/slurm-<jobid>/merged
#   mxq report results/<name>/slurm-<jobid>/merged
#
# Extra sweep options can be passed in MXQ_SWEEP_ARGS (e.g. "--fake-runner 0" to try the
# script without a model: SLURM_ARRAY_JOB_ID=1 SLURM_ARRAY_TASK_ID=0 SLURM_ARRAY_TASK_COUNT=2 ...).
# A task that was killed (time limit, preemption) can be re-submitted with the same
# array index: it resumes its shard folder and skips finished cells.
#SBATCH --job-name=mxq-sweep
#SBATCH --cpus-per-task=8
#SBATCH --mem=8G
#SBATCH --time=04:00:00
#SBATCH --output=slurm-%A_%a.out
set -euo pipefail
MANIFEST=${1:?usage: sbatch --array=0-N experiments/slurm-array.sh MANIFEST}
: "${SLURM_ARRAY_TASK_ID:?run this with sbatch --array}"
ROOT=${SLURM_SUBMIT_DIR:-$(pwd)}
cd "$ROOT"
MXQ=${MXQ:-$ROOT/.build/release/mxq}
N=${SLURM_ARRAY_TASK_COUNT:-$(( SLURM_ARRAY_TASK_MAX - SLURM_ARRAY_TASK_MIN + 1 ))}
I=$(( SLURM_ARRAY_TASK_ID - ${SLURM_ARRAY_TASK_MIN:-0} ))
NAME=$(basename "$MANIFEST" .json)
OUT="results/$NAME/slurm-${SLURM_ARRAY_JOB_ID}/shard-$I-of-$N"
if [ -f "$OUT/manifest.resolved.json" ]; then
  exec "$MXQ" sweep "$MANIFEST" --resume "$OUT" --shard "$I/$N" --threads "${SLURM_CPUS_PER_TASK:-1}" ${MXQ_SWEEP_ARGS:-}
else
  exec "$MXQ" sweep "$MANIFEST" --out "$OUT" --shard "$I/$N" --threads "${SLURM_CPUS_PER_TASK:-1}" ${MXQ_SWEEP_ARGS:-}
fi
