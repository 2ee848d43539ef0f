package broker_test

import (
	"io"
	"net"
	"testing"
)

// overLoopback returns a plain TCP connection whose bytes are carried both
// ways over conn (a TLS connection) by two copying goroutines.
//
// paho.golang (v0.23) writes each control packet as a fixed header followed
// by one Write per part (net.Buffers.WriteTo), from the caller's goroutine,
// its acknowledger and its pinger, with no lock of its own (its issue #81).
// On a *net.TCPConn that is one writev per packet, which Go serializes; on a
// tls.Conn every part is a Write of its own and packets interleave: seen
// here as a PINGREQ inside a SUBSCRIBE and a PUBACK inside a PUBLISH, which
// the broker rightly refused as malformed (TestTLSClients failed about one
// run in ten under load). Giving paho the TCP end keeps its packets whole;
// the TLS connection still carries them to the broker in order.
func overLoopback(t *testing.T, conn net.Conn) net.Conn {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err := ln.Accept()
	if err != nil {
		client.Close()
		t.Fatal(err)
	}
	go func() {
		io.Copy(conn, server)
		conn.Close()
	}()
	go func() {
		io.Copy(server, conn)
		server.Close()
	}()
	t.Cleanup(func() {
		client.Close()
		server.Close()
		conn.Close()
	})
	return client
}
