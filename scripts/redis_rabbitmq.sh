#!/usr/bin/env bash
# Start, stop or describe private Redis and RabbitMQ servers for the `external` tests and the
# cache/jobs benchmark: loopback only, free ports, state under one directory, bounded waits.
#
# Every instance is this script's own: `start` never reuses a server it finds listening (a
# port that is taken is an error, not an invitation), picks free ports unless told which,
# runs RabbitMQ with an epmd of its own on a port of its own (ERL_EPMD_PORT), and records
# ports and pids in the state directory. `stop` stops exactly those pids; nothing else on the
# machine (another Redis, the system's epmd on 4369, another RabbitMQ node) is touched.
#
#   scripts/redis_rabbitmq.sh start     # install when missing (apt-get), start both, wait
#   scripts/redis_rabbitmq.sh stop      # stop what `start` started (recorded pids)
#   scripts/redis_rabbitmq.sh env       # print VISEARCH_REDIS_URL / VISEARCH_BROKER_URL exports
#   scripts/redis_rabbitmq.sh test-env  # print VISEARCH_TEST_REDIS_URL / _BROKER_URL (pytest)
#   scripts/redis_rabbitmq.sh status
#   scripts/redis_rabbitmq.sh start-redis|stop-redis|start-rabbitmq|stop-rabbitmq
#       (tests take one service away and bring it back, on the same ports)
#
# Knobs (environment): VISEARCH_SERVICES_DIR (state dir, default /tmp/visearch-services; use
# one per concurrent run), VISEARCH_REDIS_PORT / VISEARCH_AMQP_PORT / VISEARCH_EPMD_PORT
# (default: free ports), VISEARCH_SERVICES_TIMEOUT (90 s).
set -euo pipefail

STATE_DIR="${VISEARCH_SERVICES_DIR:-${TMPDIR:-/tmp}/visearch-services}"
PORTS_FILE="$STATE_DIR/ports.env"
TIMEOUT="${VISEARCH_SERVICES_TIMEOUT:-90}"
RABBIT_BIN=/usr/lib/rabbitmq/bin

say() { echo "redis_rabbitmq: $*" >&2; }
die() { say "$*"; exit 1; }

port_taken() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

