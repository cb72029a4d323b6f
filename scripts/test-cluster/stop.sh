#!/usr/bin/env bash
# stop.sh <kubeconfig | run-dir> - stop a control plane started by scripts/test-cluster/start.sh.
#
# Accepts the admin kubeconfig path start.sh printed (or any file in the run dir, or the run dir).
# Stops kube-controller-manager, kube-apiserver, then etcd, by the PIDs recorded in the run dir
# (<name>.pid), and only if that process' command line still refers to the run dir (no PID-reuse
# accidents); waits for each to exit (SIGTERM, SIGKILL after TEST_CLUSTER_STOP_TIMEOUT s, default 10).
# Then removes the run dir, unless TEST_CLUSTER_KEEP=1.
# Idempotent: exit 0 when the run dir is already gone or its processes are already stopped.
# Refuses (exit 1) a directory that start.sh did not create (no .crdguard-test-cluster marker).
set -Eeuo pipefail

log() { printf '[test-cluster %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

arg=${1:-}
[ -n "$arg" ] || { echo "usage: $0 <kubeconfig-path|run-dir>" >&2; exit 2; }
if [ -d "$arg" ]; then RUN=$arg; else RUN=$(dirname "$arg"); fi
if [ ! -d "$RUN" ]; then log "$RUN does not exist: already stopped"; exit 0; fi
RUN=$(cd "$RUN" && pwd)
[ -f "$RUN/.crdguard-test-cluster" ] || { log "ERROR: $RUN is not a crdguard test-cluster run dir (no .crdguard-test-cluster marker)"; exit 1; }
STOP_TIMEOUT="${TEST_CLUSTER_STOP_TIMEOUT:-10}"

owned() { # alive AND its command line mentions this run dir
  [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null && tr '\0' ' ' < "/proc/$1/cmdline" 2>/dev/null | grep -qF "$RUN/"
}

stopped=0
for c in kube-controller-manager kube-apiserver etcd; do   # clients first, storage last
  [ -f "$RUN/$c.pid" ] || continue
  pid=$(cat "$RUN/$c.pid" 2>/dev/null || true)
  owned "$pid" || continue
  kill -TERM "$pid" 2>/dev/null || true
  deadline=$((SECONDS + STOP_TIMEOUT))
  while owned "$pid" && [ $SECONDS -lt $deadline ]; do sleep 0.1; done
  if owned "$pid"; then
    log "$c ($pid) ignored SIGTERM for ${STOP_TIMEOUT}s, sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do owned "$pid" || break; sleep 0.1; done
    if owned "$pid"; then log "ERROR: $c ($pid) survived SIGKILL"; exit 1; fi
  fi
  stopped=$((stopped + 1))
done

if [ "${TEST_CLUSTER_KEEP:-0}" = 1 ]; then
  log "stopped $stopped process(es); kept $RUN (TEST_CLUSTER_KEEP=1)"
else
  rm -rf "$RUN"
  log "stopped $stopped process(es); removed $RUN"
fi
