#!/usr/bin/env bash
# The local stack: a private MariaDB, vf-api and vf-sse under spawn-fcgi,
# vf-worker daemons and nginx, all living under one folder ($VF_VAR_DIR).
#
#   scripts/stack.sh up       start everything (restarts a stack that is up)
#   scripts/stack.sh down     stop exactly the processes named by the pid files
#   scripts/stack.sh status   say what runs; exit 0 only if all of it does
#   scripts/stack.sh db-stop  stop only MariaDB (the programs keep running)
#   scripts/stack.sh db-start start MariaDB again as `up` does, on the same socket
#                             and port (fault tests: the database goes away and back)
#
# Inputs: VF_VAR_DIR (default var/), VF_BUILD_DIR (default build/),
# VF_WORKERS (1), VF_API_PROCS (4), VF_PORT (a free port when unset).
# Every other VF_* variable is passed through to the programs, where it
# overrides the config key of the same name (VF_X264_PRESET=ultrafast, ...).
# Several stacks can run at once in different VF_VAR_DIRs.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

say() { printf 'stack: %s\n' "$*"; }
die() { printf 'stack: %s\n' "$*" >&2; exit 1; }

case ${1:-} in
    up | down | status | db-stop | db-start) ;;
    *) echo "usage: $0 up|down|status|db-stop|db-start" >&2; exit 2 ;;
esac

VAR=${VF_VAR_DIR:-$repo/var}
[[ $VAR == /* ]] || VAR="$PWD/$VAR"
if [[ ${1:-} != up && ! -d $VAR/run ]]; then
    say "nothing runs in $VAR"
    [[ ${1:-} == down ]]
    exit
fi
mkdir -p "$VAR"
VAR=$(cd "$VAR" && pwd)
BUILD=${VF_BUILD_DIR:-$repo/build}
[[ $BUILD == /* ]] || BUILD="$PWD/$BUILD"
WORKERS=${VF_WORKERS:-1}
API_PROCS=${VF_API_PROCS:-4}

RUN="$VAR/run"
LOG="$VAR/log"
CONF="$VAR/vf.conf"
ENV_FILE="$VAR/stack.env"
DB_SOCK="$RUN/mysqld.sock"
API_SOCK="$RUN/api.sock"
SSE_SOCK="$RUN/sse.sock"
STORE=${VF_LOCAL_STORE_DIR:-$VAR/store}
ME=$(id -un)

# The stack's database is its own: a VF_DB_* left in the environment (say,
# from sourcing another stack's stack.env) must not point the programs away.
unset VF_DB_HOST VF_DB_PORT VF_DB_SOCKET VF_DB_NAME VF_DB_USER VF_DB_PASSWORD

mkdir -p "$RUN" "$LOG" "$VAR/nginx" "$VAR/work" "$STORE"

# One stack.sh at a time per folder. fd 9 holds the lock; every daemon
# started below gets `9>&-` so that it does not keep holding it.
exec 9>"$RUN/stack.lock"
if ! flock -w 120 9; then
    die "another stack.sh is busy in $VAR"
fi

random_hex() { od -An -tx1 -N"$1" /dev/urandom | tr -d ' \n'; }

free_port() {
    if command -v python3 >/dev/null 2>&1; then
        python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
    else
        node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
    fi
}

# --- pid files --------------------------------------------------------------

# pids NAME: the pids listed in run/NAME.pid (spawn-fcgi lists one per child).
pids() {
    local f="$RUN/$1.pid"
    [[ -f $f ]] || return 0
    tr ' ' '\n' <"$f" | grep -E '^[0-9]+$' || true
}

# alive PID PROGRAM: the pid runs and is that program (not a reused pid).
alive() {
    local cmd
    kill -0 "$1" 2>/dev/null || return 1
    cmd=$(tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null) || return 1
    [[ $cmd == *"$2"* ]]
}

# program NAME: the program a pid file of that name belongs to.
program() {
    case $1 in
        mysqld) echo mariadbd ;;
        nginx) echo nginx ;;
        api) echo vf-api ;;
        sse) echo vf-sse ;;
        worker-*) echo vf-worker ;;
    esac
}

# signal SIGNAL NAME...: signal every live process of those pid files.
signal() {
    local sig=$1 name pid prog
    shift
    for name in "$@"; do
        prog=$(program "$name")
        for pid in $(pids "$name"); do
            if alive "$pid" "$prog"; then kill "-$sig" "$pid" 2>/dev/null || true; fi
        done
    done
}

# reap TIMEOUT NAME...: wait until the processes of those pid files are gone
# (up to TIMEOUT seconds), SIGKILL what remains, remove the pid files.
reap() {
    local timeout=$1 name pid prog entry
    shift
    local -a live=() still
    for name in "$@"; do
        prog=$(program "$name")
        for pid in $(pids "$name"); do
            if alive "$pid" "$prog"; then live+=("$pid:$prog"); fi
        done
    done
    local deadline=$((SECONDS + timeout))
    while ((${#live[@]})); do
        still=()
        for entry in "${live[@]}"; do
            if alive "${entry%%:*}" "${entry#*:}"; then still+=("$entry"); fi
        done
        live=("${still[@]+"${still[@]}"}")
        ((${#live[@]})) || break
        if ((SECONDS >= deadline)); then
            for entry in "${live[@]}"; do
                say "killing ${entry#*:} (pid ${entry%%:*}), which did not stop in ${timeout} s"
                kill -KILL "${entry%%:*}" 2>/dev/null || true
            done
            sleep 0.2
            break
        fi
        sleep 0.1
    done
    for name in "$@"; do rm -f "$RUN/$name.pid"; done
}

worker_names() {
    local f
    for f in "$RUN"/worker-*.pid; do
        [[ -e $f ]] || continue
        f=${f##*/}
        echo "${f%.pid}"
    done
}

