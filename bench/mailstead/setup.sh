#!/bin/sh
# Configure and start Mailstead for the bench on 127.0.40.3 (SMTP 25, POP3 110, ...), data in
# $BENCH_DIR/ms, users u1..u50@bench.test created through the CLI.
#
#   bench/mailstead/setup.sh start     create the instance once (idempotent) and start it
#   bench/mailstead/setup.sh stop      SIGTERM by pid (graceful shutdown), SIGKILL after 30 s
#   bench/mailstead/setup.sh reset     stop, restore the empty instance, start again
#   bench/mailstead/setup.sh pids      print the server's pid
#
# MAILSTEAD_SRC=DIR runs the code in DIR/mailstead (run_all.sh exports a snapshot of HEAD
# there) instead of the shared working tree, which other engineers edit while the bench runs.
#
# The freshly created instance (config, certificate, database with the users) is kept as a
# template and copied back on reset: creating 50 argon2id users through the CLI takes longer
# than a run.
set -eu

BENCH_DIR=${BENCH_DIR:-/tmp/mailstead-bench}
MS_ADDR=${MS_ADDR:-127.0.40.3}
USERS=${BENCH_USERS:-50}
PASSWORD=${BENCH_PASSWORD:-bench-password}
HERE=$(cd "$(dirname "$0")" && pwd)
PYTHON=${BENCH_PYTHON:-$HERE/../../.venv/bin/python}
if [ -n "${MAILSTEAD_SRC:-}" ]; then
    PYTHONPATH=$MAILSTEAD_SRC
    export PYTHONPATH
fi

MS=$BENCH_DIR/ms
TEMPLATE=$BENCH_DIR/ms-template
CONFIG=$MS/mailstead.toml
PID_FILE=$BENCH_DIR/ms.pid
LOG=$BENCH_DIR/ms-serve.log

create_template() {
    code="${MAILSTEAD_SRC:-working tree}"
    if [ -f "$TEMPLATE/mailstead.toml" ] && [ "$(cat "$TEMPLATE.code" 2>/dev/null)" = "$code" ]; then
        return 0
    fi
    rm -rf "$TEMPLATE"
    rm -rf "$MS"
    "$PYTHON" -m mailstead --config "$CONFIG" init --hostname ms-mx.bench.test --domain bench.test \
        --data "$MS" --listen "$MS_ADDR" --ports standard >/dev/null
    i=1
    while [ "$i" -le "$USERS" ]; do
        printf '%s\n' "$PASSWORD" | "$PYTHON" -m mailstead --config "$CONFIG" user add "u$i@bench.test" \
            --password-stdin >/dev/null
        i=$((i + 1))
    done
    rm -rf "$TEMPLATE.tmp"
    cp -a "$MS" "$TEMPLATE.tmp"
    mv "$TEMPLATE.tmp" "$TEMPLATE"
    printf '%s\n' "$code" >"$TEMPLATE.code"
}

server_pid() {
    [ -f "$PID_FILE" ] && pid=$(cat "$PID_FILE") && kill -0 "$pid" 2>/dev/null && echo "$pid"
    return 0
}

wait_port() { # addr port
    n=0
    until "$PYTHON" -c 'import socket,sys; socket.create_connection((sys.argv[1], int(sys.argv[2])), 1).close()' "$1" "$2" 2>/dev/null; do
        n=$((n + 1))
        if [ "$n" -ge 200 ] || [ -z "$(server_pid)" ]; then
            echo "mailstead is not listening on $1:$2; see $LOG" >&2
            tail -n 20 "$LOG" >&2
            exit 1
        fi
        sleep 0.1
    done
}

start() {
    mkdir -p "$BENCH_DIR"
    if [ -z "$(server_pid)" ]; then
        create_template
        [ -d "$MS" ] || cp -a "$TEMPLATE" "$MS"
    fi
    if [ -z "$(server_pid)" ]; then
        nohup "$PYTHON" -m mailstead --config "$CONFIG" serve >>"$LOG" 2>&1 </dev/null &
        echo $! >"$PID_FILE"
    fi
    wait_port "$MS_ADDR" 25
    wait_port "$MS_ADDR" 110
    echo "mailstead up: pid $(server_pid) on $MS_ADDR:25,110"
}

stop() {
    pid=$(server_pid)
    [ -n "$pid" ] || return 0
    kill -TERM "$pid"
    n=0
    while kill -0 "$pid" 2>/dev/null; do
        n=$((n + 1))
        if [ "$n" -eq 300 ]; then
            echo "mailstead pid $pid ignored SIGTERM for 30 s; killing it" >&2
            kill -KILL "$pid"
        fi
        sleep 0.1
    done
    rm -f "$PID_FILE"
}

reset() {
    stop
    rm -rf "$MS"
    start
}

case "${1:-start}" in
    start) start ;;
    stop) stop ;;
    reset) reset ;;
    pids) server_pid ;;
    *) echo "usage: $0 start|stop|reset|pids" >&2; exit 2 ;;
esac
