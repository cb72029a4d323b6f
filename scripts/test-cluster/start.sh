#!/usr/bin/env bash
# start.sh - run a real, current Kubernetes control plane on loopback for crdguard's tests:
# etcd + upstream kube-apiserver + kube-controller-manager (v1.36.3), each on a free 127.0.0.1 port,
# with its own PKI, users and etcd data in a fresh run dir.
#
# Binaries (built once, cached, shared by all runs; a flock serializes concurrent builds):
#   kube-apiserver, kube-controller-manager: built from Go modules (k8s.io/kubernetes@v1.36.3 plus
#     a replace k8s.io/X => k8s.io/X v0.36.3 for every staging module that k8s.io/kubernetes' own
#     go.mod replaces with ./staging/src/k8s.io/X; the list is read from that go.mod).
#   etcd: Debian's etcd-server if its version is >= 3.5 (bookworm has 3.4: too old for 1.36), else
#     built from Go modules: go.etcd.io/etcd/server/v3 at the version k8s.io/kubernetes' go.mod pins.
#   Cache: ${XDG_CACHE_HOME:-$HOME/.cache}/crdguard-test-cluster/v1.36.3/r<RECIPE_REV>/ (binaries,
#     BUILDINFO), build module + logs in .../v1.36.3/build-r<RECIPE_REV>/. Go's module and build
#     caches are private to this script: .../crdguard-test-cluster/go/{mod,build} (the build cache,
#     several GB, is deleted after a successful build unless TEST_CLUSTER_KEEP_GOCACHE=1; remove the
#     read-only module cache with: GOMODCACHE=<that dir>/go/mod go clean -modcache).
#   First build: 10-25 min on 2 cores (needs the Go module proxy and Go >= the go directive of
#   k8s.io/kubernetes' go.mod, i.e. 1.26). Warm the cache without starting: TEST_CLUSTER_BUILD_ONLY=1.
#
# Users (all in <rundir>/*.kubeconfig, server + CA embedded):
#   admin.kubeconfig          client cert CN=crdguard-admin, O=system:masters
#   token.kubeconfig          static bearer token (--token-auth-file): user crdguard-token,
#                             group crdguard:token-users (NOT system:masters: grant RBAC yourself)
#   unprivileged.kubeconfig   client cert CN=crdguard-unprivileged, no groups (only system:authenticated)
#
# stdout: exactly one line, the path of admin.kubeconfig. Everything else goes to stderr.
# <rundir>/env: TEST_CLUSTER_* variables (URL, CA, kubeconfigs, token, version, ports, PIDs), one
# KEY=value a line (values shell-quoted with printf %q, i.e. bare unless they contain specials).
# Logs: <rundir>/{etcd,kube-apiserver,kube-controller-manager}.log.
# Stop with: scripts/test-cluster/stop.sh <kubeconfig-or-run-dir>
#
# Environment (all optional):
#   TEST_CLUSTER_CACHE_DIR       cache root (default ${XDG_CACHE_HOME:-$HOME/.cache}/crdguard-test-cluster)
#   TEST_CLUSTER_K8S_VERSION     Kubernetes version to build (default v1.36.3; staging = v0.<minor>.<patch>)
#   TEST_CLUSTER_ETCD            auto (default) | debian | build | /path/to/etcd
#   TEST_CLUSTER_GO              go binary (default /usr/local/go/bin/go, else go on PATH)
#   TEST_CLUSTER_GOPROXY         GOPROXY for the build (default https://proxy.golang.org)
#   TEST_CLUSTER_GOMODCACHE / TEST_CLUSTER_GOCACHE   override the private Go caches
#   TEST_CLUSTER_KEEP_GOCACHE=1  keep the Go build cache after a successful build
#   TEST_CLUSTER_BUILD_ONLY=1    build/cache the binaries, print nothing on stdout, exit
#   TEST_CLUSTER_BUILD_TIMEOUT   seconds to wait for another start's build (the lock; default 3600)
#   TEST_CLUSTER_START_TIMEOUT   seconds to wait for each component's readiness (default 120)
#   TEST_CLUSTER_RUN_DIR         use this (empty or new) dir instead of mktemp -d
#   TEST_CLUSTER_KEEP=1          keep the run dir when start fails (stop.sh honours it too)
#   TEST_CLUSTER_ETCD_FSYNC=1    let etcd fsync (default: --unsafe-no-fsync, this is a throwaway store)
#   TEST_CLUSTER_APISERVER_ARGS / TEST_CLUSTER_CONTROLLER_MANAGER_ARGS   extra flags (word-split)
set -Eeuo pipefail

