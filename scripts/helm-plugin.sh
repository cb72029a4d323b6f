#!/usr/bin/env sh
# Entry point of the Helm plugin (plugin.yaml): runs crdguard with the arguments helm passes.
set -e
for candidate in "${CRDGUARD_BIN:-}" "${HELM_PLUGIN_DIR:-.}/target/release/crdguard" "${HELM_PLUGIN_DIR:-.}/bin/crdguard"; do
  if [ -n "$candidate" ] && [ -x "$candidate" ]; then
    exec "$candidate" "$@"
  fi
done
exec crdguard "$@"
