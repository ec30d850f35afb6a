#!/usr/bin/env bash
# One entry point for set-up on a fresh machine.
#   scripts/dev.sh play   set up, then start the game (quart_app on hypercorn) on 127.0.0.1:8000
#   scripts/dev.sh test   set up, start the services the tests need, run the whole suite
#   scripts/dev.sh setup  only the set-up (venv + dependencies + data check)
#   scripts/dev.sh lock   rewrite requirements.lock from the ranges in requirements.txt
#                         (keeps current pins that still fit; `lock --upgrade` takes the newest)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
VENV=${VENV:-$ROOT/.venv}
PY=$VENV/bin/python

log() { printf '[dev] %s\n' "$*" >&2; }

setup_python() {
  if [ ! -x "$PY" ]; then
    log "creating $VENV"
    python3 -m venv "$VENV"
  fi
  # Exact versions with hashes from requirements.lock (its ranges live in requirements.txt),
  # so a fresh clone installs what CI tested. Reinstall only when the lock file changed.
  local stamp="$VENV/.requirements.sha"
  local want
  want=$(sha256sum requirements.lock | cut -d' ' -f1)
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    log "installing requirements.lock"
    "$PY" -m pip install -q --upgrade pip >/dev/null
    "$PY" -m pip install -q --require-hashes -r requirements.lock
    echo "$want" >"$stamp"
  fi
  mkdir -p var
}

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else return 1; fi; }

apt_install() {
  # Debian packages the tests drive for real (haproxy, chromium) and a Chinese font, without
  # which the browser tests' screenshots show boxes for every Chinese character. Installed
  # only when missing.
  local missing=()
  command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ] || missing+=(haproxy)
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)
  dpkg -s fonts-wqy-microhei >/dev/null 2>&1 || missing+=(fonts-wqy-microhei)
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing ${missing[*]} with apt-get"
  as_root apt-get update -qq || true
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${missing[@]}" >/dev/null \
    || log "could not install ${missing[*]}; their tests will skip (or fail with REQUIRE_SERVICES=1)"
}

start_services() {
  # PostgreSQL and Redis on 127.0.0.1, started only if they are down.
  if command -v pg_isready >/dev/null && ! pg_isready -q -h 127.0.0.1 -p 5432; then
    log "starting PostgreSQL"
    as_root pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
  fi
  if command -v redis-cli >/dev/null && ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
    log "starting Redis"
    mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
      --dir /var/lib/redis --logfile /var/log/redis/ci.log || true
  fi
}

cmd=${1:-play}
shift || true
case "$cmd" in
  setup)
    setup_python
    "$PY" -m shared.data check
    ;;
  play)
    setup_python
    "$PY" -m shared.data check >/dev/null
    if [ -z "${DEEPSEEK_API_KEY:-}" ]; then log "no DEEPSEEK_API_KEY: the offline narrator tells the story"; fi
    log "open http://127.0.0.1:${PORT:-8000}/"
    exec "$VENV/bin/hypercorn" --config deploy/hypercorn.toml \
      --bind "127.0.0.1:${PORT:-8000}" "quart_app:create_app()" "$@"
    ;;
  test)
    setup_python
    apt_install
    start_services
    # Lint, then types ([tool.mypy] in pyproject.toml), then the suite. Every step runs so one
    # run shows every failure; the command fails if any step did.
    status=0
    log "ruff"
    "$VENV/bin/ruff" check . || status=1
    log "mypy"
    "$VENV/bin/mypy" || status=1
    log "pytest"
    "$PY" -m pytest -q --cov --cov-report=term --cov-fail-under=90 "$@" || status=$?
    exit "$status"
    ;;
  lock)
    setup_python
    exec "$VENV/bin/uv" pip compile requirements.txt --universal --python-version 3.11 \
      --generate-hashes --quiet -o requirements.lock "$@"
    ;;
  *)
    echo "usage: scripts/dev.sh play|test|setup|lock" >&2
    exit 2
    ;;
esac
