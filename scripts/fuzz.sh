#!/usr/bin/env bash
# Runs every cargo-fuzz target for a bounded time and prints executions and findings.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET [TARGET...]]   (default 600, every target)
#
# cargo fuzz needs nightly-only rustc flags (-Zsanitizer); on a stable-only machine the
# toolchain's own RUSTC_BOOTSTRAP=1 switch unlocks them, which is what this script does.
# Seeds come from the corpus (real CRDs, policies, chart archives packed from chart dirs);
# crashes land in fuzz/artifacts/<target>/ and must become regression tests.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-600}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(load_documents policy chart_archive)
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
export RUSTC_BOOTSTRAP=1
corpus=../shared/corpus

seed() { # target, files...
  local dir=fuzz/corpus/$1; shift
  mkdir -p "$dir"
  for f in "$@"; do [ -f "$f" ] && cp -n "$f" "$dir/" 2>/dev/null || true; done
}
# Small seeds keep executions fast; the fuzzer grows them.
seed load_documents examples/acme-gateway/crds/*.yaml crates/crdguard/tests/bad-input/*/input.yaml
seed policy examples/acme-gateway/crdguard.yaml crates/crdguard-catalog/data/policies/*.yaml \
  crates/crdguard/tests/bad-input/4*-policy-*/policy.yaml
mkdir -p fuzz/corpus/chart_archive
tar czf fuzz/corpus/chart_archive/acme-gateway.tgz -C examples acme-gateway
tar czf fuzz/corpus/chart_archive/gateway-helm-v1.0.2.tgz \
  -C "$corpus"/envoy-gateway/v1.0.2/charts gateway-helm

for target in "${targets[@]}"; do
  log=fuzz/$target.log
  echo "== $target: $seconds s"
  cargo fuzz run "$target" -s none -O -- -max_total_time="$seconds" -rss_limit_mb=2048 \
    -max_len=262144 -timeout=10 -print_final_stats=1 >"$log" 2>&1 || {
    echo "   FAILED: see $log and fuzz/artifacts/$target/"; tail -30 "$log"; exit 1; }
  grep -E "stat::number_of_executed_units|stat::peak_rss_mb|^Done" "$log" | sed 's/^/   /'
done