all_names() {
    local n
    for n in nginx api sse; do [[ -f $RUN/$n.pid ]] && echo "$n"; done
    worker_names
    [[ -f $RUN/mysqld.pid ]] && echo mysqld
    return 0
}

do_down() {
    local -a workers
    mapfile -t workers < <(worker_names)
    [[ -n $(all_names) ]] || { say "nothing runs in $VAR"; return 0; }
    # Front door first, then the programs, the database last. FastCGI
    # programs hold no work worth waiting for; a worker may be mid-step.
    signal QUIT nginx
    reap 10 nginx
    signal TERM api sse "${workers[@]}"
    reap 3 api sse
    reap 10 "${workers[@]}"
    signal TERM mysqld
    reap 60 mysqld
    rm -f "$API_SOCK" "$SSE_SOCK" "$DB_SOCK"
    say "stopped the stack in $VAR"
}

do_status() {
    local name pid prog state all_ok=1 any=0
    for name in $(all_names); do
        prog=$(program "$name")
        for pid in $(pids "$name"); do
            any=1
            if alive "$pid" "$prog"; then state=running; else state=dead; all_ok=0; fi
            printf '%-10s %-10s pid %-8s %s\n' "$name" "$prog" "$pid" "$state"
        done
    done
    if ((!any)); then
        say "nothing runs in $VAR"
        return 1
    fi
    if [[ -f $ENV_FILE ]]; then
        # shellcheck disable=SC1090
        (. "$ENV_FILE" && say "$VF_URL (user $VF_USER, env in $ENV_FILE)")
    fi
    ((all_ok))
}

# --- up ---------------------------------------------------------------------

show_logs() {
    local f
    for f in "$@"; do
        [[ -s $f ]] || continue
        printf '\n--- %s (last lines)\n' "$f" >&2
        tail -n 15 "$f" >&2
    done
}

sql() { mariadb --no-defaults --protocol=socket -S "$DB_SOCK" -u "$ME" "$@"; }

