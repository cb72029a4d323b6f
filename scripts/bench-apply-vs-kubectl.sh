#!/usr/bin/env bash
# Benchmark (not a test): crdguard apply vs `kubectl apply --server-side` + `kubectl wait
# --for=condition=Established`, same real kube-apiserver v1.20, same CRDs, alternating runs.
# v1.20 rejects CEL, so the set is the first N upjet-aws v2.6.0 CRDs without x-kubernetes-validations.
#   scripts/bench-apply-vs-kubectl.sh [runs] [crds]      (default 5 runs, 100 CRDs)
set -Eeuo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-5}; COUNT=${2:-100}
cargo build --release --locked -p crdguard >&2
BIN=$PWD/target/release/crdguard
KUBECTL=$(../shared/tools/install-helm.sh 2>/dev/null)/kubectl
work=$(mktemp -d)
kubeconfig=$(../shared/kube/start-test-apiserver.sh 2>/dev/null)
trap '../shared/kube/stop-test-apiserver.sh "$kubeconfig" 2>/dev/null; rm -rf "$work"' EXIT
tar xJf ../shared/corpus/large/upjet-aws-v2.6.0.tar.xz -C "$work"
mkdir "$work/set"
grep -L "x-kubernetes-validations" "$work"/v2.6.0/package/crds/*.yaml > "$work/no-cel.txt" || true
head -n "$COUNT" "$work/no-cel.txt" | while read -r file; do cp "$file" "$work/set/"; done
k() { "$KUBECTL" --kubeconfig "$kubeconfig" "$@"; }
clean() { k delete -f "$work/set" --wait=true >/dev/null 2>&1 || true; }
clock() { local s e; s=$(date +%s.%N); "$@" >/dev/null 2>&1; e=$(date +%s.%N); echo "$e - $s" | bc -l; }
ours=(); theirs=()
for _ in $(seq "$RUNS"); do
  clean; ours+=("$(clock "$BIN" apply "$work/set" --kubeconfig "$kubeconfig" -o json)")
  clean; theirs+=("$(clock sh -c "'$KUBECTL' --kubeconfig '$kubeconfig' apply --server-side -f '$work/set' && '$KUBECTL' --kubeconfig '$kubeconfig' wait --for=condition=Established --timeout=5m -f '$work/set'")")
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
m1=$(median "${ours[@]}"); m2=$(median "${theirs[@]}")
printf 'apply %d CRDs until Established, kube-apiserver v1.20, median of %d: crdguard %.3f s, kubectl %.3f s, ratio %.2f\n' \
  "$COUNT" "$RUNS" "$m1" "$m2" "$(echo "$m1 / $m2" | bc -l)"
