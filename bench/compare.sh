#!/bin/sh
# bench/compare.sh: geodnsd against gdnsd 3 - queries per second, server CPU
# per query and user-space instructions per query (callgrind) for four query
# mixes, with PASS/FAIL against the targets.  See bench/README.md.
#   bench/compare.sh [--quick] [--help]
#   GEODNSD=$(bench/lib/build-release.sh) bench/compare.sh
PYTHONDONTWRITEBYTECODE=1    # no __pycache__ in the source tree
export PYTHONDONTWRITEBYTECODE
exec python3 "$(dirname "$0")/lib/compare.py" "$@"