# start_mariadb [PORT]: PORT is tried first (db-start keeps the port of the config).
start_mariadb() {
    local first_port=${1:-}
    local innodb=(--innodb-buffer-pool-size=64M --innodb-log-file-size=16M)
    if [[ ! -d $VAR/mysql/mysql ]]; then
        say "creating the MariaDB data folder $VAR/mysql"
        rm -rf "$VAR/mysql"
        mariadb-install-db --no-defaults --datadir="$VAR/mysql" --user="$ME" \
            --auth-root-authentication-method=socket --skip-test-db "${innodb[@]}" \
            >"$LOG/mysql-install.log" 2>&1 9>&- ||
            { show_logs "$LOG/mysql-install.log"; die "mariadb-install-db failed"; }
    fi
    # mariadbd refuses to run as root unless told so.
    local as_root=()
    [[ $(id -u) -ne 0 ]] || as_root=(--user=root)
    local pid
    for _ in 1 2 3; do
        DB_PORT=${first_port:-$(free_port)}
        first_port=""
        rm -f "$DB_SOCK" "$RUN/mysqld.pid"
        setsid mariadbd --no-defaults --datadir="$VAR/mysql" --socket="$DB_SOCK" \
            --port="$DB_PORT" --bind-address=127.0.0.1 --pid-file="$RUN/mysqld.pid" \
            --log-error="$LOG/mysqld.log" "${as_root[@]}" --skip-log-bin --skip-name-resolve \
            "${innodb[@]}" --innodb-flush-log-at-trx-commit=2 \
            --character-set-server=utf8mb4 --collation-server=utf8mb4_unicode_ci \
            </dev/null >>"$LOG/mysqld.log" 2>&1 9>&- &
        pid=$!
        local deadline=$((SECONDS + 60))
        while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do
            if mariadb-admin --no-defaults --protocol=socket -S "$DB_SOCK" -u "$ME" \
                   ping >/dev/null 2>&1; then
                say "MariaDB ready on $DB_SOCK and 127.0.0.1:$DB_PORT"
                return 0
            fi
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid" 2>/dev/null || true
            show_logs "$LOG/mysqld.log"
            die "MariaDB did not answer within 60 s"
        fi
        wait "$pid" 2>/dev/null || true
        # Someone else took the port between choosing and binding: choose again.
        tail -n 20 "$LOG/mysqld.log" | grep -q 'Address already in use' || break
    done
    show_logs "$LOG/mysqld.log"
    die "MariaDB did not start"
}

# conf_value KEY: the value of KEY in the existing vf.conf, if any.
conf_value() {
    [[ -f $CONF ]] || return 0
    sed -n "s/^[[:space:]]*$1[[:space:]]*=[[:space:]]*//p" "$CONF" | tail -n 1
}

write_conf() {
    local db_password=$1 media="" managed key line
    [[ -d $repo/tests/data/media ]] && media="$repo/tests/data/media"
    managed=" db_host db_port db_socket db_name db_user db_password local_store_dir csv_path "
    managed+="work_dir log_level media_dir "
    umask 077
    {
        echo "# Written by scripts/stack.sh up. Keys it does not manage survive a restart;"
        echo "# any key can also be overridden with VF_<KEY> in the environment."
        echo "db_host = localhost"
        echo "db_port = $DB_PORT"
        echo "db_socket = $DB_SOCK"
        echo "db_name = vf"
        echo "db_user = vf"
        echo "db_password = $db_password"
        echo "local_store_dir = $STORE"
        echo "csv_path = $VAR/ledger.csv"
        echo "work_dir = $VAR/work"
        echo "log_level = info"
        [[ -n $media ]] && echo "media_dir = $media"
        if [[ -f $CONF ]]; then
            while IFS= read -r line; do
                [[ $line =~ ^[[:space:]]*([a-z0-9_]+)[[:space:]]*= ]] || continue
                key=${BASH_REMATCH[1]}
                [[ $managed == *" $key "* ]] || printf '%s\n' "$line"
            done <"$CONF"
        fi
    } >"$CONF.tmp"
    umask 022
    mv "$CONF.tmp" "$CONF"
}

