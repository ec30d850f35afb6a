# shellcheck shell=bash
# Ports, paths and helpers shared by scripts/stack.sh and scripts/toggle_async.sh.
# Sourced, never run. Precedence for every setting: the environment, then the values saved by
# the last `stack.sh start` in $RUNTIME_DIR/stack.env, then the defaults below. So a toggle
# from another shell reaches the stack that `LB_PORT=9000 scripts/stack.sh start` started.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUNTIME_DIR=${XIANXIA_RUNTIME_DIR:-$ROOT/var/run}

# The settings saved in stack.env (no secrets: the API key never goes there).
STACK_KEYS=(LB_PORT QUART_PORT FLASK_PORT APP_BIND_HOST QUART_UPSTREAMS FLASK_UPSTREAMS
            NGINX_BIN NGINX_WORKERS QUART_APP_SPEC FLASK_APP_SPEC DATABASE_URL REDIS_URL
            LLM_BACKEND GUNICORN_WORKERS GUNICORN_THREADS CELERY_CONCURRENCY VENV)

load_saved_env() {
  local file=$RUNTIME_DIR/stack.env key value
  [ -r "$file" ] || return 0
  while IFS='=' read -r key value; do
    case " ${STACK_KEYS[*]} " in
      *" $key "*) [ -n "${!key+x}" ] || printf -v "$key" '%s' "$value" ;;
    esac
  done <"$file"
}
load_saved_env

VENV=${VENV:-$ROOT/.venv}
LB_PORT=${LB_PORT:-8080}
QUART_PORT=${QUART_PORT:-8001}
FLASK_PORT=${FLASK_PORT:-8002}
# Where this machine's apps listen (stack.sh). 127.0.0.1 unless nginx runs on another host.
APP_BIND_HOST=${APP_BIND_HOST:-127.0.0.1}
# The servers nginx balances over, "host:port host:port ...": several instances of each app,
# possibly on other hosts (docs/deploy.md). Default: this machine's one instance of each.
QUART_UPSTREAMS=${QUART_UPSTREAMS:-127.0.0.1:$QUART_PORT}
FLASK_UPSTREAMS=${FLASK_UPSTREAMS:-127.0.0.1:$FLASK_PORT}
NGINX_WORKERS=${NGINX_WORKERS:-auto}
QUART_APP_SPEC=${QUART_APP_SPEC:-quart_app:create_app()}
FLASK_APP_SPEC=${FLASK_APP_SPEC:-legacy_flask:create_app()}
if [ -z "${NGINX_BIN:-}" ]; then
  NGINX_BIN=$(command -v nginx 2>/dev/null || echo /usr/sbin/nginx)
fi

LOG_DIR=$RUNTIME_DIR/logs
PID_DIR=$RUNTIME_DIR/pids
NGINX_DIR=$RUNTIME_DIR/nginx
NGINX_CONF=$NGINX_DIR/nginx.conf
NGINX_PID=$NGINX_DIR/nginx.pid
UPSTREAM_FILE=$NGINX_DIR/active_upstream.conf
TOGGLE_LOG=$LOG_DIR/toggle.log
LB_URL=http://127.0.0.1:$LB_PORT

log() { printf '[%s] %s\n' "${LOG_TAG:-stack}" "$*" >&2; }
die() { log "error: $*"; exit "${2:-1}"; }

# Same -p/-c/-e for every call, so -t checks what runs and -s finds the master's pid file.
nginx_cmd() { "$NGINX_BIN" -p "$NGINX_DIR/" -c "$NGINX_CONF" -e "$LOG_DIR/nginx-error.log" "$@"; }

# app_servers NAME: the host:port list nginx balances over for NAME (quart or flask).
app_servers() {
  case $1 in
    quart) echo "$QUART_UPSTREAMS" ;;
    flask) echo "$FLASK_UPSTREAMS" ;;
    *) return 1 ;;
  esac
}

# proc_alive PID: the process exists and is not a zombie (a stopped daemon stays a zombie until
# init reaps it, and `kill -0` still succeeds on it).
proc_alive() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [ "${stat:0:1}" != Z ]
}

# pid_matches PID WORD: the process is alive and its command line mentions WORD (guards
# against signalling an unrelated process that reused a stale pid).
pid_matches() {
  local pid=$1 word=$2 cmdline
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  proc_alive "$pid" || return 1
  cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
  [[ $cmdline == *"$word"* ]]
}

