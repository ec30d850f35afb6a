#!/usr/bin/env bash
# The production-like stack on one machine, everything on 127.0.0.1:
#   haproxy      :LB_PORT (8080)    -> the active app, the other one as backup
#   quart        :QUART_PORT (8001) quart_app on hypercorn (deploy/hypercorn.toml)
#   flask        :FLASK_PORT (8002) legacy_flask on gunicorn (deploy/gunicorn.conf.py)
#   celery       only when LLM_BACKEND=celery
#
#   scripts/stack.sh start   [COMPONENT...]   start what is not running (default: all)
#   scripts/stack.sh stop    [COMPONENT...]   stop by pid: TERM (USR1 for haproxy), wait, KILL
#   scripts/stack.sh restart [COMPONENT...]
#   scripts/stack.sh status  [COMPONENT...]
# COMPONENT is quart, flask, celery or haproxy. Logs, pid files and the rendered HAProxy config
# live under XIANXIA_RUNTIME_DIR (default var/run/). Switch apps with scripts/toggle_async.sh.
# The apps read their settings (DATABASE_URL, DEEPSEEK_API_KEY, LLM_BACKEND, ...) from the
# environment, and from XIANXIA_ENV_FILE (default var/app.env) when that file exists.
set -euo pipefail
LOG_TAG=stack
# shellcheck source=scripts/stack_env.sh
. "$(dirname "$0")/stack_env.sh"

START_TIMEOUT=${START_TIMEOUT:-60}
STOP_TIMEOUT=${STOP_TIMEOUT:-110}  # above the apps' graceful_timeout (100 s)
ALL=(quart flask celery haproxy)

usage() { sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

celery_wanted() { [ "${LLM_BACKEND:-}" = celery ]; }

# The word each component's command line contains (checked before any signal is sent).
marker() {
  case $1 in
    quart) echo hypercorn ;;
    flask) echo gunicorn ;;
    celery) echo celery ;;
    haproxy) echo haproxy ;;
  esac
}

# local_addr NAME: host:port of the instance stack.sh runs on this machine.
local_addr() {
  local host=$APP_BIND_HOST
  [ "$host" = 0.0.0.0 ] && host=127.0.0.1
  if [ "$1" = quart ]; then echo "$host:$QUART_PORT"; else echo "$host:$FLASK_PORT"; fi
}

pid_file() { echo "$PID_DIR/$1.pid"; }

# running NAME: prints the pid when NAME runs (and cleans a stale pid file).
running() {
  local file pid
  file=$(pid_file "$1")
  pid=$(read_pid "$file") || true
  if [ -n "$pid" ] && pid_matches "$pid" "$(marker "$1")"; then
    echo "$pid"
    return 0
  fi
  [ -n "$pid" ] && rm -f "$file"
  return 1
}

# --- set-up -----------------------------------------------------------------------------------

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else return 1; fi; }

ensure_haproxy() {
  [ -x "$HAPROXY_BIN" ] && return 0
  log "haproxy not found at $HAPROXY_BIN; installing it with apt-get"
  as_root apt-get update -qq || true
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq haproxy >/dev/null \
    || die "could not install haproxy; install it (apt-get install haproxy) or set HAPROXY_BIN"
  HAPROXY_BIN=$(command -v haproxy || echo /usr/sbin/haproxy)
  [ -x "$HAPROXY_BIN" ] || die "haproxy still missing after apt-get"
}

prepare_dirs() {
  mkdir -p "$LOG_DIR" "$PID_DIR" "$HAPROXY_DIR"
  # Remember where this stack listens, so toggles from any shell reach it. No secrets here.
  local key tmp
  tmp=$(mktemp "$RUNTIME_DIR/.stack.env.XXXXXX")
  for key in "${STACK_KEYS[@]}"; do
    [ -n "${!key:-}" ] && printf '%s=%s\n' "$key" "${!key}" >>"$tmp"
  done
  chmod 600 "$tmp"
  mv -f "$tmp" "$RUNTIME_DIR/stack.env"
}

