//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package auth

import "errors"

func isTerminal(fd int) bool { return false }

func disableEcho(fd int) (func(), error) {
	return nil, errors.New("no terminal support on this platform")
}