# read_pid FILE: the pid stored in FILE, or nothing.
read_pid() { [ -r "$1" ] && tr -dc '0-9' <"$1"; }

nginx_master_pid() {
  local pid
  pid=$(read_pid "$NGINX_PID")
  pid_matches "$pid" nginx && echo "$pid"
}

# --- the upstream include -------------------------------------------------------------------

# render_upstream ACTIVE CANARY GENERATION
#   CANARY=0: ACTIVE's servers get everything; the other app's servers are the backup.
#   CANARY=1..99: quart's servers get CANARY% of requests and flask's the rest (all primary,
#   by weight; each weight is scaled by the other app's server count so the split is exact).
render_upstream() {
  local active=$1 canary=$2 generation=$3 other server nq nf
  local state="active=$active canary=$canary generation=$generation"
  nq=$(wc -w <<<"$QUART_UPSTREAMS")
  nf=$(wc -w <<<"$FLASK_UPSTREAMS")
  printf '%s\n' "# Written by scripts/toggle_async.sh (and scripts/stack.sh on first start); do not edit." \
    "# xianxia-upstream: $state" "upstream xianxia_app {"
  if [ "$canary" -gt 0 ]; then
    for server in $QUART_UPSTREAMS; do
      printf '    server %s weight=%d max_fails=1 fail_timeout=10s;  # quart (canary)\n' \
        "$server" $((canary * nf))
    done
    for server in $FLASK_UPSTREAMS; do
      printf '    server %s weight=%d max_fails=1 fail_timeout=10s;  # flask\n' \
        "$server" $(((100 - canary) * nq))
    done
  else
    other=$([ "$active" = quart ] && echo flask || echo quart)
    for server in $(app_servers "$active"); do
      printf '    server %s max_fails=1 fail_timeout=10s;  # %s (active)\n' "$server" "$active"
    done
    for server in $(app_servers "$other"); do
      printf '    server %s backup;  # %s (backup: used only when no %s answers)\n' \
        "$server" "$other" "$active"
    done
  fi
  printf '%s\n' \
    "    # Idle connections are closed by nginx before the apps' own idle timeout (20 s)." \
    "    keepalive 64;" \
    "    keepalive_timeout 15s;" \
    "    keepalive_requests 1000;" \
    "}" \
    "geo \$xianxia_lb_state {" \
    "    default \"$state\";" \
    "}" \
    "geo \$xianxia_lb_generation {" \
    "    default \"$generation\";" \
    "}"
}

# read_upstream_state [FILE]: sets CUR_ACTIVE, CUR_CANARY, CUR_GENERATION from the include.
read_upstream_state() {
  local file=${1:-$UPSTREAM_FILE} line
  CUR_ACTIVE="" CUR_CANARY="" CUR_GENERATION=""
  [ -r "$file" ] || return 1
  line=$(grep -m1 '^# xianxia-upstream: ' "$file") || return 1
  CUR_ACTIVE=$(sed -n 's/.* active=\([a-z]*\).*/\1/p' <<<"$line")
  CUR_CANARY=$(sed -n 's/.* canary=\([0-9]*\).*/\1/p' <<<"$line")
  CUR_GENERATION=$(sed -n 's/.* generation=\([^ ]*\).*/\1/p' <<<"$line")
  [ -n "$CUR_ACTIVE" ] && [ -n "$CUR_CANARY" ]
}

new_generation() { printf '%s-%s' "$(date -u +%Y%m%dT%H%M%S.%N | cut -c1-22)" "$$"; }

# --- probes ---------------------------------------------------------------------------------

# http_get URL: prints "STATUS X-App X-LB-Generation BODY" on one line ("-" for a missing
# header, STATUS 000 when nothing answers).
http_get() {
  local url=$1 out status xapp gen body
  out=$(curl -sS -m "${PROBE_TIMEOUT:-3}" -H 'Connection: close' -D - -o - -w '\n%{http_code}' \
        "$url" 2>/dev/null) || true
  status=$(tail -n1 <<<"$out")
  [ -n "$status" ] || status=000
  xapp=$(grep -i -m1 '^x-app:' <<<"$out" | cut -d: -f2 | tr -d ' \r') || true
  gen=$(grep -i -m1 '^x-lb-generation:' <<<"$out" | cut -d: -f2 | tr -d ' \r') || true
  body=$(sed '1,/^\r\{0,1\}$/d' <<<"$out" | sed '$d' | tr -d '\n')
  printf '%s %s %s %s\n' "$status" "${xapp:--}" "${gen:--}" "$body"
}

