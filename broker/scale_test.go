package broker_test

import (
	"fmt"
	"net"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/sol-broker/sol/broker"
	tb "github.com/sol-broker/sol/internal/testbroker"
	"github.com/sol-broker/sol/mqtt"
)

// rawPeer is a minimal client for tests that run many clients from
// goroutines: errors are returned, never t.Fatal.
type rawPeer struct {
	conn net.Conn
	buf  []byte
}

func dialPeer(addr string, id string, v byte) (*rawPeer, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	p := &rawPeer{conn: c}
	if err := p.connect(v, id, &mqtt.Connect{ProtocolName: []byte("MQTT"), ProtocolLevel: v, ClientID: []byte(id), CleanStart: true, KeepAlive: 60}); err != nil {
		return nil, err
	}
	return p, nil
}

// connect sends cn and waits for a successful CONNACK.
func (p *rawPeer) connect(v byte, id string, cn *mqtt.Connect) error {
	if err := p.write(mqtt.AppendConnect(nil, cn)); err != nil {
		return err
	}
	pkt, err := p.read(v, 5*time.Second)
	if err != nil {
		return fmt.Errorf("%s: CONNACK: %w", id, err)
	}
	if pkt.Type != mqtt.CONNACK || pkt.Connack.Reason != 0 {
		return fmt.Errorf("%s: got %v %v", id, pkt.Type, pkt.Connack.Reason)
	}
	return nil
}

func (p *rawPeer) write(b []byte) error {
	p.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, err := p.conn.Write(b)
	return err
}

func (p *rawPeer) read(v byte, d time.Duration) (*mqtt.Packet, error) {
	p.conn.SetReadDeadline(time.Now().Add(d))
	for {
		n, err := mqtt.PacketLength(p.buf, mqtt.MaxPacketSize)
		if err != nil {
			return nil, err
		}
		if n > 0 {
			pkt := append([]byte(nil), p.buf[:n]...)
			p.buf = p.buf[:copy(p.buf, p.buf[n:])]
			var out mqtt.Packet
			return &out, mqtt.Decode(pkt, v, &out)
		}
		var tmp [2048]byte
		m, err := p.conn.Read(tmp[:])
		p.buf = append(p.buf, tmp[:m]...)
		if err != nil && m == 0 {
			return nil, err
		}
	}
}

