//go:build !race

package broker_test

// stormClients is the connection storm of issue 9 (race_test.go has the
// count under the race detector).
const stormClients = 20000
