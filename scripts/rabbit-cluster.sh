#!/usr/bin/env bash
# A three-node RabbitMQ cluster on this machine, beside the system broker, for
# the cluster fault suite (tests/cluster.rs) and for trying a cluster by hand.
#
#   scripts/rabbit-cluster.sh start          start the missing nodes (idempotent),
#                                            join 2 and 3 to 1 the first time
#   scripts/rabbit-cluster.sh start <n>      start node n again (after kill/stop)
#   scripts/rabbit-cluster.sh stop           stop every node it started, remove the data
#   scripts/rabbit-cluster.sh stop <n>       stop node n cleanly, keep its data
#   scripts/rabbit-cluster.sh kill <n>       kill -9 node n's Erlang VM
#   scripts/rabbit-cluster.sh status         each node: up or down, pid, port; the cluster
#   scripts/rabbit-cluster.sh urls           the AMQP URLs, comma-separated (MESA__AMQP__URL)
#   scripts/rabbit-cluster.sh leader <queue> the number of the node leading a quorum queue
#   scripts/rabbit-cluster.sh consumer <queue> the node the queue's active consumer is connected to
#   scripts/rabbit-cluster.sh ctl <n> ...    rabbitmqctl against node n
#
# Node n is mesa<n>@localhost, AMQP on 127.0.0.1:$((MESA_CLUSTER_PORT + n))
# (default 5681-5683), Erlang distribution on 25681-25683, no management plugin.
# Everything it writes is under $MESA_CLUSTER_DIR (default /tmp/mesa-rabbit-cluster):
# its own config, env file, plugins file, data, logs, pid files and a dedicated
# Erlang cookie (in the HOME the nodes and the CLI run with), so the system
# broker's files (/etc/rabbitmq, /var/lib/rabbitmq) are neither read nor touched.
# It only ever signals the pids it recorded for its own nodes.
set -euo pipefail

DIR="${MESA_CLUSTER_DIR:-/tmp/mesa-rabbit-cluster}"
BASE_PORT="${MESA_CLUSTER_PORT:-5680}"
NODOS=(1 2 3)

# The Debian wrapper in /usr/sbin switches to the rabbitmq user and reads the
# system's env file; the real scripts sit behind it.
sbin="$(command -v rabbitmq-server || true)"
[ -n "$sbin" ] || { echo "rabbitmq-server is not installed" >&2; exit 1; }
BIN="/usr/lib/rabbitmq/bin"
[ -x "$BIN/rabbitmq-server" ] || BIN="$(dirname "$(readlink -f "$sbin")")"

nombre() { echo "mesa$1@localhost"; }
puerto() { echo $((BASE_PORT + $1)); }
dir_nodo() { echo "$DIR/n$1"; }

preparar() {
  mkdir -p "$DIR/home"
  local galleta="$DIR/home/.erlang.cookie"
  if [ ! -s "$galleta" ]; then
    # Dedicated cookie: the cluster never shares a secret with the system broker.
    head -c 30 /dev/urandom | od -An -tx1 | tr -d ' \n' | tr 'a-f' 'A-F' >"$galleta"
    chmod 400 "$galleta"
  fi
  # An empty env file instead of /etc/rabbitmq/rabbitmq-env.conf (which pins
  # the system node's name).
  : >"$DIR/rabbitmq-env.conf"
  echo '[].' >"$DIR/enabled_plugins"
}

# The environment every rabbitmq script gets for node n.
entorno() {
  local n=$1 d
  d="$(dir_nodo "$n")"
  mkdir -p "$d/log"
  if [ ! -f "$d/rabbitmq.conf" ]; then
    cat >"$d/rabbitmq.conf" <<EOF
listeners.tcp.1 = 127.0.0.1:$(puerto "$n")
loopback_users = none
# Three nodes and the system broker share a small machine.
vm_memory_high_watermark.relative = 0.2
disk_free_limit.absolute = 50MB
EOF
  fi
  export HOME="$DIR/home"
  export RABBITMQ_CONF_ENV_FILE="$DIR/rabbitmq-env.conf"
  export RABBITMQ_NODENAME
  RABBITMQ_NODENAME="$(nombre "$n")"
  export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
  export RABBITMQ_NODE_PORT
  RABBITMQ_NODE_PORT="$(puerto "$n")"
  export RABBITMQ_DIST_PORT=$((20000 + RABBITMQ_NODE_PORT))
  export RABBITMQ_CONFIG_FILE="$d/rabbitmq.conf"
  export RABBITMQ_ADVANCED_CONFIG_FILE="$d/advanced.config"
  export RABBITMQ_ENABLED_PLUGINS_FILE="$DIR/enabled_plugins"
  export RABBITMQ_MNESIA_BASE="$d/mnesia"
  export RABBITMQ_LOG_BASE="$d/log"
  export RABBITMQ_PID_FILE="$d/pid"
  export ERL_EPMD_ADDRESS=127.0.0.1
  # Distribution only on loopback, as the system broker's.
  export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
}

ctl() {
  local n=$1
  shift
  (entorno "$n" && "$BIN/rabbitmqctl" -q -n "$(nombre "$n")" "$@")
}

pid_de() {
  local f
  f="$(dir_nodo "$1")/pid"
  [ -s "$f" ] && cat "$f"
}

# The recorded pid is alive and is the Erlang VM started for node n (3.10
# names the node at run time, so the name is in its environment, not its
# command line): a stale pid file never gets another process signalled.
vivo() {
  local pid
  pid="$(pid_de "$1")" || return 1
  [ -r "/proc/$pid/environ" ] && tr '\0' '\n' <"/proc/$pid/environ" | grep -qx -- "RABBITMQ_NODENAME=$(nombre "$1")"
}

