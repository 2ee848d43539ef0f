package broker_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sol-broker/sol/admin"
	"github.com/sol-broker/sol/broker"
	tb "github.com/sol-broker/sol/internal/testbroker"
	"github.com/sol-broker/sol/metrics"
	"github.com/sol-broker/sol/mqtt"
)

const adminWait = 5 * time.Second

func adminCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), adminWait)
	t.Cleanup(cancel)
	return ctx
}

// Retained messages are listed in topic order, paged, filtered, and deleted
// through the admin API; a bad filter is ErrInvalid, a missing topic
// ErrNotFound.
func TestAdminRetained(t *testing.T) {
	b, addr := tb.StartBroker(t, broker.Options{Loops: 2})
	a, ctx := b.Admin(), adminCtx(t)
	p := tb.ConnectClient(t, addr, v311, "retainer", true)
	for _, topic := range []string{"r/b", "x", "r/a"} {
		p.Publish(topic, 1, true, 1, []byte("v-"+topic))
		p.Expect(mqtt.PUBACK)
	}
	list, total, err := a.Retained(ctx, "r/#", 0, 10)
	if err != nil || total != 2 || len(list) != 2 || list[0].Topic != "r/a" || list[1].Topic != "r/b" ||
		string(list[0].Payload) != "v-r/a" || list[0].PayloadSize != 5 || list[0].QoS != 1 {
		t.Fatalf("Retained r/#: %+v total %d err %v", list, total, err)
	}
	if list, total, err = a.Retained(ctx, "#", 1, 1); err != nil || total != 3 || len(list) != 1 || list[0].Topic != "r/b" {
		t.Fatalf("Retained # offset 1 limit 1: %+v total %d err %v", list, total, err)
	}
	if _, _, err = a.Retained(ctx, "r/#/x", 0, 10); !errors.Is(err, admin.ErrInvalid) {
		t.Fatalf("bad filter: %v", err)
	}
	if err := a.DeleteRetained(ctx, "r/a"); err != nil {
		t.Fatal(err)
	}
	if err := a.DeleteRetained(ctx, "r/a"); !errors.Is(err, admin.ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	// A new subscriber no longer gets it; it still gets r/b.
	s := tb.ConnectClient(t, addr, v311, "late", true)
	s.Subscribe("r/#", 0)
	if got := s.Expect(mqtt.PUBLISH).Publish; string(got.Topic) != "r/b" {
		t.Fatalf("retained after delete: %s", got.Topic)
	}
	s.ExpectNothing(200 * time.Millisecond)
	tb.WaitFor(t, adminWait, func() bool { return a.Metrics().RetainedMessages == 2 })
}

// A 3.1.1 client disconnected by the API is closed without a DISCONNECT
// (3.1.1 has none from the server); its persistent session stays, with its
// subscriptions, and shows as not connected. Unknown clients are
// ErrNotFound; shared subscriptions are counted.
func TestAdminDisconnect311AndSessions(t *testing.T) {
	b, addr := tb.StartBroker(t, broker.Options{Loops: 2})
	a, ctx := b.Admin(), adminCtx(t)
	c := tb.ConnectClient(t, addr, v311, "keeper", false)
	c.Subscribe("k/1", 1)
	c.Subscribe("$share/g/k/#", 0)
	ci, err := a.Client(ctx, "keeper")
	if err != nil || !ci.Connected || ci.ProtocolVersion != 4 || ci.Subscriptions != 2 || ci.CleanStart ||
		ci.SessionExpiry != 0xFFFFFFFF || ci.Loop < 0 || ci.Loop > 1 {
		t.Fatalf("Client: %+v %v", ci, err)
	}
	subs, total, err := a.Subscriptions(ctx, "keeper", 0, 10)
	if err != nil || total != 2 || subs[0].Filter != "$share/g/k/#" || subs[1].Filter != "k/1" || subs[1].QoS != 1 {
		t.Fatalf("Subscriptions: %+v %d %v", subs, total, err)
	}
	if got := a.Metrics().SharedSubscriptions; got != 1 {
		t.Fatalf("shared subscriptions %d, want 1", got)
	}
	if err := a.Disconnect(ctx, "keeper"); err != nil {
		t.Fatal(err)
	}
	if pkts := c.ExpectClosed(adminWait); len(pkts) != 0 {
		t.Fatalf("3.1.1 client got %v before the close", pkts)
	}
	if ci, err = a.Client(ctx, "keeper"); err != nil || ci.Connected || ci.RemoteAddr != "" || ci.Subscriptions != 2 {
		t.Fatalf("after disconnect: %+v %v", ci, err)
	}
	if err := a.Disconnect(ctx, "keeper"); !errors.Is(err, admin.ErrNotFound) {
		t.Fatalf("disconnecting an offline client: %v", err)
	}
	if _, err := a.Client(ctx, "nobody"); !errors.Is(err, admin.ErrNotFound) {
		t.Fatalf("unknown client: %v", err)
	}
	if _, _, err := a.Subscriptions(ctx, "nobody", 0, 10); !errors.Is(err, admin.ErrNotFound) {
		t.Fatalf("subscriptions of an unknown client: %v", err)
	}
	// Clients lists connected and offline sessions in identifier order.
	tb.ConnectClient(t, addr, v5, "another", true)
	list, total, err := a.Clients(ctx, 0, 10)
	if err != nil || total != 2 || list[0].ID != "another" || !list[0].Connected || list[1].ID != "keeper" || list[1].Connected {
		t.Fatalf("Clients: %+v %d %v", list, total, err)
	}
	tb.WaitFor(t, adminWait, func() bool {
		s := a.Metrics()
		return s.ClientsConnected == 1 && s.ClientsDisconnected == 1 && s.Subscriptions == 2
	})
}

// A call whose context ends before a loop answers returns the context's
// error and leaves nothing blocked: here the loops never run.
func TestAdminContextEnds(t *testing.T) {
	b, err := broker.New(broker.Options{Loops: 2, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Shutdown(context.Background()) })
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := b.Admin().Clients(ctx, 0, 10); !errors.Is(err, context.Canceled) {
		t.Fatalf("Clients on stopped loops: %v", err)
	}
	if err := b.Admin().Disconnect(ctx, "x"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Disconnect on stopped loops: %v", err)
	}
}

// Refusals and failed passwords are counted by reason.
func TestMetricsRefusals(t *testing.T) {
	b, err := broker.New(broker.Options{Loops: 2, Auth: fakeAuth{}, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := b.Listen(broker.ListenerOptions{Network: "tcp", Address: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Shutdown(context.Background()) })
	addr := ln.String()

	c := tb.Dial(t, addr, v311)
	ack := c.Connect(&mqtt.Connect{ProtocolLevel: v311, ClientID: []byte("bad"), CleanStart: true,
		UsernameFlag: true, Username: []byte("alice"), PasswordFlag: true, Password: []byte("wrong")})
	if ack.Reason == 0 {
		t.Fatal("wrong password accepted")
	}
	c = tb.Dial(t, addr, v311)
	c.Write([]byte{0x10, 13, 0, 4, 'M', 'Q', 'T', 'T', 9, 2, 0, 60, 0, 1, 'x'}) // protocol level 9
	c.ExpectClosed(adminWait)
	c = tb.Dial(t, addr, v311)
	c.Connect(&mqtt.Connect{ProtocolLevel: v311, ClientID: []byte("anon"), CleanStart: true}) // anonymous refused
	reg := b.Metrics()
	tb.WaitFor(t, adminWait, func() bool {
		s := reg.Snapshot()
		return s.AuthFailures == 1 && s.Refused[metrics.RefuseNotAuthorized] == 2 &&
			s.Refused[metrics.RefuseProtocolVersion] == 1 && s.ConnectionsTotal == 3 && s.Connections == 0
	})
}

// With metrics off the broker has no registry, the API reports zeros and
// $SYS still names the version.
func TestMetricsOff(t *testing.T) {
	b, addr := tb.StartBroker(t, broker.Options{Loops: 2, DisableMetrics: true, StatsInterval: time.Hour, Version: "1.0"})
	if b.Metrics() != nil {
		t.Fatal("Metrics() with metrics off")
	}
	c := tb.ConnectClient(t, addr, v311, "reader", true)
	c.Subscribe("$SYS/broker/version", 0)
	if p := c.Expect(mqtt.PUBLISH).Publish; string(p.Payload) != "sol version 1.0" {
		t.Fatalf("version %q", p.Payload)
	}
	c.Subscribe("t", 0)
	c.Publish("t", 0, false, 0, []byte("x"))
	c.Expect(mqtt.PUBLISH)
	if s := b.Admin().Metrics(); s.PublishReceivedTotal() != 0 || s.ClientsConnected != 0 {
		t.Fatalf("counters with metrics off: %+v", s)
	}
	if st := b.Stats(); st.Received != 0 || st.Connected != 1 {
		t.Fatalf("Stats with metrics off: %+v", st)
	}
}
