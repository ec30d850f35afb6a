#!/usr/bin/env bash
# Switch the nginx in front of the stack between the two apps, without restarting either.
#
#   scripts/toggle_async.sh async            all traffic to quart_app (flask stays as backup)
#   scripts/toggle_async.sh sync             all traffic to legacy_flask (quart stays as backup)
#   scripts/toggle_async.sh canary PERCENT   PERCENT% of requests to quart_app, the rest to flask
#                                            (0 = sync, 100 = async); async/sync end a canary
#   scripts/toggle_async.sh status           active app, canary weight, both apps' health
#   ASYNC_MODE=1 scripts/toggle_async.sh     same as `async` (ASYNC_MODE=0: `sync`)
#   --dry-run                                check and print the plan; change nothing
#
# A switch: check the target app(s) directly (/healthz names the app, /readyz is 200), write the
# new upstream include atomically (temp file + mv), `nginx -t`, `nginx -s reload` (in-flight
# requests finish on the old workers), then verify through nginx that the new generation is
# served and that the target answers; otherwise put the previous include back by itself.
# Exit codes: 0 done (or nothing to do), 1 refused or rolled back, 2 bad usage.
# Every switch is logged to $RUNTIME_DIR/logs/toggle.log. Ports and paths: scripts/stack_env.sh.
set -euo pipefail
LOG_TAG=toggle
# shellcheck source=scripts/stack_env.sh
. "$(dirname "$0")/stack_env.sh"

usage() {
  sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

DRY_RUN=0
ARGS=()
for arg in "$@"; do
  case $arg in
    --dry-run | -n) DRY_RUN=1 ;;
    -h | --help) usage ;;
    *) ARGS+=("$arg") ;;
  esac
done

# --- what is asked -------------------------------------------------------------------------
CMD=${ARGS[0]:-}
PERCENT=""
if [ -n "${ASYNC_MODE:-}" ]; then
  case ${ASYNC_MODE,,} in
    1 | true | yes | on) env_cmd=async ;;
    0 | false | no | off) env_cmd=sync ;;
    *) log "ASYNC_MODE must be 1 or 0, not '$ASYNC_MODE'"; usage ;;
  esac
  if [ -z "$CMD" ]; then
    CMD=$env_cmd
  elif [ "$CMD" != "$env_cmd" ] && [ "$CMD" != status ]; then
    log "ASYNC_MODE=$ASYNC_MODE asks for $env_cmd but the argument asks for $CMD"
    usage
  fi
fi
case $CMD in
  async | sync | status)
    [ "${#ARGS[@]}" -le 1 ] || { log "unexpected argument: ${ARGS[1]}"; usage; }
    ;;
  canary)
    [ "${#ARGS[@]}" -eq 2 ] || { log "canary needs one PERCENT (0-100)"; usage; }
    PERCENT=${ARGS[1]%\%}
    [[ $PERCENT =~ ^[0-9]{1,3}$ ]] && [ "$((10#$PERCENT))" -le 100 ] \
      || { log "PERCENT must be a whole number from 0 to 100, not '${ARGS[1]}'"; usage; }
    PERCENT=$((10#$PERCENT))
    ;;
  "") log "say async, sync, canary PERCENT or status (or set ASYNC_MODE)"; usage ;;
  *) log "unknown command: $CMD"; usage ;;
esac

if [ "$CMD" = status ]; then
  print_lb_status
  exit $?
fi

# The target state: the app that gets the traffic and quart's canary share.
if [ "$CMD" = canary ] && [ "$PERCENT" -gt 0 ] && [ "$PERCENT" -lt 100 ]; then
  NEW_ACTIVE=flask NEW_CANARY=$PERCENT
elif [ "$CMD" = async ] || { [ "$CMD" = canary ] && [ "$PERCENT" -eq 100 ]; }; then
  NEW_ACTIVE=quart NEW_CANARY=0
else
  NEW_ACTIVE=flask NEW_CANARY=0
fi
# describe ACTIVE CANARY: async, sync or canary-N% (the words the log and messages use).
describe() {
  if [ "$2" -gt 0 ]; then echo "canary-$2%"; elif [ "$1" = quart ]; then echo async; else echo sync; fi
}
TARGET_DESC=$(describe "$NEW_ACTIVE" "$NEW_CANARY")

record() {  # record RESULT DETAIL: one line per attempt in the toggle log
  local from=$1 result=$2 detail=$3
  # Never creates anything: no log folder means there is no stack to log about.
  if [ "$DRY_RUN" = 1 ] || [ ! -d "$LOG_DIR" ]; then return 0; fi
  printf '%s from=%s to=%s result=%s detail="%s"\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
    "$from" "$TARGET_DESC" "$result" "${detail//\"/\'}" >>"$TOGGLE_LOG" 2>/dev/null || true
}

