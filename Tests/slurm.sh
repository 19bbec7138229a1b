#!/usr/bin/env bash
# `make test-slurm`: the sharded sweep on a real single-node Slurm cluster.
#
# Installs Debian's slurm-wlm and munge when missing (as root), starts munged, slurmctld
# and slurmd on this machine (one node with its cores, loopback only, every state, spool,
# socket and log file in a temporary folder), and then, through real sbatch:
#   - checks the task script's refusals (no build / no set-up in the submit directory) and,
#     by hand-set SLURM_* variables, its fallbacks (no SLURM_ARRAY_TASK_COUNT, --threads
#     from SLURM_CPUS_PER_TASK);
#   - runs Tests/slurm-ci.json (6 cells, the real model) as 3 array tasks with
#     `experiments/slurm-array.sh --submit 3`, cancels task 1 (scancel) in the middle of its
#     second cell, checks that the afterok merge job is then dropped, resubmits with
#     `--resume` (only index 1 is queued again; it skips its finished cell) and checks that
#     the merged summary.csv and layers.csv equal an unsharded local run (timing columns aside);
#   - requeues a running task (`scontrol requeue`, what preemption does; fake runner, to be
#     quick): it restarts under the same job id, resumes, its log keeps both attempts, and the
#     afterok merge then runs.
# The cluster is torn down on every exit (daemons stopped, job processes of this cluster
# ended, temporary folder removed). Prints the time of the install, the cluster start and
# the array. Needs the release binary (MXQ) and `make setup`.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
MXQ=${MXQ:-$ROOT/.build/release/mxq}
export -n MXQ   # the scripts under test find their binary themselves unless given MXQ explicitly
MANIFEST=Tests/slurm-ci.json
pass=0; fail=0
ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; [ -n "${2:-}" ] && echo "$2" | head -40 | sed 's/^/     /'; return 0; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
t_all=$(now)

[ -x "$MXQ" ] || { echo "test-slurm: no release binary at $MXQ (make build)"; exit 1; }
[ -f "$ROOT/.cache/.setup-done" ] || { echo "test-slurm: run make setup first"; exit 1; }

T=$(mktemp -d /tmp/mxq-slurm.XXXXXX)
chmod 755 "$T"   # munged requires its socket's directory to be searchable by all
export SLURM_CONF=$T/slurm.conf
unset SLURM_JOB_ID SLURM_ARRAY_TASK_ID SLURM_ARRAY_JOB_ID MXQ_ROOT MXQ_RUN_DIR MXQ_SHARDS MXQ_SWEEP_ARGS

teardown() {
  local rc=$?
  trap - EXIT INT TERM
  [ -n "${guard:-}" ] && rm -f "$guard"
  [ -n "${ref_pid:-}" ] && kill "$ref_pid" 2>/dev/null
  if [ -f "$T/slurmctld.pid" ]; then
    scancel --full --quiet --user="$(id -un)" 2>/dev/null
    scontrol shutdown >/dev/null 2>&1
  fi
  local i p pids
  for i in $(seq 50); do
    pids=""
    for p in "$T/slurmctld.pid" "$T/slurmd.pid"; do
      [ -f "$p" ] && kill -0 "$(cat "$p" 2>/dev/null)" 2>/dev/null && pids+=" $(cat "$p" 2>/dev/null)"
    done
    [ -z "$pids" ] && break
    sleep 0.2
  done
  [ -n "$pids" ] && kill -9 $pids 2>/dev/null
  # Job processes of this cluster (slurmstepd, the sweeps) carry its SLURM_CONF in their
  # environment; with proctrack/linuxproc they would outlive slurmd.
  for p in /proc/[0-9]*; do
    [ "${p#/proc/}" = $$ ] && continue
    grep -qzx "SLURM_CONF=$T/slurm.conf" "$p/environ" 2>/dev/null && kill -9 "${p#/proc/}" 2>/dev/null
  done
  [ -f "$T/munged.pid" ] && kill "$(cat "$T/munged.pid")" 2>/dev/null
  for i in $(seq 25); do [ -f "$T/munged.pid" ] && kill -0 "$(cat "$T/munged.pid" 2>/dev/null)" 2>/dev/null || break; sleep 0.2; done
  if [ "$rc" != 0 ] || [ "$fail" != 0 ]; then
    for f in slurmctld.log slurmd.log munged.log; do
      [ -f "$T/$f" ] && { echo "--- last lines of $f"; grep -v 'pmix' "$T/$f" | tail -8; }
    done
  fi
  rm -rf "$T"
  exit "$rc"
}
trap teardown EXIT
trap 'exit 130' INT TERM