# json_app BODY: the value of "app" in a JSON body (a tiny regex: no jq or python needed).
json_app() { sed -n 's/.*"app"[[:space:]]*:[[:space:]]*"\([a-z]*\)".*/\1/p' <<<"$1"; }

# server_health NAME HOST:PORT: 0 when that server answers /healthz naming NAME and /readyz
# is 200. Sets HEALTH_DETAIL to a one-line explanation either way.
server_health() {
  local name=$1 server=$2 status xapp body app
  read -r status xapp _ body < <(http_get "http://$server/healthz")
  if [ "$status" = 000 ]; then
    HEALTH_DETAIL="$name on $server does not answer (not running?)"
    return 1
  fi
  app=$(json_app "$body")
  if [ "$status" != 200 ] || [ "$app" != "$name" ]; then
    HEALTH_DETAIL="$name on $server: /healthz gave $status app=${app:-?} (X-App $xapp)"
    return 1
  fi
  read -r status xapp _ body < <(http_get "http://$server/readyz")
  if [ "$status" != 200 ]; then
    HEALTH_DETAIL="$name on $server is not ready: /readyz gave $status ${body:0:160}"
    return 1
  fi
  HEALTH_DETAIL="$name on $server healthy"
}

# app_health NAME: every server of NAME is healthy (HEALTH_DETAIL names the first that is not).
app_health() {
  local name=$1 server servers
  servers=$(app_servers "$name") || { HEALTH_DETAIL="unknown app $name"; return 1; }
  for server in $servers; do
    server_health "$name" "$server" || return 1
  done
  HEALTH_DETAIL="$name healthy on $servers"
}

# app_health_retry NAME: a few tries, so one slow answer does not block a switch.
app_health_retry() {
  local tries=${HEALTH_TRIES:-3} i
  for ((i = 1; i <= tries; i++)); do
    app_health "$1" && return 0
    [ "$i" -lt "$tries" ] && sleep "${HEALTH_DELAY:-0.5}"
  done
  return 1
}

# accepting_workers MASTER: pids of the master's workers that still accept connections. A
# worker told to quit on reload retitles itself "worker process is shutting down" and closes
# its listening sockets; it keeps serving its open requests until they finish.
accepting_workers() {
  local master=$1 f pid ppid title
  for f in /proc/[0-9]*/stat; do
    { read -r pid _ _ ppid _ <"$f"; } 2>/dev/null || continue
    [ "$ppid" = "$master" ] || continue
    title=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || continue
    if [[ $title == *"worker process"* && $title != *"shutting down"* ]]; then echo "$pid"; fi
  done
  return 0
}

# lb_state: the upstream state the nginx worker that answers is serving (from /__lb).
lb_state() { curl -sS -m "${PROBE_TIMEOUT:-3}" -H 'Connection: close' "$LB_URL/__lb" 2>/dev/null; }

# print_lb_status: the active app, the canary weight and both apps' health. Returns 1 when
# nginx is down or an app that gets traffic is unhealthy.
print_lb_status() {
  local rc=0 pid name served
  if read_upstream_state; then
    if [ "$CUR_CANARY" -gt 0 ]; then
      echo "mode:       canary: quart ${CUR_CANARY}%, flask $((100 - CUR_CANARY))%"
    else
      echo "mode:       $([ "$CUR_ACTIVE" = quart ] && echo async || echo sync)"
    fi
    echo "active:     $CUR_ACTIVE"
    echo "canary:     ${CUR_CANARY}%"
    echo "generation: $CUR_GENERATION"
  else
    echo "active:     unknown (no upstream include at $UPSTREAM_FILE: run scripts/stack.sh start)"
    rc=1
  fi
  if pid=$(nginx_master_pid); then
    served=$(lb_state)
    echo "nginx:      running (pid $pid) on $LB_URL, serving: ${served:-no answer}"
    [ -n "$served" ] || rc=1
  else
    echo "nginx:      not running (pid file $NGINX_PID)"
    rc=1
  fi
  for name in quart flask; do
    if app_health "$name"; then
      echo "$name:      healthy ($(app_servers "$name"))"
    else
      echo "$name:      UNHEALTHY: $HEALTH_DETAIL"
      if [ "${CUR_CANARY:-0}" -gt 0 ] || [ "$CUR_ACTIVE" = "$name" ]; then rc=1; fi
    fi
  done
  return "$rc"
}
