#!/usr/bin/env bash
# Start the workflow on SLURM again after its controller died, without submitting twice what is still there.
#
#   scripts/slurm-restart.sh [snakemake arguments...]
#
# Snakemake cannot re-attach to the jobs of an earlier controller: started while they are queued or running, it
# submits them again. Each job records its own outputs as complete when it ends, so waiting for them loses
# nothing: this waits until no job of this working directory is left in `squeue`, removes the dead controller's
# lock, and runs the documented command (`snakemake --workflow-profile workflow/profiles/slurm`) with the
# arguments given. It refuses while a controller of this directory is still alive, since unlocking under a live
# one would let two controllers write the same outputs: on this host by its process, on another login node by
# the heartbeat it records (`vifi.heartbeat`; watching for it takes about 2 heartbeat intervals, 21 s).
# VIFI_RESTART_POLL sets the seconds between queue checks (default 30).
set -euo pipefail
if [[ ${1:-} == -h || ${1:-} == --help ]]; then
    echo "Usage: scripts/slurm-restart.sh [snakemake arguments...]"
    echo "Wait until no SLURM job of this directory is queued, unlock, and run the SLURM profile's command again;"
    echo "refuse while a controller of this directory is alive on any host."
    exit 0
fi
cd "$(dirname "$0")/.."
here=$(pwd -P)
poll=${VIFI_RESTART_POLL:-30}

# Controllers of this directory on this host: processes whose program is Snakemake, run here, outside any
# SLURM job (the job steps of a job are Snakemake too, and the node may be this host).
controllers() {
    local pid word argv
    for pid in $(pgrep -u "$(id -u)" -f snakemake || true); do
        [ "$(readlink "/proc/$pid/cwd" 2>/dev/null)" = "$here" ] || continue
        ! grep -qz '^SLURM_JOB_ID=' "/proc/$pid/environ" 2>/dev/null || continue
        mapfile -d '' -t argv < "/proc/$pid/cmdline" 2>/dev/null || continue
        for word in "${argv[@]:0:3}"; do
            if [[ $word == snakemake || $word == */snakemake ]]; then
                echo "$pid"
                break
            fi
        done
    done
}

# This directory's jobs still queued or running: id, state, name and comment (the rule and its wildcards).
queued() {
    squeue --me -h -o '%i|%T|%j|%k|%Z' | awk -F'|' -v dir="$here" '$5 == dir { print $1, $2, $3, $4 }'
}

alive=$(controllers | paste -sd " " -)
if [ -n "$alive" ]; then
    echo "slurm-restart: a Snakemake controller of $here is still running (PID $alive); stop it first" >&2
    exit 1
fi
# The heartbeat check runs with the Python that runs Snakemake, where vifi is installed.
python=$(dirname "$(command -v snakemake)")/python
[ -x "$python" ] || python=python3
status=0
"$python" -m vifi.stages.heartbeat || status=$?
if [ "$status" = 3 ]; then
    echo "slurm-restart: a Snakemake controller of $here is still alive; stop it first" >&2
    exit 1
elif [ "$status" != 0 ]; then
    echo "slurm-restart: could not check the controller's heartbeat with $python (above); nothing done" >&2
    exit 1
fi
while jobs=$(queued) && [ -n "$jobs" ]; do
    echo "slurm-restart: waiting for $(wc -l <<< "$jobs") job(s) of the earlier run to leave the queue:"
    echo "$jobs" | sed 's/^/  /'
    sleep "$poll"
done
echo "slurm-restart: no job of $here is queued; unlocking and starting again"
snakemake --unlock --quiet
exec snakemake --workflow-profile workflow/profiles/slurm "$@"
