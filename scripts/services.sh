#!/usr/bin/env bash
# Local services without Docker: Apache Kafka (KRaft, jars from Maven Central), Redis and
# Prometheus (Debian packages), all on loopback with non-default ports.
#
#   scripts/services.sh up       start whatever is not running yet (idempotent)
#   scripts/services.sh down     stop everything this script started (repeatable)
#   scripts/services.sh status   one line per service
#   scripts/services.sh env      print the export lines of .local/services.env
#
# Environment:
#   KAFKA_NODES=1|3        single combined node (default) or a 3-node KRaft cluster
#   KAFKA_VERSION, LOG4J_VERSION   Maven artifacts (defaults 4.1.1 / 2.24.3, a matching pair)
#   SERVICES_TIMEOUT_S     readiness timeout per service (default 120)
#
# State, data and logs live under .local/ (git-ignored): .local/kafka, .local/redis,
# .local/prometheus, .local/logs; .local/services.env holds the addresses.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LOCAL="$ROOT/.local"
LOGS="$LOCAL/logs"
ENV_FILE="$LOCAL/services.env"

KAFKA_NODES="${KAFKA_NODES:-1}"
KAFKA_VERSION="${KAFKA_VERSION:-4.1.1}"
LOG4J_VERSION="${LOG4J_VERSION:-2.24.3}"
TIMEOUT_S="${SERVICES_TIMEOUT_S:-120}"

KAFKA_DIR="$LOCAL/kafka"
KAFKA_LIB="$KAFKA_DIR/lib"
KAFKA_BASE_PORT=19092 # node N: client 19092+2(N-1), controller 19093+2(N-1)
REDIS_PORT=16379
REDIS_DIR="$LOCAL/redis"
PROM_PORT=19090
PROM_DIR="$LOCAL/prometheus"
PROM_CONFIG="$ROOT/deploy/prometheus/prometheus.yml"

log() { printf '[services] %s\n' "$*" >&2; }
die() {
    printf '[services] ERROR: %s\n' "$*" >&2
    exit 1
}

kafka_port() { echo $((KAFKA_BASE_PORT + 2 * ($1 - 1))); }
controller_port() { echo $((KAFKA_BASE_PORT + 1 + 2 * ($1 - 1))); }

# True when something accepts TCP connections on 127.0.0.1:$1.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# True when the pid in file $1 is alive and its command line contains $2 (guards against
# a recycled pid after a reboot or a crash).
pid_alive() {
    local pidfile="$1" marker="$2" pid
    [[ -f "$pidfile" ]] || return 1
    pid="$(cat "$pidfile")"
    [[ -n "$pid" && -r "/proc/$pid/cmdline" ]] || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$marker"
}

# Runs a command in its own session (it outlives the shell and make that started it) and
# records its pid. A pid file left by a run before a reboot is removed first, and the new one
# appears whole (written aside, then renamed), so a start-up check never judges a stale or
# half-written pid.
start_detached() {
    local pidfile="$1" logfile="$2"
    shift 2
    rm -f "$pidfile"
    setsid bash -c 'echo $$ >"$1.tmp" && mv -f "$1.tmp" "$1"; shift; exec "$@"' _ "$pidfile" "$@" \
        </dev/null >"$logfile" 2>&1 &
}

# --------------------------------------------------------------------------- prerequisites