load_app_env() {
  local file=${XIANXIA_ENV_FILE:-$ROOT/var/app.env}
  if [ -r "$file" ]; then
    log "reading app settings from $file"
    set -a
    # shellcheck disable=SC1090
    . "$file"
    set +a
  fi
  # Both apps must share one store; make the default explicit for every process we start.
  if [ -z "${DATABASE_URL:-}" ]; then
    mkdir -p "$ROOT/var"
    DATABASE_URL=sqlite:///$ROOT/var/xianxia.db
  fi
  export DATABASE_URL LLM_BACKEND=${LLM_BACKEND:-} XIANXIA_RUNTIME_DIR=$RUNTIME_DIR
  # Saved in stack.env by an earlier start: pass them on to the processes started now.
  local key
  for key in REDIS_URL GUNICORN_WORKERS GUNICORN_THREADS; do
    if [ -n "${!key:-}" ]; then export "${key?}"; fi
  done
}

# --- start --------------------------------------------------------------------------------------

# spawn NAME COMMAND...: run detached in its own session (pid = process group id, so a KILL
# can reach its workers too), output to logs/NAME.log.
spawn() {
  local name=$1
  shift
  (cd "$ROOT" && exec setsid "$@") >>"$LOG_DIR/$name.log" 2>&1 </dev/null &
  echo $! >"$PID_DIR/$name.pid"
  log "started $name (pid $!), log $LOG_DIR/$name.log"
}

wait_healthy() {  # wait_healthy NAME
  local name=$1 deadline=$((SECONDS + START_TIMEOUT)) pid
  pid=$(read_pid "$(pid_file "$name")")
  while [ "$SECONDS" -lt "$deadline" ]; do
    # (proc_alive, not `running`: right after spawn the child may not have exec'd yet, and its
    # command line is still this script's.)
    if ! proc_alive "$pid"; then
      rm -f "$(pid_file "$name")"
      tail -n 30 "$LOG_DIR/$name.log" >&2 || true
      die "$name exited during start-up (log above: $LOG_DIR/$name.log)"
    fi
    # This machine's instance (its address may differ from those in *_UPSTREAMS).
    if server_health "$name" "$(local_addr "$name")"; then
      log "$HEALTH_DETAIL"
      return 0
    fi
    sleep 0.3
  done
  die "$name not healthy after ${START_TIMEOUT}s: $HEALTH_DETAIL (log: $LOG_DIR/$name.log)"
}

# quart_workers: how many hypercorn worker processes QUART_WORKERS asks for (auto = cores).
quart_workers() {
  case ${QUART_WORKERS:-1} in
    auto) nproc 2>/dev/null || echo 1 ;;
    *[!0-9]* | "" | 0) die "QUART_WORKERS must be a whole number >= 1 or auto, not '${QUART_WORKERS:-}'" ;;
    *) echo "$QUART_WORKERS" ;;
  esac
}

