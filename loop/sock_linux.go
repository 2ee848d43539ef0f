//go:build linux

package loop

import "golang.org/x/sys/unix"

// Linux spreads connections over an SO_REUSEPORT group.
const (
	reusePortOption     = unix.SO_REUSEPORT
	reusePortOptionName = "SO_REUSEPORT"
)