refuse() {  # refuse MESSAGE: nothing was changed
  log "refused: $1"
  record "${FROM_DESC:-unknown}" refused "$1"
  exit 1
}

# --- preconditions (nothing is changed until all hold) ---------------------------------------
NGINX_DIR_REAL=$(dirname "$UPSTREAM_FILE")
[ -f "$NGINX_CONF" ] && [ -f "$UPSTREAM_FILE" ] \
  || refuse "no nginx config at $NGINX_CONF / $UPSTREAM_FILE: run scripts/stack.sh start first"
read_upstream_state || refuse "cannot read the current state from $UPSTREAM_FILE"
FROM_ACTIVE=$CUR_ACTIVE FROM_CANARY=$CUR_CANARY FROM_GENERATION=$CUR_GENERATION
FROM_DESC=$(describe "$FROM_ACTIVE" "$FROM_CANARY")
if [ ! -w "$NGINX_DIR_REAL" ] || { [ -e "$UPSTREAM_FILE" ] && [ ! -w "$UPSTREAM_FILE" ]; }; then
  refuse "$UPSTREAM_FILE is not writable by $(id -un): run as the user that runs the stack"
fi
NGINX_MASTER=$(nginx_master_pid) \
  || refuse "nginx is not running (no live master in $NGINX_PID): run scripts/stack.sh start"
kill -0 "$NGINX_MASTER" 2>/dev/null \
  || refuse "cannot signal nginx (pid $NGINX_MASTER) as $(id -un): run as the user that runs nginx"

if [ "$DRY_RUN" = 0 ]; then
  # One switch at a time; a second caller waits a little, then gives up.
  LOCK=$NGINX_DIR_REAL/.toggle.lock
  exec 9>>"$LOCK"
  flock -w "${TOGGLE_LOCK_WAIT:-30}" 9 || refuse "another toggle is running (lock $LOCK)"
  # Re-read under the lock: a concurrent toggle may have just switched.
  read_upstream_state || refuse "cannot read the current state from $UPSTREAM_FILE"
  FROM_ACTIVE=$CUR_ACTIVE FROM_CANARY=$CUR_CANARY FROM_GENERATION=$CUR_GENERATION
  FROM_DESC=$(describe "$FROM_ACTIVE" "$FROM_CANARY")
fi

if [ "$FROM_ACTIVE" = "$NEW_ACTIVE" ] && [ "$FROM_CANARY" = "$NEW_CANARY" ]; then
  SERVED=$(lb_state)
  if [[ $SERVED == *"generation=$FROM_GENERATION"* ]]; then
    log "already $TARGET_DESC (generation $FROM_GENERATION); nothing to do"
    record "$FROM_DESC" noop "already active"
    exit 0
  fi
  # The include says so but nginx serves something else (e.g. after a failed rollback):
  # apply it again, with the usual checks.
  log "the include says $TARGET_DESC but nginx serves '${SERVED:-nothing}'; applying it again"
  FROM_DESC="unknown"
fi

# The apps that will get traffic must be healthy now.
TARGETS=("$NEW_ACTIVE")
[ "$NEW_CANARY" -gt 0 ] && TARGETS=(quart flask)
for app in "${TARGETS[@]}"; do
  app_health_retry "$app" || refuse "target unhealthy: $HEALTH_DETAIL"
  log "$HEALTH_DETAIL"
done

GENERATION=$(new_generation)
NEW_CONTENT=$(render_upstream "$NEW_ACTIVE" "$NEW_CANARY" "$GENERATION")
if [ "$DRY_RUN" = 1 ]; then
  log "dry run: would switch from $FROM_DESC to $TARGET_DESC"
  log "dry run: would write $UPSTREAM_FILE as:"
  printf '%s\n' "$NEW_CONTENT"
  log "dry run: then: nginx -p $NGINX_DIR/ -c $NGINX_CONF -t && nginx ... -s reload, and verify via $LB_URL"
  exit 0
fi

# --- switch ------------------------------------------------------------------------------------
PREV_FILE=$UPSTREAM_FILE.prev
cp -p "$UPSTREAM_FILE" "$PREV_FILE.tmp.$$" && mv -f "$PREV_FILE.tmp.$$" "$PREV_FILE"

# install_include SOURCE_TEXT: atomic replace (rename in the same folder).
install_include() {
  local tmp
  tmp=$(mktemp "$NGINX_DIR_REAL/.active_upstream.XXXXXX") || return 1
  if ! printf '%s\n' "$1" >"$tmp"; then rm -f "$tmp"; return 1; fi
  chmod 644 "$tmp"
  mv -f "$tmp" "$UPSTREAM_FILE"
}

