package serve

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/aegisai/audit/internal/platform/capool"
)

// TLSFiles names the files of a listener that serves HTTPS: its
// certificate chain and private key (PEM), and optionally the CA bundle
// that clients' certificates must chain to (mutual TLS).
type TLSFiles struct {
	Cert, Key, ClientCA string
	// Metrics, if set, receives aegis_tls_certificate_expiry_timestamp_seconds:
	// when the certificate served expires, to alert on a renewal that
	// did not happen.
	Metrics prometheus.Registerer
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
	if f.Cert == "" && f.Key == "" {
		return nil, fmt.Errorf("%s needs %s and %s: client certificates are asked for over TLS", name("tls-client-ca-file"), name("tls-cert-file"), name("tls-key-file"))
	}
	if f.Cert == "" || f.Key == "" {
		return nil, fmt.Errorf("%s and %s go together", name("tls-cert-file"), name("tls-key-file"))
	}
	c := &certFiles{files: f, log: log, expiry: prometheus.NewGauge(prometheus.GaugeOpts{Name: "aegis_tls_certificate_expiry_timestamp_seconds",
		Help: "When the TLS certificate served expires (Unix time): alert well before it."})}
	if err := c.load(); err != nil {
		if strings.Contains(err.Error(), "failed to parse private key") {
			err = fmt.Errorf("%w (an encrypted key? give it unencrypted, readable by this service alone: openssl pkey -in KEY -out KEY.plain)", err)
		}
		return nil, fmt.Errorf("%s %s and %s %s: %w", name("tls-cert-file"), f.Cert, name("tls-key-file"), f.Key, err)
	}
	if f.Metrics != nil {
		if err := f.Metrics.Register(c.expiry); err != nil {
			return nil, err
		}
	}
	WarnIfOpen(log, f.Key, "the TLS private key")
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: c.get}
	if f.ClientCA != "" {
		var err error
		if cfg.ClientCAs, err = capool.Load(name("tls-client-ca-file"), f.ClientCA); err != nil {
			return nil, err
		}
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
		log.Info("clients must present a certificate signed by a CA of the file (mutual TLS; the file is read at start: restart to change it)",
			zap.String("file", f.ClientCA))
	}
	return cfg, nil
}

// WarnIfOpen warns when every user of the machine can read the secret in
// the file at path (what names it in the message).
func WarnIfOpen(log *zap.Logger, path, what string, fields ...zap.Field) {
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o007 != 0 {
		log.Warn("every user of this machine can read "+what+": chmod 600 it (or 640 for a group the service is in)",
			append(fields, zap.String("file", path), zap.String("mode", fmt.Sprintf("%#o", fi.Mode().Perm())))...)
	}
}

// certFiles is the certificate in service and the digest of its files'
// contents when it was read: contents, not size and time, so that a
// renewal copied over them with its times kept is seen too.
type certFiles struct {
	files  TLSFiles
	log    *zap.Logger
	expiry prometheus.Gauge

	mu      sync.Mutex
	cert    *tls.Certificate
	sum     [sha256.Size]byte // of Cert and Key, as last read (or last failed)
	checked time.Time
	// unreadable is when the files were first found unreadable (zero:
	// they are readable); warned when it was last logged.
	unreadable, warned time.Time
}

// digest reads both files and returns the digest of their contents.
func (c *certFiles) digest() ([sha256.Size]byte, error) {
	h := sha256.New()
	for _, p := range []string{c.files.Cert, c.files.Key} {
		b, err := os.ReadFile(p)
		if err != nil {
			return [sha256.Size]byte{}, err
		}
		h.Write(b)
		h.Write([]byte{0})
	}
	return [sha256.Size]byte(h.Sum(nil)), nil
}

// load reads the pair and puts it in service.
func (c *certFiles) load() error {
	sum, err := c.digest()
	if err != nil {
		return err
	}
	// A pair that fails is not tried again until the files change. The
	// errors of LoadX509KeyPair quote no key material.
	c.sum = sum
	cert, err := tls.LoadX509KeyPair(c.files.Cert, c.files.Key)
	if err != nil {
		return err
	}
	if cert.Leaf == nil || cert.Leaf.NotAfter.IsZero() {
		return errors.New("no certificate in the chain")
	}
	c.cert = &cert
	c.expiry.Set(float64(cert.Leaf.NotAfter.Unix()))
	leaf := cert.Leaf
	ips := make([]string, len(leaf.IPAddresses))
	for i, ip := range leaf.IPAddresses {
		ips[i] = ip.String()
	}
	fields := []zap.Field{zap.String("file", c.files.Cert), zap.Strings("names", leaf.DNSNames), zap.Strings("ips", ips),
		zap.Time("not_before", leaf.NotBefore), zap.Time("not_after", leaf.NotAfter)}
	now := time.Now()
	switch {
	case now.After(leaf.NotAfter) || now.Before(leaf.NotBefore):
		c.log.Warn("the TLS certificate served is outside its validity period: clients will refuse it", fields...)
	case len(leaf.DNSNames) == 0 && len(leaf.IPAddresses) == 0:
		c.log.Warn("the TLS certificate served names no host (no subject alternative name): clients will refuse it", fields...)
	case len(leaf.ExtKeyUsage) > 0 && !slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageServerAuth) && !slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageAny):
		c.log.Warn("the TLS certificate served is not for servers (no serverAuth extended key usage): clients will refuse it", fields...)
	default:
		c.log.Info("serving TLS certificate", fields...)
	}
	return nil
}

// unreadableWarnEvery is how often files that stay unreadable are logged.
const unreadableWarnEvery = 10 * time.Minute

func (c *certFiles) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	if now.Sub(c.checked) < reloadEvery {
		return c.cert, nil
	}
	c.checked = now
	sum, err := c.digest()
	switch {
	case err != nil:
		// Being replaced, or gone: the certificate read last is served, and
		// said so while it lasts (it will expire unrenewed).
		if c.unreadable.IsZero() {
			c.unreadable = now
		}
		if now.Sub(c.warned) >= unreadableWarnEvery {
			c.warned = now
			c.log.Warn("the TLS certificate files cannot be read: the certificate read last is still served, and no renewal is seen",
				zap.String("cert_file", c.files.Cert), zap.String("key_file", c.files.Key), zap.Time("since", c.unreadable),
				zap.Time("served_not_after", c.cert.Leaf.NotAfter), zap.Error(err))
		}
	case sum != c.sum:
		c.unreadable, c.warned = time.Time{}, time.Time{}
		if err := c.load(); err != nil {
			c.log.Error("the TLS certificate files changed but do not load: the previous certificate is still served",
				zap.String("cert_file", c.files.Cert), zap.String("key_file", c.files.Key), zap.Error(err))
		}
	default:
		c.unreadable, c.warned = time.Time{}, time.Time{}
	}
	return c.cert, nil
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
