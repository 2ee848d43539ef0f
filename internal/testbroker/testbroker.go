// Package testbroker starts sol brokers for tests and drives them with raw
// MQTT packets over real sockets on 127.0.0.1.
package testbroker

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sol-broker/sol/broker"
	"github.com/sol-broker/sol/mqtt"
)

// DefaultTimeout bounds every read a Client does when the test gives none.
const DefaultTimeout = 5 * time.Second

// Start starts a broker with options o listening on 127.0.0.1:0 (anonymous
// clients allowed) and returns its address. The broker is shut down by
// t.Cleanup. A nil o.Logger logs nothing (set one to see the broker's logs).
// It fails the test if the broker cannot start. Call it from the test
// goroutine.
func Start(t testing.TB, o broker.Options) (addr string) {
	_, addr = StartBroker(t, o)
	return addr
}

// StartBroker is Start that also returns the broker.
func StartBroker(t testing.TB, o broker.Options) (*broker.Broker, string) {
	t.Helper()
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	b, err := broker.New(o)
	if err != nil {
		t.Fatalf("broker.New: %v", err)
	}
	a, err := b.Listen(broker.ListenerOptions{Network: "tcp", Address: "127.0.0.1:0", AllowAnonymous: true})
	if err != nil {
		t.Fatalf("broker.Listen: %v", err)
	}
	if err := b.Start(); err != nil {
		t.Fatalf("broker.Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := b.Shutdown(ctx); err != nil {
			t.Errorf("broker.Shutdown: %v", err)
		}
	})
	return b, a.String()
}

// Client is a raw MQTT client for tests: it writes bytes and reads whole
// packets with a deadline, decoding them with the mqtt package. It is not
// safe for concurrent use; use it from one goroutine.
type Client struct {
	t       testing.TB
	Conn    net.Conn
	Version byte // protocol level used to decode what the broker sends
	buf     []byte
	// Packet is the last packet Read decoded; its slices point into the
	// client's buffer and are valid until the next Read.
	Packet mqtt.Packet
}

// Dial connects to addr without sending anything. It fails the test on
// error. The connection is closed by t.Cleanup.
func Dial(t testing.TB, addr string, version byte) *Client {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, DefaultTimeout)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return &Client{t: t, Conn: c, Version: version}
}