# reload_nginx: test the whole config, then ask the master to reload it. Remembers which
# workers accepted connections before, for wait_old_workers.
reload_nginx() {
  local out
  if ! out=$(nginx_cmd -t -q 2>&1); then
    log "nginx -t failed: $out"
    return 1
  fi
  OLD_WORKERS=$(accepting_workers "$NGINX_MASTER")
  if ! out=$(nginx_cmd -s reload 2>&1); then
    log "nginx -s reload failed: $out"
    return 1
  fi
}

# wait_old_workers: until the workers of the previous config stop accepting connections
# (they finish their in-flight requests meanwhile, however long those take).
wait_old_workers() {
  local pid deadline=$((SECONDS + ${VERIFY_TIMEOUT:-10}))
  for pid in $OLD_WORKERS; do
    # (Not `| grep -q`: with pipefail, grep quitting early makes the pipeline "fail".)
    while [[ " $(accepting_workers "$NGINX_MASTER" | tr '\n' ' ') " == *" $pid "* ]]; do
      [ "$SECONDS" -lt "$deadline" ] || { log "old nginx worker $pid still accepts"; return 1; }
      sleep 0.05
    done
  done
}

# wait_generation GEN: until nginx answers with generation GEN (when the new config failed to
# apply, e.g. a port clash, the master keeps the old one and this times out).
wait_generation() {
  local want=$1 deadline=$((SECONDS + ${VERIFY_TIMEOUT:-10})) got
  while [ "$SECONDS" -lt "$deadline" ]; do
    got=$(lb_state)
    [[ $got == *"generation=$want"* ]] && return 0
    sleep 0.1
  done
  log "nginx still serves '${got:-nothing}', not generation $want"
  return 1
}

# verify_through_lb: VERIFY_REQUESTS requests through nginx, served by the new generation,
# all 200 from the expected app(s).
verify_through_lb() {
  local n=${VERIFY_REQUESTS:-6} good=0 tries=0 status xapp gen body app seen=""
  while [ "$good" -lt "$n" ]; do
    tries=$((tries + 1))
    [ "$tries" -le $((n * 5)) ] || { log "verify: the new generation answered only $good times"; return 1; }
    read -r status xapp gen body < <(http_get "$LB_URL/healthz")
    if [ "$gen" != "$GENERATION" ]; then
      sleep 0.05  # an old worker still finishing; not this config's answer
      continue
    fi
    app=$(json_app "$body")
    if [ "$status" != 200 ]; then
      log "verify: request $tries through nginx gave $status"
      return 1
    fi
    if [ "$NEW_CANARY" -eq 0 ] && { [ "$app" != "$NEW_ACTIVE" ] || [ "$xapp" != "$NEW_ACTIVE" ]; }; then
      log "verify: request $tries through nginx reached '$app' (X-App $xapp), expected $NEW_ACTIVE"
      return 1
    fi
    if [ "$NEW_CANARY" -gt 0 ] && [ "$app" != quart ] && [ "$app" != flask ]; then
      log "verify: request $tries through nginx reached '$app'"
      return 1
    fi
    good=$((good + 1))
    seen="$seen $app"
  done
  log "verified through nginx:$seen"
}

rollback() {  # rollback REASON
  log "switch failed ($1); restoring $FROM_DESC"
  if install_include "$(cat "$PREV_FILE")" && reload_nginx && wait_old_workers \
    && wait_generation "$FROM_GENERATION"; then
    record "$FROM_DESC" rolled_back "$1"
    log "rolled back to $FROM_DESC"
  else
    record "$FROM_DESC" rollback_failed "$1"
    log "ROLLBACK FAILED: check $UPSTREAM_FILE and $LOG_DIR/nginx-error.log"
  fi
  exit 1
}

log "switching from $FROM_DESC to $TARGET_DESC (generation $GENERATION)"
install_include "$NEW_CONTENT" || refuse "could not write $UPSTREAM_FILE"
if ! reload_nginx; then
  # nginx -t failed or the reload was refused: the old config is still the one running.
  install_include "$(cat "$PREV_FILE")" || true
  record "$FROM_DESC" refused "nginx rejected the new config"
  die "nginx rejected the new config; $UPSTREAM_FILE restored"
fi
wait_old_workers || rollback "the old nginx workers did not stop accepting"
wait_generation "$GENERATION" || rollback "nginx did not pick up the new generation"
verify_through_lb || rollback "verification through nginx failed"
record "$FROM_DESC" ok "generation=$GENERATION"
log "now $TARGET_DESC"