# Installs missing tools with apt when root; otherwise names them and stops.
ensure_tools() {
    local missing=() pkgs=()
    command -v java >/dev/null || { missing+=(java); pkgs+=(default-jre-headless); }
    command -v mvn >/dev/null || { missing+=(mvn); pkgs+=(maven); }
    command -v redis-server >/dev/null || { missing+=(redis-server); pkgs+=(redis-server); }
    command -v redis-cli >/dev/null || { missing+=(redis-cli); pkgs+=(redis-tools); }
    command -v prometheus >/dev/null || { missing+=(prometheus); pkgs+=(prometheus); }
    command -v promtool >/dev/null || { missing+=(promtool); pkgs+=(prometheus); }
    command -v curl >/dev/null || { missing+=(curl); pkgs+=(curl); }
    ((${#missing[@]} == 0)) && return 0
    if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null; then
        # shellcheck disable=SC2207
        pkgs=($(printf '%s\n' "${pkgs[@]}" | sort -u))
        log "installing with apt: ${pkgs[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >"$LOGS/apt-install.log" 2>&1 ||
            die "apt-get install ${pkgs[*]} failed; see $LOGS/apt-install.log"
        # The Debian packages may start their own daemons on the default ports (6379, 9090);
        # ours use other ports, so they do not get in the way.
    else
        die "missing tools: ${missing[*]}. Install them (Debian/Ubuntu: sudo apt-get install ${pkgs[*]}; Java must be 17 or newer) and run again."
    fi
}

check_java() {
    local v
    v="$(java -XshowSettings:properties -version 2>&1 | awk -F'= ' '/java.specification.version/ {print $2}')"
    [[ "${v%%.*}" -ge 17 ]] || die "Kafka 4.x needs Java 17 or newer; found Java $v"
}

# Copies kafka_2.13 and the log4j binding into .local/kafka/lib once per version pair
# (~/.m2 caches the downloads across clones).
ensure_kafka_jars() {
    local want="kafka=$KAFKA_VERSION log4j=$LOG4J_VERSION"
    if [[ -f "$KAFKA_LIB/.versions" && "$(cat "$KAFKA_LIB/.versions")" == "$want" ]]; then
        return 0
    fi
    log "fetching Kafka $KAFKA_VERSION jars from Maven Central into $KAFKA_LIB"
    rm -rf "$KAFKA_LIB"
    mkdir -p "$KAFKA_LIB"
    mvn -B -q -f "$ROOT/deploy/kafka/pom.xml" \
        "-Dkafka.version=$KAFKA_VERSION" "-Dlog4j.version=$LOG4J_VERSION" \
        org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies \
        "-DoutputDirectory=$KAFKA_LIB" -DincludeScope=runtime \
        >"$LOGS/maven.log" 2>&1 || die "Maven could not fetch the Kafka jars; see $LOGS/maven.log"
    echo "$want" >"$KAFKA_LIB/.versions"
}

# ------------------------------------------------------------------------------------ Kafka

KAFKA_JAVA=(java -Xms512m -Xmx512m -XX:+UseG1GC -Djava.awt.headless=true
    "-Dlog4j2.configurationFile=$ROOT/deploy/kafka/log4j2.properties"
    "-Dkafka.logs.dir=$LOGS" -cp "$KAFKA_LIB/*")
kafka_java() { "${KAFKA_JAVA[@]}" "$@"; }

# The topology that is running (node count), or empty.
running_topology() {
    local n
    for n in 1 2 3; do
        if pid_alive "$KAFKA_DIR/node$n.pid" "$KAFKA_DIR/"; then
            cat "$KAFKA_DIR/topology" 2>/dev/null || echo 1
            return 0
        fi
    done
}

write_server_properties() {
    local node="$1" nodes="$2" conf="$3" data="$4" voters="" rf isr i
    for ((i = 1; i <= nodes; i++)); do
        voters+="${voters:+,}$i@127.0.0.1:$(controller_port "$i")"
    done
    if ((nodes >= 3)); then rf=3 isr=2; else rf=1 isr=1; fi
    cat >"$conf" <<EOF
# Generated by scripts/services.sh (KAFKA_NODES=$nodes); edits are overwritten.
process.roles=broker,controller
node.id=$node
controller.quorum.voters=$voters
listeners=PLAINTEXT://127.0.0.1:$(kafka_port "$node"),CONTROLLER://127.0.0.1:$(controller_port "$node")
advertised.listeners=PLAINTEXT://127.0.0.1:$(kafka_port "$node"),CONTROLLER://127.0.0.1:$(controller_port "$node")
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$data
offsets.topic.replication.factor=$rf
transaction.state.log.replication.factor=$rf
transaction.state.log.min.isr=$isr
share.coordinator.state.topic.replication.factor=$rf
share.coordinator.state.topic.min.isr=$isr
default.replication.factor=$rf
min.insync.replicas=$isr
num.partitions=1
auto.create.topics.enable=true
group.initial.rebalance.delay.ms=0
offsets.topic.num.partitions=3
transaction.state.log.num.partitions=3
num.network.threads=2
num.io.threads=4
log.retention.hours=24
EOF
}

kafka_up() {
    local nodes="$KAFKA_NODES"
    ensure_kafka_jars

    # Each topology keeps its own data (same ports, different quorum): .local/kafka/n1, n3.
    local cluster="$KAFKA_DIR/n$nodes" i
    mkdir -p "$cluster"
    if [[ ! -s "$cluster/cluster-id" ]]; then
        kafka_java kafka.tools.StorageTool random-uuid >"$cluster/cluster-id.tmp" 2>"$LOGS/kafka-format.log" ||
            die "could not create a cluster id; see $LOGS/kafka-format.log"
        tail -n 1 "$cluster/cluster-id.tmp" >"$cluster/cluster-id"
        rm -f "$cluster/cluster-id.tmp"
    fi
    local cid
    cid="$(cat "$cluster/cluster-id")"
    echo "$nodes" >"$KAFKA_DIR/topology"

    local started=()
    for ((i = 1; i <= nodes; i++)); do
        local conf="$cluster/node$i.properties" data="$cluster/node$i-data"
        local pidfile="$KAFKA_DIR/node$i.pid" logfile="$LOGS/kafka-$i.log"
        write_server_properties "$i" "$nodes" "$conf" "$data"
        if pid_alive "$pidfile" "$KAFKA_DIR/"; then
            continue
        fi
        if port_open "$(kafka_port "$i")" || port_open "$(controller_port "$i")"; then
            die "port $(kafka_port "$i") or $(controller_port "$i") is taken by a process this script did not start"
        fi
        # Format once; a restart reuses the storage (and so the topics and offsets).
        if [[ ! -f "$data/meta.properties" ]]; then
            kafka_java kafka.tools.StorageTool format -t "$cid" -c "$conf" \
                >>"$LOGS/kafka-format.log" 2>&1 ||
                die "formatting $data failed; see $LOGS/kafka-format.log"
        fi
        [[ -f "$logfile" ]] && mv -f "$logfile" "$logfile.prev"
        log "starting Kafka node $i on 127.0.0.1:$(kafka_port "$i") (controller $(controller_port "$i"))"
        start_detached "$pidfile" "$logfile" "${KAFKA_JAVA[@]}" kafka.Kafka "$conf"
        started+=("$i")
    done

    # The nodes of a cluster need each other to elect a controller: wait for all together.
    for i in "${started[@]}"; do
        wait_kafka_node "$i"
    done
}

wait_kafka_node() {
    local i="$1" port logfile="$LOGS/kafka-$1.log" deadline=$((SECONDS + TIMEOUT_S))
    port="$(kafka_port "$i")"
    while ((SECONDS < deadline)); do
        # Give the wrapper a moment to write the pid file before judging the process dead.
        if [[ -f "$KAFKA_DIR/node$i.pid" ]] && ! pid_alive "$KAFKA_DIR/node$i.pid" "$KAFKA_DIR/"; then
            tail -n 20 "$logfile" >&2 || true
            die "Kafka node $i exited during start-up; see $logfile"
        fi
        if port_open "$port" && grep -q 'Kafka Server started' "$logfile" 2>/dev/null; then
            log "Kafka node $i ready"
            return 0
        fi
        sleep 0.5
    done
    die "Kafka node $i not ready after ${TIMEOUT_S}s (port $port, log line 'Kafka Server started'); see $logfile"
}

# Stops every node at once: stopping them one by one would leave the last ones waiting for
# a quorum that is already gone.
kafka_down() {
    local pids=() pid n
    for n in 1 2 3; do
        if pid_alive "$KAFKA_DIR/node$n.pid" "$KAFKA_DIR/"; then
            pid="$(cat "$KAFKA_DIR/node$n.pid")"
            log "stopping Kafka node $n (pid $pid)"
            kill -TERM "$pid" 2>/dev/null || true
            pids+=("$pid")
        fi
    done
    stop_wait 30 "${pids[@]}"
    for n in 1 2 3; do rm -f "$KAFKA_DIR/node$n.pid"; done
}

# Waits up to $1 seconds for the pids to exit, then kills what is left.
stop_wait() {
    local limit="$1" deadline pid alive
    shift
    (($# == 0)) && return 0
    deadline=$((SECONDS + limit))
    while ((SECONDS < deadline)); do
        alive=0
        for pid in "$@"; do kill -0 "$pid" 2>/dev/null && alive=1; done
        ((alive == 0)) && return 0
        sleep 0.5
    done
    for pid in "$@"; do
        if kill -0 "$pid" 2>/dev/null; then
            log "pid $pid did not stop within ${limit}s; killing it"
            kill -KILL "$pid" 2>/dev/null || true
        fi
    done
}

# ------------------------------------------------------------------------------------ Redis

redis_up() {
    local pidfile="$REDIS_DIR/redis.pid" logfile="$LOGS/redis.log"
    mkdir -p "$REDIS_DIR"
    if pid_alive "$pidfile" "redis-server"; then return 0; fi
    port_open "$REDIS_PORT" && die "port $REDIS_PORT is taken by a process this script did not start"
    log "starting Redis on 127.0.0.1:$REDIS_PORT"
    # A cache of derived KPIs: no persistence, nothing to restore.
    redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no \
        --daemonize yes --pidfile "$pidfile" --logfile "$logfile" --dir "$REDIS_DIR" \
        || die "redis-server did not start; see $logfile"
    local deadline=$((SECONDS + TIMEOUT_S))
    while ((SECONDS < deadline)); do
        if [[ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" == PONG ]]; then
            log "Redis ready"
            return 0
        fi
        sleep 0.2
    done
    die "Redis did not answer PING within ${TIMEOUT_S}s; see $logfile"
}

# Stop the process of pidfile $2 (command line containing $3), named $1, within $4 seconds.
stop_pidfile() {
    local name="$1" pidfile="$2" marker="$3" timeout_s="$4" pid
    if pid_alive "$pidfile" "$marker"; then
        pid="$(cat "$pidfile")"
        log "stopping $name (pid $pid)"
        kill -TERM "$pid" 2>/dev/null || true
        stop_wait "$timeout_s" "$pid"
    fi
    rm -f "$pidfile"
}

redis_down() {
    stop_pidfile Redis "$REDIS_DIR/redis.pid" redis-server 10
}

# ------------------------------------------------------------------------------- Prometheus

prometheus_up() {
    local pidfile="$PROM_DIR/prometheus.pid" logfile="$LOGS/prometheus.log"
    mkdir -p "$PROM_DIR/data"
    promtool check config "$PROM_CONFIG" >"$LOGS/promtool.log" 2>&1 ||
        die "invalid $PROM_CONFIG; see $LOGS/promtool.log"
    if pid_alive "$pidfile" "$PROM_DIR/"; then
        # Already running: pick up configuration and rule changes made since it started.
        curl -fsS -o /dev/null -X POST "http://127.0.0.1:$PROM_PORT/-/reload" ||
            log "Prometheus did not reload its configuration; see $logfile"
        return 0
    fi
    port_open "$PROM_PORT" && die "port $PROM_PORT is taken by a process this script did not start"
    [[ -f "$logfile" ]] && mv -f "$logfile" "$logfile.prev"
    log "starting Prometheus on 127.0.0.1:$PROM_PORT"
    start_detached "$pidfile" "$logfile" \
        prometheus "--config.file=$PROM_CONFIG" "--storage.tsdb.path=$PROM_DIR/data" \
        "--web.listen-address=127.0.0.1:$PROM_PORT" --web.enable-lifecycle \
        --storage.tsdb.retention.time=2d
    local deadline=$((SECONDS + TIMEOUT_S))
    while ((SECONDS < deadline)); do
        if [[ -f "$pidfile" ]] && ! pid_alive "$pidfile" "$PROM_DIR/"; then
            tail -n 20 "$logfile" >&2 || true
            die "Prometheus exited during start-up; see $logfile"
        fi
        if curl -fsS -o /dev/null "http://127.0.0.1:$PROM_PORT/-/ready" 2>/dev/null; then
            log "Prometheus ready"
            return 0
        fi
        sleep 0.3
    done
    die "Prometheus not ready within ${TIMEOUT_S}s (/-/ready); see $logfile"
}

prometheus_down() {
    stop_pidfile Prometheus "$PROM_DIR/prometheus.pid" "$PROM_DIR/" 20
}

# ----------------------------------------------------------------------------------- driver

bootstrap_list() {
    local nodes="$1" out="" i
    for ((i = 1; i <= nodes; i++)); do out+="${out:+,}127.0.0.1:$(kafka_port "$i")"; done
    echo "$out"
}

write_env() {
    cat >"$ENV_FILE" <<EOF
export KAFKA_BOOTSTRAP=$(bootstrap_list "$KAFKA_NODES")
export REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0
export PROMETHEUS_URL=http://127.0.0.1:$PROM_PORT
EOF
}

check_topology() {
    local running
    [[ "$KAFKA_NODES" == 1 || "$KAFKA_NODES" == 3 ]] || die "KAFKA_NODES must be 1 or 3 (got $KAFKA_NODES)"
    running="$(running_topology)"
    if [[ -n "$running" && "$running" != "$KAFKA_NODES" ]]; then
        die "a $running-node Kafka cluster is running; run 'make services-down' before starting KAFKA_NODES=$KAFKA_NODES"
    fi
}

cmd_up() {
    check_topology
    mkdir -p "$LOGS" "$KAFKA_DIR"
    ensure_tools
    check_java
    redis_up
    prometheus_up
    kafka_up
    write_env
    log "services are up; addresses (also in ${ENV_FILE#"$ROOT"/}):"
    cat "$ENV_FILE"
}

cmd_down() {
    kafka_down
    prometheus_down
    redis_down
    rm -f "$ENV_FILE"
    log "services are down"
}

cmd_status() {
    local n pidfile nodes rc=0
    nodes="$(running_topology)"
    for n in 1 2 3; do
        pidfile="$KAFKA_DIR/node$n.pid"
        if pid_alive "$pidfile" "$KAFKA_DIR/"; then
            printf '%-12s up    127.0.0.1:%s  pid %s  (%s-node cluster)  log .local/logs/kafka-%s.log\n' \
                "kafka-$n" "$(kafka_port "$n")" "$(cat "$pidfile")" "$nodes" "$n"
        elif [[ $n == 1 || -n "$nodes" && $n -le $nodes ]]; then
            printf '%-12s down  127.0.0.1:%s\n' "kafka-$n" "$(kafka_port "$n")"
            rc=1
        fi
    done
    if pid_alive "$REDIS_DIR/redis.pid" redis-server; then
        printf '%-12s up    127.0.0.1:%s  pid %s\n' redis "$REDIS_PORT" "$(cat "$REDIS_DIR/redis.pid")"
    else
        printf '%-12s down  127.0.0.1:%s\n' redis "$REDIS_PORT"
        rc=1
    fi
    if pid_alive "$PROM_DIR/prometheus.pid" "$PROM_DIR/"; then
        printf '%-12s up    127.0.0.1:%s  pid %s\n' prometheus "$PROM_PORT" "$(cat "$PROM_DIR/prometheus.pid")"
    else
        printf '%-12s down  127.0.0.1:%s\n' prometheus "$PROM_PORT"
        rc=1
    fi
    return "$rc"
}

case "${1:-}" in
up) cmd_up ;;
down) cmd_down ;;
status) cmd_status ;;
env) cat "$ENV_FILE" 2>/dev/null || die "no $ENV_FILE: run 'make services'" ;;
*)
    echo "usage: $0 up|down|status|env" >&2
    exit 2
    ;;
esac
