#!/usr/bin/env bash
# A one-node SLURM cluster in a directory, for the tests of the SLURM profile (tests/integration/test_slurm.py).
# Usage: scripts/slurm-local.sh start DIR    start munge, MariaDB, slurmdbd, slurmctld and slurmd under DIR
#        scripts/slurm-local.sh stop DIR     stop every daemon that `start DIR` started, by its PID
#
# Everything lives under DIR: configs, state, logs, sockets, PID files (DIR/pids/<daemon>). Ports are picked
# free at start, and clients find the cluster through DIR/slurm.conf: `export SLURM_CONF=DIR/slurm.conf`.
# The node has 2 CPUs and 2 GPUs. The GPUs are two character devices made with mknod: slurmd only schedules
# GRES it can find as files (a count alone leaves the node drained, "gres/gpu count reported lower than
# configured"), and jobs then run on the CPU with CUDA_VISIBLE_DEVICES set exactly as on a GPU cluster.
# Partitions `cpu` (default) and `gpu` both hold the node, as the SLURM profile expects. Accounting goes
# through slurmdbd on MariaDB: the SLURM executor plugin learns that jobs finished from `sacct`.
#
# Needs root and the Debian packages of `scripts/system-deps.sh slurm`; without them it exits 3 saying why.
set -euo pipefail

CPUS=2
GPUS=2
MEMORY_MB=4000
CLUSTER=vifitest
ACCOUNT=vifi
# Job steps read slurm.conf here: the jobstep plugin drops SLURM_CONF from the environment of their srun.
DEFAULT_CONF=/etc/slurm/slurm.conf
DAEMONS=(slurmd slurmctld slurmdbd mariadbd munged)  # stop order: the reverse of the start order

usage() {
    sed -n '2,/^[^#]/s/^# \{0,1\}//p' "$0"
    exit "$1"
}

# The first free TCP ports on 127.0.0.1 the kernel hands out, one per argument.
free_ports() {
    python3 -c 'import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))' "$1"
}

# Wait up to $1 seconds for a command to succeed; on timeout, show the named log and fail.
wait_for() {
    local seconds=$1 log=$2
    shift 2
    for ((i = 0; i < seconds * 5; i++)); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.2
    done
    echo "slurm-local: timed out after ${seconds}s waiting for: $*; last lines of $log:" >&2
    tail -n 20 "$log" >&2 || true
    return 1
}

# Start a daemon in the foreground of its own session, in the background of this script, and keep its PID.
launch() {
    local name=$1
    shift
    setsid "$@" >"$DIR/log/$name.out" 2>&1 </dev/null &
    echo $! >"$DIR/pids/$name"
}

