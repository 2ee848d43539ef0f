package broker_test

import (
	"bytes"
	stdtls "crypto/tls"
	"encoding/binary"
	"fmt"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sol-broker/sol/broker"
	"github.com/sol-broker/sol/mqtt"
)

// bigSizes are the payload sizes the large-message tests publish: around
// the adoption and reference thresholds (16 KiB) and the loop's read buffer
// (64 KiB), odd ones, and up to 1 MiB.
var bigSizes = []int{16 << 10, 16<<10 + 1, 16<<10 - 1, 65536, 65536 + 7, 100003, 1<<20 - 64, 300001, 40001, 65536 - 9}

// bigPayload is publisher pub's message seq of n bytes: (pub, seq) in the
// first 8 bytes, then bytes that depend on both and on the position.
func bigPayload(pub, seq, n int) []byte {
	p := make([]byte, n)
	binary.BigEndian.PutUint32(p, uint32(pub))
	binary.BigEndian.PutUint32(p[4:], uint32(seq))
	for i := 8; i < n; i++ {
		p[i] = byte(pub*131+seq*17+i*7) ^ byte(i>>9)
	}
	return p
}

// checkBigPayload reports which message p is and whether it is intact.
func checkBigPayload(p []byte) (pub, seq int, err error) {
	if len(p) < 8 {
		return 0, 0, fmt.Errorf("payload of %d bytes", len(p))
	}
	pub, seq = int(binary.BigEndian.Uint32(p)), int(binary.BigEndian.Uint32(p[4:]))
	if want := bigPayload(pub, seq, bigSizes[(pub+seq)%len(bigSizes)]); !bytes.Equal(p, want) {
		return pub, seq, fmt.Errorf("publisher %d message %d: %d bytes, want %d, first difference at %d", pub, seq, len(p), len(want), diffAt(p, want))
	}
	return pub, seq, nil
}

func diffAt(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// bigDial connects to addr (over TLS if cfg is set; with a 4 KiB receive
// buffer if small, so that the broker's output to it stays queued) and
// sends CONNECT, with a Topic Alias Maximum for 5.0.
func bigDial(addr, id string, v byte, small bool, cfg *stdtls.Config) (*rawPeer, error) {
	d := &net.Dialer{Timeout: 5 * time.Second}
	if small {
		d.Control = func(_, _ string, rc syscall.RawConn) error {
			var err error
			rc.Control(func(fd uintptr) {
				err = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4<<10)
			})
			return err
		}
	}
	var c net.Conn
	var err error
	if cfg != nil {
		c, err = stdtls.DialWithDialer(d, "tcp", addr, cfg)
	} else {
		c, err = d.Dial("tcp", addr)
	}
	if err != nil {
		return nil, err
	}
	p := &rawPeer{conn: c}
	cn := &mqtt.Connect{ProtocolName: []byte("MQTT"), ProtocolLevel: v, ClientID: []byte(id), CleanStart: true, KeepAlive: 60}
	if v == mqtt.Version5 {
		cn.Props.TopicAliasMaximum = 4
		cn.Props.Set(mqtt.PropTopicAliasMaximum)
	}
	if err := p.connect(v, id, cn); err != nil {
		return nil, err
	}
	return p, nil
}

// bigPublisher publishes n messages (bigPayload, sizes from bigSizes) to
// topic at QoS 0, 1 and 2 in turn, up to 3 unacknowledged at a time. A 5.0
// publisher sends the topic through a topic alias after the first message,
// with a content type and a user property.
func bigPublisher(p *rawPeer, v byte, who int, topic string, n int) error {
	outstanding, acked, sent, want := 0, 0, 0, 0
	for seq := range n {
		if seq%3 != 0 {
			want++
		}
	}
	for acked < want || sent < n {
		var out []byte
		for outstanding < 3 && sent < n {
			qos := byte(sent % 3)
			pub := &mqtt.Publish{Topic: []byte(topic), QoS: qos, PacketID: uint16(sent + 1), Payload: bigPayload(who, sent, bigSizes[(who+sent)%len(bigSizes)])}
			if v == mqtt.Version5 {
				pub.Props.TopicAlias = 1
				pub.Props.Set(mqtt.PropTopicAlias)
				if sent > 0 {
					pub.Topic = nil
				}
				pub.Props.ContentType = []byte("application/x-big")
				pub.Props.Set(mqtt.PropContentType)
				pub.Props.User = pub.Props.User.Append([]byte("seq"), fmt.Appendf(nil, "%d", sent))
				pub.Props.Set(mqtt.PropUserProperty)
			}
			out = mqtt.AppendPublish(out, v, pub)
			sent++
			if qos > 0 {
				outstanding++
			}
		}
		if len(out) > 0 {
			if err := p.write(out); err != nil {
				return fmt.Errorf("publisher %d: %w", who, err)
			}
		}
		if outstanding == 0 {
			continue
		}
		completed, err := readPublisherAck(p, v)
		if err != nil {
			return fmt.Errorf("publisher %d after %d acks: %w", who, acked, err)
		}
		if completed {
			outstanding--
			acked++
		}
	}
	return nil
}

