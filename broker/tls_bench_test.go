package broker_test

import (
	"bufio"
	"context"
	stdtls "crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sol-broker/sol/auth"
	"github.com/sol-broker/sol/broker"
	"github.com/sol-broker/sol/internal/testcerts"
	"github.com/sol-broker/sol/mqtt"
	soltls "github.com/sol-broker/sol/tls"
)

// plainTLSBroker starts a broker with o, a plain and a TLS listener (a
// certificate from a fresh test CA), and returns both addresses and a client
// TLS config that trusts that CA.
func plainTLSBroker(tb testing.TB, o broker.Options) (plain, secure string, client *stdtls.Config) {
	tb.Helper()
	dir := tb.TempDir()
	ca := testcerts.New(tb)
	cert, key := ca.Issue(tb, dir, "server", 10, true)
	conf, err := soltls.Load(soltls.Options{CertFile: cert, KeyFile: key})
	if err != nil {
		tb.Fatal(err)
	}
	o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	br, err := broker.New(o)
	if err != nil {
		tb.Fatal(err)
	}
	p, err := br.Listen(broker.ListenerOptions{Network: "tcp", Address: "127.0.0.1:0", AllowAnonymous: true})
	if err != nil {
		tb.Fatal(err)
	}
	s, err := br.Listen(broker.ListenerOptions{Network: "tcp", Address: "127.0.0.1:0", AllowAnonymous: true, TLS: conf.Config()})
	if err != nil {
		tb.Fatal(err)
	}
	if err := br.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		br.Shutdown(ctx)
	})
	return p.String(), s.String(), &stdtls.Config{RootCAs: ca.Pool(), ServerName: "127.0.0.1"}
}

// rawConnect dials addr (over TLS when tc is set), sends CONNECT and reads the
// CONNACK, returning the connection and the CONNACK's return code.
func rawConnect(b *testing.B, addr string, tc *stdtls.Config, id, user, pass string) (net.Conn, *bufio.Reader, byte) {
	b.Helper()
	var c net.Conn
	var err error
	if tc != nil {
		c, err = stdtls.Dial("tcp", addr, tc)
	} else {
		c, err = net.Dial("tcp", addr)
	}
	if err != nil {
		b.Fatal(err)
	}
	p := mqtt.Connect{ProtocolLevel: mqtt.Version311, CleanStart: true, KeepAlive: 60, ClientID: []byte(id)}
	if user != "" {
		p.UsernameFlag, p.Username, p.PasswordFlag, p.Password = true, []byte(user), true, []byte(pass)
	}
	if _, err := c.Write(mqtt.AppendConnect(nil, &p)); err != nil {
		b.Fatal(err)
	}
	r := bufio.NewReaderSize(c, 64<<10)
	var ack [4]byte
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(r, ack[:]); err != nil {
		b.Fatalf("CONNACK: %v", err)
	}
	c.SetReadDeadline(time.Time{})
	return c, r, ack[3]
}

// BenchmarkThroughputTLS moves QoS 0 messages of 64 B and 1 KiB from one
// publisher to one subscriber through the broker, over plain TCP and over TLS
// in the same run, and reports delivered messages per second.
func BenchmarkThroughputTLS(b *testing.B) {
	plain, secure, tc := plainTLSBroker(b, broker.Options{Loops: 2})
	for _, size := range []int{64, 1024} {
		for _, mode := range []struct {
			name string
			addr string
			tc   *stdtls.Config
		}{{"tcp", plain, nil}, {"tls", secure, tc}} {
			b.Run(fmt.Sprintf("%s/%dB", mode.name, size), func(b *testing.B) {
				id := fmt.Sprintf("%s-%d", mode.name, size)
				sub, sr, _ := rawConnect(b, mode.addr, mode.tc, "sub-"+id, "", "")
				defer sub.Close()
				topic := "bench/" + id
				subPkt := mqtt.AppendSubscribe(nil, mqtt.Version311, &mqtt.Subscribe{PacketID: 1,
					Filters: []mqtt.Subscription{{Filter: []byte(topic)}}})
				if _, err := sub.Write(subPkt); err != nil {
					b.Fatal(err)
				}
				var suback [5]byte
				if _, err := io.ReadFull(sr, suback[:]); err != nil {
					b.Fatal(err)
				}
				pub, _, _ := rawConnect(b, mode.addr, mode.tc, "pub-"+id, "", "")
				defer pub.Close()
				msg := mqtt.AppendPublish(nil, mqtt.Version311, &mqtt.Publish{Topic: []byte(topic), Payload: make([]byte, size)})
				batch := make([]byte, 0, 64*len(msg))
				for i := 0; i < 64; i++ {
					batch = append(batch, msg...)
				}
				done := make(chan error, 1)
				go func() {
					// Count whole PUBLISH packets until b.N have arrived.
					buf := make([]byte, len(msg))
					for i := 0; i < b.N; i++ {
						if _, err := io.ReadFull(sr, buf); err != nil {
							done <- err
							return
						}
					}
					done <- nil
				}()
				b.SetBytes(int64(size))
				b.ResetTimer()
				start := time.Now()
				for sent := 0; sent < b.N; {
					n := min(64, b.N-sent)
					if _, err := pub.Write(batch[:n*len(msg)]); err != nil {
						b.Fatal(err)
					}
					sent += n
				}
				if err := <-done; err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msg/s")
			})
		}
	}
}

// BenchmarkConnectRate connects, authenticates and disconnects clients one after
// another: anonymously, and with a Mosquitto $7$ password checked on the auth
// workers; plain TCP and TLS. Reports connects per second.
func BenchmarkConnectRate(b *testing.B) {
	dir := b.TempDir()
	pwFile := filepath.Join(dir, "passwd")
	if err := os.WriteFile(pwFile, []byte("alice:"+auth.HashPBKDF2("secret")+"\n"), 0o600); err != nil {
		b.Fatal(err)
	}
	authn, err := auth.NewAuthenticator(pwFile, "", 0)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(authn.Close)
	plain, secure, tc := plainTLSBroker(b, broker.Options{Loops: 2, Auth: authn})
	for _, mode := range []struct {
		name       string
		addr       string
		tc         *stdtls.Config
		user, pass string
	}{
		{"tcp/anonymous", plain, nil, "", ""},
		{"tcp/password", plain, nil, "alice", "secret"},
		{"tls/password", secure, tc, "alice", "secret"},
	} {
		b.Run(mode.name, func(b *testing.B) {
			start := time.Now()
			for i := 0; i < b.N; i++ {
				c, _, rc := rawConnect(b, mode.addr, mode.tc, fmt.Sprintf("c%d", i), mode.user, mode.pass)
				if rc != 0 {
					b.Fatalf("CONNACK return code %d", rc)
				}
				c.Write([]byte{0xE0, 0}) // DISCONNECT
				c.Close()
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "connects/s")
		})
	}
}
