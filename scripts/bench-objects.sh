#!/usr/bin/env bash
# Benchmark (not a test): the data-aware check (SPEC §5 v2), live, on the real 1.36 control
# plane of scripts/test-cluster. Gateway API v1.3.0 standard is installed with 10,000 stored
# objects (4,000 HTTPRoutes, 3,000 GRPCRoutes, 3,000 ReferenceGrants); `crdguard plan` of
# v1.6.1 standard then reads every one of them (HTTPRoutes at both served versions, 500 a
# page) and checks it against the new schema. Prints the median wall time and peak RSS of the
# plan with the reads, of `kubectl get` of the same objects, and of the plan from a snapshot
# without objects (no reads) for scale. Nothing is asserted.
#   scripts/bench-objects.sh [runs]      (default 5)
set -Eeuo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-5}
cargo build --release --locked -p crdguard >&2
BIN=$PWD/target/release/crdguard
GW=../shared/corpus/gateway-api
tools=$(../shared/tools/install-helm.sh 2>/dev/null)
KUBECTL=$tools/kubectl
kubeconfig=$(scripts/test-cluster/start.sh)
work=$(mktemp -d)
trap 'scripts/test-cluster/stop.sh "$kubeconfig" >/dev/null 2>&1; rm -rf "$work"' EXIT
k() { "$KUBECTL" --kubeconfig "$kubeconfig" "$@"; }
k apply --server-side -f $GW/v1.3.0/standard-install.yaml >/dev/null
k wait --for condition=established crd --all --timeout 120s >/dev/null
k create namespace bench >/dev/null
python3 - "$work" <<'PY'
import json, sys
work = sys.argv[1]
def write(name, items):
    json.dump({"apiVersion": "v1", "kind": "List", "items": items}, open(f"{work}/{name}.json", "w"))
parent = [{"name": "gw"}]
write("httproutes", [{"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
    "metadata": {"name": f"route-{i}", "namespace": "bench"},
    "spec": {"parentRefs": parent, "hostnames": [f"h{i}.example.com"],
             "rules": [{"matches": [{"path": {"type": "PathPrefix", "value": f"/p{i}"}}],
                        "backendRefs": [{"name": "svc", "port": 8080}]}]}} for i in range(4000)])
write("grpcroutes", [{"apiVersion": "gateway.networking.k8s.io/v1", "kind": "GRPCRoute",
    "metadata": {"name": f"grpc-{i}", "namespace": "bench"},
    "spec": {"parentRefs": parent, "rules": [{"backendRefs": [{"name": "svc", "port": 9090}]}]}} for i in range(3000)])
write("referencegrants", [{"apiVersion": "gateway.networking.k8s.io/v1beta1", "kind": "ReferenceGrant",
    "metadata": {"name": f"grant-{i}", "namespace": "bench"},
    "spec": {"from": [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "namespace": "web"}],
             "to": [{"group": "", "kind": "Service"}]}} for i in range(3000)])
PY
start=$(date +%s)
for kind in httproutes grpcroutes referencegrants; do k create -f "$work/$kind.json" >/dev/null; done
echo "created 10,000 objects in $(( $(date +%s) - start )) s" >&2
$BIN snapshot --kubeconfig "$kubeconfig" > "$work/snapshot.yaml"

measure() {
  local name=$1; shift
  local times=() rss=0
  for _ in $(seq "$RUNS"); do
    /usr/bin/time -f '%e %M' -o "$work/t" "$@" > "$work/out" 2>"$work/err" || {
      code=$?; [ $code -le 1 ] || { echo "$name failed ($code):"; cat "$work/err"; return 1; }; }
    read -r t m < <(tail -n 1 "$work/t")
    times+=("$t"); [ "$m" -gt "$rss" ] && rss=$m
  done
  median=$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  printf '%-66s %8.3f s %8.1f MiB\n' "$name" "$median" "$(echo "$rss/1024" | bc -l)"
}

echo "runs per figure: $RUNS; machine: $(nproc) cores"
measure "crdguard plan v1.6.1 live, reading + checking the stored objects" \
  $BIN plan $GW/v1.6.1/standard-install.yaml --kubeconfig "$kubeconfig" -o json
python3 -c 'import json,sys; p=json.load(open(sys.argv[1])); print("  objects checked per CRD:", {i["crd"].split(".")[0]: i["objects"]["checked"] for i in p["items"] if i.get("objects")}, "verdict:", p["verdict"])' "$work/out"
measure "kubectl get httproutes,grpcroutes,referencegrants -A -o json" \
  "$KUBECTL" --kubeconfig "$kubeconfig" get httproutes.gateway.networking.k8s.io,grpcroutes.gateway.networking.k8s.io,referencegrants.gateway.networking.k8s.io -A -o json
measure "crdguard plan v1.6.1 from a snapshot without objects (no reads)" \
  $BIN plan $GW/v1.6.1/standard-install.yaml --snapshot "$work/snapshot.yaml" -o json