// Write sends raw bytes, failing the test on error.
func (c *Client) Write(b []byte) {
	c.t.Helper()
	c.Conn.SetWriteDeadline(time.Now().Add(DefaultTimeout))
	if _, err := c.Conn.Write(b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// ReadRaw returns the next whole packet's bytes, or an error (io.EOF when the
// broker closed the connection, a timeout error after d).
func (c *Client) ReadRaw(d time.Duration) ([]byte, error) {
	c.Conn.SetReadDeadline(time.Now().Add(d))
	// Drop the previously returned packet.
	for {
		if n, err := mqtt.PacketLength(c.buf, mqtt.MaxPacketSize); err != nil {
			return nil, fmt.Errorf("framing: %w", err)
		} else if n > 0 {
			pkt := make([]byte, n)
			copy(pkt, c.buf[:n])
			c.buf = c.buf[:copy(c.buf, c.buf[n:])]
			return pkt, nil
		}
		var tmp [4096]byte
		n, err := c.Conn.Read(tmp[:])
		c.buf = append(c.buf, tmp[:n]...)
		if err != nil && n == 0 {
			return nil, err
		}
	}
}

// Read reads and decodes the next packet into c.Packet, failing the test if
// none arrives within d or it does not decode.
func (c *Client) Read(d time.Duration) *mqtt.Packet {
	c.t.Helper()
	pkt, err := c.ReadRaw(d)
	if err != nil {
		c.t.Fatalf("reading a packet: %v", err)
	}
	if err := mqtt.Decode(pkt, c.Version, &c.Packet); err != nil {
		c.t.Fatalf("decoding % x: %v", pkt, err)
	}
	return &c.Packet
}

// Expect reads the next packet and fails the test unless it has type t.
func (c *Client) Expect(t mqtt.PacketType) *mqtt.Packet {
	c.t.Helper()
	p := c.Read(DefaultTimeout)
	if p.Type != t {
		c.t.Fatalf("got %v, want %v", p.Type, t)
	}
	return p
}

// ExpectClosed waits until the broker closes the connection, failing the
// test if a packet other than those allowed arrives first, or nothing
// happens within d. It returns the packets that arrived before the close.
func (c *Client) ExpectClosed(d time.Duration) []mqtt.Packet {
	c.t.Helper()
	var got []mqtt.Packet
	deadline := time.Now().Add(d)
	for {
		pkt, err := c.ReadRaw(time.Until(deadline))
		if err != nil {
			var ne net.Error
			if errors.Is(err, io.EOF) || !errors.As(err, &ne) || !ne.Timeout() {
				return got
			}
			c.t.Fatalf("connection still open after %v", d)
		}
		var p mqtt.Packet
		if err := mqtt.Decode(pkt, c.Version, &p); err != nil {
			c.t.Fatalf("decoding % x: %v", pkt, err)
		}
		got = append(got, p)
	}
}

// ExpectNothing fails the test if a packet arrives within d.
func (c *Client) ExpectNothing(d time.Duration) {
	c.t.Helper()
	pkt, err := c.ReadRaw(d)
	if err == nil {
		c.t.Fatalf("unexpected packet % x", pkt)
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		c.t.Fatalf("connection failed: %v", err)
	}
}

// Connect sends CONNECT p (its ProtocolLevel sets c.Version; an empty
// protocol name is filled in) and returns the CONNACK, failing the test if
// another packet comes back.
func (c *Client) Connect(p *mqtt.Connect) *mqtt.Connack {
	c.t.Helper()
	if p.ProtocolLevel == 0 {
		p.ProtocolLevel = mqtt.Version311
	}
	if p.ProtocolName == nil {
		p.ProtocolName = []byte("MQTT")
		if p.ProtocolLevel == mqtt.Version31 {
			p.ProtocolName = []byte("MQIsdp")
		}
	}
	c.Version = p.ProtocolLevel
	c.Write(mqtt.AppendConnect(nil, p))
	return &c.Expect(mqtt.CONNACK).Connack
}

// ConnectClient dials addr and connects with client identifier id at
// version, failing the test unless the CONNACK is a success.
func ConnectClient(t testing.TB, addr string, version byte, id string, clean bool) *Client {
	t.Helper()
	c := Dial(t, addr, version)
	ack := c.Connect(&mqtt.Connect{ProtocolLevel: version, ClientID: []byte(id), CleanStart: clean, KeepAlive: 60})
	if ack.Reason != mqtt.Success {
		t.Fatalf("CONNACK %v", ack.Reason)
	}
	return c
}

// Subscribe subscribes to filter at qos with packet identifier 1 and
// returns the SUBACK's first code.
func (c *Client) Subscribe(filter string, qos byte) mqtt.ReasonCode {
	c.t.Helper()
	c.Write(mqtt.AppendSubscribe(nil, c.Version, &mqtt.Subscribe{PacketID: 1,
		Filters: []mqtt.Subscription{{Filter: []byte(filter), QoS: qos}}}))
	return c.Expect(mqtt.SUBACK).Suback.Reasons[0]
}

// Publish sends a PUBLISH (packet identifier pid for QoS > 0) without
// waiting for an acknowledgement.
func (c *Client) Publish(topic string, qos byte, retain bool, pid uint16, payload []byte) {
	c.t.Helper()
	c.Write(mqtt.AppendPublish(nil, c.Version, &mqtt.Publish{Topic: []byte(topic), QoS: qos, Retain: retain, PacketID: pid, Payload: payload}))
}

// WaitFor polls cond until it is true, failing the test after d.
func WaitFor(t testing.TB, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v", d)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Bystander is a well-behaved client that keeps exchanging QoS 1 messages
// with itself through the broker (publish, PUBACK, receive, PUBACK) on its
// own goroutine, so a test can check that the broker went on serving it
// while something else was happening. Methods may be called from any
// goroutine.
type Bystander struct {
	exchanged atomic.Uint64
	mu        sync.Mutex
	err       error
	stop      chan struct{}
	done      chan struct{}
}

// StartBystander connects a 5.0 client with identifier id to addr,
// subscribes to a topic of its own and starts the exchange. It fails the
// test if the connection or subscription fails; later failures are kept for
// Stop. t.Cleanup stops it.
func StartBystander(t testing.TB, addr, id string) *Bystander {
	t.Helper()
	c := Dial(t, addr, mqtt.Version5)
	if ack := c.Connect(&mqtt.Connect{ProtocolLevel: mqtt.Version5, ClientID: []byte(id), CleanStart: true, KeepAlive: 60}); ack.Reason != mqtt.Success {
		t.Fatalf("bystander CONNACK %v", ack.Reason)
	}
	topic := "bystander/" + id
	if rc := c.Subscribe(topic, 1); rc != 1 {
		t.Fatalf("bystander SUBACK %v", rc)
	}
	b := &Bystander{stop: make(chan struct{}), done: make(chan struct{})}
	go b.run(c, topic)
	t.Cleanup(func() { b.Stop() })
	return b
}

func (b *Bystander) run(c *Client, topic string) {
	defer close(b.done)
	var payload [8]byte
	for pid := uint16(1); ; pid++ {
		select {
		case <-b.stop:
			return
		default:
		}
		if pid == 0 {
			pid = 1
		}
		binary.BigEndian.PutUint64(payload[:], b.exchanged.Load())
		out := mqtt.AppendPublish(nil, mqtt.Version5, &mqtt.Publish{Topic: []byte(topic), QoS: 1, PacketID: pid, Payload: payload[:]})
		c.Conn.SetWriteDeadline(time.Now().Add(DefaultTimeout))
		if _, err := c.Conn.Write(out); err != nil {
			b.fail(fmt.Errorf("bystander write: %w", err))
			return
		}
		gotAck, gotMsg := false, false
		for !gotAck || !gotMsg {
			pkt, err := c.ReadRaw(DefaultTimeout)
			if err != nil {
				b.fail(fmt.Errorf("bystander after %d exchanges: %w", b.exchanged.Load(), err))
				return
			}
			var p mqtt.Packet
			if err := mqtt.Decode(pkt, mqtt.Version5, &p); err != nil {
				b.fail(fmt.Errorf("bystander decode % x: %w", pkt, err))
				return
			}
			switch {
			case p.Type == mqtt.PUBACK && p.PubAck.PacketID == pid:
				gotAck = true
			case p.Type == mqtt.PUBLISH && bytes.Equal(p.Publish.Payload, payload[:]):
				gotMsg = true
				c.Conn.Write(mqtt.AppendPubAck(nil, mqtt.Version5, mqtt.PUBACK, p.Publish.PacketID, 0, nil))
			default:
				b.fail(fmt.Errorf("bystander: unexpected %v", p.Type))
				return
			}
		}
		b.exchanged.Add(1)
	}
}

func (b *Bystander) fail(err error) {
	b.mu.Lock()
	b.err = err
	b.mu.Unlock()
}

// Exchanged returns the number of completed round trips.
func (b *Bystander) Exchanged() uint64 { return b.exchanged.Load() }

// Err returns the first failure, or nil while all is well.
func (b *Bystander) Err() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.err
}

// WaitProgress waits until at least n more round trips than now have
// completed, failing the test after d or if the bystander failed.
func (b *Bystander) WaitProgress(t testing.TB, n uint64, d time.Duration) {
	t.Helper()
	target := b.Exchanged() + n
	deadline := time.Now().Add(d)
	for b.Exchanged() < target {
		if err := b.Err(); err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("bystander made %d of %d round trips in %v", n-(target-b.Exchanged()), n, d)
		}
		time.Sleep(time.Millisecond)
	}
}

// Stop ends the exchange and returns the first failure, if any. Safe to
// call more than once.
func (b *Bystander) Stop() error {
	select {
	case <-b.stop:
	default:
		close(b.stop)
	}
	<-b.done
	return b.Err()
}