// bigSubscriber reads until it has every message of pubs publishers of n
// messages each, checking each payload byte for byte, per-publisher order,
// and (5.0) the forwarded properties. pause slows it down between packets.
func bigSubscriber(p *rawPeer, v byte, pubs, n int, pause time.Duration) error {
	next := make([]int, pubs)
	got := 0
	return subscriberReaderPkt(p, v, 20*time.Second, func(m *mqtt.Publish) (bool, error) {
		pub, seq, err := checkBigPayload(m.Payload)
		if err == nil && (pub >= pubs || seq < next[pub]) {
			err = fmt.Errorf("publisher %d message %d out of order or repeated", pub, seq)
		}
		wantProps := v == mqtt.Version5 && pub%2 == 1 // from a 5.0 publisher
		if err == nil && wantProps && (string(m.Props.ContentType) != "application/x-big" || m.Props.User.Len() != 1) {
			err = fmt.Errorf("publisher %d message %d: properties %q, %d user", pub, seq, m.Props.ContentType, m.Props.User.Len())
		}
		if err != nil {
			return true, err
		}
		next[pub] = seq + 1
		got++
		if pause > 0 {
			time.Sleep(pause) // a slow subscriber is what is tested
		}
		return got == pubs*n, nil
	})
}

// subscriberReaderPkt is subscriberReader handing over the whole PUBLISH
// and following the subscriber's topic aliases.
func subscriberReaderPkt(p *rawPeer, v byte, idle time.Duration, got func(m *mqtt.Publish) (stop bool, err error)) error {
	aliases := map[uint16][]byte{}
	var bad error
	err := subscriberReaderRaw(p, v, idle, func(m *mqtt.Publish) bool {
		if m.Props.Has(mqtt.PropTopicAlias) {
			if len(m.Topic) > 0 {
				aliases[m.Props.TopicAlias] = bytes.Clone(m.Topic)
			} else {
				m.Topic = aliases[m.Props.TopicAlias]
			}
		}
		if string(m.Topic) != "big/t" {
			bad = fmt.Errorf("topic %q", m.Topic)
			return true
		}
		stop, err := got(m)
		bad = err
		return stop
	})
	if err == nil {
		err = bad
	}
	return err
}

// TestLargePayloadsIntact publishes large payloads (16 KiB to 1 MiB, odd
// sizes, QoS 0, 1 and 2, 3.1.1 and 5.0 with topic aliases and properties)
// from several publishers, plain and TLS, to a fast subscriber, a slow one
// with a small receive window, a TLS one, and one that never reads and
// disconnects with output queued. Every subscriber that stays must get
// every message byte for byte and in per-publisher order; and once all are
// gone, no pooled message may be left referenced (counted with -tags
// soldebug, which also panics on any use after free).
func TestLargePayloadsIntact(t *testing.T) {
	live := broker.LiveMsgs()
	plain, secure, cfg := plainTLSBroker(t, broker.Options{Loops: 2, MaxPacketSize: 2 << 20, TopicAliasMaximum: 4})
	const pubs, n = 4, 12
	type sub struct {
		id    string
		v     byte
		qos   byte
		small bool
		tls   bool
		pause time.Duration
	}
	subs := []sub{
		{"fast", mqtt.Version311, 2, false, false, 0},
		{"slow", mqtt.Version5, 1, true, false, 2 * time.Millisecond},
		{"secure", mqtt.Version5, 2, false, true, 0},
	}
	var peers []*rawPeer
	defer func() {
		for _, p := range peers {
			p.conn.Close()
		}
	}()
	dialT := func(id string, v byte, small, secureConn bool) *rawPeer {
		addr, c := plain, (*stdtls.Config)(nil)
		if secureConn {
			addr, c = secure, cfg
		}
		p, err := bigDial(addr, id, v, small, c)
		if err != nil {
			t.Fatal(err)
		}
		peers = append(peers, p)
		return p
	}
	subscribe := func(p *rawPeer, v, qos byte) {
		pkt := mqtt.AppendSubscribe(nil, v, &mqtt.Subscribe{PacketID: 1, Filters: []mqtt.Subscription{{Filter: []byte("big/t"), QoS: qos}}})
		if err := p.write(pkt); err != nil {
			t.Fatal(err)
		}
		if ack, err := p.read(v, 5*time.Second); err != nil || ack.Type != mqtt.SUBACK {
			t.Fatalf("SUBACK: %v %v", ack, err)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, pubs+len(subs))
	for _, s := range subs {
		p := dialT(s.id, s.v, s.small, s.tls)
		subscribe(p, s.v, s.qos)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := bigSubscriber(p, s.v, pubs, n, s.pause); err != nil {
				errs <- fmt.Errorf("subscriber %s: %w", s.id, err)
			}
		}()
	}
	quitter := dialT("quitter", mqtt.Version311, true, false)
	subscribe(quitter, mqtt.Version311, 1)
	var pwg sync.WaitGroup
	for i := range pubs {
		v := mqtt.Version311
		if i%2 == 1 {
			v = mqtt.Version5
		}
		p := dialT(fmt.Sprintf("pub%d", i), v, false, i == 3)
		pwg.Add(1)
		go func() {
			defer pwg.Done()
			if err := bigPublisher(p, v, i, "big/t", n); err != nil {
				errs <- err
			}
		}()
	}
	pwg.Wait()
	quitter.conn.(*net.TCPConn).SetLinger(0)
	quitter.conn.Close() // with output and queue full of references
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for _, p := range peers {
		p.conn.Close()
	}
	deadline := time.Now().Add(10 * time.Second)
	for broker.LiveMsgs() != live {
		if time.Now().After(deadline) {
			t.Fatalf("%d pooled messages still referenced after every client left", broker.LiveMsgs()-live)
		}
		time.Sleep(5 * time.Millisecond) // polling interval
	}
}
