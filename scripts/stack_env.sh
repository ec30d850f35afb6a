# shellcheck shell=bash
# Ports, paths and helpers shared by scripts/stack.sh and scripts/toggle_async.sh.
# Sourced, never run. Precedence for every setting: the environment, then the values saved by
# the last `stack.sh start` in $RUNTIME_DIR/stack.env, then the defaults below. So a toggle
# from another shell reaches the stack that `LB_PORT=9000 scripts/stack.sh start` started.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUNTIME_DIR=${XIANXIA_RUNTIME_DIR:-$ROOT/var/run}

# The settings saved in stack.env (no secrets: the API key never goes there). FLASK_MAXCONN is
# not: it follows GUNICORN_WORKERS x GUNICORN_THREADS unless set.
STACK_KEYS=(LB_PORT LB_BIND QUART_PORT FLASK_PORT APP_BIND_HOST QUART_UPSTREAMS FLASK_UPSTREAMS
            HAPROXY_BIN LB_MAXCONN LB_CREATE_RATE LB_HTTP_REQUEST_TIMEOUT LB_SERVER_TIMEOUT QUART_MAXCONN
            QUART_WORKERS QUART_APP_SPEC FLASK_APP_SPEC DATABASE_URL REDIS_URL LLM_BACKEND
            GUNICORN_WORKERS GUNICORN_THREADS CELERY_CONCURRENCY VENV)

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
# The load balancer's public address. 127.0.0.1 on one machine; the LB host's address (or
# 0.0.0.0) when clients come from elsewhere (docs/deploy.md).
LB_BIND=${LB_BIND:-127.0.0.1}
QUART_PORT=${QUART_PORT:-8001}
FLASK_PORT=${FLASK_PORT:-8002}
# Where this machine's apps listen (stack.sh): loopback, or a private address when the load
# balancer runs on another host. Never a public one (docs/deploy.md, "Why the apps listen on
# loopback").
APP_BIND_HOST=${APP_BIND_HOST:-127.0.0.1}
# The servers HAProxy balances over, "host:port host:port ...": several instances of each app,
# possibly on other hosts (docs/deploy.md). Default: this machine's one instance of each.
QUART_UPSTREAMS=${QUART_UPSTREAMS:-127.0.0.1:$QUART_PORT}
FLASK_UPSTREAMS=${FLASK_UPSTREAMS:-127.0.0.1:$FLASK_PORT}
# Connection limits: the whole load balancer, and in flight per app server (more wait in
# HAProxy's queue, up to `timeout queue`). legacy_flask's default is what one gunicorn serves
# at once (workers x threads, as deploy/gunicorn.conf.py computes them).
LB_MAXCONN=${LB_MAXCONN:-4096}
QUART_MAXCONN=${QUART_MAXCONN:-2000}
if [ -z "${FLASK_MAXCONN:-}" ]; then
  _cpus=$(nproc 2>/dev/null || echo 1)
  _workers=${GUNICORN_WORKERS:-$((2 * _cpus > 8 ? 8 : 2 * _cpus))}
  FLASK_MAXCONN=$((_workers * ${GUNICORN_THREADS:-32}))
fi
# Player creations per client address per minute before HAProxy answers 429 (the apps have
# their own, lower limit; this is the second line).
LB_CREATE_RATE=${LB_CREATE_RATE:-30}
# How long a client may take to send its request headers.
LB_HTTP_REQUEST_TIMEOUT=${LB_HTTP_REQUEST_TIMEOUT:-10s}
# How long an app may stay silent once it has the request: above the longest LLM call (90 s).
LB_SERVER_TIMEOUT=${LB_SERVER_TIMEOUT:-120s}
# hypercorn worker processes for quart_app: 1 (one event loop in hypercorn's own process), N,
# or auto (one per core); WORKERS is the same setting. Workers die with their master
# (deploy/hypercorn_app.py).
QUART_WORKERS=${QUART_WORKERS:-${WORKERS:-1}}
QUART_APP_SPEC=${QUART_APP_SPEC:-deploy/hypercorn_app.py:create_app()}
FLASK_APP_SPEC=${FLASK_APP_SPEC:-legacy_flask:create_app()}
if [ -z "${HAPROXY_BIN:-}" ]; then
  HAPROXY_BIN=$(command -v haproxy 2>/dev/null || echo /usr/sbin/haproxy)
