#!/bin/sh
# Run the whole bench from a fresh machine (as root):
#
#   bench/run_all.sh [RUNS]        default 3 runs; BENCH_TARGETS="peer mailstead" by default
#
# Installs Postfix and Dovecot from Debian's packages (daemons kept from starting), builds
# the project venv if missing, sets up both systems on 127.0.40.1-3, then per run and per
# test resets each target and measures it, peer and Mailstead back to back. Raw results go
# to $BENCH_DIR/results-<time>.jsonl, the summary tables to the same name with .md.
set -eu

RUNS=${1:-${BENCH_RUNS:-3}}
TARGETS=${BENCH_TARGETS:-"peer mailstead"}
BENCH_DIR=${BENCH_DIR:-/tmp/mailstead-bench}
export BENCH_DIR
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
PY=$ROOT/.venv/bin/python

install_peer() {
    if command -v smtp-source >/dev/null && command -v dovecot >/dev/null \
        && [ -x /usr/lib/dovecot/lmtp ] && [ -x /usr/lib/dovecot/pop3 ]; then
        return 0
    fi
    # Debian starts a package's daemon on install; these would bind 0.0.0.0:25/110 and steal
    # the ports from the servers under test. policy-rc.d exit 101 = "not allowed to start".
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod +x /usr/sbin/policy-rc.d
    fi
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
        postfix dovecot-core dovecot-lmtpd dovecot-pop3d
}

install_peer
[ -x "$PY" ] || make venv
if ss -ltn | grep -Eq '(0\.0\.0\.0|\*):(25|110) '; then
    echo "warning: something listens on a wildcard address on port 25 or 110:" >&2
    ss -ltnp | grep -E ':(25|110) ' >&2
fi

mkdir -p "$BENCH_DIR"
# Mailstead runs from a snapshot of the last commit: the working tree is shared with other
# engineers and changes under a running bench.
COMMIT=$(git rev-parse --short HEAD)
if [ -z "${MAILSTEAD_SRC:-}" ]; then
    MAILSTEAD_SRC=$BENCH_DIR/src-$COMMIT/src
    if [ ! -d "$MAILSTEAD_SRC" ]; then
        mkdir -p "$BENCH_DIR/src-$COMMIT"
        git archive "$COMMIT" | tar -x -C "$BENCH_DIR/src-$COMMIT"
        # The optional C scans (src/mailstead/_speedups.c), built next to the snapshot's code.
        (cd "$BENCH_DIR/src-$COMMIT" && "$PY" setup.py -q build_ext --inplace >/dev/null 2>&1) \
            || echo "warning: mailstead._speedups not built; pure-Python scans" >&2
    fi
fi
export MAILSTEAD_SRC
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT=$BENCH_DIR/results-$STAMP.jsonl
{
    echo "date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
    echo "uname: $(uname -a)"
    echo "nproc: $(nproc)"
    echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
    echo "memory: $(free -m | awk '/^Mem:/ {print $2 " MiB"}')"
    echo "postfix: $(postconf -h mail_version), dovecot: $(dovecot --version)"
    echo "mailstead: $COMMIT ($(git log -1 --format=%cd --date=iso "$COMMIT")), code from $MAILSTEAD_SRC"
    echo "python: $("$PY" --version)"
} >"$OUT.machine.txt"
cat "$OUT.machine.txt"

stop_all() {
    for target in $TARGETS; do
        "bench/$target/setup.sh" stop || true
    done
}
trap stop_all EXIT

for target in $TARGETS; do
    "bench/$target/setup.sh" stop # a server left running may be other code
    "bench/$target/setup.sh" start
done

measure() { # description, command...
    echo "== $1"
    shift
    "$@" --out "$OUT" || echo "!! failed: $*" >&2
}

run=1
while [ "$run" -le "$RUNS" ]; do
    for target in $TARGETS; do
        measure "run $run $target smtp 4 KiB" \
            "$PY" bench/smtp_load.py --target "$target" --messages 5000 --size 4096 --reset
    done
    for target in $TARGETS; do
        measure "run $run $target smtp 100 KiB" \
            "$PY" bench/smtp_load.py --target "$target" --messages 1000 --size 102400 --reset
    done
    for target in $TARGETS; do
        measure "run $run $target pop3 drain" \
            "$PY" bench/pop3_drain.py --target "$target" --users 50 --per-user 200 --reset
    done
    run=$((run + 1))
done

"$PY" bench/summarize.py "$OUT" >"$OUT.md"
cat "$OUT.md"
echo "raw: $OUT  summary: $OUT.md  machine: $OUT.machine.txt"
