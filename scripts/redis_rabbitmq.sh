#!/usr/bin/env bash
# Start, stop or describe the Redis and RabbitMQ servers the `external` tests and the
# cache/jobs benchmark need: local only (127.0.0.1), state under a temp dir, bounded waits.
#
#   scripts/redis_rabbitmq.sh start   # install when missing (apt-get), start both, wait until ready
#   scripts/redis_rabbitmq.sh stop    # rabbitmqctl stop + epmd -kill, redis SHUTDOWN NOSAVE
#   scripts/redis_rabbitmq.sh env       # print VISEARCH_REDIS_URL / VISEARCH_BROKER_URL exports
#   scripts/redis_rabbitmq.sh test-env  # print VISEARCH_TEST_REDIS_URL / _BROKER_URL (pytest)
#   scripts/redis_rabbitmq.sh status
#
# Knobs (environment): VISEARCH_SERVICES_DIR (state dir, default /tmp/visearch-services),
# VISEARCH_REDIS_PORT (6379), VISEARCH_AMQP_PORT (5672), VISEARCH_SERVICES_TIMEOUT (90 s).
set -euo pipefail

STATE_DIR="${VISEARCH_SERVICES_DIR:-${TMPDIR:-/tmp}/visearch-services}"
REDIS_PORT="${VISEARCH_REDIS_PORT:-6379}"
AMQP_PORT="${VISEARCH_AMQP_PORT:-5672}"
DIST_PORT="$((AMQP_PORT + 20000))"
TIMEOUT="${VISEARCH_SERVICES_TIMEOUT:-90}"
RABBIT_BIN=/usr/lib/rabbitmq/bin

# Every rabbitmq command runs with the same node name, cookie ($HOME) and directories.
export RABBITMQ_NODENAME="rabbit@localhost"
export RABBITMQ_NODE_IP_ADDRESS="127.0.0.1"
export RABBITMQ_NODE_PORT="$AMQP_PORT"
export RABBITMQ_DIST_PORT="$DIST_PORT"
export RABBITMQ_MNESIA_BASE="$STATE_DIR/rabbitmq/mnesia"
export RABBITMQ_LOG_BASE="$STATE_DIR/rabbitmq/log"
export RABBITMQ_PID_FILE="$STATE_DIR/rabbitmq/rabbit.pid"
export RABBITMQ_CONFIG_FILE="$STATE_DIR/rabbitmq/rabbitmq"
export RABBITMQ_ENABLED_PLUGINS_FILE="$STATE_DIR/rabbitmq/enabled_plugins"
export RABBITMQ_ADVANCED_CONFIG_FILE="$STATE_DIR/rabbitmq/advanced.config"
export ERL_EPMD_ADDRESS="127.0.0.1"
export ERL_CRASH_DUMP="$STATE_DIR/rabbitmq/erl_crash.dump"
# Erlang distribution (rabbitmqctl <-> node) on loopback only, too.
export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
export HOME_FOR_RABBIT="$STATE_DIR/rabbitmq/home"

say() { echo "redis_rabbitmq: $*" >&2; }
die() { say "$*"; exit 1; }

rabbit() {  # run a rabbitmq tool as the current user with our cookie and directories
  HOME="$HOME_FOR_RABBIT" "$RABBIT_BIN/$1" "${@:2}"
}

