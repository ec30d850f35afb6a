#!/usr/bin/env bash
# Switch the HAProxy in front of the stack between the two apps, without restarting anything.
#
#   scripts/toggle_async.sh async            all traffic to quart_app (flask stays as backup)
#   scripts/toggle_async.sh sync             all traffic to legacy_flask (quart stays as backup)
#   scripts/toggle_async.sh canary PERCENT   PERCENT% of requests to quart_app, the rest to flask
#                                            (0 = sync, 100 = async); async/sync end a canary
#   scripts/toggle_async.sh status           active app, canary weight, both apps' health
#   ASYNC_MODE=1 scripts/toggle_async.sh     same as `async` (ASYNC_MODE=0: `sync`)
#   --dry-run                                check and print the plan; change nothing
#
# A switch: check the target app(s) directly (/healthz names the app, /readyz is 200) and in
# HAProxy's own health checks (UP), then change HAProxy's mode map through its admin socket
# (`set map`: no reload, no new process, no connection closed; requests in flight, SSE streams
# included, finish where they began), rewrite the map file atomically for the next start, and
# verify through HAProxy that the new generation answers from the target; otherwise switch back.
# Already in the asked mode: the target is still health-checked, and a sick one exits 1.
# Exit codes: 0 done (or nothing to do), 1 refused, rolled back or target down, 2 bad usage.
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
[ -f "$HAPROXY_CONF" ] && [ -f "$MODE_MAP" ] \
  || refuse "no HAProxy config at $HAPROXY_CONF / $MODE_MAP: run scripts/stack.sh start first"
read_mode_state || refuse "cannot read the current state from $MODE_MAP"
FROM_ACTIVE=$CUR_ACTIVE FROM_CANARY=$CUR_CANARY FROM_GENERATION=$CUR_GENERATION
FROM_DESC=$(describe "$FROM_ACTIVE" "$FROM_CANARY")
if [ ! -w "$HAPROXY_DIR" ] || [ ! -w "$MODE_MAP" ]; then
  refuse "$MODE_MAP is not writable by $(id -un): run as the user that runs the stack"
fi
HAPROXY_RUNNING=$(haproxy_pid) \
  || refuse "haproxy is not running (no live process in $HAPROXY_PID): run scripts/stack.sh start"
if [ ! -w "$ADMIN_SOCK" ] || ! haproxy_alive; then
  refuse "cannot use HAProxy's admin socket $ADMIN_SOCK (pid $HAPROXY_RUNNING) as $(id -un): run as the user that runs the stack"
fi

if [ "$DRY_RUN" = 0 ]; then
  # One switch at a time; a second caller waits a little, then gives up.
  LOCK=$HAPROXY_DIR/.toggle.lock
  exec 9>>"$LOCK"
  flock -w "${TOGGLE_LOCK_WAIT:-30}" 9 || refuse "another toggle is running (lock $LOCK)"
  # Re-read under the lock: a concurrent toggle may have just switched.
  read_mode_state || refuse "cannot read the current state from $MODE_MAP"
  FROM_ACTIVE=$CUR_ACTIVE FROM_CANARY=$CUR_CANARY FROM_GENERATION=$CUR_GENERATION
  FROM_DESC=$(describe "$FROM_ACTIVE" "$FROM_CANARY")
fi

# The apps that will get traffic.
TARGETS=("$NEW_ACTIVE")
[ "$NEW_CANARY" -gt 0 ] && TARGETS=(quart flask)

if [ "$FROM_ACTIVE" = "$NEW_ACTIVE" ] && [ "$FROM_CANARY" = "$NEW_CANARY" ]; then
  SERVED=$(lb_state)
  if [[ $SERVED == *"generation=$FROM_GENERATION"* ]]; then
    # Nothing to switch, but say so only if the target really serves: "already async" while
    # quart is down (and the backup takes its traffic) is not a state to report as fine.
    for app in "${TARGETS[@]}"; do
      if ! app_health_retry "$app" || ! VERIFY_TIMEOUT=${NOOP_VERIFY_TIMEOUT:-3} haproxy_sees_up "$app"; then
        log "WARNING: already $TARGET_DESC, but the target is down: $HEALTH_DETAIL"
        log "WARNING: its traffic goes to the backup app; restart it (scripts/stack.sh start $app) or switch away"
        record "$FROM_DESC" noop_target_down "$HEALTH_DETAIL"
        exit 1
      fi
    done
    log "already $TARGET_DESC (generation $FROM_GENERATION) and healthy; nothing to do"
    record "$FROM_DESC" noop "already active"
    exit 0
  fi
  # The map file says so but HAProxy serves something else (e.g. after a failed rollback, or
  # a hand edit): apply it again, with the usual checks.
  log "the map says $TARGET_DESC but HAProxy serves '${SERVED:-nothing}'; applying it again"
  FROM_DESC="unknown"
  FROM_GENERATION=$(sed -n 's/.*generation=\([^ ]*\).*/\1/p' <<<"$SERVED")
