package main

import (
	"fmt"
	"io"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sol-broker/sol/mqtt"
)

// TestShutdownWithThousandClients runs the real binary with 1,000 connected
// clients (half 3.1.1, half 5.0) and sends SIGTERM: sol exits 0 within its
// shutdown_timeout, every 5.0 client reads DISCONNECT 0x8B (Server shutting
// down) and then EOF, and every 3.1.1 client reads EOF with nothing before.
func TestShutdownWithThousandClients(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	const (
		clients  = 1000
		deadline = 5 * time.Second // shutdown_timeout below
	)
	cmd, _, addr := startSol(t, "shutdown_timeout = \"5s\"\n[[listener]]\naddress = \"127.0.0.1:0\"\n")

	conns := make([]net.Conn, clients)
	versions := make([]byte, clients)
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for i := range conns {
		versions[i] = mqtt.Version311
		if i%2 == 1 {
			versions[i] = mqtt.Version5
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.DialTimeout("tcp", addr, 5*time.Second)
			if err != nil {
				errs <- err
				return
			}
			conns[i] = c
			c.SetDeadline(time.Now().Add(10 * time.Second))
			if _, err := c.Write(mqtt.AppendConnect(nil, &mqtt.Connect{ProtocolName: []byte("MQTT"), ProtocolLevel: versions[i],
				ClientID: []byte(fmt.Sprintf("sd-%d", i)), CleanStart: true, KeepAlive: 60})); err != nil {
				errs <- err
				return
			}
			ack := make([]byte, 4)
			if _, err := io.ReadFull(c, ack); err != nil || ack[0] != 0x20 {
				errs <- fmt.Errorf("client %d CONNACK % x: %v", i, ack, err)
				return
			}
			if versions[i] == mqtt.Version5 { // the rest of the 5.0 CONNACK
				rest := make([]byte, int(ack[1])-2)
				if _, err := io.ReadFull(c, rest); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()

	start := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// Every client reads what it is owed, then EOF.
	results := make(chan error, clients)
	for i, c := range conns {
		go func() {
			c.SetReadDeadline(time.Now().Add(deadline + 5*time.Second))
			got, err := io.ReadAll(c)
			c.Close() // as a client does on EOF; sol's graceful close waits for it
			if err != nil {
				results <- fmt.Errorf("client %d (v%d): %v after % x", i, versions[i], err, got)
				return
			}
			if versions[i] == mqtt.Version311 {
				if len(got) != 0 {
					results <- fmt.Errorf("3.1.1 client %d got % x before EOF", i, got)
					return
				}
				results <- nil
				return
			}
			var p mqtt.Packet
			if err := mqtt.Decode(got, mqtt.Version5, &p); err != nil || p.Type != mqtt.DISCONNECT || p.Disconnect.Reason != mqtt.ServerShuttingDown {
				results <- fmt.Errorf("5.0 client %d got % x (%v), want DISCONNECT 0x8B", i, got, err)
				return
			}
			results <- nil
		}()
	}
	for range conns {
		if err := <-results; err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("sol exited with %v after SIGTERM, want 0", err)
		}
	case <-time.After(deadline + 2*time.Second):
		t.Fatalf("sol still running %v after SIGTERM (shutdown_timeout %v)", time.Since(start), deadline)
	}
	el := time.Since(start)
	t.Logf("SIGTERM with %d clients: exited in %v", clients, el.Round(time.Millisecond))
	if el > deadline {
		t.Fatalf("exit took %v, beyond shutdown_timeout %v", el, deadline)
	}
}