install_missing() {
  local pkgs=()
  command -v redis-server >/dev/null 2>&1 || pkgs+=(redis-server)
  [ -x "$RABBIT_BIN/rabbitmq-server" ] || pkgs+=(rabbitmq-server)
  [ ${#pkgs[@]} -eq 0 ] && return 0
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || die "need root or sudo to install ${pkgs[*]}"
    sudo="sudo"
  fi
  say "installing ${pkgs[*]}"
  # Installing must not start the system-wide services (policy-rc.d exit 101).
  $sudo env DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 apt-get -o DPkg::Lock::Timeout=300 \
    update -qq >/dev/null
  $sudo env DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 apt-get -o DPkg::Lock::Timeout=300 \
    install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
}

redis_up() { redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG; }

start_redis() {
  if redis_up; then say "redis already answers on 127.0.0.1:$REDIS_PORT"; return 0; fi
  mkdir -p "$STATE_DIR/redis"
  redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --protected-mode yes \
    --dir "$STATE_DIR/redis" --save "" --appendonly no --daemonize yes \
    --pidfile "$STATE_DIR/redis/redis.pid" --logfile "$STATE_DIR/redis/redis.log"
  local waited=0
  until redis_up; do
    [ "$waited" -ge "$((TIMEOUT * 5))" ] && die "redis did not answer within ${TIMEOUT}s (see $STATE_DIR/redis/redis.log)"
    sleep 0.2; waited=$((waited + 1))  # 0.2 s steps
  done
  say "redis ready on 127.0.0.1:$REDIS_PORT"
}

rabbit_up() { rabbit rabbitmq-diagnostics -q check_running --timeout 5 >/dev/null 2>&1; }

start_rabbit() {
  if rabbit_up; then say "rabbitmq already running ($RABBITMQ_NODENAME)"; return 0; fi
  mkdir -p "$RABBITMQ_MNESIA_BASE" "$RABBITMQ_LOG_BASE" "$HOME_FOR_RABBIT"
  # Only the AMQP listener, only on loopback; the default guest user may connect from there.
  printf 'listeners.tcp.1 = 127.0.0.1:%s\nloopback_users.guest = true\n' "$AMQP_PORT" \
    > "$RABBITMQ_CONFIG_FILE.conf"
  printf '[].\n' > "$RABBITMQ_ENABLED_PLUGINS_FILE"
  printf '[].\n' > "$RABBITMQ_ADVANCED_CONFIG_FILE"
  # Every descriptor of the background server points at the log: a caller capturing this
  # script's output (a pipe, "$(...)") must not wait for the server to exit.
  (cd "$STATE_DIR/rabbitmq" && HOME="$HOME_FOR_RABBIT" exec nohup "$RABBIT_BIN/rabbitmq-server") \
    > "$RABBITMQ_LOG_BASE/startup.log" 2>&1 < /dev/null &
  disown || true
  # await_startup fails at once while the node has not registered with epmd yet: retry it
  # until the deadline.
  local deadline=$((SECONDS + TIMEOUT))
  until rabbit rabbitmqctl -q await_startup --timeout "$TIMEOUT" >/dev/null 2>&1; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      tail -n 30 "$RABBITMQ_LOG_BASE/startup.log" >&2 || true
      die "rabbitmq did not start within ${TIMEOUT}s (logs in $RABBITMQ_LOG_BASE)"
    fi
    sleep 1
  done
  say "rabbitmq ready on 127.0.0.1:$AMQP_PORT"
}

stop_redis() {
  if redis_up; then
    redis-cli -h 127.0.0.1 -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
    say "redis stopped"
  fi
}

stop_rabbit() {
  if rabbit_up; then
    timeout "$TIMEOUT" env HOME="$HOME_FOR_RABBIT" "$RABBIT_BIN/rabbitmqctl" -q stop \
      >/dev/null 2>&1 || say "rabbitmqctl stop did not finish cleanly"
    say "rabbitmq stopped"
  fi
  epmd -kill >/dev/null 2>&1 || true
}

print_env() {  # for running the service against these servers
  echo "export VISEARCH_REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0"
  echo "export VISEARCH_BROKER_URL=amqp://guest:guest@127.0.0.1:$AMQP_PORT//"
}

print_test_env() {  # for pytest: only the `external` tests use them, nothing else changes
  echo "export VISEARCH_TEST_REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0"
  echo "export VISEARCH_TEST_BROKER_URL=amqp://guest:guest@127.0.0.1:$AMQP_PORT//"
}

case "${1:-}" in
  start) install_missing; start_redis; start_rabbit ;;
  stop) stop_rabbit; stop_redis ;;
  env) print_env ;;
  test-env) print_test_env ;;
  status)
    if redis_up; then echo "redis: up"; else echo "redis: down"; fi
    if rabbit_up; then echo "rabbitmq: up"; else echo "rabbitmq: down"; fi ;;
  # Used by tests to take one service away and bring it back.
  start-redis) start_redis ;;
  stop-redis) stop_redis ;;
  start-rabbitmq) start_rabbit ;;
  stop-rabbitmq) stop_rabbit ;;
  *) echo "usage: $0 start|stop|env|test-env|status|start-redis|stop-redis|start-rabbitmq|stop-rabbitmq" >&2
     exit 2 ;;
esac
