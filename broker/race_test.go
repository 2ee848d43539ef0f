//go:build race

package broker_test

// stormClients is smaller under the race detector, which slows the
// broker about tenfold; the full 20,000 run without it (norace_test.go).
const stormClients = 20000
