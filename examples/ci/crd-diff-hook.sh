#!/usr/bin/env bash
# crd-diff-hook.sh - a pre-commit hook: `crdguard diff` of each changed CRD file, the version at
# git HEAD against the one in the working tree; fails on breaking (error) findings.
#
# Usage:   crd-diff-hook.sh [--server-version vX.Y.Z] [--no-info] [FILE...]
#          Options before the files go to `crdguard diff`. pre-commit passes the staged files (its
#          `args:` come first); without files, those changed since HEAD are checked.
#          Files that hold no CustomResourceDefinition, and new files, are skipped.
# Env:     CRDGUARD   the crdguard binary (default: crdguard on PATH)
# Exit:    0 compatible; 1 a file has error findings (breaking changes); 2 crdguard could not read
#          a file.
set -uo pipefail

crdguard=${CRDGUARD:-crdguard}
diff_args=()
while [ $# -gt 0 ]; do
  case $1 in
    --server-version) diff_args+=("$1" "${2:-}"); shift 2 || shift ;;
    --) shift; break ;;
    -*) diff_args+=("$1"); shift ;;
    *) break ;;
  esac
done
if [ $# -eq 0 ]; then
  mapfile -t changed < <(git diff --name-only --diff-filter=M HEAD -- '*.yaml' '*.yml' '*.json')
  set -- "${changed[@]}"
fi

old_dir=$(mktemp -d)
trap 'rm -rf "$old_dir"' EXIT
status=0
for file in "$@"; do
  [ -f "$file" ] || continue
  grep -Eq '(^|[[:space:]"])kind"?:[[:space:]]*"?CustomResourceDefinition' "$file" || continue
  old="$old_dir/$(basename "$file")"
  if ! git show "HEAD:./$file" >"$old" 2>/dev/null; then
    continue # new file: nothing to compare with
  fi
  echo "== crdguard diff HEAD:$file $file"
  "$crdguard" diff "${diff_args[@]}" "$old" "$file"
  code=$?
  case $code in
    0) ;;
    1) echo "crd-diff-hook: $file: breaking changes (error findings above)" >&2
       [ "$status" -ge 1 ] || status=1 ;;
    *) echo "crd-diff-hook: $file: crdguard diff failed (exit $code)" >&2
       status=2 ;;
  esac
done
exit "$status"
