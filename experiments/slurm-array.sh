#!/usr/bin/env bash
# Runs an mxq sweep on a Slurm cluster: array task i of n runs every n-th cell of the
# manifest (`mxq sweep --shard i/n`) into its own shard folder; a merge job that waits for
# the whole array (--dependency=afterok) joins the shards and writes the report.
#
# One command, from the checkout root (on a file system the compute nodes share, after
# `make setup` and `make build` there):
#
#   bash experiments/slurm-array.sh --submit 8 experiments/w4a8-mxint-full.json [SBATCH_OPTION...]
#     -> results/w4a8-mxint-full/slurm-<jobid>/shard-<i>-of-8/   one sweep folder per task
#        results/w4a8-mxint-full/slurm-<jobid>/merged/           summary.csv, layers.csv, report.md
#        results/w4a8-mxint-full/slurm-logs/                     the tasks' and the merge job's output
#
# After a preemption, a time limit or a scancel, resubmit what is unfinished (the same
# array indices; each task resumes its shard folder and skips its finished cells), and a
# new merge job:
#
#   bash experiments/slurm-array.sh --resume results/w4a8-mxint-full/slurm-<jobid> [SBATCH_OPTION...]
#
# A task requeued by Slurm itself (`sbatch --requeue`, `scontrol requeue`) keeps its job id
# and resumes the same way; its log keeps the output of every attempt (--open-mode=append:
# Slurm would otherwise truncate it when the task restarts), each starting with a
# "mxq task i of n (job J, restart R)" line. The script also works as a plain array job
# (merge by hand, or with experiments/slurm-merge.sh):
#
#   sbatch --array=0-7 experiments/slurm-array.sh experiments/w4a8-mxint-full.json
#
# Array indices are the shard indices and must be 0..n-1. n is MXQ_SHARDS if set, else
# SLURM_ARRAY_TASK_COUNT, else (older Slurm) SLURM_ARRAY_TASK_MAX + 1. Threads per task:
# SLURM_CPUS_PER_TASK (else the CPUs the task may use). Run folders go under MXQ_RESULTS
# (default results/, relative to the checkout). The checkout is MXQ_ROOT if set,
# else SLURM_SUBMIT_DIR (Slurm runs a copy of this script from its spool directory).
# Extra sweep options go in MXQ_SWEEP_ARGS (e.g. "--fake-runner 1" to try the set-up
# without the model). Defaults below are for the shipped 135M model; see the README's
# Scale-out section for cores, memory and time per task.
#SBATCH --job-name=mxq-sweep
#SBATCH --cpus-per-task=8
#SBATCH --mem=8G
#SBATCH --time=04:00:00
#SBATCH --output=slurm-%A_%a.out
#SBATCH --open-mode=append
set -euo pipefail

die() { echo "slurm-array.sh: error: $*" >&2; exit 2; }

usage() {
  sed -n '2,/^#SBATCH/p' "${BASH_SOURCE[0]}" | sed -e '/^#SBATCH/d' -e 's/^# \{0,1\}//' >&2
  exit 2
}

# The checkout: it must hold Package.swift and experiments/.
checkout_root() {
  local r=$1
  [ -f "$r/Package.swift" ] && [ -d "$r/experiments" ] ||
    die "$r is not the mxq checkout (no Package.swift and experiments/ there): submit from the checkout root on a file system the compute nodes share, or set MXQ_ROOT"
  (cd "$r" && pwd)
}

# Refuses to go on (or to queue anything) without the release binary, the set-up data and
# a valid manifest, saying what to run where.
preflight() {
  local manifest=$1
  [ -x "$MXQ" ] || die "no mxq binary at $MXQ: run 'make build' in $ROOT (the checkout must be on a file system the compute nodes share)"
  [ -f "$ROOT/.cache/.setup-done" ] || die "$ROOT/.cache is not set up: run 'make setup' in $ROOT (model and Penn Treebank; the checkout must be on a file system the compute nodes share)"
  [ -f "$manifest" ] || die "manifest $manifest not found in $ROOT"
  local err
  err=$("$MXQ" sweep "$manifest" --dry-run 2>&1 >/dev/null) || die "manifest $manifest does not validate:
$err"
}

