#!/usr/bin/env bash
# scripts/bench.sh: sol against Mosquitto on this machine, side by side, in one run.
#
# Called by `make bench` (after the in-process Go benchmarks). Installs nothing:
# it needs mosquitto (apt-get install mosquitto), taskset (util-linux) and Go.
# Each broker is started fresh for every run on a loopback port with comparable
# settings (no persistence, raised inflight and queue limits, written below),
# pinned to CPU 0; the load generator (scripts/mqload) is pinned to CPU 1. The
# brokers alternate run by run, every scenario is repeated BENCH_REPS times
# (default 3; the latency scenario at least 7), and the end is a Markdown
# table of medians with sol/Mosquitto twice: the ratio of the medians and
# the median of the back-to-back pairs' ratios (sturdier when the machine
# has a burst of noise).
# "sol 2 loops" is sol with loops = 2 and no pinning (sharing CPU 1 with the
# load), measured in the throughput scenarios. "relay" is scripts/relay, a raw
# epoll byte relay moving the same fan-in/fan-out stream without MQTT.
# The "loop scaling" scenarios run sol with 1 and 2 loops only, on 10 times
# the fan-in messages: at sol's speed a run of the standard fan-in lasts
# well under 0.1 s, mostly start-up (connections, the first GC cycles,
# buffers growing), which is not what a second loop is for.
#
# Environment:
#   BENCH_QUICK=1      smoke version: one repetition, small counts (about a minute)
#   BENCH_REPS=n       repetitions (default 3; 1 with BENCH_QUICK)
#   BENCH_SOL2=0       leave out the "sol 2 loops" column
#   BENCH_RESULTS=f    where the JSON lines of every run go (default /tmp/sol-bench-<time>.jsonl)
#   BENCH_PORT=n       first of four loopback ports (default 28830; moves up by 10 while one is taken)
#
# Every mqload run checks that each message its QoS promised arrived; the
# "promises broken" column counts QoS 1/2 messages lost or not delivered by the
# timeout, and QoS 2 duplicates (0 is the only good value).
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
START=$(date +%s)
QUICK=${BENCH_QUICK:-0}
if [ "$QUICK" = 1 ]; then REPS=${BENCH_REPS:-1}; else REPS=${BENCH_REPS:-3}; fi
SOL2=${BENCH_SOL2:-1}
PORT0=${BENCH_PORT:-28830}
GO=${GO:-go}

say() { printf '%s\n' "$*" >&2; }

if ! command -v mosquitto >/dev/null 2>&1; then
	say "bench: mosquitto is not installed; install it with: apt-get install mosquitto"
	say "bench: (nothing is installed silently; sol is compared with Mosquitto or not at all)"
	exit 1
fi
if ! command -v taskset >/dev/null 2>&1; then
	say "bench: taskset is missing; install util-linux"
	exit 1
fi
NCPU=$(nproc)
if [ "$NCPU" -ge 2 ]; then
	BROKER_CPU=0 LOAD_CPU=1
else
	BROKER_CPU=0 LOAD_CPU=0
	say "bench: only one CPU: brokers and load share it, numbers are not comparable with the README"
fi

# port_busy PORT: something accepts connections on 127.0.0.1:PORT.
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Pick four consecutive free ports from PORT0 on: another process listening on
# one of them would be measured in place of the broker we started.
for try in $(seq 0 19); do
	free=1
	for p in $PORT0 $((PORT0 + 1)) $((PORT0 + 2)) $((PORT0 + 3)); do
		if port_busy "$p"; then free=0; fi
	done
	[ "$free" = 1 ] && break
	PORT0=$((PORT0 + 10))
done
if [ "$free" != 1 ]; then
	say "bench: no four free loopback ports from ${BENCH_PORT:-28830} on; set BENCH_PORT"
	exit 1
fi
SOL_PORT=$PORT0 MOSQ_PORT=$((PORT0 + 1)) RELAY_IN=$((PORT0 + 2)) RELAY_OUT=$((PORT0 + 3))
say "bench: loopback ports: sol $SOL_PORT, mosquitto $MOSQ_PORT, relay $RELAY_IN/$RELAY_OUT"

# File descriptors: each idle connection costs one in the broker and one in mqload.
ulimit -n 200000 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
FDS=$(ulimit -n)

