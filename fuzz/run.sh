#!/usr/bin/env bash
# Runs one target for $2 seconds (default 600) from its committed seeds and
# prints libFuzzer's final statistics. Usage: fuzz/run.sh <target> [seconds]
set -euo pipefail
cd "$(dirname "$0")"
objetivo="$1"
segundos="${2:-600}"
case "$objetivo" in
  comando_bytes|clave_de_orden) max_len=70000 ;;
  gateway_comando) max_len=20000 ;;
  *) max_len=4096 ;;
esac
mkdir -p "corpus/$objetivo"
cargo +nightly fuzz run -O "$objetivo" "corpus/$objetivo" "seeds/$objetivo" -- \
  -max_total_time="$segundos" -max_len="$max_len" -print_final_stats=1 -timeout=10 -rss_limit_mb=4096
