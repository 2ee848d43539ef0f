package broker_test

import (
	"context"
	stdtls "crypto/tls"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	pahov3 "github.com/eclipse/paho.mqtt.golang"

	"github.com/sol-broker/sol/auth"
	"github.com/sol-broker/sol/broker"
	"github.com/sol-broker/sol/internal/testcerts"
	soltls "github.com/sol-broker/sol/tls"
)

// tlsBroker starts a broker with one TLS listener on 127.0.0.1:0.
func tlsBroker(t *testing.T, o broker.Options, to soltls.Options, identity bool) string {
	t.Helper()
	conf, err := soltls.Load(to)
	if err != nil {
		t.Fatal(err)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	b, err := broker.New(o)
	if err != nil {
		t.Fatal(err)
	}
	addr, err := b.Listen(broker.ListenerOptions{Network: "tcp", Address: "127.0.0.1:0", AllowAnonymous: true,
		TLS: conf.Config(), UseIdentityAsUsername: identity})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		b.Shutdown(ctx)
	})
	return addr.String()
}

// tlsClient5 connects a paho.golang client over TLS and collects what it gets.
func tlsClient5(t *testing.T, addr, id string, cfg *stdtls.Config) (*paho.Client, *received, *paho.Connack, error) {
	t.Helper()
	conn, err := stdtls.Dial("tcp", addr, cfg)
	if err != nil {
		return nil, nil, nil, err
	}
	if err := conn.Handshake(); err != nil {
		conn.Close()
		return nil, nil, nil, err
	}
	return pahoOver(t, overLoopback(t, conn), id)
}

func waitCount(t *testing.T, r *received, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for r.count() < n && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := r.count(); got != n {
		t.Fatalf("received %d messages, want %d: %v", got, n, r.msgs)
	}
}

// TestTLSClients: a 5.0 client over TLS 1.3 and a 3.1.1 client over TLS 1.2
// exchange QoS 1 messages through a TLS listener.
func TestTLSClients(t *testing.T) {
	dir := t.TempDir()
	ca := testcerts.New(t)
	cert, key := ca.Issue(t, dir, "server", 10, true)
	addr := tlsBroker(t, broker.Options{Loops: 2}, soltls.Options{CertFile: cert, KeyFile: key}, false)

	v5, got5, _, err := tlsClient5(t, addr, "tls-v5", &stdtls.Config{RootCAs: ca.Pool(), ServerName: "127.0.0.1", MinVersion: stdtls.VersionTLS13})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := v5.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "secure/#", QoS: 1}}}); err != nil {
		t.Fatal(err)
	}

	got3 := &received{}
	opts := pahov3.NewClientOptions().AddBroker("tls://" + addr).SetClientID("tls-v311").
		SetTLSConfig(&stdtls.Config{RootCAs: ca.Pool(), ServerName: "127.0.0.1", MaxVersion: stdtls.VersionTLS12}).
		SetProtocolVersion(4).SetAutoReconnect(false)
	v3 := pahov3.NewClient(opts)
	if tok := v3.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("3.1.1 TLS 1.2 connect: %v", tok.Error())
	}
	defer v3.Disconnect(100)
	if tok := v3.Subscribe("back/#", 1, func(_ pahov3.Client, m pahov3.Message) { got3.add(m.Topic(), string(m.Payload()), m.Qos()) }); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("3.1.1 subscribe: %v", tok.Error())
	}

	big := strings.Repeat("x", 40000) // spans several TLS records
	for _, p := range []string{"one", "two", big} {
		if tok := v3.Publish("secure/a", 1, false, p); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatalf("3.1.1 publish: %v", tok.Error())
		}
		if _, err := v5.Publish(ctx, &paho.Publish{Topic: "back/b", QoS: 1, Payload: []byte(p)}); err != nil {
			t.Fatalf("5.0 publish: %v", err)
		}
	}
	waitCount(t, got5, 3)
	waitCount(t, got3, 3)
	if m := got5.msgs["secure/a"]; m[2].payload != big || m[0].payload != "one" {
		t.Fatalf("5.0 client got the wrong payloads or order")
	}
}

