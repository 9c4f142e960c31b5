#!/usr/bin/env bash
# Builds Mnemo's libFuzzer target with AddressSanitizer and fuzzes it.
#   Fuzz/run.sh [RUNS] [WORKERS]      default: 100000 inputs, 1 worker
# New inputs go to Fuzz/corpus; crashes to Fuzz/findings (not committed).
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-100000}"
workers="${2:-1}"
MNEMO_FUZZ=1 swift build -c release --product mnemo-fuzz --scratch-path .build-fuzz \
  -Xswiftc -sanitize=fuzzer,address -Xcc -fsanitize=fuzzer-no-link,address \
  -Xswiftc -Xclang-linker -Xswiftc -fuse-ld=lld
mkdir -p Fuzz/corpus Fuzz/findings
# Swift's crash handler would bury the sanitizer's report. Leaks are findings too:
# a script's values must go with its interpreter (Runtime/ContainerRegistry.swift).
export SWIFT_BACKTRACE=enable=no
.build-fuzz/release/mnemo-fuzz -fork="$workers" -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1 \
  -runs="$runs" -max_len=2048 -timeout=20 -rss_limit_mb=3072 -artifact_prefix=Fuzz/findings/ \
  Fuzz/corpus Fuzz/seeds
