#!/bin/sh
# bench/zone-scale.sh: load a zone of N records (default 1,000,000) into
# geodnsd, NSD and Knot; compare load time and memory.  See bench/README.md.
#   bench/zone-scale.sh [--records N] [--quick] [--help]
PYTHONDONTWRITEBYTECODE=1    # no __pycache__ in the source tree
export PYTHONDONTWRITEBYTECODE
exec python3 "$(dirname "$0")/lib/zone_scale.py" "$@"
