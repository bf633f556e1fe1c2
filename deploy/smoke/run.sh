#!/usr/bin/env bash
# `make compose-smoke`: prove the images build and the Compose mesh works.
# Starts a Docker engine if none runs (Debian's docker.io), provides the base image locally
# (no image can be pulled here), builds the images, `docker compose up --wait`, submits a
# job through the gateway, reads its event stream to `done`, checks /queue/{id}, tears down.
# All container traffic stays on loopback (host networking, see compose.smoke.yaml).
set -euo pipefail
cd "$(dirname "$0")/../.."

BIN=.venv/bin
PROJECT=segmento-pulse-smoke
GATEWAY=http://127.0.0.1:18000
export PULSE_BASE_IMAGE=segmento-pulse-smoke-base:bookworm
COMPOSE_BIN="$("$BIN/python" -c 'import compose, os; print(os.path.dirname(compose.__file__))')/docker-compose"
compose() { "$COMPOSE_BIN" -p "$PROJECT" -f compose.yaml -f deploy/smoke/compose.smoke.yaml "$@"; }

started=$SECONDS
phase_start=$SECONDS
report=()
phase() {  # phase <name>: record how long the previous phase took
    report+=("$(printf '%-28s %4d s' "$1" $((SECONDS - phase_start)))")
    phase_start=$SECONDS
}

dockerd_pid=""
wheels_pid=""
cleanup() {
    local rc=$?
    if [[ $rc -ne 0 ]] && compose ps -q >/dev/null 2>&1; then
        compose ps -a || true
        compose logs --no-color --tail 60 || true
    fi
    compose down -v --remove-orphans >/dev/null 2>&1 || true
    [[ -n "$wheels_pid" ]] && kill "$wheels_pid" 2>/dev/null || true
    if [[ -n "$dockerd_pid" ]]; then
        kill "$dockerd_pid" 2>/dev/null || true
        wait "$dockerd_pid" 2>/dev/null || true
    fi
    echo
    printf '%s\n' "${report[@]}"
    echo "compose smoke test: $([[ $rc -eq 0 ]] && echo passed || echo FAILED) in $((SECONDS - started)) s"
    exit $rc
}
trap cleanup EXIT

# 1. A Docker engine.
if ! docker info >/dev/null 2>&1; then
    if ! command -v dockerd >/dev/null; then
        echo "smoke: installing Debian's docker.io (needs root and the Debian mirror)"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q docker.io >/dev/null
    fi
    mkdir -p .smoke
    echo "smoke: starting dockerd (no bridge network: containers use the host's loopback)"
    dockerd --bridge=none --iptables=false --ip6tables=false >.smoke/dockerd.log 2>&1 &
    dockerd_pid=$!
    for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
    docker info >/dev/null 2>&1 || { tail -20 .smoke/dockerd.log; exit 1; }
fi
phase "docker engine"

# 2. The base image, and torch's CPU wheel if pip finds it in a local folder here.
deploy/smoke/base-image.sh "$PULSE_BASE_IMAGE"
phase "base image"
# llama-cpp-python: the wheel `make install` built with the image's CMake flags (pip's cache
# hands it over in seconds), so the image build does not compile it again (~11 min).
wheels=.smoke/wheels
rm -rf "$wheels" && mkdir -p "$wheels"
for dir in ${PIP_FIND_LINKS:-} $(pip config get global.find-links 2>/dev/null || true); do
    if compgen -G "$dir/torch-2.13.0+cpu-*.whl" >/dev/null; then
        ln -s "$(realpath "$dir")"/torch-2.13.0+cpu-*.whl "$wheels"/
        echo "smoke: torch from $dir"
        break
    fi
done
if CMAKE_ARGS="-DGGML_NATIVE=OFF" "$BIN/pip" wheel --quiet --no-deps -c constraints.txt \
        -w "$wheels" llama-cpp-python==0.3.36 >.smoke/llama-wheel.log 2>&1; then
    echo "smoke: llama-cpp-python from $(ls "$wheels" | grep -i llama)"
else
    echo "smoke: no llama-cpp-python wheel to hand over; the image build compiles it"
fi
if compgen -G "$wheels/*.whl" >/dev/null; then
    port=18765
    python3 -m http.server "$port" --bind 127.0.0.1 --directory "$wheels" >/dev/null 2>&1 &
    wheels_pid=$!
    export SMOKE_PIP_OPTS="--find-links http://127.0.0.1:$port/"
fi

# 3. Build, then up until every healthcheck passes.
compose build --progress plain >.smoke/build.log 2>&1 || { tail -40 .smoke/build.log; exit 1; }
phase "build images"
compose up -d --wait --wait-timeout 600
phase "up --wait (all healthy)"

# 4. One job through the gateway: submit, stream to done, status.
article=$("$BIN/python" -c 'import json, pathlib; print(json.dumps({"text": pathlib.Path("deploy/smoke/article.txt").read_text()}))')
job_id=$(curl -fsS "$GATEWAY/queue" -H 'content-type: application/json' -d "$article" \
    | "$BIN/python" -c 'import json, sys; print(json.load(sys.stdin)["job_id"])')
echo "smoke: job $job_id submitted"
events=.smoke/events.txt
# The gateway ends the stream after the job's last event (done or error).
curl -fsSN --max-time 300 "$GATEWAY/queue/$job_id/events" | tr -d '\r' >"$events"
grep -c '^event: token' "$events" | xargs echo "smoke: token events:"
grep -q '^event: done$' "$events" || { echo "smoke: the stream did not end with done"; tail -5 "$events"; exit 1; }
# Highlights come before the first summary token; provenance after the summary.
order=$(grep '^event: ' "$events" | sed 's/^event: //' | awk '!seen[$0]++' | tr '\n' ' ')
echo "smoke: first events in order: $order"
case "$order" in
    "status highlights token summary provenance "*) ;;
    *) echo "smoke: highlights must come first and provenance after the summary"; exit 1 ;;
esac
status=$(curl -fsS "$GATEWAY/queue/$job_id")
echo "$status" | "$BIN/python" -c '
import json, sys
s = json.load(sys.stdin)
assert s["status"] == "finished", s
r = s["result"]
assert r["summary"]["main_summary"], r
tasks = ("highlights", "summary", "provenance", "entities", "audio")
assert r["outcomes"] == dict.fromkeys(tasks, "ok"), r["outcomes"]
assert r["highlights"]["highlights"] and r["provenance"]["claims"], r
print("smoke: /queue/{id}: finished;", r["summary"]["title"][:60], "|",
      len(r["highlights"]["highlights"]), "highlights |", r["provenance"]["unsupported"], "of",
      len(r["provenance"]["claims"]), "claims unsupported |", len(r["entities"]), "entities")'
curl -fsS "$GATEWAY/queue/$job_id/audio" -o .smoke/narration.mp3
echo "smoke: narration $(stat -c %s .smoke/narration.mp3) bytes"
phase "job: submit, stream, status"
