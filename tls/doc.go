// Package tls (imported as soltls) serves MQTT over TLS inside the event loops:
// certificates and their reload, a bounded handshake pool, and a loop transport
// over a stock crypto/tls connection.
package tls