WORK=$(mktemp -d /tmp/solbench.XXXXXX)
chmod 755 "$WORK" # mosquitto started as root drops to its own user and must read its config
RESULTS=${BENCH_RESULTS:-/tmp/sol-bench-$(date +%Y%m%d-%H%M%S).jsonl}
: >"$RESULTS"
BPID=""
cleanup() {
	if [ -n "$BPID" ]; then kill "$BPID" 2>/dev/null || true; fi
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say "bench: building mqload, relay and sol"
$GO build -o "$WORK/mqload" ./scripts/mqload
$GO build -o "$WORK/relay" ./scripts/relay
HAVE_SOL=1
# Built as `make build` builds it (static, stripped).
if ! CGO_ENABLED=0 $GO build -trimpath -ldflags "-s -w" -o "$WORK/sol" . 2>"$WORK/sol-build.log"; then
	HAVE_SOL=0
	say "bench: sol does not build yet (go build . failed, first lines below); skipping sol's columns, measuring Mosquitto and the relay only"
	head -5 "$WORK/sol-build.log" >&2
fi

# Mosquitto keeps its own default for set_tcp_nodelay (false: Nagle on), which
# is what its users run and its faster setting for throughput here: measured
# 134k against 97k msg/s with set_tcp_nodelay true in fan-in QoS 0.
cat >"$WORK/mosquitto.conf" <<EOF
listener $MOSQ_PORT 127.0.0.1
allow_anonymous true
persistence false
max_inflight_messages 1000
max_queued_messages 1000000
max_queued_bytes 0
max_connections -1
sys_interval 0
log_dest stderr
log_type error
EOF
sol_conf() { # $1: loops
	cat <<EOF
log_level = "error"
loops = $1
max_connections = 0
max_inflight_messages = 1000
max_queued_messages = 1000000
max_queued_bytes = 0
stats_publish_interval = "0s"
allow_anonymous = true

[[listener]]
address = "127.0.0.1:$SOL_PORT"
EOF
}
sol_conf 1 >"$WORK/sol.conf"
sol_conf 2 >"$WORK/sol2.conf"
chmod 644 "$WORK"/*.conf

# wait_port PORT PID: poll until something accepts on PORT (5 s), or the process died.
wait_port() {
	local i
	for i in $(seq 1 500); do
		if ! kill -0 "$2" 2>/dev/null; then return 1; fi
		if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
		sleep 0.01
	done
	return 1
}

# start NAME: start a fresh broker (sol, sol2, mosquitto, relay); sets BPID and BPORT.
start() {
	local port i
	case $1 in sol | sol2) port=$SOL_PORT ;; mosquitto) port=$MOSQ_PORT ;; relay) port=$RELAY_IN ;; esac
	# The previous broker has exited; anything still listening is someone else's.
	for i in $(seq 1 300); do
		port_busy "$port" || break
		sleep 0.01
	done
	if port_busy "$port"; then
		say "bench: 127.0.0.1:$port is taken by another process; not starting $1 (set BENCH_PORT)"
		return 1
	fi
	case $1 in
	sol)
		BPORT=$SOL_PORT
		taskset -c "$BROKER_CPU" "$WORK/sol" -c "$WORK/sol.conf" 2>>"$WORK/sol.log" &
		;;
	sol2)
		BPORT=$SOL_PORT
		"$WORK/sol" -c "$WORK/sol2.conf" 2>>"$WORK/sol.log" &
		;;
	mosquitto)
		BPORT=$MOSQ_PORT
		taskset -c "$BROKER_CPU" mosquitto -c "$WORK/mosquitto.conf" 2>>"$WORK/mosquitto.log" &
		;;
	relay)
		BPORT=$RELAY_IN
		taskset -c "$BROKER_CPU" "$WORK/relay" -in "127.0.0.1:$RELAY_IN" -out "127.0.0.1:$RELAY_OUT" 2>>"$WORK/relay.log" &
		;;
	esac
	BPID=$!
	if ! wait_port "$BPORT" "$BPID"; then
		say "bench: $1 did not start listening on 127.0.0.1:$BPORT; its log:"
		tail -5 "$WORK/$([ "$1" = sol2 ] && echo sol || echo "$1").log" >&2 || true
		stop
		return 1
	fi
	if command -v ss >/dev/null 2>&1 && ! ss -Hltnp "sport = :$BPORT" | grep -q "pid=$BPID,"; then
		say "bench: 127.0.0.1:$BPORT answers, but not from $1 (pid $BPID): another process took the port"
		stop
		return 1
	fi
}

stop() {
	local i
	[ -n "$BPID" ] || return 0
	kill -TERM "$BPID" 2>/dev/null || true
	for i in $(seq 1 500); do
		kill -0 "$BPID" 2>/dev/null || break
		sleep 0.01
	done
	kill -KILL "$BPID" 2>/dev/null || true
	wait "$BPID" 2>/dev/null || true
	BPID=""
}

# Check once that sol starts at all before counting on it.
if [ "$HAVE_SOL" = 1 ]; then
	if start sol; then
		stop
	else
		HAVE_SOL=0
		say "bench: sol builds but does not serve yet; skipping sol's columns"
	fi
fi

NRUN=0
# run LABEL BROKER MQLOAD-ARGS...: one run on a freshly started broker, one JSON line to RESULTS.
run() {
	local label=$1 broker=$2 name=$2 line
	shift 2
	[ "$broker" = sol2 ] && name="sol 2 loops"
	if ! start "$broker"; then
		# A line all the same: the table pairs each broker's i-th run of a
		# scenario with the other's, so no run may go missing.
		printf '%s\n' "{\"label\":\"$label\",\"broker\":\"$name\",\"ok\":false,\"error\":\"broker did not start\"}" >>"$RESULTS"
		return 0
	fi
	local extra=()
	[ "$broker" = relay ] && extra=(-raw-sub "127.0.0.1:$RELAY_OUT")
	line=$(taskset -c "$LOAD_CPU" "$WORK/mqload" -label "$label" -broker "$name" -pid "$BPID" \
		-addr "127.0.0.1:$BPORT" "${extra[@]}" "$@" || true)
	stop
	NRUN=$((NRUN + 1))
	if [ -z "$line" ]; then
		line="{\"label\":\"$label\",\"broker\":\"$name\",\"ok\":false,\"error\":\"mqload printed nothing\"}"
	fi
	printf '%s\n' "$line" >>"$RESULTS"
	say "  [$NRUN] $label · $name: $(printf '%s' "$line" | grep -o '"\(msg_per_s\|p99_us\|connect_per_s\|rss_kb\|lost\|error\)":[^,}]*' | tr '\n' ' ')"
}

# scenario LABEL WHO MQLOAD-ARGS...: REPS repetitions, brokers alternating.
# WHO: "brokers" (sol, mosquitto), "loops" (sol, sol 2 loops, mosquitto),
# "all" (sol, sol 2 loops, mosquitto, relay: QoS 0 only, the relay acknowledges nothing),
# "sol" (sol and sol 2 loops only).
# SCEN_REPS=n before the call overrides REPS for that scenario.
scenario() {
	local label=$1 who=$2 rep b reps=${SCEN_REPS:-$REPS}
	shift 2
	local brokers=()
	[ "$HAVE_SOL" = 1 ] && brokers+=(sol)
	if [ "$who" != brokers ] && [ "$HAVE_SOL" = 1 ] && [ "$SOL2" = 1 ]; then brokers+=(sol2); fi
	[ "$who" = sol ] || brokers+=(mosquitto)
	[ "$who" = all ] && brokers+=(relay)
	[ "${#brokers[@]}" -gt 0 ] || return 0
	for rep in $(seq 1 "$reps"); do
		for b in "${brokers[@]}"; do
			run "$label" "$b" "$@"
		done
	done
}

if [ "$QUICK" = 1 ]; then
	M=2000 FO_SUBS=20 FO_M=500 KB_M=1000 BIG_M=20 LAT_M=300 C1=1000 C2=3000 TO=20s
else
	M=20000 FO_SUBS=100 FO_M=2000 KB_M=10000 BIG_M=500 LAT_M=1500 C1=10000 C2=50000 TO=60s
fi
LOOP_M=$((M * 10))
# Both processes need a descriptor per connection, plus a few of their own.
C2_LABEL="$C2 idle connections"
if [ "$C2" -gt $((FDS - 500)) ]; then
	say "bench: the file descriptor limit is $FDS (ulimit -Hn): the $C2-connection scenario runs with $((FDS - 500)); raise the hard limit (root, or LimitNOFILE) for the full count"
	C2=$((FDS - 500))
	C2_LABEL="$C2 idle connections (fd limit $FDS)"
fi
if [ "$C1" -gt $((FDS - 500)) ]; then C1=$((FDS - 500)); fi
SRC=127.0.0.2-127.0.0.17 # 16 source addresses, each with its own ephemeral port range

say "bench: $REPS repetition(s) per scenario, results in $RESULTS"
scenario "fan-in QoS 0, 10 pubs x $M x 64 B" all -pubs 10 -subs 1 -msgs $M -size 64 -qos 0 -timeout $TO
scenario "fan-in QoS 1, 10 pubs x $M x 64 B" loops -pubs 10 -subs 1 -msgs $M -size 64 -qos 1 -timeout $TO
scenario "fan-in QoS 2, 10 pubs x $M x 64 B" loops -pubs 10 -subs 1 -msgs $M -size 64 -qos 2 -timeout $TO
scenario "fan-out QoS 0, 1 pub x $FO_M to $FO_SUBS subs" all -pubs 1 -subs $FO_SUBS -msgs $FO_M -size 64 -qos 0 -timeout $TO
scenario "fan-out QoS 1, 1 pub x $FO_M to $FO_SUBS subs" loops -pubs 1 -subs $FO_SUBS -msgs $FO_M -size 64 -qos 1 -timeout $TO
scenario "fan-in QoS 1, 10 pubs x $KB_M x 1 KB" loops -pubs 10 -subs 1 -msgs $KB_M -size 1024 -qos 1 -timeout $TO
# 64 KB at QoS 0 too, with the relay: what moving these bytes costs at all,
# the ceiling for any broker on this machine. 500 per publisher: with 200 a
# run of sol lasted ~0.13 s, and CPU time, read in 10 ms clock ticks, was
# then only good to about 8%.
scenario "fan-in QoS 0, 10 pubs x $BIG_M x 64 KB" all -pubs 10 -subs 1 -msgs $BIG_M -size 65536 -qos 0 -timeout $TO
scenario "fan-in QoS 1, 10 pubs x $BIG_M x 64 KB" loops -pubs 10 -subs 1 -msgs $BIG_M -size 65536 -qos 1 -timeout $TO
if [ "$HAVE_SOL" = 1 ] && [ "$SOL2" = 1 ]; then
	scenario "loop scaling: fan-in QoS 0, 10 pubs x $LOOP_M x 64 B" sol -pubs 10 -subs 1 -msgs $LOOP_M -size 64 -qos 0 -timeout $TO
	scenario "loop scaling: fan-in QoS 1, 10 pubs x $LOOP_M x 64 B" sol -pubs 10 -subs 1 -msgs $LOOP_M -size 64 -qos 1 -timeout $TO
fi
# Tail latency on a shared virtual machine swings run to run (p99 from 300
# to 1,400 us for either broker in one series), so it gets more repetitions.
LAT_REPS=$REPS
[ "$QUICK" = 1 ] || LAT_REPS=$((REPS > 7 ? REPS : 7))
SCEN_REPS=$LAT_REPS scenario "latency QoS 1 at 5,000 msg/s, 10 pubs" brokers -pubs 10 -subs 1 -msgs $LAT_M -size 64 -qos 1 -rate 5000 -timeout $TO
scenario "$C1 idle connections" brokers -mode conns -conns $C1 -src $SRC -timeout $TO
scenario "$C2_LABEL" brokers -mode conns -conns $C2 -src $SRC -timeout $TO

if command -v mqtt-benchmark >/dev/null 2>&1; then
	say "bench: mqtt-benchmark (the tool users compare brokers with), 10 clients x $M msgs QoS 1, each broker once"
	for b in sol mosquitto; do
		[ "$b" = sol ] && [ "$HAVE_SOL" = 0 ] && continue
		start "$b" || continue
		echo "mqtt-benchmark against $b:"
		taskset -c "$LOAD_CPU" mqtt-benchmark --broker "tcp://127.0.0.1:$BPORT" --clients 10 --count "$M" --size 64 --qos 1 --quiet 2>&1 | tail -12 || true
		stop
	done
else
	say "mqtt-benchmark not installed (go install github.com/krylovsk/mqtt-benchmark@latest); using mqload for the same scenarios"
fi

ELAPSED=$(($(date +%s) - START))
echo
echo "sol benchmark, $(date -u '+%Y-%m-%d %H:%M UTC'), $NCPU CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), $(mosquitto -h 2>/dev/null | head -1), sol $(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo unknown)"
echo "command: ${BENCH_CMD:-scripts/bench.sh} (BENCH_QUICK=$QUICK, $REPS repetition(s), brokers on CPU $BROKER_CPU, load on CPU $LOAD_CPU; medians)"
echo
"$WORK/mqload" table "$RESULTS"
echo
echo "bench: $NRUN runs in ${ELAPSED}s; every run's JSON line is in $RESULTS"
[ "$HAVE_SOL" = 1 ] || echo "bench: sol's columns are missing: it did not build or serve (see above)"