K8S_VERSION="${TEST_CLUSTER_K8S_VERSION:-v1.36.3}"
RECIPE_REV="1"   # bump when the build recipe below changes (new cache key)
CACHE_ROOT="${TEST_CLUSTER_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/crdguard-test-cluster}"
VDIR="$CACHE_ROOT/$K8S_VERSION"
BIN_DIR="$VDIR/r$RECIPE_REV"
WORK="$VDIR/build-r$RECIPE_REV"
LOCK="$VDIR/.build-r$RECIPE_REV.lock"
GOMODCACHE_DIR="${TEST_CLUSTER_GOMODCACHE:-$CACHE_ROOT/go/mod}"
GOCACHE_DIR="${TEST_CLUSTER_GOCACHE:-$CACHE_ROOT/go/build}"
START_TIMEOUT="${TEST_CLUSTER_START_TIMEOUT:-120}"
BUILD_TIMEOUT="${TEST_CLUSTER_BUILD_TIMEOUT:-3600}"
ETCD_MODE="${TEST_CLUSTER_ETCD:-auto}"
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

log() { printf '[test-cluster %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[[ "$K8S_VERSION" =~ ^v1\.([0-9]+)\.([0-9]+)$ ]] || die "TEST_CLUSTER_K8S_VERSION must look like v1.36.3, got '$K8S_VERSION'"
K8S_MINOR="${BASH_REMATCH[1]}"
STAGING_VERSION="v0.${BASH_REMATCH[1]}.${BASH_REMATCH[2]}"

SUDO=""
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo -n"; else SUDO="__no_root__"; fi
fi

# ---------------------------------------------------------------- Debian packages
need_pkgs() { # prints the packages from "$@" that are not installed
  local p
  for p in "$@"; do
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || echo "$p"
  done
}
apt_install() {
  local -a missing
  mapfile -t missing < <(need_pkgs "$@")
  [ "${#missing[@]}" = 0 ] && return 0
  [ "$SUDO" = "__no_root__" ] && die "need root (or passwordless sudo) to apt-get install: ${missing[*]}"
  log "apt-get install: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # shellcheck disable=SC2086  # $SUDO is empty or "sudo -n"
  if ! $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" >&2; then
    $SUDO apt-get update -q >&2 || die "apt-get update failed"
    $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" >&2 || die "apt-get install failed: ${missing[*]}"
  fi
}

version_ge() { # version_ge A B: A >= B (dotted numbers, leading v optional)
  [ "$(printf '%s\n%s\n' "${1#v}" "${2#v}" | sort -V | head -n1)" = "${2#v}" ]
}
etcd_version_of() { "$1" --version 2>/dev/null | sed -n 's/^etcd Version: //p' | head -n1; }

# ---------------------------------------------------------------- Go build helpers
GO=""
setup_go() { # exports a hermetic Go environment for the builds
  GO="${TEST_CLUSTER_GO:-}"
  if [ -z "$GO" ]; then
    if [ -x /usr/local/go/bin/go ]; then GO=/usr/local/go/bin/go; else GO=$(command -v go || true); fi
  fi
  { [ -n "$GO" ] && [ -x "$GO" ]; } || die "no Go toolchain (set TEST_CLUSTER_GO; Go >= 1.26 needed for $K8S_VERSION)"
  unset GOOS GOARCH GOEXPERIMENT GOBIN GOPATH GOROOT GOENV GOWORK GOPRIVATE GONOPROXY
  export GOTOOLCHAIN=local CGO_ENABLED=0 GOWORK=off GOTELEMETRY=off GOFLAGS=
  export GOPROXY="${TEST_CLUSTER_GOPROXY:-https://proxy.golang.org}"
  export GOMODCACHE="$GOMODCACHE_DIR" GOCACHE="$GOCACHE_DIR" GOPATH="$CACHE_ROOT/go/path"
  mkdir -p "$GOMODCACHE" "$GOCACHE" "$GOPATH"
}

report_go_failure() { # $1 = log of a failed go command, $2 = what failed; names the failing modules / packages
  local logf=$1 what=$2 mods pkgs p m
  log "---- last lines of $logf ----"
  grep -v '^go: downloading ' "$logf" | tail -n 40 >&2 || true
  # module download / verification problems: "go: k8s.io/foo@v0.36.3: reading https://...: 404 Not Found"
  mods=$(grep -E 'reading |verifying |checksum mismatch|unknown revision|invalid version|not found|no matching versions|missing go.sum|410 Gone|404 Not Found|malformed|zip: ' "$logf" \
         | grep -oE '[A-Za-z0-9][A-Za-z0-9._~/-]*@v[0-9][A-Za-z0-9.+-]*' | sort -u || true)
  for m in $mods; do log "FAILED MODULE: $m"; done
  # compile errors: a "# import/path" header line before the errors of each package
  pkgs=$(sed -n 's/^# \([A-Za-z0-9][^ ]*\)$/\1/p' "$logf" | sort -u || true)
  for p in $pkgs; do
    m=$(cd "$WORK/kube" 2>/dev/null || exit 0; GOFLAGS=-mod=mod "$GO" list -f '{{with .Module}}{{.Path}}@{{.Version}}{{end}}' "$p" 2>/dev/null || true)
    log "FAILED PACKAGE: $p (module ${m:-unknown})"
  done
  die "$what failed (full log: $logf)"
}

run_go() { # $1 = log file (stderr), $2 = description, rest = go args (run in the current dir); stdout -> $RUN_GO_OUT
  local logf=$1 what=$2
  shift 2
  if ! "$GO" "$@" >>"${RUN_GO_OUT:-$logf}" 2>>"$logf"; then report_go_failure "$logf" "$what"; fi
}

mod_download_gomod() { # $1 = module@version -> prints the path of its downloaded go.mod
  local mv=$1 out gomod err
  out=$(cd "$WORK" && GOFLAGS='' "$GO" mod download -json "$mv" 2>&1) || true
  gomod=$(printf '%s\n' "$out" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p' | head -n1)
  err=$(printf '%s\n' "$out" | sed -n 's/^[[:space:]]*"Error": "\(.*\)",\{0,1\}$/\1/p' | head -n1)
  if [ -n "$err" ] || [ -z "$gomod" ] || [ ! -s "$gomod" ]; then
    printf '%s\n' "$out" >&2
    log "FAILED MODULE: $mv"
    die "go mod download $mv failed${err:+: $err}"
  fi
  echo "$gomod"
}

ldflags_for() { # $1 = build date
  local p ld="-s -w"
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld+=" -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$K8S_MINOR"
    ld+=" -X $p.gitTreeState=archive -X $p.gitCommit= -X $p.buildDate=$1"
  done
  echo "$ld"
}

size_of() { du -h "$1" | cut -f1; }

build_kube() { # -> $BIN_DIR/kube-apiserver, $BIN_DIR/kube-controller-manager, $BIN_DIR/BUILDINFO
  local kgomod dir blog t0 t1 staging s info_time ld c
  rm -rf "$WORK/kube"; mkdir -p "$WORK/kube" "$BIN_DIR"
  blog="$WORK/build-kube.log"; : > "$blog"
  log "downloading k8s.io/kubernetes@$K8S_VERSION (go.mod + source, via $GOPROXY)"
  kgomod=$(mod_download_gomod "k8s.io/kubernetes@$K8S_VERSION")
  mapfile -t staging < <(sed -e 's/^replace[[:space:]]*//' "$kgomod" \
                         | awk '$2 == "=>" && $3 ~ /^\.\/staging\/src\// {print $1}' | sort -u)
  [ "${#staging[@]}" -ge 10 ] || die "found only ${#staging[@]} staging replaces in $kgomod"
  dir="$WORK/kube"
  {
    echo "// generated by scripts/test-cluster/start.sh (recipe r$RECIPE_REV) - do not edit"
    echo "module crdguard.dev/testcluster"
    echo
    sed -n 's/^go \([0-9.]*\)$/go \1/p' "$kgomod" | head -n1
    grep -E '^godebug ' "$kgomod" || true
    echo
    echo "require k8s.io/kubernetes $K8S_VERSION"
    echo
    echo "// every staging module k8s.io/kubernetes@$K8S_VERSION replaces with ./staging/src/..."
    echo "replace ("
    for s in "${staging[@]}"; do printf '\t%s => %s %s\n' "$s" "$s" "$STAGING_VERSION"; done
    echo ")"
  } > "$dir/go.mod"
  log "build module $dir/go.mod: require k8s.io/kubernetes $K8S_VERSION, ${#staging[@]} staging replaces => $STAGING_VERSION"
  cd "$dir"
  export GOFLAGS=-mod=mod
  t0=$SECONDS
  log "resolving + downloading the modules of cmd/kube-apiserver and cmd/kube-controller-manager"
  RUN_GO_OUT="$WORK/kube-deps.txt" run_go "$blog" "module resolution (go list -deps)" list -deps -f '{{with .Module}}{{.Path}} {{.Version}}{{end}}' \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager
  "$GO" list -m all > "$WORK/kube-modules.txt" 2>>"$blog" || true
  log "modules resolved in $((SECONDS - t0))s ($(wc -l < "$WORK/kube-modules.txt") in the build list)"
  info_time=$(sed -n 's/.*"Time":"\([^"]*\)".*/\1/p' "$GOMODCACHE/cache/download/k8s.io/kubernetes/@v/$K8S_VERSION.info" 2>/dev/null || true)
  ld=$(ldflags_for "${info_time:-1970-01-01T00:00:00Z}")
  for c in kube-apiserver kube-controller-manager; do
    t1=$SECONDS
    log "go build -p 2 k8s.io/kubernetes/cmd/$c ($("$GO" version | awk '{print $3}'); log $blog)"
    run_go "$blog" "go build k8s.io/kubernetes/cmd/$c@$K8S_VERSION" build -p 2 -trimpath -ldflags "$ld" \
      -o "$BIN_DIR/$c.tmp" "k8s.io/kubernetes/cmd/$c"
    "$BIN_DIR/$c.tmp" --version 2>&1 | grep -qF "$K8S_VERSION" \
      || die "built $c does not report $K8S_VERSION: $("$BIN_DIR/$c.tmp" --version 2>&1 | head -n2)"
    log "built $c in $((SECONDS - t1))s, $(size_of "$BIN_DIR/$c.tmp")"
  done
  mv -f "$BIN_DIR/kube-apiserver.tmp" "$BIN_DIR/kube-apiserver"
  mv -f "$BIN_DIR/kube-controller-manager.tmp" "$BIN_DIR/kube-controller-manager"
  {
    echo "k8s=$K8S_VERSION staging=$STAGING_VERSION recipe=r$RECIPE_REV go=$("$GO" version | awk '{print $3}')"
    echo "built=$(date -u +%Y-%m-%dT%H:%M:%SZ) seconds=$((SECONDS - t0))"
    echo "kube-apiserver=$(stat -c %s "$BIN_DIR/kube-apiserver") kube-controller-manager=$(stat -c %s "$BIN_DIR/kube-controller-manager")"
  } > "$BIN_DIR/BUILDINFO.tmp"
  mv -f "$BIN_DIR/BUILDINFO.tmp" "$BIN_DIR/BUILDINFO"
  log "kube binaries ready in $((SECONDS - t0))s: kube-apiserver $(size_of "$BIN_DIR/kube-apiserver"), kube-controller-manager $(size_of "$BIN_DIR/kube-controller-manager")"
}

etcd_pinned_version() { # the go.etcd.io/etcd/server/v3 version k8s.io/kubernetes' go.mod requires
  local kgomod v
  kgomod=$(mod_download_gomod "k8s.io/kubernetes@$K8S_VERSION")
  v=$(awk '$1 == "go.etcd.io/etcd/server/v3" && $2 ~ /^v3\./ {print $2; exit}' "$kgomod")
  [ -n "$v" ] || die "no go.etcd.io/etcd/server/v3 requirement in $kgomod"
  echo "$v"
}

build_etcd() { # -> $BIN_DIR/etcd (+ etcd.version)
  local ev egomod dir blog t0 gov
  mkdir -p "$WORK" "$BIN_DIR"
  ev=$(etcd_pinned_version)
  egomod=$(mod_download_gomod "go.etcd.io/etcd/server/v3@$ev")
  gov=$(sed -n 's/^go \([0-9.]*\)$/\1/p' "$egomod" | head -n1)
  dir="$WORK/etcd"; rm -rf "$dir"; mkdir -p "$dir"
  blog="$WORK/build-etcd.log"; : > "$blog"
  printf '// generated by scripts/test-cluster/start.sh (recipe r%s) - do not edit\nmodule crdguard.dev/testcluster/etcd\n\ngo %s\n\nrequire go.etcd.io/etcd/server/v3 %s\n' \
    "$RECIPE_REV" "${gov:-1.24}" "$ev" > "$dir/go.mod"
  cd "$dir"
  export GOFLAGS=-mod=mod
  t0=$SECONDS
  log "go build -p 2 go.etcd.io/etcd/server/v3@$ev (etcd main; log $blog)"
  RUN_GO_OUT=/dev/null run_go "$blog" "module resolution for go.etcd.io/etcd/server/v3@$ev" list -deps go.etcd.io/etcd/server/v3
  run_go "$blog" "go build go.etcd.io/etcd/server/v3@$ev" build -p 2 -trimpath -ldflags "-s -w" -o "$BIN_DIR/etcd.tmp" go.etcd.io/etcd/server/v3
  [ "$(etcd_version_of "$BIN_DIR/etcd.tmp")" = "${ev#v}" ] || die "built etcd reports '$(etcd_version_of "$BIN_DIR/etcd.tmp")', expected ${ev#v}"
  mv -f "$BIN_DIR/etcd.tmp" "$BIN_DIR/etcd"
  log "built etcd ${ev#v} in $((SECONDS - t0))s, $(size_of "$BIN_DIR/etcd")"
}

kube_ready() { [ -s "$BIN_DIR/BUILDINFO" ] && [ -x "$BIN_DIR/kube-apiserver" ] && [ -x "$BIN_DIR/kube-controller-manager" ]; }
etcd_built_ready() { [ -x "$BIN_DIR/etcd" ] && [ -n "$(etcd_version_of "$BIN_DIR/etcd")" ]; }

ETCD_BIN=""
choose_etcd() { # sets ETCD_BIN, or leaves it empty when it must be built
  local cand
  case "$ETCD_MODE" in
    /*) [ -x "$ETCD_MODE" ] || die "TEST_CLUSTER_ETCD=$ETCD_MODE is not executable"; ETCD_BIN=$ETCD_MODE ;;
    build) ETCD_BIN="" ;;
    debian|auto)
      # Debian's package only if it is >= 3.5 (bookworm: 3.4.23). Its init script may start a system etcd
      # on 2379: we never use that one (our etcd always gets its own free ports and data dir).
      if [ -x /usr/bin/etcd ] && version_ge "$(etcd_version_of /usr/bin/etcd)" 3.5; then ETCD_BIN=/usr/bin/etcd
      elif [ "$SUDO" != "__no_root__" ]; then
        cand=$(apt-cache policy etcd-server 2>/dev/null | sed -n 's/^ *Candidate: //p' | head -n1)
        if [ -n "$cand" ] && [ "$cand" != "(none)" ] && version_ge "${cand#*:}" 3.5; then
          apt_install etcd-server
          [ -x /usr/bin/etcd ] && version_ge "$(etcd_version_of /usr/bin/etcd)" 3.5 && ETCD_BIN=/usr/bin/etcd
        fi
      fi
      if [ -z "$ETCD_BIN" ]; then
        [ "$ETCD_MODE" = debian ] && die "Debian's etcd-server is missing or older than 3.5 (TEST_CLUSTER_ETCD=debian)"
        log "Debian's etcd-server here is ${cand:-$(etcd_version_of /usr/bin/etcd 2>/dev/null || true)}${cand:+ (candidate)} (need >= 3.5): using etcd built from Go modules"
      fi ;;
    *) die "TEST_CLUSTER_ETCD must be auto, debian, build or an absolute path (got '$ETCD_MODE')" ;;
  esac
}

ensure_binaries() {
  apt_install ca-certificates openssl curl iproute2 util-linux coreutils procps
  mkdir -p "$VDIR"
  choose_etcd
  if kube_ready && { [ -n "$ETCD_BIN" ] || etcd_built_ready; }; then
    [ -n "$ETCD_BIN" ] || ETCD_BIN="$BIN_DIR/etcd"
    return 0
  fi
  local t0=$SECONDS rc
  log "building binaries into $BIN_DIR (one-time; waiting for lock $LOCK if another start is building)"
  # The subshell holds the lock (fd 9) only for the build: the daemons started later must not inherit it.
  # (set +e around it, not "|| rc=$?": that would disable errexit inside the subshell.)
  set +e
  (
    set -e
    flock -w "$BUILD_TIMEOUT" 9 || die "timed out after ${BUILD_TIMEOUT}s waiting for the build lock $LOCK"
    setup_go
    built=0
    if ! kube_ready; then build_kube; built=1; fi
    if [ -z "$ETCD_BIN" ] && ! etcd_built_ready; then build_etcd; built=1; fi
    [ "$built" = 1 ] || log "another start built the binaries while this one waited for the lock"
    if [ "${TEST_CLUSTER_KEEP_GOCACHE:-0}" != 1 ] && [ -z "${TEST_CLUSTER_GOCACHE:-}" ]; then rm -rf "$GOCACHE_DIR"; fi
  ) 9>"$LOCK"
  rc=$?
  set -e
  [ "$rc" = 0 ] || die "build failed (see messages above; build logs in $WORK)"
  kube_ready || die "build finished but binaries are missing in $BIN_DIR"
  if [ -z "$ETCD_BIN" ]; then etcd_built_ready || die "etcd missing in $BIN_DIR"; ETCD_BIN="$BIN_DIR/etcd"; fi
  [ $((SECONDS - t0)) -lt 2 ] || log "binaries ready after $((SECONDS - t0))s"
}

# ---------------------------------------------------------------- run
free_port() { # random free loopback TCP port, not in $USED_PORTS (re-checked by the bind itself)
  local p _
  for _ in $(seq 1 200); do
    p=$(( 20000 + (RANDOM * 32768 + RANDOM) % 40000 ))
    case " $USED_PORTS " in *" $p "*) continue ;; esac
    if ! ss -Htln "sport = :$p" 2>/dev/null | grep -q .; then USED_PORTS+=" $p"; echo "$p"; return 0; fi
  done
  die "no free port found"
}

gen_pki() { # $1 = pki dir
  local d=$1
  mkdir -p "$d"; chmod 700 "$d"
  ( cd "$d"
    ec() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
    sign() { # name subject extfile
      ec "$1.key"
      openssl req -new -key "$1.key" -subj "$2" 2>/dev/null |
        openssl x509 -req -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 -extfile "$3" -out "$1.crt" 2>/dev/null
    }
    ec ca.key
    openssl req -x509 -new -key ca.key -out ca.crt -days 3650 -subj "/CN=crdguard-test-cluster-ca" \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" 2>/dev/null
    printf '%s\n' 'subjectAltName=IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local' \
      'extendedKeyUsage=serverAuth' 'keyUsage=critical,digitalSignature,keyEncipherment' > server.ext
    printf '%s\n' 'extendedKeyUsage=clientAuth' 'keyUsage=critical,digitalSignature,keyEncipherment' > client.ext
    sign apiserver "/CN=kube-apiserver" server.ext
    sign controller-manager-serving "/CN=kube-controller-manager" server.ext
    sign admin "/O=system:masters/CN=crdguard-admin" client.ext
    # O=system:masters: with --use-service-account-credentials=false every controller (namespace
    # deletion, garbage collector, ...) acts as this user, and the bootstrap ClusterRole
    # system:kube-controller-manager alone only covers the per-controller service-account mode.
    sign controller-manager "/O=system:masters/CN=system:kube-controller-manager" client.ext
    sign unprivileged "/CN=crdguard-unprivileged" client.ext
    # front proxy (aggregation layer / request-header authn that the controller manager delegates to)
    ec front-proxy-ca.key
    openssl req -x509 -new -key front-proxy-ca.key -out front-proxy-ca.crt -days 3650 -subj "/CN=crdguard-test-front-proxy-ca" \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" 2>/dev/null
    ec front-proxy-client.key
    openssl req -new -key front-proxy-client.key -subj "/CN=front-proxy-client" 2>/dev/null |
      openssl x509 -req -CA front-proxy-ca.crt -CAkey front-proxy-ca.key -CAcreateserial -days 3650 -extfile client.ext -out front-proxy-client.crt 2>/dev/null
    ec sa.key
    openssl pkey -in sa.key -pubout -out sa.pub 2>/dev/null
    # static bearer token: user crdguard-token, uid, groups (NOT system:masters)
    head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > token
    printf '%s,crdguard-token,crdguard-token,"crdguard:token-users"\n' "$(cat token)" > tokens.csv
    chmod 600 ./*.key token tokens.csv
  ) || die "PKI generation failed (openssl)"
  local f
  for f in ca.crt apiserver.crt controller-manager-serving.crt admin.crt controller-manager.crt unprivileged.crt \
           front-proxy-ca.crt front-proxy-client.crt sa.pub token; do
    [ -s "$d/$f" ] || die "PKI generation failed: $d/$f missing"
  done
}

write_kubeconfig() { # file user-name (cert <name> | token)
  local out=$1 user=$2 kind=$3
  {
    printf 'apiVersion: v1\nkind: Config\nclusters:\n- name: crdguard-test\n  cluster:\n'
    printf '    server: %s\n    certificate-authority-data: %s\n' "$URL" "$(b64 "$RUN/pki/ca.crt")"
    printf 'users:\n- name: %s\n  user:\n' "$user"
    if [ "$kind" = token ]; then
      printf '    token: %s\n' "$(cat "$RUN/pki/token")"
    else
      printf '    client-certificate-data: %s\n    client-key-data: %s\n' "$(b64 "$RUN/pki/$kind.crt")" "$(b64 "$RUN/pki/$kind.key")"
    fi
    printf 'contexts:\n- name: %s\n  context:\n    cluster: crdguard-test\n    user: %s\ncurrent-context: %s\n' "$user" "$user" "$user"
  } > "$out"
  chmod 600 "$out"
}

b64() { base64 -w0 < "$1"; }
pid_alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }
owned_pid() { # alive AND its command line mentions this run dir (guards against PID reuse)
  pid_alive "${1:-}" && tr '\0' ' ' < "/proc/$1/cmdline" 2>/dev/null | grep -qF "$RUN/"
}
COMPONENTS=(kube-controller-manager kube-apiserver etcd)   # stop order
stop_started() { # stop what this script started in $RUN (best effort)
  local c pid _
  for c in "${COMPONENTS[@]}"; do
    [ -f "$RUN/$c.pid" ] || continue
    pid=$(cat "$RUN/$c.pid"); owned_pid "$pid" || continue
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do owned_pid "$pid" || break; sleep 0.1; done
    if owned_pid "$pid"; then kill -KILL "$pid" 2>/dev/null || true; fi
  done
}

fail_component() { # component message [retryable]
  log "---- last lines of $RUN/$1.log ----"
  tail -n 40 "$RUN/$1.log" >&2 2>/dev/null || true
  die "$1: $2 (log: $RUN/$1.log)"
}

spawn() { # name cmd... : own session, no inherited stdio/lock fds, log in the run dir
  local name=$1; shift
  setsid "$@" </dev/null >"$RUN/$name.log" 2>&1 9>&- &
  echo $! > "$RUN/$name.pid"
}

wait_for() { # name check-function : 0 ready, 1 port clash (retry), dies otherwise
  local name=$1 check=$2 deadline=$((SECONDS + START_TIMEOUT))
  until "$check"; do
    if ! pid_alive "$(cat "$RUN/$name.pid")"; then
      if grep -qiE 'address already in use|bind: address' "$RUN/$name.log"; then log "$name: port clash, retrying"; return 1; fi
      fail_component "$name" "exited before becoming ready"
    fi
    [ $SECONDS -lt $deadline ] || fail_component "$name" "not ready after ${START_TIMEOUT}s (TEST_CLUSTER_START_TIMEOUT)"
    sleep 0.2
  done
}

curl_admin() { # path [curl args]
  local path=$1; shift
  curl -sS --max-time 5 --cacert "$RUN/pki/ca.crt" --cert "$RUN/pki/admin.crt" --key "$RUN/pki/admin.key" "$@" "$URL$path"
}
etcd_healthy() { curl -sf --max-time 2 "$ETCD_URL/health" 2>/dev/null | grep -q '"health":"true"'; }
apiserver_ready() {
  [ "$(curl_admin /readyz 2>/dev/null)" = ok ] &&
    curl_admin /api/v1/namespaces/default 2>/dev/null | grep -q '"phase": *"Active"'
}
kcm_healthy() {
  [ "$(curl -sS --max-time 5 --cacert "$RUN/pki/ca.crt" "$KCM_URL/healthz" 2>/dev/null)" = ok ]
}

CLASH=0
start_once() { # one attempt on fresh ports; sets CLASH=1 on a port clash (caller retries), dies otherwise
  # (called as a plain command, never in a condition, so that errexit stays in force in here)
  local etcd_port peer_port api_port kcm_port
  USED_PORTS=""
  etcd_port=$(free_port); peer_port=$(free_port); api_port=$(free_port); kcm_port=$(free_port)
  ETCD_URL="http://127.0.0.1:$etcd_port"; URL="https://127.0.0.1:$api_port"; KCM_URL="https://127.0.0.1:$kcm_port"
  rm -rf "$RUN/etcd-data"; mkdir -p "$RUN/etcd-data"; chmod 700 "$RUN/etcd-data"
  local -a fsync=(--unsafe-no-fsync)
  [ "${TEST_CLUSTER_ETCD_FSYNC:-0}" = 1 ] && fsync=()

  log "starting etcd $ETCD_VERSION ($ETCD_BIN) on $ETCD_URL"
  spawn etcd "$ETCD_BIN" --name crdguard-test --data-dir "$RUN/etcd-data" \
    --listen-client-urls "$ETCD_URL" --advertise-client-urls "$ETCD_URL" \
    --listen-peer-urls "http://127.0.0.1:$peer_port" --initial-advertise-peer-urls "http://127.0.0.1:$peer_port" \
    --initial-cluster "crdguard-test=http://127.0.0.1:$peer_port" --initial-cluster-state new \
    --logger zap --log-level warn --quota-backend-bytes 4294967296 "${fsync[@]}"
  wait_for etcd etcd_healthy || { CLASH=1; return 0; }

  log "starting kube-apiserver $K8S_VERSION on $URL"
  local -a api_extra=() kcm_extra=()
  read -r -a api_extra <<< "${TEST_CLUSTER_APISERVER_ARGS:-}"
  read -r -a kcm_extra <<< "${TEST_CLUSTER_CONTROLLER_MANAGER_ARGS:-}"
  spawn kube-apiserver "$BIN_DIR/kube-apiserver" \
    --etcd-servers="$ETCD_URL" \
    --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$api_port" \
    --tls-cert-file="$RUN/pki/apiserver.crt" --tls-private-key-file="$RUN/pki/apiserver.key" --cert-dir="$RUN/pki/generated" \
    --client-ca-file="$RUN/pki/ca.crt" --token-auth-file="$RUN/pki/tokens.csv" \
    --service-account-issuer=https://kubernetes.default.svc \
    --service-account-key-file="$RUN/pki/sa.pub" --service-account-signing-key-file="$RUN/pki/sa.key" \
    --service-cluster-ip-range=10.96.0.0/16 --endpoint-reconciler-type=none \
    --authorization-mode=Node,RBAC --allow-privileged=true --profiling=false \
    --requestheader-client-ca-file="$RUN/pki/front-proxy-ca.crt" --requestheader-allowed-names=front-proxy-client \
    --requestheader-username-headers=X-Remote-User --requestheader-group-headers=X-Remote-Group \
    --requestheader-extra-headers-prefix=X-Remote-Extra- \
    --proxy-client-cert-file="$RUN/pki/front-proxy-client.crt" --proxy-client-key-file="$RUN/pki/front-proxy-client.key" \
    --enable-aggregator-routing=true \
    "${api_extra[@]}"
  wait_for kube-apiserver apiserver_ready || { CLASH=1; return 0; }

  # the controller manager authenticates with its own client cert (CN=system:kube-controller-manager)
  write_kubeconfig "$RUN/controller-manager.kubeconfig" system:kube-controller-manager controller-manager
  log "starting kube-controller-manager $K8S_VERSION on $KCM_URL"
  spawn kube-controller-manager "$BIN_DIR/kube-controller-manager" \
    --kubeconfig="$RUN/controller-manager.kubeconfig" \
    --authentication-kubeconfig="$RUN/controller-manager.kubeconfig" \
    --authorization-kubeconfig="$RUN/controller-manager.kubeconfig" \
    --bind-address=127.0.0.1 --secure-port="$kcm_port" \
    --tls-cert-file="$RUN/pki/controller-manager-serving.crt" --tls-private-key-file="$RUN/pki/controller-manager-serving.key" \
    --client-ca-file="$RUN/pki/ca.crt" \
    --leader-elect=false --use-service-account-credentials=false \
    --service-account-private-key-file="$RUN/pki/sa.key" --root-ca-file="$RUN/pki/ca.crt" \
    --cluster-signing-cert-file="$RUN/pki/ca.crt" --cluster-signing-key-file="$RUN/pki/ca.key" \
    --service-cluster-ip-range=10.96.0.0/16 --cluster-name=crdguard-test \
    --controllers='*,-node-ipam-controller,-node-lifecycle-controller,-cloud-node-lifecycle-controller,-service-lb-controller,-node-route-controller' \
    --flex-volume-plugin-dir="$RUN/flexvolume" --profiling=false \
    "${kcm_extra[@]}"
  wait_for kube-controller-manager kcm_healthy || { CLASH=1; return 0; }

  write_kubeconfig "$RUN/admin.kubeconfig" crdguard-admin admin
  write_kubeconfig "$RUN/token.kubeconfig" crdguard-token token
  write_kubeconfig "$RUN/unprivileged.kubeconfig" crdguard-unprivileged unprivileged
  {
    local k v
    for k in TEST_CLUSTER_RUN_DIR TEST_CLUSTER_URL TEST_CLUSTER_CA TEST_CLUSTER_ADMIN_KUBECONFIG \
             TEST_CLUSTER_TOKEN_KUBECONFIG TEST_CLUSTER_TOKEN TEST_CLUSTER_UNPRIVILEGED_KUBECONFIG \
             TEST_CLUSTER_VERSION TEST_CLUSTER_PORT TEST_CLUSTER_ETCD_URL TEST_CLUSTER_ETCD_VERSION \
             TEST_CLUSTER_CONTROLLER_MANAGER_URL TEST_CLUSTER_ETCD_PID TEST_CLUSTER_APISERVER_PID \
             TEST_CLUSTER_CONTROLLER_MANAGER_PID; do
      case $k in
        TEST_CLUSTER_RUN_DIR) v=$RUN ;;
        TEST_CLUSTER_URL) v=$URL ;;
        TEST_CLUSTER_CA) v=$RUN/pki/ca.crt ;;
        TEST_CLUSTER_ADMIN_KUBECONFIG) v=$RUN/admin.kubeconfig ;;
        TEST_CLUSTER_TOKEN_KUBECONFIG) v=$RUN/token.kubeconfig ;;
        TEST_CLUSTER_TOKEN) v=$(cat "$RUN/pki/token") ;;
        TEST_CLUSTER_UNPRIVILEGED_KUBECONFIG) v=$RUN/unprivileged.kubeconfig ;;
        TEST_CLUSTER_VERSION) v=$K8S_VERSION ;;
        TEST_CLUSTER_PORT) v=$api_port ;;
        TEST_CLUSTER_ETCD_URL) v=$ETCD_URL ;;
        TEST_CLUSTER_ETCD_VERSION) v=$ETCD_VERSION ;;
        TEST_CLUSTER_CONTROLLER_MANAGER_URL) v=$KCM_URL ;;
        TEST_CLUSTER_ETCD_PID) v=$(cat "$RUN/etcd.pid") ;;
        TEST_CLUSTER_APISERVER_PID) v=$(cat "$RUN/kube-apiserver.pid") ;;
        TEST_CLUSTER_CONTROLLER_MANAGER_PID) v=$(cat "$RUN/kube-controller-manager.pid") ;;
      esac
      printf '%s=%q\n' "$k" "$v"
    done
  } > "$RUN/env.tmp"
  chmod 600 "$RUN/env.tmp"; mv -f "$RUN/env.tmp" "$RUN/env"
  return 0
}

on_exit() { # never leave half-started processes (or, unless TEST_CLUSTER_KEEP=1, the run dir) behind
  local rc=$?
  if [ "$rc" != 0 ]; then
    stop_started
    if [ "${TEST_CLUSTER_KEEP:-0}" = 1 ]; then log "failed; kept $RUN"; else rm -rf "$RUN"; log "failed; removed $RUN (TEST_CLUSTER_KEEP=1 keeps it)"; fi
  fi
  exit "$rc"
}

main() {
  local t0=$SECONDS tstart attempt
  ensure_binaries
  if [ "${TEST_CLUSTER_BUILD_ONLY:-0}" = 1 ]; then
    log "binaries cached in $BIN_DIR (etcd: $ETCD_BIN); TEST_CLUSTER_BUILD_ONLY=1, not starting"; return 0
  fi
  ETCD_VERSION=$(etcd_version_of "$ETCD_BIN")
  version_ge "$ETCD_VERSION" 3.5 || die "etcd $ETCD_BIN is version '$ETCD_VERSION', need >= 3.5"
  if [ -n "${TEST_CLUSTER_RUN_DIR:-}" ]; then
    mkdir -p "$TEST_CLUSTER_RUN_DIR"; RUN=$(cd "$TEST_CLUSTER_RUN_DIR" && pwd)
    [ -z "$(ls -A "$RUN")" ] || die "TEST_CLUSTER_RUN_DIR=$RUN is not empty"
  else
    RUN=$(mktemp -d "${TMPDIR:-/tmp}/crdguard-test-cluster.XXXXXX")
  fi
  chmod 700 "$RUN"
  echo "crdguard-test-cluster $K8S_VERSION" > "$RUN/.crdguard-test-cluster"   # marker for stop.sh
  trap on_exit EXIT
  tstart=$SECONDS
  gen_pki "$RUN/pki"
  for attempt in 1 2 3; do
    CLASH=0
    start_once
    if [ "$CLASH" = 0 ]; then
      log "ready in $((SECONDS - tstart))s (total $((SECONDS - t0))s): $URL; env: $RUN/env; stop: $SCRIPT_DIR/stop.sh $RUN/admin.kubeconfig"
      echo "$RUN/admin.kubeconfig"
      return 0
    fi
    stop_started
    log "attempt $attempt hit a port clash"
  done
  die "could not start after 3 attempts (logs in $RUN)"
}

main "$@"