# key=value lines of RUN/slurm-run.env (written by the first task of a run).
run_env() { sed -n "s/^$2=//p" "$1/slurm-run.env" | head -1; }

# Submits the array (sbatch --array "$1"; its indices, listed, in "$2") of n = "$3" shards
# of manifest "$4" into run folder "$5" (empty: results/<name>/slurm-<jobid>), then a merge
# job after it; the rest are sbatch options. Notes each task's job id in
# RUN/shard-<i>-of-<n>.job, so that --resume can tell queued or running shards.
submit() {
  local spec=$1 list=$2 n=$3 manifest=$4 run=$5; shift 5
  local name logs job merge i
  name=$(basename "$manifest" .json)
  logs=${MXQ_RESULTS:-results}/$name/slurm-logs
  mkdir -p "$logs"
  job=$(sbatch --parsable --job-name="mxq-$name" --output="$logs/%A_%a.out" "$@" \
          --array="$spec" --export="ALL,MXQ_ROOT=$ROOT,MXQ_SHARDS=$n${run:+,MXQ_RUN_DIR=$run}" \
          experiments/slurm-array.sh "$manifest") || die "sbatch refused the array job (message above)"
  job=${job%%;*}
  run=${run:-${MXQ_RESULTS:-results}/$name/slurm-$job}
  mkdir -p "$run"
  [ -f "$run/slurm-run.env" ] || printf 'MANIFEST=%s\nSHARDS=%s\nJOB=%s\n' "$manifest" "$n" "$job" > "$run/slurm-run.env"
  for i in $list; do echo "${job}_$i" > "$run/shard-$i-of-$n.job"; done
  merge=$(sbatch --parsable --job-name="mxq-merge-$name" --output="$logs/merge-%j.out" "$@" \
            --cpus-per-task=1 --dependency="afterok:$job" --kill-on-invalid-dep=yes \
            --export="ALL,MXQ_ROOT=$ROOT" experiments/slurm-merge.sh "$run") ||
    die "array job $job is queued, but sbatch refused the merge job (message above); merge by hand when it is done: bash experiments/slurm-merge.sh $run"
  merge=${merge%%;*}
  echo "array job $job (tasks $spec of $n shards) -> $run/shard-<i>-of-$n"
  echo "merge job $merge (after all tasks succeed) -> $run/merged (summary.csv, layers.csv, report.md)"
  echo "logs: $logs/   resume after preemption: bash experiments/slurm-array.sh --resume $run"
}

