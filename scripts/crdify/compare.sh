#!/usr/bin/env bash
# compare.sh - regenerate docs/crdify-parity.md: `crdguard diff` compared with sigs.k8s.io/crdify
# v0.5.0 (built once by scripts/crdify/build.sh) on every consecutive Gateway API release in both
# channels, Envoy Gateway v1.7.5 -> v1.8.3 -> v1.9.0 and prometheus-operator v0.92.1 -> v0.93.0.
#
# The comparison is the test crates/crdguard/tests/crdify_parity.rs (the crdify->crdguard name
# mapping, the definition of a counterpart, the documented disagreements and known gaps live
# there). With CRDGUARD_BLESS=1 it writes the document before checking, so this script always
# regenerates it and then fails if a crdify error has no crdguard counterpart or documented reason.
# Extra arguments go to cargo test (e.g. -- --nocapture).
set -Eeuo pipefail
cd "$(dirname "$0")/../.."
CRDGUARD_BLESS=1 exec cargo test -p crdguard --locked --test crdify_parity "$@"