fi

LOG_DIR=$RUNTIME_DIR/logs
PID_DIR=$RUNTIME_DIR/pids
HAPROXY_DIR=$RUNTIME_DIR/haproxy
HAPROXY_CONF=$HAPROXY_DIR/haproxy.cfg
HAPROXY_PID=$PID_DIR/haproxy.pid
# The switch's state: which backend gets the traffic, the canary share, the generation.
# HAProxy reads it at start; the toggle changes HAProxy's copy through ADMIN_SOCK and rewrites
# this file so a restart keeps the last choice.
MODE_MAP=$HAPROXY_DIR/mode.map
ADMIN_SOCK=$HAPROXY_DIR/admin.sock
TOGGLE_LOG=$LOG_DIR/toggle.log
LB_URL=http://127.0.0.1:$LB_PORT
[ "$LB_BIND" != 0.0.0.0 ] && [ "$LB_BIND" != "::" ] && LB_URL=http://$LB_BIND:$LB_PORT

log() { printf '[%s] %s\n' "${LOG_TAG:-stack}" "$*" >&2; }
die() { log "error: $*"; exit "${2:-1}"; }

# haproxy_cli COMMAND...: send the commands (joined by "; ", one connection) to HAProxy's
# admin socket and print its answer. Fails when the socket does not answer.
haproxy_cli() {
  local line
  line=$(printf '%s; ' "$@")
  line=${line%; }
  if command -v socat >/dev/null 2>&1; then
    printf '%s\n' "$line" | socat -t 5 stdio "UNIX-CONNECT:$ADMIN_SOCK" 2>/dev/null
  else
    "$VENV/bin/python" - "$ADMIN_SOCK" "$line" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(5)
try:
    s.connect(sys.argv[1])
except OSError:
    sys.exit(1)
s.sendall(sys.argv[2].encode() + b"\n")
out = b""
while chunk := s.recv(65536):
    out += chunk
sys.stdout.write(out.decode(errors="replace"))
PY
  fi
}

# haproxy_alive: the admin socket answers.
haproxy_alive() { [ -S "$ADMIN_SOCK" ] && haproxy_cli "show info" | grep -q '^Name: HAProxy'; }

# app_servers NAME: the host:port list HAProxy balances over for NAME (quart or flask).
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

haproxy_pid() {
  local pid
  pid=$(read_pid "$HAPROXY_PID")
  pid_matches "$pid" haproxy && echo "$pid"
}

# --- the switch's state -------------------------------------------------------------------

# backend_for ACTIVE CANARY: the HAProxy backend that serves that mode.
backend_for() {
  if [ "$2" -gt 0 ]; then echo be_canary; else echo "be_$1"; fi
}

# render_map ACTIVE CANARY GENERATION: the mode map's content.
render_map() {
  printf '%s\n' "# Written by scripts/toggle_async.sh (and scripts/stack.sh); HAProxy reads it at start." \
    "backend $(backend_for "$1" "$2")" "active $1" "canary $2" "generation $3"
}

# read_mode_state [FILE]: sets CUR_ACTIVE, CUR_CANARY, CUR_GENERATION from the mode map.
read_mode_state() {
  local file=${1:-$MODE_MAP}
  CUR_ACTIVE="" CUR_CANARY="" CUR_GENERATION=""
  [ -r "$file" ] || return 1
  CUR_ACTIVE=$(sed -n 's/^active \([a-z]*\)$/\1/p' "$file")
  CUR_CANARY=$(sed -n 's/^canary \([0-9]*\)$/\1/p' "$file")
  CUR_GENERATION=$(sed -n 's/^generation \([^ ]*\)$/\1/p' "$file")
  [ -n "$CUR_ACTIVE" ] && [ -n "$CUR_CANARY" ]
}

new_generation() { printf '%s-%s' "$(date -u +%Y%m%dT%H%M%S.%N | cut -c1-22)" "$$"; }