setup_database() {
    local pw
    pw=$(conf_value db_password)
    [[ -n $pw ]] || pw=$(random_hex 16)
    sql <<SQL
CREATE DATABASE IF NOT EXISTS vf CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
CREATE USER IF NOT EXISTS 'vf'@'localhost' IDENTIFIED BY '$pw';
CREATE USER IF NOT EXISTS 'vf'@'127.0.0.1' IDENTIFIED BY '$pw';
ALTER USER 'vf'@'localhost' IDENTIFIED BY '$pw';
ALTER USER 'vf'@'127.0.0.1' IDENTIFIED BY '$pw';
GRANT ALL PRIVILEGES ON vf.* TO 'vf'@'localhost', 'vf'@'127.0.0.1';
SQL
    write_conf "$pw"
}

vfctl() { VF_CONFIG="$CONF" VF_LOG_FILE="$LOG/vfctl.log" "$BUILD/vfctl" "$@" 9>&-; }

setup_demo_user() {
    local exists
    exists=$(sql -N -B vf -e "SELECT COUNT(*) FROM users WHERE username='demo'")
    DEMO_PASSWORD=""
    [[ -s $VAR/demo.password ]] && DEMO_PASSWORD=$(<"$VAR/demo.password")
    if [[ $exists == 0 ]]; then
        [[ -n $DEMO_PASSWORD ]] || DEMO_PASSWORD=$(random_hex 12)
        printf '%s\n' "$DEMO_PASSWORD" | vfctl user add demo --role admin >/dev/null
        rm -f "$VAR/demo.token"
        say "created user demo"
    elif [[ -z $DEMO_PASSWORD ]]; then
        die "user demo exists but $VAR/demo.password is gone; remove $VAR to start afresh"
    fi
    (umask 077 && printf '%s\n' "$DEMO_PASSWORD" >"$VAR/demo.password")
    DEMO_TOKEN=""
    [[ -s $VAR/demo.token ]] && DEMO_TOKEN=$(<"$VAR/demo.token")
    [[ -n $DEMO_TOKEN ]] || new_token
}

new_token() {
    DEMO_TOKEN=$(vfctl token create demo --label stack | awk 'NF { t = $NF } END { print t }')
    [[ -n $DEMO_TOKEN ]] || die "vfctl token create printed no token"
    (umask 077 && printf '%s\n' "$DEMO_TOKEN" >"$VAR/demo.token")
}

start_fcgi() {
    local name=$1 prog=$2 procs=$3 sock=$4
    rm -f "$sock" "$RUN/$name.pid"
    # The programs get the caller's environment plus their config and log
    # file. spawn-fcgi points the children's stderr at /dev/null; the small
    # shell in between sends it to the log so that start-up errors are seen.
    # shellcheck disable=SC2016
    env "VF_CONFIG=$CONF" "VF_LOG_FILE=$LOG/$prog.log" spawn-fcgi -s "$sock" -M 0666 -F "$procs" \
        -P "$RUN/$name.pid" -- /bin/sh -c 'exec "$0" 2>>"$VF_LOG_FILE"' "$BUILD/$prog" \
        >>"$LOG/spawn-fcgi.log" 2>&1 9>&- ||
        { show_logs "$LOG/spawn-fcgi.log" "$LOG/$prog.log"; die "spawn-fcgi $prog failed"; }
    say "$prog: $procs process(es) on $sock"
}

start_workers() {
    local i
    for ((i = 1; i <= WORKERS; i++)); do
        rm -f "$RUN/worker-$i.pid"
        # shellcheck disable=SC2016
        setsid env "VF_CONFIG=$CONF" "VF_LOG_FILE=$LOG/worker-$i.log" \
            bash -c 'echo $$ >"$0"; exec "$@"' "$RUN/worker-$i.pid" "$BUILD/vf-worker" \
            </dev/null >>"$LOG/worker-$i.log" 2>&1 9>&- &
    done
    say "vf-worker: $WORKERS daemon(s)"
}

sed_escape() { printf '%s' "$1" | sed 's/[\\|&]/\\&/g'; }