# The reference, an unsharded local run of the manifest, starts first: it computes while the
# packages install and the cluster starts (both mostly wait).
t_ref=$(now)
MXQ_QUIET=1 "$MXQ" sweep "$MANIFEST" --out "$T/local" > "$T/local.out" 2>&1 &
ref_pid=$!

# ---- packages ---------------------------------------------------------------------------
t0=$(now)
missing=0
for c in sbatch squeue scancel scontrol slurmctld slurmd munged; do command -v "$c" >/dev/null || missing=1; done
if [ $missing = 1 ]; then
  [ "$(id -u)" = 0 ] || { echo "test-slurm: slurm-wlm/munge are not installed and installing them needs root"; exit 1; }
  echo "installing slurm-wlm and munge (apt-get)"
  # Debian's postinst scripts start the packaged services unless policy-rc.d forbids it;
  # this test runs its own daemons only, so forbid it during the install when nothing does.
  guard=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    guard=/usr/sbin/policy-rc.d
    printf '#!/bin/sh\nexit 101\n' > "$guard"; chmod 755 "$guard"
  fi
  apt-get update -qq > /tmp/mxq-slurm-apt.log 2>&1 &&
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends slurm-wlm munge >> /tmp/mxq-slurm-apt.log 2>&1
  rc=$?
  [ -n "$guard" ] && rm -f "$guard"; guard=""
  [ $rc = 0 ] || { tail -20 /tmp/mxq-slurm-apt.log; echo "test-slurm: apt-get install slurm-wlm munge failed"; exit 1; }
fi
t_install=$(since "$t0")
echo "slurm packages: $(dpkg-query -W -f '${Version}' slurmctld 2>/dev/null), munge $(dpkg-query -W -f '${Version}' munge 2>/dev/null) ($([ $missing = 1 ] && echo installed || echo present) in ${t_install} s)"

# ---- the cluster ------------------------------------------------------------------------