free_port() {  # a port nothing listens on (bound and released: the kernel's choice)
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

pick_port() {  # $1: the port asked for (may be empty)
  local port="${1:-}"
  if [ -z "$port" ]; then port="$(free_port)"; fi
  if port_taken "$port"; then
    die "port $port on 127.0.0.1 is in use by another process; not reusing it (choose another)"
  fi
  echo "$port"
}

load_ports() {
  [ -f "$PORTS_FILE" ] || die "nothing started from $STATE_DIR (run: $0 start)"
  # shellcheck disable=SC1090
  . "$PORTS_FILE"
  setup_rabbit_env
}

setup_rabbit_env() {  # every rabbitmq/erlang command runs with our node, epmd, cookie, dirs
  export RABBITMQ_NODENAME="visearch-$AMQP_PORT@localhost"
  export RABBITMQ_NODE_IP_ADDRESS="127.0.0.1"
  export RABBITMQ_NODE_PORT="$AMQP_PORT"
  export RABBITMQ_DIST_PORT="$DIST_PORT"
  export ERL_EPMD_PORT="$EPMD_PORT"
  export ERL_EPMD_ADDRESS="127.0.0.1"
  # No Erlang program here starts an epmd of its own (rabbitmqctl would, whenever ours is
  # down): the only epmd on EPMD_PORT is the one start_epmd records.
  export ERL_FLAGS="-start_epmd false"
  local base="$STATE_DIR/rabbitmq"
  export RABBITMQ_MNESIA_BASE="$base/mnesia"
  export RABBITMQ_LOG_BASE="$base/log"
  export RABBITMQ_PID_FILE="$base/rabbit.pid"
  export RABBITMQ_CONFIG_FILE="$base/rabbitmq"
  export RABBITMQ_ENABLED_PLUGINS_FILE="$base/enabled_plugins"
  export RABBITMQ_ADVANCED_CONFIG_FILE="$base/advanced.config"
  export ERL_CRASH_DUMP="$base/erl_crash.dump"
  export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
  HOME_FOR_RABBIT="$base/home"
}

rabbit() { HOME="$HOME_FOR_RABBIT" "$RABBIT_BIN/$1" "${@:2}"; }

install_missing() {
  local pkgs=()
  command -v redis-server >/dev/null 2>&1 || pkgs+=(redis-server)
  [ -x "$RABBIT_BIN/rabbitmq-server" ] || pkgs+=(rabbitmq-server)
  command -v python3 >/dev/null 2>&1 || pkgs+=(python3)
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

ours() {  # $1 pid file, $2 a word its command line must hold: is that our live process?
  local pid
  pid="$(cat "$1" 2>/dev/null || true)"
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' < "/proc/$pid/cmdline" | grep -q -- "$2"
}

stop_pid() {  # $1 pid file, $2 word: TERM our process, wait, then KILL
  ours "$1" "$2" || { rm -f "$1"; return 0; }
  local pid waited=0
  pid="$(cat "$1")"
  kill -TERM "$pid" 2>/dev/null || true
  while kill -0 "$pid" 2>/dev/null; do
    if [ "$waited" -ge "$((TIMEOUT * 5))" ]; then kill -KILL "$pid" 2>/dev/null || true; break; fi
    sleep 0.2; waited=$((waited + 1))
  done
  rm -f "$1"
}

start() {
  install_missing
  mkdir -p "$STATE_DIR"
  if [ -f "$PORTS_FILE" ]; then
    load_ports
    say "reusing the ports recorded in $PORTS_FILE"
  else
    REDIS_PORT="$(pick_port "${VISEARCH_REDIS_PORT:-}")"
    AMQP_PORT="$(pick_port "${VISEARCH_AMQP_PORT:-}")"
    DIST_PORT="$(pick_port "")"
    EPMD_PORT="$(pick_port "${VISEARCH_EPMD_PORT:-}")"
    printf 'REDIS_PORT=%s\nAMQP_PORT=%s\nDIST_PORT=%s\nEPMD_PORT=%s\n' \
      "$REDIS_PORT" "$AMQP_PORT" "$DIST_PORT" "$EPMD_PORT" > "$PORTS_FILE"
    setup_rabbit_env
  fi
  start_redis
  start_rabbit
}

redis_up() { redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG; }

start_redis() {
  local pidfile="$STATE_DIR/redis/redis.pid"
  if ours "$pidfile" "redis-server"; then say "redis (ours) already on 127.0.0.1:$REDIS_PORT"; return 0; fi
  if port_taken "$REDIS_PORT"; then die "port $REDIS_PORT is in use by another process"; fi
  mkdir -p "$STATE_DIR/redis"
  redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --protected-mode yes \
    --dir "$STATE_DIR/redis" --save "" --appendonly no --daemonize yes \
    --pidfile "$pidfile" --logfile "$STATE_DIR/redis/redis.log"
  local waited=0
  until redis_up; do
    [ "$waited" -ge "$((TIMEOUT * 5))" ] && die "redis did not answer within ${TIMEOUT}s (see $STATE_DIR/redis/redis.log)"
    sleep 0.2; waited=$((waited + 1))  # 0.2 s steps
  done
  say "redis ready on 127.0.0.1:$REDIS_PORT"
}

epmd_pidfile() { echo "$STATE_DIR/rabbitmq/epmd.pid"; }

start_epmd() {  # our own epmd on our own port, so stopping it touches no other node
  ours "$(epmd_pidfile)" "epmd" && return 0
  if port_taken "$EPMD_PORT"; then die "port $EPMD_PORT (epmd) is in use by another process"; fi
  epmd -port "$EPMD_PORT" -address 127.0.0.1 > "$RABBITMQ_LOG_BASE/epmd.log" 2>&1 < /dev/null &
  echo $! > "$(epmd_pidfile)"
  disown || true
  local waited=0
  until epmd -port "$EPMD_PORT" -names >/dev/null 2>&1; do
    [ "$waited" -ge 50 ] && die "epmd did not start on port $EPMD_PORT"
    sleep 0.1; waited=$((waited + 1))
  done
}

rabbit_up() { rabbit rabbitmq-diagnostics -q check_running --timeout 5 >/dev/null 2>&1; }

start_rabbit() {
  mkdir -p "$RABBITMQ_MNESIA_BASE" "$RABBITMQ_LOG_BASE" "$HOME_FOR_RABBIT"
  start_epmd
  if ours "$RABBITMQ_PID_FILE" "beam" && rabbit_up; then
    say "rabbitmq (ours) already running ($RABBITMQ_NODENAME)"; return 0
  fi
  if port_taken "$AMQP_PORT"; then die "port $AMQP_PORT is in use by another process"; fi
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
  say "rabbitmq ready on 127.0.0.1:$AMQP_PORT (node $RABBITMQ_NODENAME, epmd port $EPMD_PORT)"
}

stop_redis() {
  stop_pid "$STATE_DIR/redis/redis.pid" "redis-server"
  say "redis stopped (127.0.0.1:$REDIS_PORT)"
}

stop_rabbit() {
  if ours "$RABBITMQ_PID_FILE" "beam"; then
    # Our node by name through our epmd; then make sure its pid is gone.
    timeout "$TIMEOUT" env HOME="$HOME_FOR_RABBIT" "$RABBIT_BIN/rabbitmqctl" -q stop \
      >/dev/null 2>&1 || say "rabbitmqctl stop did not finish cleanly"
    stop_pid "$RABBITMQ_PID_FILE" "beam"
  fi
  stop_pid "$(epmd_pidfile)" "epmd"
  say "rabbitmq stopped (127.0.0.1:$AMQP_PORT)"
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
  start) start ;;
  stop)
    if [ -f "$PORTS_FILE" ]; then
      load_ports; stop_rabbit; stop_redis; rm -f "$PORTS_FILE"
    else
      say "nothing started from $STATE_DIR"
    fi ;;
  env) load_ports; print_env ;;
  test-env) load_ports; print_test_env ;;
  status)
    load_ports
    if ours "$STATE_DIR/redis/redis.pid" redis-server && redis_up; then echo "redis: up ($REDIS_PORT)"; else echo "redis: down"; fi
    if rabbit_up; then echo "rabbitmq: up ($AMQP_PORT)"; else echo "rabbitmq: down"; fi ;;
  start-redis) load_ports; start_redis ;;
  stop-redis) load_ports; stop_redis ;;
  start-rabbitmq) load_ports; start_rabbit ;;
  stop-rabbitmq) load_ports; stop_rabbit ;;
  *) echo "usage: $0 start|stop|env|test-env|status|start-redis|stop-redis|start-rabbitmq|stop-rabbitmq" >&2
     exit 2 ;;
esac