responde() { ctl "$1" status >/dev/null 2>&1; }

en_cluster() {
  # Node n lists node 1 among the cluster's disc nodes.
  ctl "$1" cluster_status --formatter json 2>/dev/null | grep -q "\"$(nombre 1)\""
}

arrancar() {
  local n=$1
  if vivo "$n" && responde "$n"; then
    return 0
  fi
  rm -f "$(dir_nodo "$n")/pid"
  echo "starting $(nombre "$n") on 127.0.0.1:$(puerto "$n")"
  (entorno "$n" && cd "$DIR" && "$BIN/rabbitmq-server" -detached)
  # -detached returns at once: wait for the pid file, then for the app.
  local i
  for i in $(seq 1 120); do
    [ -s "$(dir_nodo "$n")/pid" ] && break
    sleep 0.5
  done
  if ! ctl "$n" await_startup --timeout 120 >/dev/null; then
    echo "$(nombre "$n") did not start; its log: $(dir_nodo "$n")/log" >&2
    exit 1
  fi
}

unir() {
  local n=$1
  [ "$n" = 1 ] && return 0
  en_cluster "$n" && return 0
  echo "joining $(nombre "$n") to $(nombre 1)"
  ctl "$n" stop_app
  ctl "$n" join_cluster "$(nombre 1)"
  ctl "$n" start_app
  ctl "$n" await_startup --timeout 120 >/dev/null
}

parar_nodo() {
  local n=$1 pid
  pid="$(pid_de "$n")" || return 0
  if vivo "$n"; then
    echo "stopping $(nombre "$n")"
    ctl "$n" stop >/dev/null 2>&1 || true
    local i
    for i in $(seq 1 60); do
      vivo "$n" || break
      sleep 0.5
    done
    if vivo "$n"; then kill -9 "$pid" 2>/dev/null || true; fi
  fi
  rm -f "$(dir_nodo "$n")/pid"
}

numero() {
  case "${1:-}" in
    1 | 2 | 3) ;;
    *) echo "node number 1, 2 or 3 expected, got '${1:-}'" >&2; exit 64 ;;
  esac
}

accion="${1:-}"
shift || true
case "$accion" in
  start)
    preparar
    if [ $# -gt 0 ]; then
      numero "$1"
      arrancar "$1"
      # A node that was killed before it ever joined (or whose data was lost)
      # joins now; one that was a member rejoins from its own data.
      unir "$1"
    else
      for n in "${NODOS[@]}"; do arrancar "$n"; done
      for n in "${NODOS[@]}"; do unir "$n"; done
      ctl 1 await_online_nodes 3 --timeout 120 >/dev/null
    fi
    ;;
  stop)
    if [ $# -gt 0 ]; then
      numero "$1"
      parar_nodo "$1"
    else
      # Reverse order, then the data goes: the next start is a fresh cluster
      # (and mnesia never waits for a peer that is not coming back).
      for n in 3 2 1; do parar_nodo "$n"; done
      rm -rf "$DIR"
    fi
    ;;
  kill)
    numero "${1:-}"
    pid="$(pid_de "$1")" || { echo "$(nombre "$1") has no pid file" >&2; exit 1; }
    vivo "$1" || { echo "$(nombre "$1") is not running" >&2; exit 1; }
    kill -9 "$pid"
    while [ -e "/proc/$pid" ]; do sleep 0.1; done
    rm -f "$(dir_nodo "$1")/pid"
    echo "killed $(nombre "$1") (pid $pid)"
    ;;
  status)
    for n in "${NODOS[@]}"; do
      if vivo "$n"; then
        estado="up (pid $(pid_de "$n"))"
        responde "$n" || estado="$estado, not answering"
      else
        estado="down"
      fi
      echo "$(nombre "$n")  127.0.0.1:$(puerto "$n")  $estado"
    done
    for n in "${NODOS[@]}"; do
      if vivo "$n" && responde "$n"; then
        printf 'running nodes, as %s sees them: ' "$(nombre "$n")"
        ctl "$n" cluster_status | sed 's/\x1b\[[0-9;]*m//g' | sed -n '/^Running Nodes/,/^Versions/p' | grep '@' | tr '\n' ' '
        echo
        break
      fi
    done
    ;;
  urls)
    urls=""
    for n in "${NODOS[@]}"; do urls="${urls:+$urls,}amqp://guest:guest@127.0.0.1:$(puerto "$n")/%2f"; done
    echo "$urls"
    ;;
  leader)
    cola="${1:?queue name expected}"
    for n in "${NODOS[@]}"; do
      if vivo "$n" && responde "$n"; then
        lider="$(ctl "$n" list_queues name leader 2>/dev/null | awk -v q="$cola" '$1 == q {print $2}')"
        case "$lider" in
          mesa[123]@localhost) echo "${lider:4:1}"; exit 0 ;;
        esac
      fi
    done
    echo "no leader known for $cola" >&2
    exit 1
    ;;
  consumer)
    # The node holding the channel of the queue's active consumer (with single
    # active consumer, the replica that consumes): the pid names its node.
    cola="${1:?queue name expected}"
    for n in "${NODOS[@]}"; do
      if vivo "$n" && responde "$n"; then
        canal="$(ctl "$n" list_consumers queue_name channel_pid active 2>/dev/null |
          awk -v q="$cola" '$1 == q && $3 == "true" {print $2; exit}')"
        case "$canal" in
          "<mesa"[123]"@localhost."*) echo "${canal:5:1}"; exit 0 ;;
        esac
      fi
    done
    echo "no active consumer known for $cola" >&2
    exit 1
    ;;
  ctl)
    numero "${1:-}"
    n=$1
    shift
    ctl "$n" "$@"
    ;;
  *)
    sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2
    exit 64
    ;;
esac
