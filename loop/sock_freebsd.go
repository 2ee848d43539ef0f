//go:build freebsd

package loop

import "golang.org/x/sys/unix"

// FreeBSD balances only with SO_REUSEPORT_LB; plain SO_REUSEPORT there gives
// every connection to one socket.
const (
	reusePortOption     = unix.SO_REUSEPORT_LB
	reusePortOptionName = "SO_REUSEPORT_LB"
)
