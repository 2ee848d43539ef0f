package broker_test

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/sol-broker/sol/broker"
	tb "github.com/sol-broker/sol/internal/testbroker"
	"github.com/sol-broker/sol/mqtt"
)

func needMosquitto(t *testing.T) {
	t.Helper()
	for _, c := range []string{"mosquitto_pub", "mosquitto_sub"} {
		if _, err := exec.LookPath(c); err != nil {
			t.Skipf("%s not found: install mosquitto-clients", c)
		}
	}
}

// mosq runs a mosquitto client command against addr with a timeout and
// returns its output.
func mosq(t *testing.T, addr string, timeout time.Duration, name string, args ...string) (string, error) {
	t.Helper()
	host, port, _ := strings.Cut(addr, ":")
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, append([]string{"-h", host, "-p", port}, args...)...).CombinedOutput()
	return string(out), err
}

func TestMosquittoClients(t *testing.T) {
	needMosquitto(t)
	addr := tb.Start(t, broker.Options{Loops: 2})
	for _, v := range []string{"31", "311", "5"} {
		for _, q := range []string{"0", "1", "2"} {
			topic := "mosq/" + v + "/" + q
			// Retained, so the subscriber started afterwards gets it.
			if out, err := mosq(t, addr, 10*time.Second, "mosquitto_pub", "-V", v, "-q", q, "-r", "-t", topic, "-m", "hello "+v); err != nil {
				t.Fatalf("mosquitto_pub -V %s -q %s: %v %s", v, q, err, out)
			}
			out, err := mosq(t, addr, 10*time.Second, "mosquitto_sub", "-V", v, "-q", q, "-t", topic, "-C", "1", "-W", "5", "-v")
			if err != nil || strings.TrimSpace(out) != topic+" hello "+v {
				t.Fatalf("mosquitto_sub -V %s -q %s: %v %q", v, q, err, out)
			}
		}
	}
	// Clearing a retained message with -n.
	if out, err := mosq(t, addr, 10*time.Second, "mosquitto_pub", "-t", "mosq/311/1", "-r", "-n"); err != nil {
		t.Fatalf("mosquitto_pub -n: %v %s", err, out)
	}
	if out, err := mosq(t, addr, 10*time.Second, "mosquitto_sub", "-t", "mosq/311/1", "-C", "1", "-W", "1"); err == nil {
		t.Fatalf("retained message still there after -n: %q", out)
	}
}

// TestMosquittoLive: mosquitto_sub (5.0, assigned client id, shared
// subscription) receives what a raw client publishes live.
func TestMosquittoLive(t *testing.T) {
	needMosquitto(t)
	addr := tb.Start(t, broker.Options{Loops: 2})
	host, port, _ := strings.Cut(addr, ":")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "mosquitto_sub", "-h", host, "-p", port, "-V", "5", "-q", "1",
		"-t", "$share/g/live/#", "-t", "$SYS/#", "-C", "3", "-v")
	var out strings.Builder
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pub := tb.ConnectClient(t, addr, mqtt.Version5, "mosq-live-pub", true)
	// Publish until the subscriber (which connects asynchronously) has
	// three messages; nothing reaches $SYS/# from a client.
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	for i := uint16(1); ; i++ {
		pub.Publish("live/x", 1, false, i, []byte("m"))
		pub.Expect(mqtt.PUBACK)
		select {
		case err = <-done:
		case <-time.After(20 * time.Millisecond):
			continue
		}
		break
	}
	if err != nil || strings.Count(out.String(), "live/x m\n") != 3 {
		t.Fatalf("mosquitto_sub: %v %q", err, out.String())
	}
}