# canary_weights CANARY: "QUART_WEIGHT FLASK_WEIGHT" per server, so that quart's servers get
# CANARY% of requests however many servers each app has (HAProxy weights are 1..256).
canary_weights() {
  local c=$1 nq nf wq wf a b t
  nq=$(wc -w <<<"$QUART_UPSTREAMS")
  nf=$(wc -w <<<"$FLASK_UPSTREAMS")
  wq=$((c * nf)) wf=$(((100 - c) * nq))
  if [ "$wq" -gt 0 ] && [ "$wf" -gt 0 ]; then
    a=$wq b=$wf
    while [ "$b" -gt 0 ]; do t=$((a % b)); a=$b; b=$t; done
    wq=$((wq / a)) wf=$((wf / a))
  fi
  if [ "$wq" -gt 256 ] || [ "$wf" -gt 256 ]; then
    t=$((wq > wf ? wq : wf))
    wq=$(((wq * 256 + t / 2) / t)) wf=$(((wf * 256 + t / 2) / t))
    [ "$wq" -ge 1 ] || wq=1
    [ "$wf" -ge 1 ] || wf=1
  fi
  echo "$wq $wf"
}

# server_names APP: quart1 quart2 ... in the order of the APP's upstream list.
server_names() {
  local i=0 server
  for server in $(app_servers "$1"); do
    i=$((i + 1))
    printf '%s%d\n' "$1" "$i"
  done
}