fi

# The apps that will get traffic must be healthy now, directly and in HAProxy's checks (an app
# HAProxy still sees as DOWN would have its share served by the backup).
for app in "${TARGETS[@]}"; do
  app_health_retry "$app" || refuse "target unhealthy: $HEALTH_DETAIL"
  log "$HEALTH_DETAIL"
  haproxy_sees_up "$app" || refuse "target unhealthy: $HEALTH_DETAIL"
done

GENERATION=$(new_generation)
COMMANDS=()
[ "$NEW_CANARY" -gt 0 ] && mapfile -t COMMANDS < <(canary_weight_commands "$NEW_CANARY")
mapfile -t -O "${#COMMANDS[@]}" COMMANDS < <(map_commands "$NEW_ACTIVE" "$NEW_CANARY" "$GENERATION")
if [ "$DRY_RUN" = 1 ]; then
  log "dry run: would switch from $FROM_DESC to $TARGET_DESC"
  log "dry run: would send to $ADMIN_SOCK:"
  printf '%s\n' "${COMMANDS[@]}"
  log "dry run: would write $MODE_MAP as:"
  render_map "$NEW_ACTIVE" "$NEW_CANARY" "$GENERATION"
  log "dry run: then verify via $LB_URL"
  exit 0
fi

# --- switch ------------------------------------------------------------------------------------
PREV_FILE=$MODE_MAP.prev
cp -p "$MODE_MAP" "$PREV_FILE.tmp.$$" && mv -f "$PREV_FILE.tmp.$$" "$PREV_FILE"

# apply_runtime COMMAND...: send them; HAProxy answers nothing to a successful set map/weight.
apply_runtime() {
  local out
  out=$(haproxy_cli "$@") || { log "admin socket did not answer"; return 1; }
  out=$(tr -s '\n' <<<"$out" | sed '/^$/d')
  if [ -n "$out" ]; then
    log "HAProxy refused: $out"
    return 1
  fi
}

# verify_through_lb: VERIFY_REQUESTS requests through HAProxy, served by the new generation,
# all 200 from the expected app(s).
verify_through_lb() {
  local n=${VERIFY_REQUESTS:-6} good=0 tries=0 status xapp gen body app seen=""
  while [ "$good" -lt "$n" ]; do
    tries=$((tries + 1))
    [ "$tries" -le $((n * 5)) ] || { log "verify: the new generation answered only $good times"; return 1; }
    read -r status xapp gen body < <(http_get "$LB_URL/healthz")
    if [ "$gen" != "$GENERATION" ]; then
      sleep 0.05
      continue
    fi
    app=$(json_app "$body")
    if [ "$status" != 200 ]; then
      log "verify: request $tries through HAProxy gave $status"
      return 1
    fi
    if [ "$NEW_CANARY" -eq 0 ] && { [ "$app" != "$NEW_ACTIVE" ] || [ "$xapp" != "$NEW_ACTIVE" ]; }; then
      log "verify: request $tries through HAProxy reached '$app' (X-App $xapp), expected $NEW_ACTIVE"
      return 1
    fi
    if [ "$NEW_CANARY" -gt 0 ] && [ "$app" != quart ] && [ "$app" != flask ]; then
      log "verify: request $tries through HAProxy reached '$app'"
      return 1
    fi
    good=$((good + 1))
    seen="$seen $app"
  done
  log "verified through HAProxy:$seen"
}

rollback() {  # rollback REASON
  local back=()
  log "switch failed ($1); restoring $FROM_DESC"
  [ "$FROM_CANARY" -gt 0 ] && mapfile -t back < <(canary_weight_commands "$FROM_CANARY")
  mapfile -t -O "${#back[@]}" back < <(map_commands "$FROM_ACTIVE" "$FROM_CANARY" "${FROM_GENERATION:-restored}")
  if apply_runtime "${back[@]}" && cp -p "$PREV_FILE" "$MODE_MAP.tmp.$$" \
    && mv -f "$MODE_MAP.tmp.$$" "$MODE_MAP"; then
    record "$FROM_DESC" rolled_back "$1"
    log "rolled back to $FROM_DESC"
  else
    record "$FROM_DESC" rollback_failed "$1"
    log "ROLLBACK FAILED: check $MODE_MAP, 'show map $MODE_MAP' on $ADMIN_SOCK and $LOG_DIR/haproxy.log"
  fi
  exit 1
}

log "switching from $FROM_DESC to $TARGET_DESC (generation $GENERATION)"
if ! apply_runtime "${COMMANDS[@]}"; then
  # A refused command may have left part of the change: put the previous state back.
  rollback "HAProxy refused the runtime change"
fi
write_map "$NEW_ACTIVE" "$NEW_CANARY" "$GENERATION" || rollback "could not write $MODE_MAP"
verify_through_lb || rollback "verification through HAProxy failed"
record "$FROM_DESC" ok "generation=$GENERATION"
log "now $TARGET_DESC"