# s3_setting KEY: the store setting as the programs see it (VF_<KEY> wins over vf.conf).
s3_setting() {
    local env_name value
    env_name="VF_${1^^}"
    value=${!env_name-}
    [[ -n $value ]] || value=$(conf_value "$1")
    value=${value#\"}
    printf '%s' "${value%\"}"
}

# media_origins: with store = s3, " scheme://host[:port]" of where the media
# endpoint's 302 sends the browser, for the CSP's img-src and media-src.
media_origins() {
    local origin bucket region style
    [[ $(s3_setting store) == s3 ]] || return 0
    origin=$(s3_setting s3_public_base_url)
    if [[ -z $origin ]]; then
        origin=$(s3_setting s3_endpoint)
        region=$(s3_setting s3_region)
        [[ -n $origin ]] || origin="https://s3.${region:-us-east-1}.amazonaws.com"
        style=$(s3_setting s3_path_style)
        if [[ ${style:-1} =~ ^(0|false|no|off)$ ]]; then
            bucket=$(s3_setting s3_bucket)
            origin="${origin%%://*}://$bucket.${origin#*://}"
        fi
    fi
    origin=$(printf '%s' "$origin" | sed -E 's#^([A-Za-z]+://[^/]+).*#\1#')
    [[ $origin =~ ^https?://[A-Za-z0-9.:-]+$ ]] || die "the S3 origin \"$origin\" cannot go into the CSP"
    printf ' %s' "$origin"
}

render_template() {
    local user_line=""
    [[ $(id -u) -eq 0 ]] && user_line="user root;"
    sed -e "s|@PORT@|$PORT|g" \
        -e "s|@ROOT@|$(sed_escape "$repo/www")|g" \
        -e "s|@VAR@|$(sed_escape "$VAR")|g" \
        -e "s|@STORE@|$(sed_escape "$STORE")|g" \
        -e "s|@API_SOCK@|$(sed_escape "$API_SOCK")|g" \
        -e "s|@SSE_SOCK@|$(sed_escape "$SSE_SOCK")|g" \
        -e "s|@USER_LINE@|$user_line|g" \
        -e "s|@MEDIA_ORIGINS@|$(sed_escape "${MEDIA_ORIGINS:-}")|g" \
        "$1"
}

start_nginx() {
    local nginx_args
    MEDIA_ORIGINS=$(media_origins)
    nginx_args=(-p "$VAR/nginx" -c "$VAR/nginx/nginx.conf" -e "$LOG/nginx-error.log")
    for _ in 1 2 3 4 5; do
        PORT=${VF_PORT:-$(free_port)}
        render_template "$repo/nginx/nginx-local.conf.in" >"$VAR/nginx/nginx.conf"
        render_template "$repo/nginx/vf-site.conf.in" >"$VAR/nginx/vf-site.conf"
        nginx -t -q "${nginx_args[@]}" 9>&- || die "the generated nginx config is invalid"
        rm -f "$RUN/nginx.pid"
        if nginx "${nginx_args[@]}" </dev/null >>"$LOG/nginx-error.log" 2>&1 9>&-; then
            say "nginx on 127.0.0.1:$PORT"
            return 0
        fi
        [[ -z ${VF_PORT:-} ]] || break
        tail -n 5 "$LOG/nginx-error.log" | grep -q 'Address already in use' || break
    done
    show_logs "$LOG/nginx-error.log"
    die "nginx did not start"
}

check_readable() {
    # nginx workers must read the dashboard and the store (they run as root
    # only when the stack does).
    [[ $(id -u) -eq 0 ]] && return 0
    [[ -r $repo/www && -x $repo/www ]] || die "$repo/www is not readable"
}

wait_health() {
    local deadline=$((SECONDS + 30))
    while ((SECONDS < deadline)); do
        if curl -fsS -o /dev/null --max-time 2 "$URL/api/health" 2>/dev/null; then
            return 0
        fi
        sleep 0.2
    done
    say "no healthy answer from $URL/api/health within 30 s"
    curl -sS --max-time 2 "$URL/api/health" >&2 || true
    local w=()
    mapfile -t w < <(ls "$LOG"/worker-*.log 2>/dev/null || true)
    show_logs "$LOG/nginx-error.log" "$LOG/vf-api.log" "$LOG/vf-sse.log" "$LOG/spawn-fcgi.log" \
        "$LOG/mysqld.log" "${w[@]+"${w[@]}"}"
    return 1
}

write_env() {
    {
        printf 'export VF_URL=%q\n' "$URL"
        printf 'export VF_USER=%q\n' demo
        printf 'export VF_PASSWORD=%q\n' "$DEMO_PASSWORD"
        printf 'export VF_TOKEN=%q\n' "$DEMO_TOKEN"
        printf 'export VF_CONFIG=%q\n' "$CONF"
        printf 'export VF_VAR_DIR=%q\n' "$VAR"
        printf 'export VF_DB_SOCKET=%q\n' "$DB_SOCK"
        printf 'export VF_DB_PORT=%q\n' "$DB_PORT"
    } >"$ENV_FILE.tmp"
    chmod 600 "$ENV_FILE.tmp"
    mv "$ENV_FILE.tmp" "$ENV_FILE"
}

do_up() {
    local prog sock
    for prog in vf-api vf-sse vf-worker vfctl; do
        [[ -x $BUILD/$prog ]] || die "$BUILD/$prog is missing; run make first"
    done
    for sock in "$DB_SOCK" "$API_SOCK" "$SSE_SOCK"; do
        ((${#sock} < 100)) || die "socket path too long for a unix socket: $sock (move VF_VAR_DIR)"
    done
    [[ $WORKERS =~ ^[0-9]+$ ]] || die "VF_WORKERS must be a number"
    [[ $API_PROCS =~ ^[1-9][0-9]*$ ]] || die "VF_API_PROCS must be a positive number"
    check_readable

    if [[ -n $(all_names) ]]; then
        say "a stack is up in $VAR: restarting it"
        do_down
    fi
    rm -f "$ENV_FILE"

    # From here on a failure stops whatever was started.
    trap 'rc=$?; if ((rc)); then say "up failed; stopping what was started"; do_down; fi' EXIT

    start_mariadb
    setup_database
    vfctl migrate >/dev/null
    setup_demo_user

    start_fcgi api vf-api "$API_PROCS" "$API_SOCK"
    start_fcgi sse vf-sse 1 "$SSE_SOCK"
    start_workers
    start_nginx
    URL="http://127.0.0.1:$PORT"
    wait_health

    # A stored token may have been revoked: check it, make a new one if so.
    local code
    code=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 5 \
        -H "Authorization: Bearer $DEMO_TOKEN" "$URL/api/auth/me" || true)
    if [[ $code == 401 ]]; then
        say "the stored token was refused; creating a new one"
        new_token
    fi

    write_env
    trap - EXIT
    say "up: $URL (login demo / $DEMO_PASSWORD); environment in $ENV_FILE"
}

# --- the database alone (fault tests) -----------------------------------------

do_db_stop() {
    [[ -f $RUN/mysqld.pid ]] || { say "MariaDB does not run in $VAR"; return 0; }
    signal TERM mysqld
    reap 60 mysqld
    say "stopped MariaDB in $VAR"
}

do_db_start() {
    [[ -f $CONF ]] || die "no $CONF: run up first"
    if [[ -f $RUN/mysqld.pid ]]; then
        local pid
        for pid in $(pids mysqld); do
            alive "$pid" mariadbd && { say "MariaDB already runs in $VAR"; return 0; }
        done
    fi
    local old_port
    old_port=$(conf_value db_port)
    start_mariadb "$old_port"
    # The programs connect through the socket; a port that had to change is
    # still written down for whoever uses it.
    if [[ $DB_PORT != "$old_port" ]]; then
        write_conf "$(conf_value db_password)"
        if [[ -f $ENV_FILE ]]; then
            sed -i "s/^export VF_DB_PORT=.*/export VF_DB_PORT=$DB_PORT/" "$ENV_FILE"
        fi
    fi
}

case ${1:-} in
    up) do_up ;;
    down) do_down ;;
    status) do_status ;;
    db-stop) do_db_stop ;;
    db-start) do_db_start ;;
esac
