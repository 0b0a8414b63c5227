#!/bin/sh
# bench/reload-under-load.sh: SIGHUP geodnsd 10 times (once a second) while
# dnsperf sends static and geo queries; PASS when no query is lost and
# every answer stays right.  See bench/README.md.
#   bench/reload-under-load.sh [--rate QPS] [--reloads N] [--help]
PYTHONDONTWRITEBYTECODE=1    # no __pycache__ in the source tree
export PYTHONDONTWRITEBYTECODE
exec python3 "$(dirname "$0")/lib/reload_under_load.py" "$@"
