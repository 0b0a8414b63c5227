#!/bin/sh
# bench/probes.sh: CPU cost of geodnsd's health probes; see bench/README.md.
#   bench/probes.sh [--targets 2000] [--seconds 30] [--kind tcp|http] [--help]
exec python3 "$(dirname "$0")/probes.py" "$@"
