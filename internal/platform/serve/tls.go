package serve

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	"go.uber.org/zap"
)

// TLSFiles names the files of a listener that serves HTTPS: its
// certificate chain and private key (PEM), and optionally the CA bundle
// that clients' certificates must chain to (mutual TLS).
type TLSFiles struct {
	Cert, Key, ClientCA string
}

// Enabled reports whether any file is named.
func (f TLSFiles) Enabled() bool { return f.Cert != "" || f.Key != "" || f.ClientCA != "" }

// reloadEvery is how often a handshake looks whether the certificate files
// changed: a certificate renewed in place (cert-manager, certbot) is served
// from the next handshake after it, without a restart.
const reloadEvery = time.Second

// Config reads the files into a TLS configuration (TLS 1.2 or later). The
// certificate and key are read again when either file changes; a pair that
// does not load then (a renewal half written) keeps the previous one in
// service and is logged, and is tried again when the files change again.
// The client CA bundle is read once. name gives a setting's flag name for
// errors ("tls-cert-file" → "--tls-cert-file (AEGIS_TLS_CERT_FILE)").
func (f TLSFiles) Config(log *zap.Logger, name func(string) string) (*tls.Config, error) {
	if log == nil {
		log = zap.NewNop()
	}
	if f.Cert == "" || f.Key == "" {
		return nil, fmt.Errorf("%s and %s go together (a CA for clients alone serves no TLS)", name("tls-cert-file"), name("tls-key-file"))
	}
	c := &certFiles{files: f, log: log}
	if err := c.load(); err != nil {
		return nil, fmt.Errorf("%s %s and %s %s: %w", name("tls-cert-file"), f.Cert, name("tls-key-file"), f.Key, err)
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: c.get}
	if f.ClientCA != "" {
		pem, err := os.ReadFile(f.ClientCA)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name("tls-client-ca-file"), err)
		}
		cfg.ClientCAs = x509.NewCertPool()
		if !cfg.ClientCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s %s: no PEM certificate in it", name("tls-client-ca-file"), f.ClientCA)
		}
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}

// certFiles is the certificate in service and the state of its files when
// it was read.
type certFiles struct {
	files TLSFiles
	log   *zap.Logger

	mu      sync.Mutex
	cert    *tls.Certificate
	stamp   [2]fileStamp // of Cert and Key, as last read (or last failed)
	checked time.Time
}

type fileStamp struct {
	size int64
	mod  time.Time
}

func stampOf(path string) (fileStamp, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}, err
	}
	return fileStamp{fi.Size(), fi.ModTime()}, nil
}

// load reads the pair and puts it in service.
func (c *certFiles) load() error {
	var stamp [2]fileStamp
	var err error
	for i, p := range []string{c.files.Cert, c.files.Key} {
		if stamp[i], err = stampOf(p); err != nil {
			return err
		}
	}
	// A pair that fails is not tried again until the files change. The
	// errors of LoadX509KeyPair quote no key material.
	c.stamp = stamp
	cert, err := tls.LoadX509KeyPair(c.files.Cert, c.files.Key)
	if err != nil {
		return err
	}
	if cert.Leaf == nil || cert.Leaf.NotAfter.IsZero() {
		return errors.New("no certificate in the chain")
	}
	c.cert = &cert
	now := time.Now()
	fields := []zap.Field{zap.String("file", c.files.Cert), zap.Strings("names", cert.Leaf.DNSNames),
		zap.Time("not_before", cert.Leaf.NotBefore), zap.Time("not_after", cert.Leaf.NotAfter)}
	if now.After(cert.Leaf.NotAfter) || now.Before(cert.Leaf.NotBefore) {
		c.log.Warn("the TLS certificate served is outside its validity period: clients will refuse it", fields...)
	} else {
		c.log.Info("serving TLS certificate", fields...)
	}
	return nil
}

func (c *certFiles) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if now := time.Now(); now.Sub(c.checked) >= reloadEvery {
		c.checked = now
		if c.changed() {
			if err := c.load(); err != nil {
				c.log.Error("the TLS certificate files changed but do not load: the previous certificate is still served",
					zap.String("cert_file", c.files.Cert), zap.String("key_file", c.files.Key), zap.Error(err))
			}
		}
	}
	return c.cert, nil
}

func (c *certFiles) changed() bool {
	for i, p := range []string{c.files.Cert, c.files.Key} {
		s, err := stampOf(p)
		if err != nil {
			return false // a file being replaced: keep what is served
		}
		if s != c.stamp[i] {
			return true
		}
	}
	return false
}

// Loopback reports whether a listen address accepts connections from this
// machine only.
func Loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
