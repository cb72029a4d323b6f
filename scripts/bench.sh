#!/usr/bin/env bash
# Benchmarks (not tests): wall time (median of N runs) and peak RSS of the release binary on the
# corpus, next to the tools users would use instead. Prints a table; nothing is asserted.
#   scripts/bench.sh [runs]      (default 7)
set -Eeuo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-7}
CORPUS=../shared/corpus
cargo build --release --locked -p crdguard >&2
BIN=target/release/crdguard
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
tar xJf $CORPUS/large/upjet-aws-v2.5.0.tar.xz -C "$work"
tar xJf $CORPUS/large/upjet-aws-v2.6.0.tar.xz -C "$work"
printf 'apiVersion: v1\nkind: List\nitems: []\n' > "$work/empty.yaml"
helm_dir=$(../shared/tools/install-helm.sh 2>/dev/null || true)

# measure NAME CMD...: runs CMD $RUNS times, prints median wall seconds and max peak RSS (MiB).
measure() {
  local name=$1; shift
  local times=() rss=0
  for _ in $(seq "$RUNS"); do
    /usr/bin/time -f '%e %M' -o "$work/t" "$@" >/dev/null 2>"$work/err" || {
      code=$?; [ $code -le 1 ] || { echo "$name failed ($code):"; cat "$work/err"; return 1; }; }
    read -r t m < "$work/t"
    times+=("$t"); [ "$m" -gt "$rss" ] && rss=$m
  done
  median=$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  printf '%-58s %8.3f s %8.1f MiB\n' "$name" "$median" "$(echo "$rss/1024" | bc -l)"
}

echo "runs per figure: $RUNS; machine: $(nproc) cores"
EG=$CORPUS/envoy-gateway/v1.9.0/charts/gateway-helm
# With helm, as users run it (the chart's templates rendered by the real helm); without helm,
# only crds/ is read, which is not the same work as `helm template`.
if [ -x "$helm_dir/helm" ]; then
  measure "crdguard plan EG v1.9.0 chart (with helm) vs GW v1.6.1 snapshot" \
    $BIN plan --chart $EG --helm "$helm_dir/helm" \
    --snapshot $CORPUS/gateway-api/v1.6.1/experimental-install.yaml -o json
  measure "helm template --include-crds EG v1.9.0 chart" \
    "$helm_dir/helm" template eg $EG --include-crds
else
  measure "crdguard plan EG v1.9.0 chart (no helm: crds/ only) vs GW v1.6.1 snapshot" \
    $BIN plan --chart $EG --snapshot $CORPUS/gateway-api/v1.6.1/experimental-install.yaml -o json
fi
measure "crdguard plan upjet-aws v2.5.0 (2,015 CRDs) vs empty" \
  $BIN plan "$work/v2.5.0" --snapshot "$work/empty.yaml" -o json
measure "crdguard plan upjet-aws v2.6.0 (2,043 CRDs) vs empty" \
  $BIN plan "$work/v2.6.0" --snapshot "$work/empty.yaml" -o json
measure "crdguard diff upjet-aws v2.5.0 -> v2.6.0 (load + diff)" \
  $BIN diff "$work/v2.5.0" "$work/v2.6.0" -o json

# The upgrade plan: v2.6.0 over a snapshot of a cluster running v2.5.0 (one List of 2,015 CRDs
# with status, as `kubectl get crd -o yaml` / `-o json` or `crdguard snapshot` write it).
if python3 -c 'import yaml' 2>/dev/null; then
  python3 - "$work" <<'PY'
import copy, glob, json, sys, yaml
work = sys.argv[1]
items = []
for path in sorted(glob.glob(f"{work}/v2.5.0/**/*.yaml", recursive=True)):
    for crd in yaml.safe_load_all(open(path)):
        if not crd:
            continue
        crd["metadata"].update(resourceVersion="1", uid="u-" + crd["metadata"]["name"])
        crd["status"] = {
            "storedVersions": [v["name"] for v in crd["spec"]["versions"] if v.get("storage")],
            # A copy: the same object twice would make PyYAML write an anchor and an alias,
            # which no server's snapshot has.
            "acceptedNames": copy.deepcopy(crd["spec"]["names"]),
            "conditions": [{"type": "Established", "status": "True"}],
        }
        items.append(crd)
snapshot = {"apiVersion": "v1", "kind": "List", "items": items}
yaml.safe_dump(snapshot, open(f"{work}/snapshot.yaml", "w"), sort_keys=False, width=1000)
json.dump(snapshot, open(f"{work}/snapshot.json", "w"), indent=4)
PY
  measure "crdguard plan upjet-aws v2.6.0 over a v2.5.0 YAML snapshot" \
    $BIN plan "$work/v2.6.0" --snapshot "$work/snapshot.yaml" -o json
  measure "crdguard plan upjet-aws v2.6.0 over a v2.5.0 JSON snapshot" \
    $BIN plan "$work/v2.6.0" --snapshot "$work/snapshot.json" -o json
else
  echo "(upgrade-plan figures skipped: they need python3 with PyYAML to write the snapshot)"
fi
