package broker_test

import (
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/sol-broker/sol/internal/idleclients"

	"github.com/sol-broker/sol/broker"
	tb "github.com/sol-broker/sol/internal/testbroker"
	"github.com/sol-broker/sol/mqtt"
)

const idleClients = 4000

// idleBudget is the Go heap and stack memory a connected, idle MQTT client
// (3.1.1, clean session, no subscriptions) may hold in the broker, with
// margin over the measured value: about 355 bytes (loop.Conn 96, conn 64,
// session 80, the client identifier, a deadline entry, and the slots of the
// loop's descriptor and session tables); 668 before Conn, conn and session
// were trimmed and the per-connection Timer replaced by the deadline table,
// 1,106 before the session state, subscription map and addresses became
// lazy.
const idleBudget = 420

// TestIdleClientMemory measures the Go heap and stack memory the broker holds
// per connected idle MQTT client with 4,000 of them. The clients run in a
// child process (this test binary re-run as TestHelperIdleMQTTClients) so
// that only the broker side is measured.
func TestIdleClientMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 4,000 connections")
	}
	idleclients.RaiseFDLimit(t, idleClients)
	_, addr := tb.StartBroker(t, broker.Options{Loops: 2, Logger: quietLogger()})
	// One client first so that per-loop buffers and pools exist before the
	// baseline.
	warm := tb.ConnectClient(t, addr, v311, "warm", true)
	defer warm.Conn.Close()
	before := idleclients.HeapAndStacks()
	idleclients.Spawn(t, "TestHelperIdleMQTTClients", addr, idleClients)
	after := idleclients.HeapAndStacks()
	per := float64(int64(after)-int64(before)) / idleClients
	t.Logf("idle MQTT clients: %d, Go heap+stacks per client: %.0f bytes (before %d, after %d)", idleClients, per, before, after)
	if per > idleBudget {
		t.Fatalf("%.0f bytes per idle client, want <= %d", per, idleBudget)
	}
	if per < 100 {
		t.Fatalf("%.0f bytes per idle client: implausibly low, the measurement is broken", per)
	}
}

// TestHelperIdleMQTTClients is the client side of TestIdleClientMemory; it
// does nothing unless started by it. It prints "IDLE ready" once every
// client has its CONNACK, and holds them until stdin closes.
func TestHelperIdleMQTTClients(t *testing.T) {
	idleclients.Serve(t, func(c net.Conn, i int) error {
		pkt := mqtt.AppendConnect(nil, &mqtt.Connect{ProtocolLevel: mqtt.Version311, ClientID: []byte(fmt.Sprintf("idle-%d", i)), CleanStart: true, KeepAlive: 60})
		c.SetDeadline(time.Now().Add(30 * time.Second))
		if _, err := c.Write(pkt); err != nil {
			return err
		}
		var ack [4]byte
		if _, err := io.ReadFull(c, ack[:]); err != nil || ack[0] != 0x20 || ack[3] != 0 {
			return fmt.Errorf("CONNACK % x: %v", ack, err)
		}
		return nil
	})
}
