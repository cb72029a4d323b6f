#!/usr/bin/env bash
# Benchmark (not a test): crdguard apply of Gateway API v1.6.1 experimental (13 CRDs) to an empty
# real apiextensions-apiserver v1.36, until every CRD is Established; median of N runs.
#   scripts/bench-apply.sh [runs]      (default 7)
# kubectl cannot be timed on the same server: the bare CRD server has no discovery root, so
# `kubectl apply` cannot map the kind there (and kube-apiserver v1.20 rejects these CRDs).
set -Eeuo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-7}
cargo build --release --locked -p crdguard >&2
BIN=target/release/crdguard
SOURCE=../shared/corpus/gateway-api/v1.6.1/experimental-install.yaml
kubeconfig=$(../shared/kube/start-test-crdserver.sh 2>/dev/null)
trap '../shared/kube/stop-test-apiserver.sh "$kubeconfig" 2>/dev/null' EXIT
run=$(dirname "$kubeconfig")
source "$run/env"
api() { curl -sf --cacert "$TEST_APISERVER_CA" --cert "$TEST_APISERVER_CLIENT_CERT" --key "$TEST_APISERVER_CLIENT_KEY" "$@"; }
crds=$TEST_APISERVER_URL/apis/apiextensions.k8s.io/v1/customresourcedefinitions
times=()
for _ in $(seq "$RUNS"); do
  start=$(date +%s.%N)
  $BIN apply "$SOURCE" --kubeconfig "$kubeconfig" -o json > /dev/null
  end=$(date +%s.%N)
  times+=("$(echo "$end - $start" | bc -l)")
  for name in $(api "$crds" | python3 -c 'import json,sys; print(" ".join(i["metadata"]["name"] for i in json.load(sys.stdin)["items"]))'); do
    api -X DELETE "$crds/$name" > /dev/null
  done
  while [ "$(api "$crds" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["items"]))')" != 0 ]; do sleep 0.2; done
done
median=$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
printf 'crdguard apply GW v1.6.1 experimental (13 CRDs) until Established: median %.3f s over %d runs (%s)\n' \
  "$median" "$RUNS" "$(printf '%.2f ' "${times[@]}")"
