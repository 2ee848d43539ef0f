//go:build !linux

package loop

// dialEchoClients: elsewhere the echo clients are goroutines over net.Conn.
func dialEchoClients(addr string, nconns, size int) (echoDriver, error) {
	return dialNetEchoClients(addr, nconns, size, false)
}