// TestThousandClients: 1,000 clients over all loops, 3.1.1 and 5.0 mixed;
// each subscribes to its own topic at QoS 1 and publishes one QoS 1 and one
// QoS 2 message to its neighbour. Every message arrives exactly once at the
// QoS promised.
func TestThousandClients(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	addr := tb.Start(t, broker.Options{Loops: 4})
	const n = 1000
	peers := make([]*rawPeer, n)
	vers := make([]byte, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range peers {
		vers[i] = v311
		if i%2 == 1 {
			vers[i] = v5
		}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			p, err := dialPeer(addr, fmt.Sprintf("k-%d", i), vers[i])
			if err == nil {
				err = p.write(mqtt.AppendSubscribe(nil, vers[i], &mqtt.Subscribe{PacketID: 1, Filters: []mqtt.Subscription{{Filter: []byte(fmt.Sprintf("k/%d", i)), QoS: 2}}}))
			}
			if err == nil {
				var ack *mqtt.Packet
				if ack, err = p.read(vers[i], 10*time.Second); err == nil && ack.Type != mqtt.SUBACK {
					err = fmt.Errorf("got %v, want SUBACK", ack.Type)
				}
			}
			if err != nil {
				errs <- fmt.Errorf("client %d: %w", i, err)
				return
			}
			peers[i] = p
			t.Cleanup(func() { p.conn.Close() })
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// Everyone publishes to the neighbour, then reads: 1 PUBACK + 1 PUBREC
	// (-> PUBREL -> PUBCOMP) for its own, and 2 PUBLISH from the other side.
	results := make(chan error, n)
	for i := range peers {
		go func(i int) {
			p, v := peers[i], vers[i]
			to := fmt.Sprintf("k/%d", (i+1)%n)
			err := p.write(append(
				mqtt.AppendPublish(nil, v, &mqtt.Publish{Topic: []byte(to), QoS: 1, PacketID: 1, Payload: []byte(fmt.Sprint(i, "/1"))}),
				mqtt.AppendPublish(nil, v, &mqtt.Publish{Topic: []byte(to), QoS: 2, PacketID: 2, Payload: []byte(fmt.Sprint(i, "/2"))})...))
			got := map[string]byte{}
			acks := 0
			for err == nil && (len(got) < 2 || acks < 3) {
				var pkt *mqtt.Packet
				if pkt, err = p.read(v, 10*time.Second); err != nil {
					break
				}
				switch pkt.Type {
				case mqtt.PUBLISH:
					pp := &pkt.Publish
					if _, dup := got[string(pp.Payload)]; dup {
						err = fmt.Errorf("duplicate %q", pp.Payload)
					}
					got[string(pp.Payload)] = pp.QoS
					if pp.QoS == 1 {
						err = p.write(mqtt.AppendPubAck(nil, v, mqtt.PUBACK, pp.PacketID, 0, nil))
					} else if pp.QoS == 2 {
						err = p.write(mqtt.AppendPubAck(nil, v, mqtt.PUBREC, pp.PacketID, 0, nil))
					}
				case mqtt.PUBREL:
					err = p.write(mqtt.AppendPubAck(nil, v, mqtt.PUBCOMP, pkt.PubAck.PacketID, 0, nil))
				case mqtt.PUBACK, mqtt.PUBCOMP:
					acks++
				case mqtt.PUBREC:
					acks++
					err = p.write(mqtt.AppendPubAck(nil, v, mqtt.PUBREL, pkt.PubAck.PacketID, 0, nil))
				}
			}
			from := (i + n - 1) % n
			if err == nil && (got[fmt.Sprint(from, "/1")] != 1 || got[fmt.Sprint(from, "/2")] != 2) {
				err = fmt.Errorf("got %v from %d", got, from)
			}
			if err != nil {
				err = fmt.Errorf("client %d: %w", i, err)
			}
			results <- err
		}(i)
	}
	for range peers {
		if err := <-results; err != nil {
			t.Error(err)
		}
	}
}

func openFDs(t *testing.T) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	return len(ents)
}

// TestNoLeaks: after every client has left, goroutines and open file
// descriptors are back to their count before the clients came.
func TestNoLeaks(t *testing.T) {
	// Initialise the runtime's network poller (its fds stay open) before
	// counting.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if c, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		c.Close()
	}
	ln.Close()
	addr := tb.Start(t, broker.Options{Loops: 2})
	g0, f0 := runtime.NumGoroutine(), openFDs(t)

	var clients []*tb.Client
	for i := 0; i < 50; i++ {
		v := []byte{v311, v5}[i%2]
		c := tb.ConnectClient(t, addr, v, fmt.Sprintf("leak-%d", i), i%3 != 0)
		c.Subscribe("leak/#", 1)
		clients = append(clients, c)
	}
	clients[0].Publish("leak/x", 1, false, 1, []byte("x"))
	for _, c := range clients {
		for {
			p := c.Read(5 * time.Second)
			if p.Type == mqtt.PUBLISH {
				c.Write(mqtt.AppendPubAck(nil, c.Version, mqtt.PUBACK, p.Publish.PacketID, 0, nil))
				break
			}
		}
	}
	for i, c := range clients {
		if i%2 == 0 {
			c.Write(mqtt.AppendDisconnect(nil, c.Version, 0, nil))
		}
		c.Conn.Close()
	}
	var g, f int
	deadline := time.Now().Add(10 * time.Second)
	for {
		g, f = runtime.NumGoroutine(), openFDs(t)
		if g <= g0 && f <= f0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("goroutines %d -> %d, fds %d -> %d after all clients left", g0, g, f0, f)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
