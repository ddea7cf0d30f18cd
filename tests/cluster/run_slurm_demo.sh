#!/usr/bin/env bash
# A small demo study through a real, single-node SLURM controller, then the same study
# locally, and a comparison of the two: "runs on a cluster" shown rather than claimed. The
# cluster run is the documentation's SLURM blocks (README's quick version first), run as pasted
# by tests/test_docs.py::test_slurm_block from a plain shell.
#
# Needs root (apt-get, daemons as root/munge). Exits 0 with a SKIP message only when the
# SLURM packages cannot be installed; every other failure exits non-zero naming the step.
# Environment knobs:
#   ABGD_SLURM_WORK   keep everything under this directory instead of a deleted temp dir
#   ABGD_SLURM_PLUGIN pip requirement for the executor plugin (default: the pinned version)
#   ABGD_SKIP_INSTALL=1  do not run apt-get / pip (already installed)
#   ABGD_SLURM_CONFIG study config, relative to the repository (default tests/cluster/slurm.yaml,
#                     the smallest study with every stage; tests/config/tiny.yaml for all systems)
#   ABGD_SLURM_ARGS   extra snakemake arguments for the SLURM run (word-split)
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
VENV="$ROOT/.venv"
PLUGIN="${ABGD_SLURM_PLUGIN:-snakemake-executor-plugin-slurm==2.8.0}"
CONFIG_REL="${ABGD_SLURM_CONFIG:-tests/cluster/slurm.yaml}"
STEP="setup"
PIDS=()
SMK_PID=""
LOCAL_PID=""
LINKED_CONF=0

