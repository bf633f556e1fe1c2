#!/usr/bin/env bash
# Make sure Redis and/or PostgreSQL answer on 127.0.0.1 (for `make run` and `make test`):
# start a local one when none answers and the binaries are here, else say what is missing.
#   scripts/ensure-services.sh redis [postgres]
set -euo pipefail

REDIS_PORT=${PULSE_REDIS_PORT:-6379}
PG_PORT=${PULSE_PG_PORT:-5432}

redis_answers() {
    if command -v redis-cli >/dev/null; then
        [[ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" == PONG ]]
    else
        (exec 3<>"/dev/tcp/127.0.0.1/$REDIS_PORT" && printf 'PING\r\n' >&3 \
            && read -r -t 2 line <&3 && [[ "$line" == +PONG* ]]) 2>/dev/null
    fi
}

pg_answers() {
    if command -v pg_isready >/dev/null; then
        pg_isready -q -h 127.0.0.1 -p "$PG_PORT"
    else
        (exec 3<>"/dev/tcp/127.0.0.1/$PG_PORT") 2>/dev/null
    fi
}

wait_for() {  # wait_for <check> <name>
    for _ in $(seq 50); do "$1" && return 0; sleep 0.2; done
    echo "ensure-services: $2 was started but does not answer on 127.0.0.1" >&2
    return 1
}

ensure_redis() {
    redis_answers && return 0
    if ! command -v redis-server >/dev/null; then
        echo "ensure-services: no Redis answers on 127.0.0.1:$REDIS_PORT and redis-server is" \
            "not installed (Debian: apt-get install redis-server)" >&2
        return 1
    fi
    local dir="${TMPDIR:-/tmp}/segmento-pulse-redis"
    mkdir -p "$dir"
    echo "ensure-services: starting redis-server on 127.0.0.1:$REDIS_PORT (nothing kept on disk)"
    redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" --save "" \
        --appendonly no --dir "$dir" --logfile "$dir/redis.log"
    wait_for redis_answers Redis
}

ensure_postgres() {
    pg_answers && return 0
    local clusters=()
    if [[ -d /etc/postgresql ]]; then mapfile -t clusters < <(ls /etc/postgresql); fi
    if ! command -v pg_ctlcluster >/dev/null || [[ ${#clusters[@]} -eq 0 ]]; then
        echo "ensure-services: no PostgreSQL answers on 127.0.0.1:$PG_PORT and there is no" \
            "cluster to start (Debian: apt-get install postgresql; the tests connect as user" \
            "postgres with trust auth on 127.0.0.1)" >&2
        return 1
    fi
    echo "ensure-services: starting PostgreSQL ${clusters[0]}/main"
    pg_ctlcluster --skip-systemctl-redirect "${clusters[0]}" main start
    wait_for pg_answers PostgreSQL
}

for service in "$@"; do
    case "$service" in
        redis) ensure_redis ;;
        postgres) ensure_postgres ;;
        *) echo "ensure-services: unknown service $service (redis, postgres)" >&2; exit 2 ;;
    esac
done