check_prerequisites() {
    if [[ "$(id -u)" != 0 ]]; then
        echo "slurm-local: needs root (slurmd runs jobs as their users)" >&2
        exit 3
    fi
    local missing=()
    for tool in munged mariadb-install-db mariadbd slurmdbd slurmctld slurmd sbatch sacct sacctmgr scontrol; do
        command -v "$tool" >/dev/null || [[ -x /usr/sbin/$tool ]] || missing+=("$tool")
    done
    if ((${#missing[@]})); then
        echo "slurm-local: missing ${missing[*]}; on Debian \`scripts/system-deps.sh slurm\` installs them" >&2
        exit 3
    fi
}

write_configs() {
    local ctld_port=$1 slurmd_port=$2 dbd_port=$3 db_port=$4 host
    host=$(hostname -s)
    mkdir -p "$DIR"/{dev,state,spool,log,pids}
    for ((i = 0; i < GPUS; i++)); do mknod "$DIR/dev/gpu$i" c 195 "$i"; done
    cat >"$DIR/slurm.conf" <<EOF
ClusterName=$CLUSTER
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
AuthType=auth/munge
AuthInfo=socket=$DIR/munge.socket
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/log/slurmctld.pid
SlurmdPidFile=$DIR/log/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
SlurmdParameters=config_overrides
ReturnToService=2
MinJobAge=3600
GresTypes=gpu
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort=$dbd_port
AccountingStoragePass=$DIR/munge.socket
AccountingStorageTRES=gres/gpu
AccountingStoreFlags=job_comment
NodeName=$host NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEMORY_MB Gres=gpu:$GPUS State=UNKNOWN
PartitionName=cpu Nodes=$host Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=$host MaxTime=INFINITE State=UP
EOF
    cat >"$DIR/gres.conf" <<EOF
AutoDetect=off
Name=gpu File=$DIR/dev/gpu[0-$((GPUS - 1))]
EOF
    cat >"$DIR/slurmdbd.conf" <<EOF
AuthType=auth/munge
AuthInfo=socket=$DIR/munge.socket
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=$dbd_port
SlurmUser=root
LogFile=$DIR/log/slurmdbd.log
PidFile=$DIR/log/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$db_port
StorageUser=root
StorageLoc=slurm_acct_db
EOF
    chmod 600 "$DIR/slurmdbd.conf"
}

start() {
    check_prerequisites
    mkdir -p "$DIR" "$(dirname "$DEFAULT_CONF")"
    DIR=$(cd "$DIR" && pwd)
    # A link to this cluster's slurm.conf; never replacing another cluster's, so only one test cluster runs.
    # A dangling one was left by a run killed before `stop`: its cluster's directory is gone, so it is replaced.
    if [[ -L $DEFAULT_CONF && ! -e $DEFAULT_CONF ]]; then
        rm -f "$DEFAULT_CONF"
    fi
    if ! ln -s "$DIR/slurm.conf" "$DEFAULT_CONF" 2>/dev/null; then
        echo "slurm-local: $DEFAULT_CONF exists (a cluster is configured on this machine); not starting" >&2
        exit 3
    fi
    local ports
    read -ra ports <<<"$(free_ports 4)"
    write_configs "${ports[@]}"
    export SLURM_CONF=$DIR/slurm.conf

    dd if=/dev/urandom of="$DIR/munge.key" bs=1024 count=1 status=none
    chmod 400 "$DIR/munge.key"
    launch munged munged --foreground --force --key-file="$DIR/munge.key" --socket="$DIR/munge.socket" \
        --pid-file="$DIR/log/munged.pid" --seed-file="$DIR/munge.seed"
    wait_for 20 "$DIR/log/munged.out" munge --socket="$DIR/munge.socket" --string=ping

    mariadb-install-db --no-defaults --datadir="$DIR/db" --auth-root-authentication-method=normal \
        --skip-test-db --user=root >"$DIR/log/mariadb-install.log" 2>&1
    launch mariadbd mariadbd --no-defaults --datadir="$DIR/db" --user=root --bind-address=127.0.0.1 \
        --port="${ports[3]}" --socket="$DIR/mariadb.socket" --pid-file="$DIR/log/mariadb.pid" --skip-log-bin
    wait_for 60 "$DIR/log/mariadbd.out" mariadb-admin --no-defaults --socket="$DIR/mariadb.socket" ping

    launch slurmdbd slurmdbd -D  # reads slurmdbd.conf beside $SLURM_CONF
    wait_for 60 "$DIR/log/slurmdbd.log" sacctmgr -n list cluster
    sacctmgr -i add cluster "$CLUSTER" >/dev/null
    sacctmgr -i add account "$ACCOUNT" cluster="$CLUSTER" >/dev/null
    sacctmgr -i add user root account="$ACCOUNT" cluster="$CLUSTER" >/dev/null

    launch slurmctld slurmctld -D -i
    wait_for 60 "$DIR/log/slurmctld.log" scontrol ping
    launch slurmd slurmd -D
    wait_for 60 "$DIR/log/slurmd.log" node_idle
    echo "slurm-local: cluster $CLUSTER up; export SLURM_CONF=$SLURM_CONF"
}

# True once the node takes jobs.
node_idle() {
    [[ "$(sinfo -h -N -o %t | head -n 1)" == idle ]]
}

stop() {
    [[ -d "$DIR" ]] && DIR=$(cd "$DIR" && pwd)
    if [[ -f "$DIR/pids/slurmctld" ]] && kill -0 "$(<"$DIR/pids/slurmctld")" 2>/dev/null; then
        SLURM_CONF=$DIR/slurm.conf timeout 10 scancel --user=root 2>/dev/null || true
    fi
    for name in "${DAEMONS[@]}"; do
        local file=$DIR/pids/$name pid
        [[ -f "$file" ]] || continue
        pid=$(<"$file")
        kill "$pid" 2>/dev/null || true
        for ((i = 0; i < 100; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -9 "$pid" 2>/dev/null || true
        rm -f "$file"
    done
    if [[ "$(readlink "$DEFAULT_CONF" || true)" == "$DIR"/* ]]; then
        rm -f "$DEFAULT_CONF"
    fi
}

[[ "${1:-}" == -h || "${1:-}" == --help ]] && usage 0
[[ $# == 2 ]] || usage 2
DIR=$2
case "$1" in
    start) start ;;
    stop) stop ;;
    *) usage 2 ;;
esac