log() { printf '[slurm-demo %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
fail() { log "FAILED at step '$STEP': $*"; exit 1; }

if [[ -n "${ABGD_SLURM_WORK:-}" ]]; then
    WORK="$ABGD_SLURM_WORK"
    mkdir -p "$WORK"
    KEEP_WORK=1
else
    WORK="$(mktemp -d -t abgd-slurm.XXXXXX)"
    KEEP_WORK=0
fi

cleanup() {
    local rc=$?
    # An interrupted run: let snakemake cancel its SLURM jobs, then make sure none is left.
    local pid
    for pid in $SMK_PID $LOCAL_PID; do
        if kill -0 "$pid" 2>/dev/null; then
            kill -INT "$pid" 2>/dev/null || true
            for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
            kill -KILL "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
        fi
    done
    if [[ -n "$SMK_PID" ]]; then
        scancel --full --quiet --partition=debug 2>/dev/null || true
    fi
    # Stop exactly the daemons this script started, newest first (slurmd before slurmctld
    # before munged), then wait so no orphan outlives the script.
    local i
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
        kill "${PIDS[i]}" 2>/dev/null || true
    done
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
        wait "${PIDS[i]}" 2>/dev/null || true
    done
    if ((LINKED_CONF == 1)); then
        rm -f "$ETC_CONF"
        if [[ -e "$WORK/slurm.conf.before" || -L "$WORK/slurm.conf.before" ]]; then
            mv "$WORK/slurm.conf.before" "$ETC_CONF"
        fi
    fi
    if ((rc != 0)); then
        log "exit $rc; daemon logs and study logs are under $WORK"
        for f in "$WORK"/slurm/slurmctld.log "$WORK"/slurm/slurmd.log; do
            [[ -f "$f" ]] && { log "--- tail $f"; tail -n 20 "$f" >&2; }
        done
    elif ((KEEP_WORK == 0)); then
        rm -rf "$WORK"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------------ 1. packages
STEP="install slurm-wlm and munge"
if [[ "${ABGD_SKIP_INSTALL:-0}" != 1 ]]; then
    if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
        if [[ "$(id -u)" != 0 ]] || ! command -v apt-get >/dev/null; then
            log "SKIP: slurm-wlm/munge are not installed and this machine cannot install them" \
                "(needs root and apt-get)"
            exit 0
        fi
        t_apt=$SECONDS
        if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
                apt-get install -y -qq slurm-wlm munge; } >"$WORK/apt.log" 2>&1; then
            log "SKIP: slurm-wlm/munge cannot be installed here (see $WORK/apt.log)"
            KEEP_WORK=1
            exit 0
        fi
        log "installed slurm-wlm and munge in $((SECONDS - t_apt)) s"
    fi
    STEP="install the executor plugin"
    "$VENV/bin/pip" install --quiet "$PLUGIN" || fail "pip install $PLUGIN"
fi
command -v slurmctld >/dev/null || fail "slurmctld not on PATH"
"$VENV/bin/snakemake" --help | grep -q -- '--slurm-status-command' \
    || fail "snakemake does not list the slurm executor's settings"

# ------------------------------------------------------------------ 2. configuration
STEP="write slurm.conf"
S="$WORK/slurm"
M="$WORK/munge"
mkdir -p "$S/state" "$S/spool" "$M"
chmod 755 "$WORK"
CPUS="$(nproc)"
# Leave headroom so slurmd does not drain the node for "low RealMemory".
MEM_MB="$(awk '/MemTotal/ {print int($2 / 1024 * 0.9)}' /proc/meminfo)"
cat >"$S/slurm.conf" <<EOF
ClusterName=abgd-ci
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$M/munge.socket
StateSaveLocation=$S/state
SlurmdSpoolDir=$S/spool
SlurmctldPidFile=$S/slurmctld.pid
SlurmdPidFile=$S/slurmd.pid
SlurmctldLogFile=$S/slurmctld.log
SlurmdLogFile=$S/slurmd.log
SlurmctldPort=16817
SlurmdPort=16818
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
# Finished jobs stay visible to squeue for an hour: the executor reads job states from
# squeue because there is no accounting (sacct) on this cluster.
MinJobAge=3600
SchedulerParameters=sched_interval=2
MessageTimeout=30
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEM_MB State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF="$S/slurm.conf"
# The slurm-jobstep plugin strips every SLURM_* variable (SLURM_CONF included) before its
# inner srun, so inside a job only the compiled-in path works: link ours there for the run
# and put back whatever was there before (see cleanup).
ETC_CONF=/etc/slurm/slurm.conf
mkdir -p "$(dirname "$ETC_CONF")"
if [[ -e "$ETC_CONF" || -L "$ETC_CONF" ]]; then
    mv "$ETC_CONF" "$WORK/slurm.conf.before"
fi
ln -s "$SLURM_CONF" "$ETC_CONF"
LINKED_CONF=1

# ------------------------------------------------------------------ 3. daemons
STEP="start munged"
dd if=/dev/urandom of="$M/munge.key" bs=1024 count=1 status=none
chown -R munge:munge "$M"
# munged wants its socket directory searchable by everyone (clients, job users).
chmod 755 "$M"
chmod 400 "$M/munge.key"
# munged must run as its own user; runuser keeps the pid of munged itself (exec).
runuser -u munge -- munged --foreground --key-file="$M/munge.key" --socket="$M/munge.socket" \
    --pid-file="$M/munged.pid" --log-file="$M/munged.log" --seed-file="$M/munged.seed" \
    >"$M/munged.out" 2>&1 &
PIDS+=($!)
for _ in $(seq 50); do [[ -S "$M/munge.socket" ]] && break; sleep 0.2; done
[[ -S "$M/munge.socket" ]] || fail "munged did not create its socket ($M/munged.log)"

STEP="start slurmctld"
for port in 16817 16818; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        fail "port $port is in use: is another SLURM (or this demo) already running?"
    fi
done
slurmctld -D -i -f "$SLURM_CONF" >"$S/slurmctld.out" 2>&1 &
PIDS+=($!)
STEP="start slurmd"
slurmd -D -N localhost -f "$SLURM_CONF" >"$S/slurmd.out" 2>&1 &
PIDS+=($!)

STEP="wait for the node to be idle"
state=""
for _ in $(seq 60); do
    state="$(sinfo -h -N -n localhost -o '%t' 2>/dev/null || true)"
    [[ "$state" == idle ]] && break
    sleep 1
done
[[ "$state" == idle ]] || fail "node state is '${state:-unknown}' after 60 s"
for pid in "${PIDS[@]}"; do
    kill -0 "$pid" 2>/dev/null || fail "daemon $pid exited (see $S/*.out, $M/munged.out)"
done
log "SLURM up: $(sinfo -h -o '%P %a %D %t %c CPUs %m MB')"

# ------------------------------------------------------------------ 4. the study
STEP="snapshot the workflow"
# Both runs use one frozen copy of the workflow and package: every SLURM job re-reads the
# Snakefile, config schema and code, so edits to the working tree during the run would
# otherwise reach some jobs and not others. The workflow itself puts the copy's src/ first on
# every job's PYTHONPATH (docs/environments.md), so nothing is exported for it here.
SNAP="$WORK/workflow"
mkdir -p "$SNAP"
(cd "$ROOT" && tar -cf - Snakefile workflow config src profiles envs tests/config tests/cluster) \
    | tar -C "$SNAP" -xf - || fail "copy the workflow to $SNAP"
export PATH="$VENV/bin:$PATH"
ROOT_RUN="$ROOT"
ROOT="$SNAP"
CONFIG="$SNAP/$CONFIG_REL"
[[ -f "$CONFIG" ]] || fail "no study config $CONFIG_REL"
DATASET="$(awk '$1 == "dataset:" {print $2}' "$CONFIG")"

STEP="study on SLURM and locally"
# The cluster run is the documentation's SLURM blocks as a reader pastes them (README's quick
# version first): tests/test_docs.py::test_slurm_block runs them from a plain shell in a copied
# checkout ($CLUSTER), with this cluster's partition, the study $CONFIG_REL and the settings
# below that any site without accounting would put in its profile.
CLUSTER="$WORK/cluster"
LOCAL="$WORK/local"
mkdir -p "$LOCAL"
PARTITION="$(sinfo -h -o '%R' | head -n 1)"
# --slurm-no-account --slurm-status-command squeue: this cluster has no accounting, hence no
# account to give (the test drops the README's slurm_account=<account> word).
# --slurm-keep-successful-logs: so the checks below can read what each job saw.
# --slurm-init-seconds-before-status-checks 2: the default (40 s, growing by 10 s while
# nothing finishes) is polite to a busy controller but makes a chain of short jobs take many
# minutes; this private controller can be asked every two seconds.
SITE_ARGS="--slurm-no-account --slurm-status-command squeue --slurm-keep-successful-logs"
SITE_ARGS+=" --slurm-init-seconds-before-status-checks 2 ${ABGD_SLURM_ARGS:-}"
t0=$SECONDS
# The local run for the comparison goes alongside the cluster run: the cluster run spends much
# of its time waiting (sbatch, srun, status polls), and both are deterministic whatever else
# runs, so running them one after the other would only add minutes. Both see the same CPU
# count: SLURM grants a rule its `threads` and so does `--cores $CPUS` locally, so every job
# uses the same number of torch threads (different thread counts may change the last bits).
(cd "$ROOT" && exec "$VENV/bin/snakemake" --snakefile "$ROOT/Snakefile" --configfile "$CONFIG" \
    --directory "$LOCAL" --cores "$CPUS") >"$WORK/local.log" 2>&1 &
LOCAL_PID=$!
(cd "$ROOT_RUN" && ABGD_SLURM_LIVE=1 ABGD_SLURM_PARTITION="$PARTITION" ABGD_SLURM_ACCOUNT="" \
    ABGD_SLURM_SITE_ARGS="$SITE_ARGS" ABGD_SLURM_CONFIG="$CONFIG_REL" ABGD_SLURM_DOCROOT="$CLUSTER" \
    exec "$VENV/bin/python" -m pytest -q -rs -p no:cacheprovider \
    tests/test_docs.py::test_slurm_block) >"$WORK/cluster.log" 2>&1 &
SMK_PID=$!
wait "$SMK_PID" || fail "the documentation's SLURM blocks (see $WORK/cluster.log, $CLUSTER/doc-test-slurm.log)"
SMK_PID=""
grep -q ' passed' "$WORK/cluster.log" && ! grep -q ' skipped' "$WORK/cluster.log" \
    || fail "a SLURM block did not run (see $WORK/cluster.log)"
log "SLURM run ($(grep -E '[0-9]+ passed' "$WORK/cluster.log" | tail -n 1)) finished in $((SECONDS - t0)) s"
wait "$LOCAL_PID" || fail "local snakemake (see $WORK/local.log)"
LOCAL_PID=""
log "local run finished after $((SECONDS - t0)) s"

STEP="check the jobs ran under SLURM"
DOCLOG="$CLUSTER/doc-test-slurm.log"
submitted="$(grep -c 'Job .* has been submitted with SLURM jobid' "$DOCLOG" || true)"
((submitted > 0)) || fail "no job was submitted to SLURM (see $DOCLOG)"
inner="$(grep -c '^Finished jobid' "$DOCLOG" || true)"
log "$submitted SLURM jobs for $inner workflow jobs; $(squeue -h -t CD -o %i | wc -l) completed in squeue"
log_one="$(find "$CLUSTER/.snakemake/slurm_logs/rule_train_single" -name '*.log' | head -n 1)"
[[ -n "$log_one" ]] || fail "no SLURM log kept for train_single"
jobid="$(basename "$log_one" .log)"
cpus="$(scontrol show job "$jobid" | grep -o 'NumCPUs=[0-9]*' | cut -d= -f2)"
log "train_single SLURM job $jobid had NumCPUs=$cpus; log: $log_one"
[[ "$cpus" == 2 ]] || fail "train_single (threads: 2) got NumCPUs=$cpus"
[[ -n "$(find "$CLUSTER/.snakemake/slurm_logs" -maxdepth 1 -name 'group_*')" ]] \
    || fail "no group job ran (profiles/slurm groups the light steps)"

# ------------------------------------------------------------------ 5. comparison
STEP="compare SLURM and local outputs"
"$VENV/bin/python" "$ROOT_RUN/tests/cluster/compare_outputs.py" \
    "$CLUSTER/results/$DATASET" "$LOCAL/results/$DATASET" || fail "outputs differ"
STEP="done"
log "OK: the study ran to the end on SLURM and matches the local run"