// TestTLSIdentityAsUsername: with require_certificate and
// use_identity_as_username, a client without a certificate never gets in, and
// the certificate's CN is the username the ACL sees.
func TestTLSIdentityAsUsername(t *testing.T) {
	dir := t.TempDir()
	ca := testcerts.New(t)
	cert, key := ca.Issue(t, dir, "server", 10, true)
	aclFile := filepath.Join(dir, "acl")
	if err := os.WriteFile(aclFile, []byte("user device-42\ntopic readwrite devices/device-42/#\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	authn, err := auth.NewAuthenticator("", aclFile, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer authn.Close()
	addr := tlsBroker(t, broker.Options{Loops: 2, Auth: authn},
		soltls.Options{CertFile: cert, KeyFile: key, CAFile: ca.WriteCA(t, dir), RequireCertificate: true}, true)

	if c, _, _, err := tlsClient5(t, addr, "nocert", &stdtls.Config{RootCAs: ca.Pool(), ServerName: "127.0.0.1"}); err == nil {
		c.Disconnect(&paho.Disconnect{})
		t.Fatal("client without a certificate was admitted")
	}

	cc, ck := ca.Issue(t, dir, "device-42", 20, false)
	pair, err := stdtls.LoadX509KeyPair(cc, ck)
	if err != nil {
		t.Fatal(err)
	}
	c, got, connack, err := tlsClient5(t, addr, "dev", &stdtls.Config{RootCAs: ca.Pool(), ServerName: "127.0.0.1", Certificates: []stdtls.Certificate{pair}})
	if err != nil || connack.ReasonCode != 0 {
		t.Fatalf("client with certificate: %v %+v", err, connack)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "devices/#", QoS: 1}}}); err != nil {
		t.Fatal(err)
	}
	for _, topic := range []string{"devices/device-7/t", "devices/device-42/t"} {
		pr, err := c.Publish(ctx, &paho.Publish{Topic: topic, QoS: 1, Payload: []byte(topic)})
		if topic == "devices/device-42/t" && (err != nil || pr.ReasonCode != 0) {
			t.Fatalf("publish to own topic: %v %+v", err, pr)
		}
		if topic == "devices/device-7/t" && (err == nil && pr.ReasonCode != 0x87) {
			t.Fatalf("publish to another device's topic: reason %#x, want 0x87 Not authorized", pr.ReasonCode)
		}
	}
	waitCount(t, got, 1)
	if len(got.msgs["devices/device-42/t"]) != 1 {
		t.Fatalf("got %v, want only the own topic", got.msgs)
	}
}

// TestTLSMosquittoClients runs mosquitto_pub and mosquitto_sub with --cafile.
func TestTLSMosquittoClients(t *testing.T) {
	needMosquitto(t)
	dir := t.TempDir()
	ca := testcerts.New(t)
	cert, key := ca.Issue(t, dir, "server", 10, true)
	caFile := ca.WriteCA(t, dir)
	addr := tlsBroker(t, broker.Options{Loops: 2}, soltls.Options{CertFile: cert, KeyFile: key}, false)
	host, port, _ := strings.Cut(addr, ":")

	sub := exec.Command("mosquitto_sub", "-h", host, "-p", port, "--cafile", caFile, "-t", "tls/t", "-C", "1", "-W", "10", "-q", "1")
	out := &strings.Builder{}
	sub.Stdout, sub.Stderr = out, out
	if err := sub.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- sub.Wait() }()
	deadline := time.After(10 * time.Second)
	for {
		// The subscriber may not have subscribed yet: publish until it has
		// one message (it exits after -C 1).
		pub := exec.Command("mosquitto_pub", "-h", host, "-p", port, "--cafile", caFile, "-t", "tls/t", "-m", "over tls", "-q", "1", "-V", "5")
		if b, err := pub.CombinedOutput(); err != nil {
			t.Fatalf("mosquitto_pub --cafile: %v %s", err, b)
		}
		select {
		case err := <-done:
			if err != nil || strings.TrimSpace(out.String()) != "over tls" {
				t.Fatalf("mosquitto_sub: %v %q", err, out.String())
			}
			return
		case <-time.After(300 * time.Millisecond):
		case <-deadline:
			sub.Process.Kill()
			t.Fatalf("mosquitto_sub got nothing: %q", out.String())
		}
	}
}