# render_backends CANARY: the three backends of the switch. be_quart and be_flask each send
# everything to one app's servers and keep the other app's as `backup` (used only when none of
# the first answers); be_canary splits by weight. Each server is health-checked once (in its
# own app's backend); its copies in the other backends `track` it.
render_backends() {
  local canary=$1 app other server name i weights wq wf mc
  weights=$(canary_weights "$([ "$canary" -gt 0 ] && echo "$canary" || echo 50)")
  wq=${weights% *} wf=${weights#* }
  for app in quart flask; do
    other=$([ "$app" = quart ] && echo flask || echo quart)
    printf '%s\n' "" "backend be_$app" "    balance roundrobin" "    option httpchk" \
      "    http-check send meth GET uri /readyz ver HTTP/1.1 hdr Host localhost hdr User-Agent xianxia-haproxy-check" \
      "    http-check expect status 200" \
      "    # Down after 2 failed checks (about 1.5 s), or at once when a connection is refused." \
      "    default-server inter 1s fastinter 250ms downinter 1s rise 2 fall 2"
    i=0
    for server in $(app_servers "$app"); do
      i=$((i + 1))
      mc=$([ "$app" = quart ] && echo "$QUART_MAXCONN" || echo "$FLASK_MAXCONN")
      printf '    server %s%d %s check observe layer4 error-limit 1 on-error mark-down maxconn %d\n' \
        "$app" "$i" "$server" "$mc"
    done
    i=0
    for server in $(app_servers "$other"); do
      i=$((i + 1))
      mc=$([ "$other" = quart ] && echo "$QUART_MAXCONN" || echo "$FLASK_MAXCONN")
      printf '    server %s%d %s backup track be_%s/%s%d maxconn %d\n' \
        "$other" "$i" "$server" "$other" "$other" "$i" "$mc"
    done
  done
  printf '%s\n' "" "backend be_canary" "    balance roundrobin"
  for app in quart flask; do
    i=0
    for server in $(app_servers "$app"); do
      i=$((i + 1))
      mc=$([ "$app" = quart ] && echo "$QUART_MAXCONN" || echo "$FLASK_MAXCONN")
      printf '    server %s%d %s track be_%s/%s%d weight %d maxconn %d\n' "$app" "$i" "$server" \
        "$app" "$app" "$i" "$([ "$app" = quart ] && echo "$wq" || echo "$wf")" "$mc"
    done
  done
}

# canary_weight_commands CANARY: the runtime API commands that give be_canary that split.
canary_weight_commands() {
  local weights wq wf name
  weights=$(canary_weights "$1")
  wq=${weights% *} wf=${weights#* }
  for name in $(server_names quart); do echo "set weight be_canary/$name $wq"; done
  for name in $(server_names flask); do echo "set weight be_canary/$name $wf"; done
}

# map_commands ACTIVE CANARY GENERATION: the runtime API commands that switch. `backend` first:
# that one entry decides where each new request goes; the others describe it.
map_commands() {
  printf '%s\n' "set map $MODE_MAP backend $(backend_for "$1" "$2")" "set map $MODE_MAP active $1" \
    "set map $MODE_MAP canary $2" "set map $MODE_MAP generation $3"
}

# write_map ACTIVE CANARY GENERATION: replace the mode map file atomically (same folder).
write_map() {
  local tmp
  tmp=$(mktemp "$HAPROXY_DIR/.mode.map.XXXXXX") || return 1
  if ! render_map "$@" >"$tmp"; then rm -f "$tmp"; return 1; fi
  chmod 644 "$tmp"
  mv -f "$tmp" "$MODE_MAP"
}

# haproxy_server_status BACKEND/SERVER: UP, DOWN, MAINT, ... as HAProxy sees it now.
haproxy_server_status() {
  local be=${1%/*} srv=${1#*/}
  haproxy_cli "show stat" | awk -F, -v be="$be" -v srv="$srv" '$1 == be && $2 == srv { print $18; exit }'
}

# haproxy_sees_up APP: every server of APP is UP in HAProxy's own health checks (waits up to
# VERIFY_TIMEOUT seconds, e.g. for an app that just started). Sets HEALTH_DETAIL.
haproxy_sees_up() {
  local app=$1 name st deadline=$((SECONDS + ${VERIFY_TIMEOUT:-10}))
  for name in $(server_names "$app"); do
    while :; do
      st=$(haproxy_server_status "be_$app/$name")
      [[ $st == UP* ]] && break
      if [ "$SECONDS" -ge "$deadline" ]; then
        HEALTH_DETAIL="HAProxy's checks see $app server $name as '${st:-unknown}'"
        return 1
      fi
      sleep 0.2
    done
  done
  HEALTH_DETAIL="HAProxy sees every $app server UP"
}

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

# lb_state: the switch's state as HAProxy serves it now (from /__lb).
lb_state() { curl -sS -m "${PROBE_TIMEOUT:-3}" -H 'Connection: close' "$LB_URL/__lb" 2>/dev/null; }

# print_lb_status: the mode, the canary weight and both apps' health. Returns 1 when HAProxy is
# down or an app that gets traffic is unhealthy.
print_lb_status() {
  local rc=0 pid name served st
  if read_mode_state; then
    if [ "$CUR_CANARY" -gt 0 ]; then
      echo "mode:       canary: quart ${CUR_CANARY}%, flask $((100 - CUR_CANARY))%"
    else
      echo "mode:       $([ "$CUR_ACTIVE" = quart ] && echo async || echo sync)"
    fi
    echo "active:     $CUR_ACTIVE"
    echo "canary:     ${CUR_CANARY}%"
    echo "generation: $CUR_GENERATION"
  else
    echo "active:     unknown (no mode map at $MODE_MAP: run scripts/stack.sh start)"
    rc=1
  fi
  if pid=$(haproxy_pid) && haproxy_alive; then
    served=$(lb_state)
    echo "haproxy:    running (pid $pid) on $LB_URL, serving: ${served:-no answer}"
    [ -n "$served" ] || rc=1
  else
    echo "haproxy:    not running (pid file $HAPROXY_PID, socket $ADMIN_SOCK)"
    rc=1
  fi
  for name in quart flask; do
    if app_health "$name"; then
      echo "$name:      healthy ($(app_servers "$name"))"
    else
      echo "$name:      UNHEALTHY: $HEALTH_DETAIL"
      if [ "${CUR_CANARY:-0}" -gt 0 ] || [ "$CUR_ACTIVE" = "$name" ]; then rc=1; fi
    fi
    if haproxy_alive 2>/dev/null; then
      for srv in $(server_names "$name"); do
        st=$(haproxy_server_status "be_$name/$srv")
        echo "            HAProxy check $srv: ${st:-unknown}"
      done
    fi
  done
  return "$rc"
}
