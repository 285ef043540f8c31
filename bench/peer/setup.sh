#!/bin/sh
# Configure and start the peer under test: Postfix (127.0.40.1:25) delivering over LMTP to
# Dovecot (LMTP 127.0.40.2:24, POP3 127.0.40.2:110), both from Debian's packages, each with a
# private config and data under $BENCH_DIR so the system daemons (never started, see
# policy-rc.d in run_all.sh) and their configs are left alone.
#
#   bench/peer/setup.sh start     write configs (idempotent) and start both
#   bench/peer/setup.sh stop      stop both cleanly (postfix stop / dovecot by pid)
#   bench/peer/setup.sh reset     stop, empty the queue and the maildirs, start again
#   bench/peer/setup.sh pids      print the master pids (postfix dovecot)
#
# Durability is left at the packages' defaults on purpose: Postfix fsyncs each queue file
# before its 250, Dovecot (mail_fsync = optimized) fsyncs each delivered mail before the LMTP
# 250, so the peer's "stored" means what Mailstead's means.
set -eu

BENCH_DIR=${BENCH_DIR:-/tmp/mailstead-bench}
PF_ADDR=${PF_ADDR:-127.0.40.1}
DC_ADDR=${DC_ADDR:-127.0.40.2}
USERS=${BENCH_USERS:-50}
PASSWORD=${BENCH_PASSWORD:-bench-password}
HERE=$(cd "$(dirname "$0")" && pwd)
PYTHON=${BENCH_PYTHON:-$HERE/../../.venv/bin/python}

PF=$BENCH_DIR/postfix
DC=$BENCH_DIR/dovecot
MAIL=$BENCH_DIR/dovecot-mail
MAIL_USER=mailbench

write_configs() {
    mkdir -p "$PF/etc" "$PF/spool" "$PF/data" "$DC/run" "$DC/state" "$MAIL"
    if ! id "$MAIL_USER" >/dev/null 2>&1; then
        useradd --system --no-create-home --shell /usr/sbin/nologin "$MAIL_USER"
    fi
    uid=$(id -u "$MAIL_USER")
    gid=$(id -g "$MAIL_USER")
    chown "$MAIL_USER:$MAIL_USER" "$MAIL"
    chown postfix:postfix "$PF/data"

    # Postfix: a virtual mailbox domain whose transport is Dovecot's LMTP.
    cat >"$PF/etc/main.cf" <<CONF
compatibility_level = 3.6
queue_directory = $PF/spool
data_directory = $PF/data
maillog_file = $PF/maillog
maillog_file_prefixes = $BENCH_DIR
myhostname = peer-mx.bench.test
mydomain = bench.test
myorigin = bench.test
mydestination =
# Postfix refuses an inet_interfaces address that no interface carries (lo has only
# 127.0.0.1/8), so smtpd's address is pinned in master.cf instead; nothing binds 127.0.0.1.
inet_interfaces = loopback-only
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_recipient_restrictions =
smtpd_peername_lookup = no
virtual_mailbox_domains = bench.test
virtual_mailbox_maps = texthash:$PF/etc/vmailbox
virtual_transport = lmtp:inet:[$DC_ADDR]:24
alias_maps =
alias_database =
local_recipient_maps =
biff = no
append_dot_mydomain = no
# No DNS anywhere: loopback-only machine.
disable_dns_lookups = yes
smtp_dns_support_level = disabled
lmtp_dns_support_level = disabled
smtp_host_lookup = native
lmtp_host_lookup = native
message_size_limit = 52428800
smtpd_banner = \$myhostname ESMTP
CONF
    # Every service unchrooted: the private queue dir has no chroot jail prepared.
    cat >"$PF/etc/master.cf" <<CONF
$PF_ADDR:smtp inet n    -       n       -       -       smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
CONF
    : >"$PF/etc/vmailbox.new"
    : >"$DC/users.new"
    # Same argon2id cost as Mailstead's (m=19 MiB, t=2, p=1), so logins cost the same.
    hash=$("$PYTHON" -c 'import sys
from argon2 import PasswordHasher
print(PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1).hash(sys.argv[1]))' "$PASSWORD")
    i=1
    while [ "$i" -le "$USERS" ]; do
        echo "u$i@bench.test OK" >>"$PF/etc/vmailbox.new"
        echo "u$i@bench.test:{ARGON2ID}$hash:$uid:$gid::$MAIL/u$i::" >>"$DC/users.new"
        i=$((i + 1))
    done
    mv "$PF/etc/vmailbox.new" "$PF/etc/vmailbox"
    mv "$DC/users.new" "$DC/users"
    chown root:dovecot "$DC/users"
    chmod 0640 "$DC/users"

    cat >"$DC/dovecot.conf" <<CONF
instance_name = mailstead-bench-dovecot
base_dir = $DC/run
state_dir = $DC/state
listen = $DC_ADDR
protocols = lmtp pop3
log_path = $DC/dovecot.log
ssl = no
# Loopback only, as Mailstead's [auth] allow_plaintext_from default.
disable_plaintext_auth = no
auth_mechanisms = plain
first_valid_uid = $uid
last_valid_uid = $uid
mail_location = maildir:~/Maildir
pop3_uidl_format = %08Xu%08Xv
passdb {
  driver = passwd-file
  args = $DC/users
}
userdb {
  driver = passwd-file
  args = $DC/users
}
service lmtp {
  inet_listener lmtp {
    address = $DC_ADDR
    port = 24
  }
}
service pop3-login {
  inet_listener pop3 {
    port = 110
  }
  inet_listener pop3s {
    port = 0
  }
}
protocol lmtp {
  postmaster_address = postmaster@bench.test
}
CONF
}