case "${1:-}" in
  -h|--help|"") usage ;;
  --submit)
    [ $# -ge 3 ] || usage
    N=$2; MANIFEST=$3; shift 3
    unset MXQ_RUN_DIR MXQ_SHARDS   # a fresh run: not inherited by the tasks
    [[ $N =~ ^[1-9][0-9]*$ ]] || die "--submit expects the number of shards (array tasks), got '$N'"
    ROOT=$(checkout_root "${MXQ_ROOT:-$(dirname "${BASH_SOURCE[0]}")/..}")
    cd "$ROOT"; MXQ=${MXQ:-$ROOT/.build/release/mxq}
    command -v sbatch >/dev/null || die "sbatch not found: run this on a Slurm login node"
    preflight "$MANIFEST"
    submit "0-$((N - 1))" "$(seq 0 $((N - 1)))" "$N" "$MANIFEST" "" "$@"
    exit 0 ;;
  --resume)
    [ $# -ge 2 ] || usage
    RUN=${2%/}; shift 2
    ROOT=$(checkout_root "${MXQ_ROOT:-$(dirname "${BASH_SOURCE[0]}")/..}")
    cd "$ROOT"; MXQ=${MXQ:-$ROOT/.build/release/mxq}
    command -v sbatch >/dev/null || die "sbatch not found: run this on a Slurm login node"
    [ -f "$RUN/slurm-run.env" ] || die "$RUN has no slurm-run.env: not a run folder of this script"
    MANIFEST=$(run_env "$RUN" MANIFEST); N=$(run_env "$RUN" SHARDS)
    preflight "$MANIFEST"
    todo=(); busy=()
    for ((i = 0; i < N; i++)); do
      [ -f "$RUN/shard-$i-of-$N.done" ] && continue
      todo+=("$i")
      j=$(cat "$RUN/shard-$i-of-$N.job" 2>/dev/null || true)
      [ -n "$j" ] && [ -n "$(squeue -h -j "$j" 2>/dev/null)" ] && busy+=("$i (job $j)")
    done
    [ ${#busy[@]} -eq 0 ] || die "shards still queued or running: ${busy[*]}; wait for them (or scancel them), then --resume again"
    if [ ${#todo[@]} -eq 0 ]; then
      echo "all $N shards of $RUN are finished; merging here"
      exec bash experiments/slurm-merge.sh "$RUN"
    fi
    submit "$(IFS=,; echo "${todo[*]}")" "${todo[*]}" "$N" "$MANIFEST" "$RUN" "$@"
    exit 0 ;;
  -*) die "unknown option $1 (see --help)" ;;
esac

# ---- an array task ------------------------------------------------------------------
MANIFEST=$1
[ -n "${SLURM_ARRAY_TASK_ID:-}" ] || die "no SLURM_ARRAY_TASK_ID: run it as: bash experiments/slurm-array.sh --submit N MANIFEST (or sbatch --array=0-<N-1> experiments/slurm-array.sh MANIFEST)"
ROOT=$(checkout_root "${MXQ_ROOT:-${SLURM_SUBMIT_DIR:-$(pwd)}}")
cd "$ROOT"; MXQ=${MXQ:-$ROOT/.build/release/mxq}
export MXQ_ROOT=$ROOT
I=$SLURM_ARRAY_TASK_ID
if [ -n "${MXQ_SHARDS:-}" ]; then
  N=$MXQ_SHARDS
elif [ -n "${SLURM_ARRAY_TASK_COUNT:-}" ]; then
  N=$SLURM_ARRAY_TASK_COUNT
  [ "${SLURM_ARRAY_TASK_MIN:-0}" = 0 ] && [ "$N" = "$(( ${SLURM_ARRAY_TASK_MAX:-$((N - 1))} + 1 ))" ] ||
    die "the array must be 0-(n-1) without gaps or steps (got ${SLURM_ARRAY_TASK_MIN:-?}-${SLURM_ARRAY_TASK_MAX:-?}, $N tasks): the index is the shard; to rerun some shards use --resume"
else
  N=$(( ${SLURM_ARRAY_TASK_MAX:?neither SLURM_ARRAY_TASK_COUNT nor SLURM_ARRAY_TASK_MAX set} + 1 ))
fi
[[ $N =~ ^[1-9][0-9]*$ ]] && (( I >= 0 && I < N )) || die "array index $I is not a shard of $N (indices must be 0..$((N - 1)))"
THREADS=${SLURM_CPUS_PER_TASK:-$(nproc)}
preflight "$MANIFEST"
RUN=${MXQ_RUN_DIR:-${MXQ_RESULTS:-results}/$(basename "$MANIFEST" .json)/slurm-$SLURM_ARRAY_JOB_ID}
OUT=$RUN/shard-$I-of-$N
mkdir -p "$RUN"
if [ ! -f "$RUN/slurm-run.env" ]; then   # what --resume needs (plain sbatch: the first task writes it)
  printf 'MANIFEST=%s\nSHARDS=%s\nJOB=%s\n' "$MANIFEST" "$N" "$SLURM_ARRAY_JOB_ID" > "$RUN/.slurm-run.env.$I"
  mv -f "$RUN/.slurm-run.env.$I" "$RUN/slurm-run.env"
fi
echo "${SLURM_ARRAY_JOB_ID}_$I" > "$OUT.job"
echo "mxq task $I of $N (job ${SLURM_JOB_ID:-?}, restart ${SLURM_RESTART_COUNT:-0}) on $(hostname -s): $OUT, $THREADS threads" >&2
if [ -f "$OUT/manifest.resolved.json" ]; then MODE=(--resume "$OUT"); else MODE=(--out "$OUT"); fi
# shellcheck disable=SC2086  # MXQ_SWEEP_ARGS is a list of words
"$MXQ" sweep "$MANIFEST" "${MODE[@]}" --shard "$I/$N" --threads "$THREADS" ${MXQ_SWEEP_ARGS:-}
touch "$RUN/shard-$I-of-$N.done"