free_port() {   # first port from $1 on that nothing listens to on the loopback
  local p=$1
  while (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; do p=$((p + 1)); done
  echo "$p"
}

t0=$(now)
HOST=$(hostname -s)
CTLD_PORT=$(free_port 16817); SLURMD_PORT=$(free_port $((CTLD_PORT + 1)))
NODE=$(slurmd -C | head -1 | sed 's/ UpTime=.*//')   # NodeName=<host> CPUs=… RealMemory=…
CPUS=$(sed -n 's/.* CPUs=\([0-9]*\).*/\1/p' <<<"$NODE")
mkdir -p "$T/state" "$T/spool"
: > "$T/plugstack.conf"
head -c 1024 /dev/urandom > "$T/munge.key"; chmod 400 "$T/munge.key"
cat > "$SLURM_CONF" <<EOF
ClusterName=mxqci
SlurmctldHost=$HOST(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$T/munge.sock
CredType=cred/munge
StateSaveLocation=$T/state
SlurmdSpoolDir=$T/spool
SlurmctldPidFile=$T/slurmctld.pid
SlurmdPidFile=$T/slurmd.pid
SlurmctldLogFile=$T/slurmctld.log
SlurmdLogFile=$T/slurmd.log
PlugStackConfig=$T/plugstack.conf
MailProg=/bin/true
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$T/jobcomp.txt
SchedulerType=sched/builtin
SchedulerParameters=sched_interval=2
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
SwitchType=switch/none
ReturnToService=2
MinJobAge=900
KillWait=5
$NODE NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=ci Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
EOF
munged --key-file="$T/munge.key" --socket="$T/munge.sock" --pid-file="$T/munged.pid" \
  --log-file="$T/munged.log" --seed-file="$T/munged.seed" || { bad "munged starts" "$(cat "$T/munged.log")"; exit 1; }
slurmctld || { bad "slurmctld starts"; exit 1; }
slurmd -N "$HOST" || { bad "slurmd starts"; exit 1; }
up=0
for i in $(seq 150); do
  [ "$(sinfo -h -n "$HOST" -o %t 2>/dev/null)" = idle ] && { up=1; break; }
  sleep 0.2
done
t_cluster=$(since "$t0")
[ $up = 1 ] && ok "cluster up: munged, slurmctld, slurmd; node $HOST with $CPUS CPUs idle (${t_cluster} s)" || { bad "node idle within 30 s" "$(sinfo 2>&1)"; exit 1; }

# Waits (at most $1 s) until none of the jobs $2… is pending or running.
wait_jobs() {
  local limit=$1; shift
  local ids; ids=$(IFS=,; echo "$*")
  local t; t=$(now)
  while [ -n "$(squeue -h -j "$ids" 2>/dev/null)" ]; do
    [ "$(since "$t" | cut -d. -f1)" -ge "$limit" ] && return 1
    sleep 1
  done
}
# "index:STATE" for every task of array job $1 (or "-:STATE" for a plain job).
job_states() {
  scontrol show job -o "$1" 2>/dev/null |
    sed -n 's/.*JobId=[0-9]* .*ArrayTaskId=\([0-9]*\) .*JobState=\([A-Z_]*\) .*/\1:\2/p; t; s/^JobId=[0-9]* .*JobState=\([A-Z_]*\) .*/-:\1/p' | sort
}
# Rows of CSV $1 without the columns named $2… (fields may be quoted; written by mxq).
csv_drop() {
  local f=$1; shift
  awk -v drop="$*" '
    function split_csv(line, out,   n, i, c, q, cur) {
      n = 0; q = 0; cur = ""
      for (i = 1; i <= length(line); i++) {
        c = substr(line, i, 1)
        if (q) { if (c == "\"") { if (substr(line, i + 1, 1) == "\"") { cur = cur c; i++ } else q = 0 } else cur = cur c }
        else if (c == "\"") q = 1
        else if (c == ",") { out[++n] = cur; cur = "" }
        else cur = cur c
      }
      out[++n] = cur
      return n
    }
    BEGIN { nd = split(drop, d, " "); for (k = 1; k <= nd; k++) gone[d[k]] = 1 }
    { n = split_csv($0, f); s = ""
      for (k = 1; k <= n; k++) {
        if (NR == 1 && (f[k] in gone)) skip[k] = 1
        if (!(k in skip)) s = s "|" f[k]
      }
      print s }' "$f"
}

# ---- the task script's fallbacks and refusals --------------------------------------------
# Older Slurm: no SLURM_ARRAY_TASK_COUNT (n = max + 1); --threads from SLURM_CPUS_PER_TASK.
out=$(env -u SLURM_CONF MXQ="$MXQ" SLURM_ARRAY_JOB_ID=7 SLURM_ARRAY_TASK_ID=1 SLURM_ARRAY_TASK_MIN=0 SLURM_ARRAY_TASK_MAX=2 \
        SLURM_CPUS_PER_TASK=3 SLURM_SUBMIT_DIR="$ROOT" MXQ_RESULTS="$T/fake" MXQ_SWEEP_ARGS="--fake-runner 0" MXQ_QUIET=1 \
        bash experiments/slurm-array.sh "$MANIFEST" 2>&1)
d=$T/fake/slurm-ci/slurm-7/shard-1-of-3
if [ -f "$T/fake/slurm-ci/slurm-7/shard-1-of-3.done" ] && [ "$(ls "$d/cells")" = "$(printf '0001.json\n0004.json')" ] &&
   grep -q '"threads" *: *3' "$d/env.json"; then
  ok "task script without SLURM_ARRAY_TASK_COUNT: shard 1/3 from SLURM_ARRAY_TASK_MAX, 3 threads from SLURM_CPUS_PER_TASK"
else
  bad "task script without SLURM_ARRAY_TASK_COUNT" "$out$(ls -R "$T/fake" 2>&1)"
fi
# A checkout without `make build` / `make setup`: refused before queueing, and in the task.
mkdir -p "$T/bare/experiments" "$T/bare/Tests"
cp Package.swift "$T/bare/"; cp experiments/slurm-array.sh experiments/slurm-merge.sh "$T/bare/experiments/"; cp "$MANIFEST" "$T/bare/Tests/"
out=$(cd "$T/bare" && bash experiments/slurm-array.sh --submit 3 "$MANIFEST" 2>&1); rc=$?
[ $rc = 2 ] && grep -q "run 'make build' in $T/bare" <<<"$out" && [ -z "$(squeue -h)" ] &&
  ok "--submit without a build: exit 2, says to run make build, queues nothing" || bad "--submit without a build" "rc=$rc $out"
mkdir -p "$T/bare/.build/release"; ln -s "$MXQ" "$T/bare/.build/release/mxq"
out=$(cd "$T/bare" && bash experiments/slurm-array.sh --submit 3 "$MANIFEST" 2>&1); rc=$?
[ $rc = 2 ] && grep -q "run 'make setup' in $T/bare" <<<"$out" &&
  ok "--submit without set-up: exit 2, says to run make setup" || bad "--submit without set-up" "rc=$rc $out"
rm "$T/bare/.build/release/mxq"
j=$(cd "$T/bare" && sbatch --parsable --array=0-1 --cpus-per-task=1 --mem=100M --time=2 --output="$T/bare-%a.out" experiments/slurm-array.sh "$MANIFEST")
wait_jobs 60 "$j"
[ "$(job_states "$j")" = "$(printf '0:FAILED\n1:FAILED')" ] && grep -q "run 'make build' in $T/bare" "$T/bare-0.out" &&
  ok "sbatch from a checkout without a build: the tasks fail, saying to run make build in \$SLURM_SUBMIT_DIR" ||
  bad "sbatch without a build" "$(job_states "$j"; cat "$T/bare-0.out")"

# ---- requeue (preemption): same job id, the task resumes; fake runner, 2 s per cell --------
# The lines of slurmctld.log and slurmd.log that name the jobs $1… ("A_i" for an array task,
# and its own job id): what a failure here shows, since a failed launch leaves no job output.
cluster_log() {
  local ids=() a f alt
  for a in "$@"; do [ -n "$a" ] && ids+=("$a"); done
  alt=$(IFS='|'; echo "${ids[*]}")
  for f in slurmctld.log slurmd.log; do
    echo "--- $f (jobs ${ids[*]})"
    grep -E "(JobId=|[Jj]ob |\[|\()($alt)([^0-9_]|$)" "$T/$f" 2>/dev/null | grep -v pmix | tail -10
  done
}
MXQ_QUIET=1 "$MXQ" sweep "$MANIFEST" --out "$T/fake-local" --fake-runner 0 > /dev/null 2>&1
out=$(MXQ="$MXQ" MXQ_RESULTS="$T/fake-rq" MXQ_SWEEP_ARGS="--fake-runner 2" bash experiments/slurm-array.sh --submit 2 "$MANIFEST" --cpus-per-task=1 --mem=500M --time=5 2>&1)
fj=$(sed -n 's/^array job \([0-9]*\) .*/\1/p' <<<"$out"); fm=$(sed -n 's/^merge job \([0-9]*\) .*/\1/p' <<<"$out")
FR=$T/fake-rq/slurm-ci/slurm-$fj
FLOG=$T/fake-rq/slurm-ci/slurm-logs/${fj}_0.out
t=$(now); requeued=0
while [ "$(since "$t" | cut -d. -f1)" -lt 60 ]; do
  [ -f "$FR/shard-0-of-2/cells/0000.json" ] && { scontrol requeue "${fj}_0" && requeued=1; break; }
  sleep 0.2
done
fj0=$(scontrol show job "${fj}_0" 2>/dev/null | sed -n 's/^JobId=\([0-9]*\) .*/\1/p')   # task 0's own job id (once it ran)
# Slurm holds a requeued job back for about two minutes (BeginTime): slurmd revoked the job
# id's credential when it killed the old run, at one-second resolution, and refuses a launch
# whose credential is from that same second ("Job credential revoked": the restart fails
# with exit 1 before the script runs). Release it early, but only once the old run is gone
# (PENDING: no longer COMPLETING, the node reported its end) and the clock has passed that second.
released=0
for i in $(seq 100); do
  if grep -q 'JobState=PENDING' <(scontrol show job "${fj}_0"); then
    s0=$(date +%s)
    while [ "$(date +%s)" -le "$s0" ]; do sleep 0.1; done
    scontrol update JobId="${fj}_0" StartTime=now && released=1
    break
  fi
  sleep 0.2
done
wait_jobs 90 "$fj" "$fm" || bad "requeued array and its merge ended within 90 s" "$(squeue; cluster_log "${fj}_0" "$fj0" "$fm")"
# --open-mode=append (the task script's): the log keeps the killed attempt's output.
grep -q 'Restarts=1' <(scontrol show job "${fj}_0") && [ "$(job_states "$fj")" = "$(printf '0:COMPLETED\n1:COMPLETED')" ] &&
  [ $requeued = 1 ] && [ $released = 1 ] && grep -q "1 cell(s) already finished in $FR/shard-0-of-2, 2 to run" "$FLOG" &&
  grep -q "^mxq task 0 of 2 (job $fj0, restart 0)" "$FLOG" && grep -q "^mxq task 0 of 2 (job $fj0, restart 1)" "$FLOG" &&
  ok "scontrol requeue mid-cell: task 0 restarted under the same job id and resumed its shard (1 cell kept, 2 run); its log kept both attempts" ||
  bad "requeue resumes" "$(scontrol show job "${fj}_0" | grep -E 'JobState|Restarts'; echo "requeued=$requeued released=$released; ${fj}_0.out:"
                         grep -v 'fake stage' "$FLOG" 2>&1 | tail -12; cluster_log "${fj}_0" "$fj0")"
[ "$(job_states "$fm")" = "-:COMPLETED" ] && [ "$(csv_drop "$FR/merged/summary.csv" quantize_s eval_s wall_s)" = "$(csv_drop "$T/fake-local/summary.csv" quantize_s eval_s wall_s)" ] &&
  ok "after the requeue the afterok merge job ran; merged summary.csv equals an unsharded run" ||
  bad "merge after requeue" "$(job_states "$fm"; cat "$T/fake-rq/slurm-ci/slurm-logs/merge-$fm.out" 2>&1; cluster_log "$fm")"

# ---- the reference: the unsharded local run started at the beginning ----------------------
wait "$ref_pid" && ok "local unsharded run of $MANIFEST (done $(since "$t_ref") s after the start)" || bad "local unsharded run" "$(tail "$T/local.out")"
ref_pid=""
t_local=$(since "$t_ref")

# ---- the array: 3 tasks, task 1 cancelled mid-cell, resubmitted, merged -------------------
t0=$(now)
SB=(--cpus-per-task=1 --mem=1500M --time=15)
out=$(MXQ="$MXQ" MXQ_RESULTS="$T/results" bash experiments/slurm-array.sh --submit 3 "$MANIFEST" "${SB[@]}" 2>&1)
echo "$out" | sed 's/^/     /'
job=$(sed -n 's/^array job \([0-9]*\) .*/\1/p' <<<"$out"); merge=$(sed -n 's/^merge job \([0-9]*\) .*/\1/p' <<<"$out")
RUN=$T/results/slurm-ci/slurm-$job
[ -n "$job" ] && [ -n "$merge" ] && ok "--submit 3: array job $job and merge job $merge queued" || { bad "--submit 3" "$out"; exit 1; }
grep -q "Dependency=afterok:${job}_\*" <(scontrol show job "$merge") && ok "merge job depends on the whole array (afterok)" ||
  bad "merge job dependency" "$(scontrol show job "$merge")"
# Task 1 runs cells 1 and 4: cancel it once cell 1 is written, while cell 4 runs.
S1=$RUN/shard-1-of-3
t=$(now); cancelled=0
while [ "$(since "$t" | cut -d. -f1)" -lt 240 ]; do
  if [ -f "$S1/cells/0001.json" ]; then scancel "${job}_1"; cancelled=1; break; fi
  [ -z "$(squeue -h -j "$job")" ] && break
  sleep 0.2
done
[ $cancelled = 1 ] && ok "scancel ${job}_1 after its first cell ($(since "$t0") s into the array)" || bad "task 1 finished a cell within 240 s" "$(job_states "$job")"
cp -p "$S1/cells/0001.json" "$T/cell1.json" 2>/dev/null
out=$(MXQ="$MXQ" MXQ_RESULTS="$T/results" bash experiments/slurm-array.sh --resume "$RUN" "${SB[@]}" 2>&1); rc=$?
[ $rc = 2 ] && grep -q "shards still queued or running: .*2 (job ${job}_2)" <<<"$out" &&
  ok "--resume while task 2 is still queued or running: refused (exit 2), names it" || bad "--resume refuses while shards are active" "rc=$rc $out"
wait_jobs 240 "$job" || bad "array job ended within 240 s" "$(squeue)"
wait_jobs 30 "$merge" || bad "merge job dropped within 30 s" "$(scontrol show job "$merge")"
states=$(job_states "$job")
[ "$states" = "$(printf '0:COMPLETED\n1:CANCELLED\n2:COMPLETED')" ] && ok "tasks 0 and 2 completed, task 1 cancelled" || bad "task states after scancel" "$states"
[ ! -f "$S1/cells/0004.json" ] && [ ! -f "$RUN/shard-1-of-3.done" ] && ok "task 1 was cancelled mid-cell: cell 4 has no record" ||
  bad "task 1 cancelled mid-cell" "$(ls "$S1/cells")"
grep -q '"threads" *: *1,\{0,1\}$' "$RUN/shard-0-of-3/env.json" && grep -q '"shard" *: *"0\\/3"' "$RUN/shard-0-of-3/env.json" &&
  ok "task 0 ran shard 0/3 with 1 thread (--cpus-per-task=1)" || bad "task 0 shard and threads" "$(cat "$RUN/shard-0-of-3/env.json")"
[ "$(job_states "$merge")" = "-:CANCELLED" ] && ok "the afterok merge job was dropped (a task was cancelled)" || bad "merge job after a cancelled task" "$(job_states "$merge")"

out=$(MXQ="$MXQ" MXQ_RESULTS="$T/results" bash experiments/slurm-array.sh --resume "$RUN" "${SB[@]}" 2>&1)
echo "$out" | sed 's/^/     /'
job2=$(sed -n 's/^array job \([0-9]*\) .*/\1/p' <<<"$out"); merge2=$(sed -n 's/^merge job \([0-9]*\) .*/\1/p' <<<"$out")
grep -q "^array job $job2 (tasks 1 of 3 shards)" <<<"$out" && ok "--resume queues only the unfinished index 1" || bad "--resume" "$out"
wait_jobs 240 "$job2" "$merge2" || bad "resubmitted task and merge ended within 240 s" "$(squeue)"
t_array=$(since "$t0")
[ "$(job_states "$job2")" = "1:COMPLETED" ] && [ "$(job_states "$merge2")" = "-:COMPLETED" ] &&
  ok "resubmitted task 1 and its merge job completed" || bad "resubmitted jobs" "$(job_states "$job2"; job_states "$merge2")"
log=$(cat "$T/results/slurm-ci/slurm-logs/${job2}_1.out" 2>/dev/null)
grep -q "1 cell(s) already finished in $S1, 1 to run" <<<"$log" && cmp -s "$T/cell1.json" "$S1/cells/0001.json" &&
  [ "$(stat -c %Y "$T/cell1.json")" = "$(stat -c %Y "$S1/cells/0001.json")" ] &&
  ok "the resubmitted task resumed its shard folder and skipped cell 1 (record untouched)" || bad "resume skipped the finished cell" "$log"
M=$RUN/merged
[ -f "$M/report.md" ] && grep -q '^merged 6 of 6 cells' "$T/results/slurm-ci/slurm-logs/merge-$merge2.out" &&
  ok "merge job: 6 of 6 cells, report.md written" || bad "merge job output" "$(cat "$T/results/slurm-ci/slurm-logs/merge-$merge2.out")"
for f in summary.csv layers.csv; do
  a=$(csv_drop "$T/local/$f" quantize_s eval_s wall_s seconds); b=$(csv_drop "$M/$f" quantize_s eval_s wall_s seconds)
  [ -n "$a" ] && [ "$a" = "$b" ] && ok "merged $f equals the unsharded run ($(wc -l < "$M/$f") lines, timing columns aside)" ||
    bad "merged $f equals the unsharded run" "$(diff <(echo "$a") <(echo "$b") | head -20)"
done

echo "timing: slurm install ${t_install} s, cluster start ${t_cluster} s, local reference run ${t_local} s (from the start, overlapping the rest), array (3 tasks, cancel, resume, merge) ${t_array} s, total $(since "$t_all") s"
echo "test-slurm: $pass passed, $fail failed"
[ "$fail" = 0 ]
