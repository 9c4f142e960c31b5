#!/usr/bin/env bash
# Mnemo's training steps, op by op and compiled, against JAX's jit-compiled
# step of the same models and sizes (bench/peers/jax_models.py), measured in
# turn in one run, each on one core (and Mnemo's compiled MANN again with two
# threads on both), and printed as Mnemo's time over JAX's.
#   bench/peers/compare.sh [ROUNDS]     (default 3 rounds; medians are printed)
# JAX comes from PyPI into .build/peers (a virtual environment); without
# network or pip the comparison is skipped, not failed. Build Mnemo first:
# swift build -c release.
set -uo pipefail
cd "$(dirname "$0")/../.."
rounds="${1:-3}"
mnemo=.build/release/mnemo
[ -x "$mnemo" ] || { echo "build Mnemo first: swift build -c release"; exit 1; }

venv=.build/peers
if ! "$venv/bin/python" -c "import jax" 2>/dev/null; then
  echo "installing jax into $venv ..."
  if ! { python3 -m venv "$venv" && "$venv/bin/pip" install -q jax; } >/dev/null 2>&1; then
    echo "skipped: jax could not be installed (no network or no pip)"
    exit 0
  fi
fi

# One core for each side, as the step targets are stated.
pin=()
command -v taskset >/dev/null && pin=(taskset -c 0)

median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

declare -A mnemo_ms jax_ms
for ((r = 0; r < rounds; r++)); do
  # Mnemo's own kernels, as the suite runs them (a BLAS changes the figure; say MNEMO_BLAS to choose).
  out=$(MNEMO_BLAS="${MNEMO_BLAS:-none}" "${pin[@]}" "$mnemo" bench bench/ntm_step.mn bench/ntm_step_compiled.mn \
        bench/ntm_step10_compiled.mn bench/mann_episode.mn bench/mann_episode_compiled.mn)
  mnemo_ms[ntm]+="$(echo "$out" | awk '/^NTM copy step, length/ { print $(NF - 1) }') "
  mnemo_ms[ntmc]+="$(echo "$out" | awk '/^NTM copy step compiled, length 20/ { print $(NF - 1) }') "
  mnemo_ms[ntm10c]+="$(echo "$out" | awk '/^NTM copy step compiled, length 10/ { print $(NF - 1) }') "
  mnemo_ms[mann]+="$(echo "$out" | awk '/^MANN episode, batch/ { print $(NF - 1) }') "
  mnemo_ms[mannc]+="$(echo "$out" | awk '/^MANN episode compiled/ { print $(NF - 1) }') "
  # And Mnemo's compiled MANN with two threads, on both cores (`threads(2)`).
  out=$(MNEMO_BLAS="${MNEMO_BLAS:-none}" MNEMO_THREADS=2 "$mnemo" bench bench/mann_episode_compiled.mn)
  mnemo_ms[mann2]+="$(echo "$out" | awk '/^MANN episode compiled/ { print $(NF - 1) }') "
  out=$("${pin[@]}" "$venv/bin/python" bench/peers/jax_models.py all)
  jax_ms[ntm]+="$(echo "$out" | awk '$1 == "ntm" { print $2 }') "
  jax_ms[ntm10]+="$(echo "$out" | awk '$1 == "ntm10" { print $2 }') "
  jax_ms[mann]+="$(echo "$out" | awk '$1 == "mann" { print $2 }') "
done

printf '%-44s %10s %10s %8s\n' "step (median of $rounds rounds, one core)" "Mnemo ms" "JAX ms" "ratio"
for name in ntm ntmc ntm10c mann mannc mann2; do
  m=$(echo ${mnemo_ms[$name]} | tr ' ' '\n' | median)
  peer=${name%2}
  j=$(echo ${jax_ms[${peer%c}]} | tr ' ' '\n' | median)
  case $name in
    ntm) label="NTM copy step, length 20, batch 1" ;;
    ntmc) label="  the same, compiled (one kernel plan)" ;;
    ntm10c) label="NTM copy step, length 10, compiled" ;;
    mann) label="MANN episode, batch 16 x 50 steps, 4 reads" ;;
    mannc) label="  the same, compiled (one kernel plan)" ;;
    mann2) label="  compiled, Mnemo with two threads" ;;
  esac
  printf '%-44s %10.2f %10.2f %7.2fx\n' "$label" "$m" "$j" "$(awk -v m="$m" -v j="$j" 'BEGIN { print m / j }')"
done
