//go:build soldebug

package main

import (
	"errors"
	"os"

	"github.com/sol-broker/sol/broker"
)

// In soldebug builds, SOL_TEST_FAIL_LOOP=1 makes event loop 0 fail as soon
// as sol has started, as a failing epoll_wait would, so that a test can
// watch what the sol process does then (TestLoopFailureExits).
func init() {
	if os.Getenv("SOL_TEST_FAIL_LOOP") == "" {
		return
	}
	afterStart = func(b *broker.Broker) {
		b.InjectLoopFailure(0, errors.New("injected by SOL_TEST_FAIL_LOOP"))
	}
}
