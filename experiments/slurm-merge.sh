#!/usr/bin/env bash
# Joins the shard folders of a Slurm run of experiments/slurm-array.sh into RUN/merged and
# writes its report (`mxq merge` + `mxq report`). `slurm-array.sh --submit` queues it with
# --dependency=afterok on the array; it also runs by hand, with or without Slurm:
#
#   bash experiments/slurm-merge.sh results/<name>/slurm-<jobid>
#
# Fails (exit 1) when a cell of the manifest is missing from every shard.
#SBATCH --job-name=mxq-merge
#SBATCH --cpus-per-task=1
#SBATCH --mem=2G
#SBATCH --time=00:30:00
#SBATCH --output=slurm-merge-%j.out
set -euo pipefail
die() { echo "slurm-merge.sh: error: $*" >&2; exit 2; }
RUN=${1:?usage: bash experiments/slurm-merge.sh results/<name>/slurm-<jobid>}
RUN=${RUN%/}
if [ -n "${MXQ_ROOT:-}" ]; then ROOT=$MXQ_ROOT
elif [ -n "${SLURM_JOB_ID:-}" ]; then ROOT=${SLURM_SUBMIT_DIR:-$(pwd)}
else ROOT=$(dirname "${BASH_SOURCE[0]}")/..
fi
[ -f "$ROOT/Package.swift" ] && [ -d "$ROOT/experiments" ] ||
  die "$ROOT is not the mxq checkout: submit from the checkout root, or set MXQ_ROOT"
cd "$ROOT"
export MXQ_ROOT=$PWD
MXQ=${MXQ:-$PWD/.build/release/mxq}
[ -x "$MXQ" ] || die "no mxq binary at $MXQ: run 'make build' in $PWD"
shards=()
for d in "$RUN"/shard-*-of-*; do [ -d "$d" ] && shards+=("$d"); done
[ ${#shards[@]} -gt 0 ] || die "no shard folders in $RUN"
out=$("$MXQ" merge "${shards[@]}" --out "$RUN/merged")
echo "$out"
if grep -q '^missing' <<<"$out"; then
  echo "slurm-merge.sh: $RUN is incomplete; resubmit the unfinished shards: bash experiments/slurm-array.sh --resume $RUN" >&2
  exit 1
fi
"$MXQ" report "$RUN/merged"
