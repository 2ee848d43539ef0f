package broker_test

import (
	"context"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	pahov3 "github.com/eclipse/paho.mqtt.golang"

	"github.com/sol-broker/sol/broker"
	tb "github.com/sol-broker/sol/internal/testbroker"
)

// received collects messages a library client got, safe for its callbacks.
type received struct {
	mu   sync.Mutex
	msgs map[string][]recvMsg // by topic
}

type recvMsg struct {
	payload string
	qos     byte
}

func (r *received) add(topic, payload string, qos byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.msgs == nil {
		r.msgs = map[string][]recvMsg{}
	}
	r.msgs[topic] = append(r.msgs[topic], recvMsg{payload, qos})
}

func (r *received) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, m := range r.msgs {
		n += len(m)
	}
	return n
}

// client5 is a paho.golang (5.0) client.
type client5 struct {
	c   *paho.Client
	got *received
}

func newClient5(t *testing.T, addr, id string) *client5 {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c, r, ca, err := pahoOver(t, conn, id)
	if err != nil || ca.ReasonCode != 0 {
		t.Fatalf("paho connect %s: %v %+v", id, err, ca)
	}
	return &client5{c: c, got: r}
}

// pahoOver connects a paho.golang client over conn (plain or TLS), collecting
// what it receives; it disconnects at cleanup when the CONNECT succeeded.
func pahoOver(t *testing.T, conn net.Conn, id string) (*paho.Client, *received, *paho.Connack, error) {
	t.Helper()
	r := &received{}
	c := paho.NewClient(paho.ClientConfig{Conn: conn, OnPublishReceived: []func(paho.PublishReceived) (bool, error){
		func(pr paho.PublishReceived) (bool, error) {
			r.add(pr.Packet.Topic, string(pr.Packet.Payload), pr.Packet.QoS)
			return true, nil
		}}})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ca, err := c.Connect(ctx, &paho.Connect{ClientID: id, CleanStart: true, KeepAlive: 30})
	if err == nil {
		t.Cleanup(func() { c.Disconnect(&paho.Disconnect{}) })
	}
	return c, r, ca, err
}

func (c *client5) subscribe(t *testing.T, topic string, qos byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	sa, err := c.c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: topic, QoS: qos}}})
	if err != nil || len(sa.Reasons) != 1 || sa.Reasons[0] != qos {
		t.Fatalf("paho subscribe %s: %v %+v", topic, err, sa)
	}
}

func (c *client5) publish(t *testing.T, topic string, qos byte, payload string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := c.c.Publish(ctx, &paho.Publish{Topic: topic, QoS: qos, Payload: []byte(payload)}); err != nil {
		t.Fatalf("paho publish %s: %v", topic, err)
	}
}

// client3 is a paho.mqtt.golang (3.1.1) client.
type client3 struct {
	c   pahov3.Client
	got *received
}

func newClient3(t *testing.T, addr, id string) *client3 {
	t.Helper()
	r := &received{}
	opts := pahov3.NewClientOptions().AddBroker("tcp://" + addr).SetClientID(id).SetCleanSession(true).
		SetAutoReconnect(false).SetProtocolVersion(4).SetOrderMatters(true).SetConnectRetry(false)
	c := pahov3.NewClient(opts)
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("paho v3 connect %s: %v", id, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return &client3{c: c, got: r}
}

func (c *client3) subscribe(t *testing.T, topic string, qos byte) {
	t.Helper()
	tok := c.c.Subscribe(topic, qos, func(_ pahov3.Client, m pahov3.Message) {
		c.got.add(m.Topic(), string(m.Payload()), m.Qos())
	})
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("paho v3 subscribe %s: %v", topic, tok.Error())
	}
}

func (c *client3) publish(t *testing.T, topic string, qos byte, payload string) {
	t.Helper()
	if tok := c.c.Publish(topic, qos, false, payload); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("paho v3 publish %s: %v", topic, tok.Error())
	}
}

type libClient interface {
	subscribe(t *testing.T, topic string, qos byte)
	publish(t *testing.T, topic string, qos byte, payload string)
}

// TestInteropMatrix: 3.1.1 and 5.0 library clients exchange messages in both
// directions with every QoS combination; each message arrives exactly once,
// in order, at min(published, subscribed) QoS.
func TestInteropMatrix(t *testing.T) {
	addr := tb.Start(t, broker.Options{Loops: 2})
	subs := map[int]libClient{3: newClient3(t, addr, "mx-sub3"), 5: newClient5(t, addr, "mx-sub5")}
	pubs := map[int]libClient{3: newClient3(t, addr, "mx-pub3"), 5: newClient5(t, addr, "mx-pub5")}
	gots := map[int]*received{3: subs[3].(*client3).got, 5: subs[5].(*client5).got}
	for sv, s := range subs {
		for sq := byte(0); sq <= 2; sq++ {
			s.subscribe(t, fmt.Sprintf("mx/+/+/%d/%d", sv, sq), sq)
		}
	}
	const n = 5
	for pv, p := range pubs {
		for pq := byte(0); pq <= 2; pq++ {
			for sv := range subs {
				for sq := byte(0); sq <= 2; sq++ {
					for i := 0; i < n; i++ {
						p.publish(t, fmt.Sprintf("mx/%d/%d/%d/%d", pv, pq, sv, sq), pq, fmt.Sprint(i))
					}
				}
			}
		}
	}
	want := 2 * 3 * 3 * n // publishers x publish QoS x subscription QoS
	for sv, r := range gots {
		tb.WaitFor(t, 10*time.Second, func() bool { return r.count() >= want })
		r.mu.Lock()
		for topic, msgs := range r.msgs {
			var pv, pq, tsv, sq int
			fmt.Sscanf(topic, "mx/%d/%d/%d/%d", &pv, &pq, &tsv, &sq)
			if tsv != sv || len(msgs) != n {
				t.Errorf("subscriber v%d: %s: %d messages, want %d", sv, topic, len(msgs), n)
				continue
			}
			for i, m := range msgs {
				if m.payload != fmt.Sprint(i) || int(m.qos) != min(pq, sq) {
					t.Errorf("subscriber v%d: %s message %d: %q QoS %d, want %d QoS %d", sv, topic, i, m.payload, m.qos, i, min(pq, sq))
				}
			}
		}
		r.mu.Unlock()
	}
}
