#!/usr/bin/env bash
# Benchmark (not a test) on the real Kubernetes v1.36.3 control plane of scripts/test-cluster:
#  1. Gateway API v1.6.1 experimental as released (CRDs + safe-upgrades policy) onto an empty
#     cluster until every CRD is Established: `crdguard apply` vs `kubectl apply --server-side`
#     + `kubectl wait --for=condition=Established`, alternating, median of RUNS (target <= 0.5).
#  2. The Envoy Gateway v1.9.0 chart: `crdguard install` (staged: CRDs, then helm) vs `helm
#     install` of the same chart, both --no-hooks (the cluster has no nodes), alternating,
#     median of INSTALL_RUNS (target <= 1.2: the staged install runs helm itself).
# Peak RSS of crdguard is the largest over its runs. Prints a table; nothing is asserted.
#   scripts/bench-cluster.sh [runs] [install_runs]      (default 10 and 5)
set -Eeuo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-10}; INSTALL_RUNS=${2:-5}
cargo build --release --locked -p crdguard >&2
BIN=$PWD/target/release/crdguard
TOOLS=$(../shared/tools/install-helm.sh 2>/dev/null)
KUBECTL=$TOOLS/kubectl; HELM=$TOOLS/helm
CORPUS=$PWD/../shared/corpus
GATEWAY=$CORPUS/gateway-api/v1.6.1/as-released/experimental-install.yaml
CHART=$CORPUS/envoy-gateway/v1.9.0/charts/gateway-helm
work=$(mktemp -d)
# Every run starts on a fresh, empty control plane (a few seconds each): deleting CRDs right
# after their admission policy was seen to stall for minutes on 1.36, which a benchmark must
# not measure.
kubeconfig=""
stop_cluster() { [ -z "$kubeconfig" ] || scripts/test-cluster/stop.sh "$kubeconfig" >/dev/null 2>&1 || true; }
trap 'stop_cluster; rm -rf "$work"' EXIT
clean() {
  stop_cluster
  kubeconfig=$(scripts/test-cluster/start.sh 2>/dev/null)
  export KUBECONFIG=$kubeconfig
}

# The other tools' commands as scripts, so that /usr/bin/time runs them whole.
cat > "$work/kubectl-apply-and-wait" <<SCRIPT
#!/bin/sh
set -e
"$KUBECTL" apply --server-side -f "$GATEWAY"
"$KUBECTL" wait --for=condition=Established --timeout=5m crd --all
SCRIPT
cat > "$work/helm-install" <<SCRIPT
#!/bin/sh
exec "$HELM" install eg "$CHART" -n envoy-gateway-system --create-namespace --no-hooks
SCRIPT
chmod +x "$work/kubectl-apply-and-wait" "$work/helm-install"

# clock WHO CMD...: wall seconds of CMD; its peak RSS (KiB) is appended to $work/rss-WHO.
clock() {
  local who=$1; shift
  /usr/bin/time -f '%e %M' -o "$work/t" "$@" >/dev/null 2>"$work/err" || { echo "failed: $*" >&2; cat "$work/err" >&2; exit 1; }
  read -r t m < "$work/t"; echo "$m" >> "$work/rss-$who"; echo "$t"
}
peak_mib() { echo "$(sort -n "$work/rss-$1" | tail -1) / 1024" | bc -l; }
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

: > "$work/rss-ours"; : > "$work/rss-theirs"
ours=(); theirs=()
for _ in $(seq "$RUNS"); do
  clean; ours+=("$(clock ours "$BIN" apply "$GATEWAY" -o json)")
  clean; theirs+=("$(clock theirs "$work/kubectl-apply-and-wait")")
done
m1=$(median "${ours[@]}"); m2=$(median "${theirs[@]}")
printf '%-62s %7.3f s  peak RSS %6.1f MiB\n' "crdguard apply: Gateway API v1.6.1 experimental until Established" "$m1" "$(peak_mib ours)"
printf '%-62s %7.3f s  peak RSS %6.1f MiB\n' "kubectl apply --server-side + kubectl wait" "$m2" "$(peak_mib theirs)"
printf '%-62s %7.2f\n' "ratio crdguard / kubectl (median of $RUNS)" "$(echo "$m1 / $m2" | bc -l)"

: > "$work/rss-ours"; : > "$work/rss-theirs"
ours=(); theirs=()
for _ in $(seq "$INSTALL_RUNS"); do
  clean; ours+=("$(clock ours "$BIN" install eg "$CHART" -n envoy-gateway-system --helm "$HELM" -o json -- --create-namespace --no-hooks)")
  clean; theirs+=("$(clock theirs "$work/helm-install")")
done
m1=$(median "${ours[@]}"); m2=$(median "${theirs[@]}")
printf '%-62s %7.3f s  peak RSS %6.1f MiB (largest of crdguard and its helm)\n' "crdguard install eg (Envoy Gateway v1.9.0 chart)" "$m1" "$(peak_mib ours)"
printf '%-62s %7.3f s  peak RSS %6.1f MiB\n' "helm install eg (same chart)" "$m2" "$(peak_mib theirs)"
printf '%-62s %7.2f\n' "ratio crdguard install / helm install (median of $INSTALL_RUNS)" "$(echo "$m1 / $m2" | bc -l)"
