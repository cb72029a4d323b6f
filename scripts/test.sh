#!/usr/bin/env bash
# The whole test suite: unit tests, corpus tests, CLI tests, and the integration tests that start
# real API servers from ../shared/kube (cached under ~/.cache after the first build).
set -Eeuo pipefail
cd "$(dirname "$0")/.."
exec cargo test --workspace --locked "$@"
