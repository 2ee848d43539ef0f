// End-to-end tests against the real broker: its metrics registry
// ((*broker.Broker).Metrics), $SYS publications and the admin API over
// (*broker.Broker).Admin, with real clients on 127.0.0.1.

package admin_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/sol-broker/sol/admin"
	"github.com/sol-broker/sol/broker"
	"github.com/sol-broker/sol/internal/testbroker"
	"github.com/sol-broker/sol/metrics"
	"github.com/sol-broker/sol/mqtt"
)

const wait = 5 * time.Second

// Counters match a scripted session: N QoS 1 messages in, N out to one
// subscriber, then a slow (offline) consumer overflows its queue and every
// drop is counted.
func TestE2ECountersMatchSession(t *testing.T) {
	const n, queue, extra = 20, 5, 7
	b, addr := testbroker.StartBroker(t, broker.Options{Loops: 2, MaxQueuedMessages: queue})
	reg := b.Metrics()
	sub := testbroker.ConnectClient(t, addr, 4, "sub", true)
	if rc := sub.Subscribe("t/#", 1); rc != 1 {
		t.Fatalf("SUBACK %v", rc)
	}
	pub := testbroker.ConnectClient(t, addr, 4, "pub", true)
	for i := range n {
		pub.Publish("t/x", 1, false, uint16(i+1), []byte("0123456789"))
		pub.Expect(mqtt.PUBACK)
	}
	for range n {
		sub.Expect(mqtt.PUBLISH)
		sub.Write([]byte{0x40, 2, byte(sub.Packet.Publish.PacketID >> 8), byte(sub.Packet.Publish.PacketID)})
	}
	testbroker.WaitFor(t, wait, func() bool {
		s := reg.Snapshot()
		return s.PublishReceived[1] == n && s.PublishSent[1] == n && s.PublishBytesReceived[1] == 10*n &&
			s.ClientsConnected == 2 && s.Subscriptions == 1 && s.Inflight == 0
	})

	// Slow consumer: a persistent session goes offline and gets more than
	// its queue holds.
	slow := testbroker.ConnectClient(t, addr, 4, "slow", false)
	slow.Subscribe("s/#", 1)
	slow.Conn.Close()
	testbroker.WaitFor(t, wait, func() bool { return reg.Snapshot().ClientsDisconnected == 1 })
	for i := range queue + extra {
		pub.Publish("s/x", 1, false, uint16(i+1), []byte("x"))
		pub.Expect(mqtt.PUBACK)
	}
	testbroker.WaitFor(t, wait, func() bool {
		s := reg.Snapshot()
		return s.Dropped[metrics.DropQueueFull] == extra && s.Queued == queue
	})
}

// $SYS values arrive to a subscriber at the interval, with Mosquitto's names.
func TestE2ESys(t *testing.T) {
	_, addr := testbroker.StartBroker(t, broker.Options{StatsInterval: time.Second, Version: "9.9.9"})
	c := testbroker.ConnectClient(t, addr, 4, "watcher", true)
	c.Subscribe("$SYS/broker/#", 0)
	seen := map[string]string{}
	uptimes := 0
	deadline := time.Now().Add(3 * wait)
	for uptimes < 3 && time.Now().Before(deadline) {
		p := c.Read(wait)
		if p.Type != mqtt.PUBLISH {
			continue
		}
		topic, payload := string(p.Publish.Topic), string(p.Publish.Payload)
		if topic == "$SYS/broker/uptime" {
			uptimes++
			if !strings.HasSuffix(payload, " seconds") {
				t.Fatalf("uptime %q", payload)
			}
		}
		seen[topic] = payload
	}
	if uptimes < 3 {
		t.Fatalf("%d uptime messages within %v", uptimes, 3*wait)
	}
	if seen["$SYS/broker/version"] != "sol version 9.9.9" {
		t.Errorf("version %q", seen["$SYS/broker/version"])
	}
	if _, ok := seen["$SYS/broker/retained messages/count"]; !ok {
		t.Error("no retained messages/count")
	}
	// Clients may not publish there: the message is not delivered.
	c.Publish("$SYS/broker/uptime", 0, false, 0, []byte("forged"))
	for range 3 {
		p := c.Read(wait)
		if p.Type == mqtt.PUBLISH && string(p.Publish.Payload) == "forged" {
			t.Fatal("a client's PUBLISH to $SYS was delivered")
		}
	}
}

func get(t *testing.T, method, url, token string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, body
}

// The API lists, shows and disconnects a real client (5.0: DISCONNECT
// 0x98); /metrics parses; a wrong token gets 401.
func TestE2EAdmin(t *testing.T) {
	b, addr := testbroker.StartBroker(t, broker.Options{Loops: 2})
	srv, err := admin.Serve("127.0.0.1:0", "tok", b.Admin(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Shutdown(context.Background()) })
	base := "http://" + srv.Addr().String()

	victim := testbroker.ConnectClient(t, addr, 5, "victim", true)
	victim.Subscribe("a/+", 1)
	testbroker.ConnectClient(t, addr, 4, "bystander", true)

	if st, _ := get(t, "GET", base+"/api/v1/clients", "wrong"); st != 401 {
		t.Fatalf("wrong token: %d", st)
	}
	st, body := get(t, "GET", base+"/api/v1/clients", "tok")
	var list struct {
		Total   int
		Clients []admin.ClientInfo
	}
	if err := json.Unmarshal(body, &list); st != 200 || err != nil || list.Total != 2 {
		t.Fatalf("list: %d %s %v", st, body, err)
	}
	st, body = get(t, "GET", base+"/api/v1/clients/victim", "tok")
	var ci admin.ClientInfo
	if err := json.Unmarshal(body, &ci); st != 200 || err != nil || ci.ProtocolVersion != 5 ||
		!ci.Connected || ci.Subscriptions != 1 || !strings.HasPrefix(ci.RemoteAddr, "127.0.0.1:") {
		t.Fatalf("show: %d %s %v", st, body, err)
	}
	st, body = get(t, "GET", base+"/api/v1/subscriptions?client=victim", "tok")
	if st != 200 || !strings.Contains(string(body), `"filter":"a/+"`) {
		t.Fatalf("subscriptions: %d %s", st, body)
	}
	if st, body = get(t, "DELETE", base+"/api/v1/clients/victim", "tok"); st != 200 {
		t.Fatalf("delete: %d %s", st, body)
	}
	pkts := victim.ExpectClosed(wait)
	if len(pkts) == 0 || pkts[len(pkts)-1].Type != mqtt.DISCONNECT || pkts[len(pkts)-1].Disconnect.Reason != mqtt.AdministrativeAction {
		t.Fatalf("victim got %v before the close, want DISCONNECT 0x98", pkts)
	}
	if st, _ = get(t, "DELETE", base+"/api/v1/clients/nobody", "tok"); st != 404 {
		t.Fatalf("delete unknown: %d", st)
	}

	st, body = get(t, "GET", base+"/metrics", "tok")
	p := expfmt.NewTextParser(model.LegacyValidation)
	if _, err := p.TextToMetricFamilies(strings.NewReader(string(body))); st != 200 || err != nil {
		t.Fatalf("metrics: %d %v", st, err)
	}
}
