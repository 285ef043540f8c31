#!/bin/bash
# A/B of Mailstead's SMTP intake alone, code against code, runs interleaved:
#
#   bench/ab_intake.sh RUNS LABEL=SRC [LABEL=SRC ...]
#
# SRC is a `src` folder (a snapshot: `git archive COMMIT | tar -x -C DIR`, then
# `(cd DIR && python setup.py build_ext --inplace)` for the C speedups; SRC = DIR/src).
# Each run resets the bench instance with that code (bench/mailstead/setup.sh; the template
# is made again when the code changes), syncs the disk so the last run's dirty pages are not
# written back during this one, and times `smtp-source -s 10 -m $N -l $SIZE` (default
# 1000 x 100 KiB) from start to its exit (every 250 received). Prints the median and each
# run per label. No peer here: for ratios against Postfix+Dovecot use run_all.sh.
set -eu
cd "$(dirname "$0")/.."
export BENCH_DIR=${BENCH_DIR:-/tmp/mailstead-bench}
RUNS=$1
shift
declare -A times
for _ in $(seq "$RUNS"); do
    for spec in "$@"; do
        label=${spec%%=*}
        MAILSTEAD_SRC=${spec#*=} bench/mailstead/setup.sh reset >/dev/null
        sync
        sleep 0.5
        start=$(date +%s.%N)
        /usr/sbin/smtp-source -s 10 -m "${N:-1000}" -l "${SIZE:-102400}" -f sender@bench.test \
            -t u1@bench.test "${MS_ADDR:-127.0.40.3}:25"
        end=$(date +%s.%N)
        times[$label]="${times[$label]:-} $(echo "$end - $start" | bc)"
    done
done
bench/mailstead/setup.sh stop >/dev/null
for spec in "$@"; do
    label=${spec%%=*}
    echo "$label: $(echo ${times[$label]} | tr ' ' '\n' | sort -n \
        | awk '{a[NR]=$1} END {printf "median %.3f s  [", a[int((NR+1)/2)]; for (i=1;i<=NR;i++) printf "%.2f ", a[i]; print "]"}')"
done
