package tls

import (
	"bytes"
	stdtls "crypto/tls"
	"io"
	"net"
	"testing"
	"time"
)

// BenchmarkEcho measures echo round trips of one message through the same
// loop.Server: plain TCP and TLS 1.3 / 1.2 listeners behind Wrap. SetBytes
// counts the message once (each op carries it both ways).
func BenchmarkEcho(b *testing.B) {
	p := newPKI(b, Options{})
	srv := startServer(b, p, WrapOptions{})
	dial := map[string]func(b *testing.B) net.Conn{
		"tcp": func(b *testing.B) net.Conn {
			c, err := net.Dial("tcp", srv.tcpAddr)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { c.Close() })
			return c
		},
		"tls1.3": func(b *testing.B) net.Conn { return dialTLS(b, srv.tlsAddr, p.clientConfig(stdtls.VersionTLS13)) },
		"tls1.2": func(b *testing.B) net.Conn { return dialTLS(b, srv.tlsAddr, p.clientConfig(stdtls.VersionTLS12)) },
	}
	for _, size := range []int{64, 1024, 16 << 10} {
		for _, kind := range []string{"tcp", "tls1.3", "tls1.2"} {
			b.Run(kind+"/"+byteSize(size), func(b *testing.B) {
				c := dial[kind](b)
				msg := bytes.Repeat([]byte{'x'}, size)
				got := make([]byte, size)
				c.SetDeadline(time.Now().Add(time.Minute))
				b.SetBytes(int64(size))
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if _, err := c.Write(msg); err != nil {
						b.Fatal(err)
					}
					if _, err := io.ReadFull(c, got); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkHandshake measures full TLS 1.3 handshakes through Wrap (client
// and server on this machine), the cost the handshake pool bounds.
func BenchmarkHandshake(b *testing.B) {
	p := newPKI(b, Options{})
	srv := startServer(b, p, WrapOptions{})
	cfg := p.clientConfig(stdtls.VersionTLS13)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		c, err := stdtls.Dial("tcp", srv.tlsAddr, cfg)
		if err != nil {
			b.Fatal(err)
		}
		c.Close()
	}
}

func byteSize(n int) string {
	if n >= 1<<10 {
		return itoa(n>>10) + "KiB"
	}
	return itoa(n) + "B"
}

func itoa(n int) string {
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}
