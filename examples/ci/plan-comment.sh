#!/usr/bin/env bash
# plan-comment.sh - the pull-request comment of a crdguard plan, offline: no GitHub needed.
#
# Usage:   plan-comment.sh [crdguard plan arguments...]
#          e.g. plan-comment.sh --chart charts/my-app --snapshot ci/cluster-snapshot.yaml
#          (`-o markdown` is added; do not pass -o)
# Env:     CRDGUARD       the crdguard binary (default: crdguard on PATH)
#          COMMENT_FILE   where the comment is written (default: crdguard-plan.md); it is also
#                         printed on stdout
# Exit:    crdguard's own code, after the comment is written: 0 the plan is safe to apply;
#          1 blocked or conflict items, or a failed preflight check; 2 bad usage or input;
#          3 cluster unreachable. A CI job posts the comment first, then fails on non-zero.
set -uo pipefail

crdguard=${CRDGUARD:-crdguard}
comment=${COMMENT_FILE:-crdguard-plan.md}
# A marker that finds this comment again, e.g. to update it instead of adding another.
marker='<!-- crdguard-plan -->'

stderr_file=$(mktemp)
body_file=$(mktemp)
trap 'rm -f "$stderr_file" "$body_file"' EXIT

"$crdguard" plan "$@" -o markdown >"$body_file" 2>"$stderr_file"
code=$?

case $code in
  0) verdict=':white_check_mark: **crdguard**: the plan is safe to apply.' ;;
  1) verdict=':no_entry: **crdguard**: the plan is blocked (blocked or conflict items, or a failed preflight check). Nothing would be applied.' ;;
  2) verdict=':warning: **crdguard** could not plan: bad usage or input.' ;;
  3) verdict=':warning: **crdguard** could not plan: the cluster is unreachable or the API failed.' ;;
  *) verdict=":warning: **crdguard** ended with exit code $code." ;;
esac

{
  echo "$marker"
  echo "$verdict"
  echo
  if [ -s "$body_file" ]; then
    cat "$body_file"
  fi
  if [ "$code" -ge 2 ] && [ -s "$stderr_file" ]; then
    echo
    echo '```text'
    head -n 50 "$stderr_file"
    echo '```'
  fi
} >"$comment" || { echo "plan-comment.sh: cannot write $comment" >&2; exit 2; }

cat "$comment"
# crdguard's diagnostics stay visible in the job log.
cat "$stderr_file" >&2
exit "$code"