postfix_pid() {
    f=$PF/spool/pid/master.pid
    [ -f "$f" ] && pid=$(tr -d ' ' <"$f") && kill -0 "$pid" 2>/dev/null && echo "$pid"
    return 0
}

dovecot_pid() {
    f=$DC/run/master.pid
    [ -f "$f" ] && pid=$(tr -d ' ' <"$f") && kill -0 "$pid" 2>/dev/null && echo "$pid"
    return 0
}

wait_port() { # addr port
    n=0
    until "$PYTHON" -c 'import socket,sys; socket.create_connection((sys.argv[1], int(sys.argv[2])), 1).close()' "$1" "$2" 2>/dev/null; do
        n=$((n + 1))
        [ "$n" -lt 100 ] || { echo "nothing listens on $1:$2" >&2; exit 1; }
        sleep 0.1
    done
}

start() {
    write_configs
    if [ -z "$(dovecot_pid)" ]; then
        dovecot -c "$DC/dovecot.conf"
    fi
    if [ -z "$(postfix_pid)" ]; then
        postfix -c "$PF/etc" start >/dev/null 2>&1 || postfix -c "$PF/etc" start
    fi
    wait_port "$DC_ADDR" 24
    wait_port "$DC_ADDR" 110
    wait_port "$PF_ADDR" 25
    echo "peer up: postfix pid $(postfix_pid) on $PF_ADDR:25, dovecot pid $(dovecot_pid) on $DC_ADDR:24,110"
}

stop() {
    if [ -n "$(postfix_pid)" ]; then
        postfix -c "$PF/etc" stop >/dev/null 2>&1 || true
    fi
    pid=$(dovecot_pid)
    if [ -n "$pid" ]; then
        kill -TERM "$pid"
    fi
    n=0
    while [ -n "$(postfix_pid)$(dovecot_pid)" ]; do
        n=$((n + 1))
        [ "$n" -lt 100 ] || { echo "peer did not stop" >&2; exit 1; }
        sleep 0.1
    done
}

reset() {
    stop
    # Only what the bench created: the queue's message dirs and the users' maildirs.
    for q in incoming active deferred defer bounce corrupt hold maildrop; do
        [ -d "$PF/spool/$q" ] && find "$PF/spool/$q" -type f -delete
    done
    rm -rf "$MAIL"/u*
    start
}

case "${1:-start}" in
    start) start ;;
    stop) stop ;;
    reset) reset ;;
    pids) echo "$(postfix_pid) $(dovecot_pid)" ;;
    *) echo "usage: $0 start|stop|reset|pids" >&2; exit 2 ;;
esac
