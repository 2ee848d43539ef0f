package tls

import (
	stdtls "crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
)

// Options name the files and policy of one TLS listener.
type Options struct {
	CertFile string
	KeyFile  string
	// CAFile verifies client certificates; empty means clients are not asked
	// for one.
	CAFile string
	// Versions allowed, among "1.2" and "1.3"; empty means both.
	Versions []string
	// RequireCertificate refuses clients without a certificate signed by
	// CAFile.
	RequireCertificate bool
}

// Config is a listener's TLS configuration whose certificate and client CA can
// be swapped by Reload while connections are being served: handshakes read
// the current pair through GetConfigForClient, so connected clients are not
// disturbed and new ones get the new certificate.
type Config struct {
	opts    Options
	min     uint16
	max     uint16
	current atomic.Pointer[stdtls.Config]
	server  *stdtls.Config // what Config returns, made once in Load
}

// Load reads the certificate, key and CA named by o. The error names the file
// that could not be used.
func Load(o Options) (*Config, error) {
	c := &Config{opts: o, min: stdtls.VersionTLS12, max: stdtls.VersionTLS13}
	if len(o.Versions) > 0 {
		c.min, c.max = 0, 0
		for _, v := range o.Versions {
			var id uint16
			switch v {
			case "1.2":
				id = stdtls.VersionTLS12
			case "1.3":
				id = stdtls.VersionTLS13
			default:
				return nil, fmt.Errorf("tls_versions: %q is not supported (want 1.2 or 1.3)", v)
			}
			if c.min == 0 || id < c.min {
				c.min = id
			}
			if id > c.max {
				c.max = id
			}
		}
	}
	if err := c.Reload(); err != nil {
		return nil, err
	}
	c.server = &stdtls.Config{
		MinVersion: c.min,
		MaxVersion: c.max,
		GetConfigForClient: func(*stdtls.ClientHelloInfo) (*stdtls.Config, error) {
			return c.current.Load(), nil
		},
	}
	return c, nil
}

// Reload reads the files again and, if all of them are good, makes them the
// ones new handshakes use. On error the previous configuration stays.
// Safe to call from any goroutine.
func (c *Config) Reload() error {
	cert, err := stdtls.LoadX509KeyPair(c.opts.CertFile, c.opts.KeyFile)
	if err != nil {
		return fmt.Errorf("loading certificate %s and key %s: %w", c.opts.CertFile, c.opts.KeyFile, err)
	}
	next := &stdtls.Config{
		Certificates: []stdtls.Certificate{cert},
		MinVersion:   c.min,
		MaxVersion:   c.max,
	}
	if c.opts.CAFile != "" {
		pem, err := os.ReadFile(c.opts.CAFile)
		if err != nil {
			return fmt.Errorf("loading CA %s: %w", c.opts.CAFile, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("loading CA %s: %w", c.opts.CAFile, errors.New("no PEM certificate found"))
		}
		next.ClientCAs = pool
		next.ClientAuth = stdtls.VerifyClientCertIfGiven
		if c.opts.RequireCertificate {
			next.ClientAuth = stdtls.RequireAndVerifyClientCert
		}
	}
	c.current.Store(next)
	return nil
}

// Config returns the crypto/tls configuration for a listener, the same one
// on every call (do not modify it). It stays valid across Reload: each
// handshake fetches the current certificate and CA. Any goroutine.
func (c *Config) Config() *stdtls.Config {
	return c.server
}

// TLSConfig returns Config(), so a *Config can be a listener tag (TLSTag).
func (c *Config) TLSConfig() *stdtls.Config { return c.server }
