#!/usr/bin/env bash
# scripts/pgo.sh: refresh default.pgo, the CPU profile `go build` optimises
# sol with (profile-guided optimisation, Go 1.21 and later: a default.pgo
# beside the main package is used by every `go build` of it).
#
# Called by `make pgo`. It builds sol with the tag pgoprofile (main_pgo.go:
# SOL_CPUPROFILE names a file for a CPU profile of the whole run), runs the
# workloads of `make bench` against it with scripts/mqload on loopback, once
# with one loop and once with two, and merges the two profiles. Needs only
# Go; takes about 20 s. Commit the new default.pgo with the numbers that
# justify it: a profile is worth keeping only while it still matches the
# code's hot path.
set -euo pipefail

cd "$(dirname "$0")/.."
GO=${GO:-go}
PORT=${PGO_PORT:-28890}
WORK=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; wait; rm -rf "$WORK"' EXIT

$GO build -tags pgoprofile -pgo=off -o "$WORK/sol" .
$GO build -o "$WORK/mqload" ./scripts/mqload

for loops in 1 2; do
	# The settings bench.sh gives sol (its sol_conf), so that the profile
	# is of the code paths make bench measures.
	cat > "$WORK/sol.conf" <<CONF
log_level = "error"
loops = $loops
max_inflight_messages = 1000
max_queued_messages = 1000000
max_queued_bytes = 0
stats_publish_interval = "0s"
allow_anonymous = true
[[listener]]
address = "127.0.0.1:$PORT"
CONF
	SOL_CPUPROFILE="$WORK/loops$loops.pprof" "$WORK/sol" -c "$WORK/sol.conf" &
	pid=$!
	up=0
	for _ in $(seq 50); do
		# Our sol must still run: a port another process holds would
		# answer too, and sol exits when it cannot bind.
		kill -0 "$pid" 2>/dev/null || { echo "pgo: sol exited at start (is 127.0.0.1:$PORT taken? set PGO_PORT)" >&2; exit 1; }
		if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then up=1; break; fi
		sleep 0.1
	done
	[ "$up" = 1 ] || { echo "pgo: sol did not listen on 127.0.0.1:$PORT within 5 s" >&2; exit 1; }
	sleep 0.2 # a sol that lost the port to another process exits within this
	kill -0 "$pid" 2>/dev/null || { echo "pgo: sol exited at start (is 127.0.0.1:$PORT taken? set PGO_PORT)" >&2; exit 1; }
	run() { "$WORK/mqload" -addr "127.0.0.1:$PORT" -pid "$pid" -timeout 60s "$@" >/dev/null; }
	for q in 0 1 2; do run -pubs 10 -subs 1 -msgs 100000 -size 64 -qos $q; done
	for q in 0 1; do run -pubs 1 -subs 100 -msgs 5000 -size 64 -qos $q; done
	run -pubs 10 -subs 1 -msgs 20000 -size 1024 -qos 1
	run -pubs 10 -subs 1 -msgs 500 -size 65536 -qos 1
	run -pubs 10 -subs 1 -msgs 3000 -size 64 -qos 1 -rate 5000
	kill -TERM "$pid"
	wait "$pid"
	pid=
done
# Written beside, then moved: an empty default.pgo silently turns PGO off,
# and a half-written one breaks every build.
$GO tool pprof -proto "$WORK/loops1.pprof" "$WORK/loops2.pprof" > "$WORK/default.pgo"
mv "$WORK/default.pgo" default.pgo
echo "pgo: wrote default.pgo ($(wc -c < default.pgo) bytes)"
