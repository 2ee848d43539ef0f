#!/bin/sh
# make soak: mixed MQTT traffic against an in-process sol broker for
# SOAK_DURATION (default 3m): publishers at QoS 0/1/2 with retained messages,
# subscribers on wildcards that leave and come back (half with persistent
# sessions), connect/subscribe/leave churn. Live heap, RSS, goroutines and the
# broker's counters are sampled every tenth of the run; the test fails if,
# after the warm-up, the live heap grows by more than 8 MiB or goroutines by
# more than 5 (broker/soak_test.go, build tag soak). Loopback only.
set -eu
cd "$(dirname "$0")/.."
SOAK_DURATION=${SOAK_DURATION:-3m}
exec env SOL_SOAK_DURATION="$SOAK_DURATION" ${GO:-go} test -tags soak -run '^TestSoak$' -count=1 -v -timeout 60m ./broker/