start_quart() {
  local workers
  workers=$(quart_workers)
  if [ "$workers" -eq 1 ]; then
    # One event loop in hypercorn's own process (--workers 0): nothing can outlive it. Its own
    # in-memory metrics; a PROMETHEUS_MULTIPROC_DIR meant for gunicorn would mix both apps'.
    spawn quart env -u PROMETHEUS_MULTIPROC_DIR "$VENV/bin/hypercorn" \
      --config "$ROOT/deploy/hypercorn.toml" --workers 0 \
      --bind "$APP_BIND_HOST:$QUART_PORT" "$QUART_APP_SPEC"
  else
    # N processes on one socket, each with its own upstream pool and breaker; /metrics of any
    # of them merges every worker's files in a folder of quart's own, emptied for each run.
    local prom=$RUNTIME_DIR/prometheus-quart
    mkdir -p "$prom"
    rm -f "$prom"/*.db
    spawn quart env PROMETHEUS_MULTIPROC_DIR="$prom" "$VENV/bin/hypercorn" \
      --config "$ROOT/deploy/hypercorn.toml" --workers "$workers" \
      --bind "$APP_BIND_HOST:$QUART_PORT" "$QUART_APP_SPEC"
  fi
}

start_flask() {
  spawn flask "$VENV/bin/gunicorn" -c "$ROOT/deploy/gunicorn.conf.py" \
    --bind "$APP_BIND_HOST:$FLASK_PORT" "$FLASK_APP_SPEC"
}

start_celery() {
  # The worker's pool is threads sized by LLM_MAX_WORKERS (shared/tasks/celery_app.py);
  # CELERY_CONCURRENCY overrides it, CELERY_ARGS adds any other worker flag.
  local args=()
  [ -n "${CELERY_CONCURRENCY:-}" ] && args+=(--concurrency "$CELERY_CONCURRENCY")
  # shellcheck disable=SC2206  # CELERY_ARGS is a list of extra flags
  args+=(${CELERY_ARGS:-})
  spawn celery "$VENV/bin/celery" -A shared.tasks.worker worker --loglevel=INFO "${args[@]}"
}

# render_haproxy_conf CANARY: deploy/haproxy.cfg.template with this stack's values, and the
# backends for the servers listed in QUART_UPSTREAMS / FLASK_UPSTREAMS.
render_haproxy_conf() {
  local tmp backends
  tmp=$(mktemp "$HAPROXY_DIR/.haproxy.cfg.XXXXXX")
  backends=$(mktemp "$HAPROXY_DIR/.backends.XXXXXX")
  render_backends "$1" >"$backends"
  sed -e "s|@ADMIN_SOCK@|$ADMIN_SOCK|g" -e "s|@MAP_FILE@|$MODE_MAP|g" \
      -e "s|@LB_BIND@|$LB_BIND|g" -e "s|@LB_PORT@|$LB_PORT|g" -e "s|@MAXCONN@|$LB_MAXCONN|g" \
      -e "s|@CREATE_RATE@|$LB_CREATE_RATE|g" -e "s|@CREATE_RETRY_AFTER@|60|g" \
      -e "s|@HTTP_REQUEST_TIMEOUT@|$LB_HTTP_REQUEST_TIMEOUT|g" \
      -e "s|@SERVER_TIMEOUT@|$LB_SERVER_TIMEOUT|g" \
      -e "/^# @BACKENDS@\$/{r $backends" -e 'd}' \
      "$ROOT/deploy/haproxy.cfg.template" >"$tmp"
  rm -f "$backends"
  chmod 644 "$tmp"
  mv -f "$tmp" "$HAPROXY_CONF"
}

start_haproxy() {
  ensure_haproxy
  local active canary=0 generation
  if read_mode_state; then
    # Keep the operator's last choice across restarts.
    active=$CUR_ACTIVE canary=$CUR_CANARY
  else
    active=flask
  fi
  case ${ASYNC_MODE:-} in
    1 | true | yes | on) active=quart canary=0 ;;
    0 | false | no | off) active=flask canary=0 ;;
  esac
  generation=$(new_generation)
  write_map "$active" "$canary" "$generation" || die "could not write $MODE_MAP"
  render_haproxy_conf "$canary"
  local out
  out=$("$HAPROXY_BIN" -c -q -f "$HAPROXY_CONF" 2>&1) || die "haproxy config check failed: $out"
  rm -f "$ADMIN_SOCK"
  # -db: foreground, so the pid stack.sh records is HAProxy's own and its log goes to the file.
  spawn haproxy "$HAPROXY_BIN" -db -f "$HAPROXY_CONF"
  local deadline=$((SECONDS + 10)) pid
  pid=$(read_pid "$HAPROXY_PID")
  until haproxy_alive && [[ $(lb_state) == *"generation=$generation"* ]]; do
    # (proc_alive, not `running`: until the exec, the child's command line is still ours.)
    if ! proc_alive "$pid"; then
      tail -n 20 "$LOG_DIR/haproxy.log" >&2 || true
      die "haproxy exited during start-up (log above: $LOG_DIR/haproxy.log)"
    fi
    [ "$SECONDS" -lt "$deadline" ] || die "haproxy did not answer on $LB_URL: see $LOG_DIR/haproxy.log"
    sleep 0.1
  done
  log "haproxy (pid $pid) on $LB_URL, active=$active canary=$canary"
}

start_one() {
  local name=$1 pid
  if [ "$name" = celery ] && ! celery_wanted; then
    log "celery: skipped (LLM_BACKEND=${LLM_BACKEND:-} is not celery)"
    return 1
  fi
  if pid=$(running "$name"); then
    log "$name already running (pid $pid)"
    return 1
  fi
  "start_$name"
}

# check_app_bind: the apps listen on loopback or a private address only (docs/deploy.md, "Why
# the apps listen on loopback"): reachable by HAProxy, never by clients directly.
check_app_bind() {
  case $APP_BIND_HOST in
    127.* | ::1 | localhost | 10.* | 192.168.* | 172.1[6-9].* | 172.2[0-9].* | 172.3[01].* | f[cd]*:*) return 0 ;;
  esac
  [ "${ALLOW_PUBLIC_APP_BIND:-}" = 1 ] && { log "warning: apps on $APP_BIND_HOST (ALLOW_PUBLIC_APP_BIND=1)"; return 0; }
  die "APP_BIND_HOST=$APP_BIND_HOST is not a loopback or private address: the apps must be reachable only through HAProxy (slow clients would starve gunicorn, /metrics would be public); set ALLOW_PUBLIC_APP_BIND=1 to override"
}

cmd_start() {
  local name started=()
  case " $* " in *" quart "* | *" flask "*) check_app_bind ;; esac
  load_app_env
  prepare_dirs
  # The apps first, and healthy, before HAProxy sends them anything.
  for name in "$@"; do
    [ "$name" = haproxy ] && continue
    if start_one "$name"; then started+=("$name"); fi
  done
  for name in "${started[@]}"; do
    case $name in quart | flask) wait_healthy "$name" ;; esac
  done
  case " $* " in *" haproxy "*) start_one haproxy || true ;; esac
}

# --- stop ---------------------------------------------------------------------------------------

# wait_gone PID SECONDS
wait_gone() {
  local pid=$1 deadline=$((SECONDS + $2))
  while proc_alive "$pid"; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.2
  done
}

stop_one() {
  local name=$1 pid signal=TERM
  if ! pid=$(running "$name"); then
    log "$name not running"
    return 0
  fi
  # haproxy: USR1 = soft stop (stop listening, finish the requests in flight, at most
  # hard-stop-after). Others: TERM = graceful.
  [ "$name" = haproxy ] && signal=USR1
  log "stopping $name (pid $pid, SIG$signal)"
  kill -s "$signal" "$pid" 2>/dev/null || true
  if ! wait_gone "$pid" "$STOP_TIMEOUT"; then
    log "$name (pid $pid) still running after ${STOP_TIMEOUT}s: KILL"
    # The process group is the one spawn() created for this pid: its workers go with it.
    kill -s KILL -- "-$pid" 2>/dev/null || kill -s KILL "$pid" 2>/dev/null || true
    wait_gone "$pid" 5 || log "$name (pid $pid) did not die"
  fi
  rm -f "$(pid_file "$name")"
  log "stopped $name"
}

cmd_stop() {
  local name
  # haproxy first (no new requests reach a stopping app), then the apps, celery last.
  for name in haproxy quart flask celery; do
    case " $* " in *" $name "*) stop_one "$name" ;; esac
  done
}

cmd_status() {
  local name pid rc=0
  echo "runtime:    $RUNTIME_DIR"
  for name in "$@"; do
    if pid=$(running "$name"); then
      printf '%-11s running (pid %s)\n' "$name:" "$pid"
    elif [ "$name" = celery ] && ! celery_wanted; then
      printf '%-11s not used (LLM_BACKEND=%s)\n' "$name:" "${LLM_BACKEND:-}"
    else
      printf '%-11s stopped\n' "$name:"
      rc=1
    fi
  done
  echo "--- load balancer"
  print_lb_status || rc=1
  return "$rc"
}

# --- main ---------------------------------------------------------------------------------------

cmd=${1:-}
[ $# -gt 0 ] && shift
components=("$@")
[ ${#components[@]} -gt 0 ] || components=("${ALL[@]}")
for name in "${components[@]}"; do
  case $name in quart | flask | celery | haproxy) ;; *) log "unknown component: $name"; usage ;; esac
done

case $cmd in
  start) cmd_start "${components[@]}" ;;
  stop) cmd_stop "${components[@]}" ;;
  restart)
    cmd_stop "${components[@]}"
    cmd_start "${components[@]}"
    ;;
  status) cmd_status "${components[@]}" ;;
  *) usage ;;
esac
