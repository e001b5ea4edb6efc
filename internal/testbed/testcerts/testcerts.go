// Package testcerts issues throwaway X.509 certificates for tests of the
// roles' TLS: a CA, server certificates for names and 127.0.0.1, and
// client certificates, written as PEM files.
package testcerts

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// T is what the functions here need of a test (testing.TB has it; a
// benchmark program gives its own).
type T interface {
	Helper()
	Fatal(args ...any)
}

// CA is a certificate authority valid for a day around now.
type CA struct {
	Cert *x509.Certificate
	PEM  []byte
	key  *ecdsa.PrivateKey
}

// NewCA makes a CA.
func NewCA(t T) *CA {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "aegis test CA"}, IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &CA{Cert: cert, PEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), key: key}
}

// Pool holds the CA alone.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

// Issued is a certificate and its key, as files.
type Issued struct {
	CertFile, KeyFile string
	Cert              *x509.Certificate
}

// Server issues a server certificate for name and 127.0.0.1.
func (ca *CA) Server(t T, dir, name string, serial int64) Issued {
	t.Helper()
	return ca.issue(t, dir, &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
		DNSNames: []string{name}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
}

// Client issues a client certificate for name.
func (ca *CA) Client(t T, dir, name string, serial int64) Issued {
	t.Helper()
	return ca.issue(t, dir, &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
}

func (ca *CA) issue(t T, dir string, tmpl *x509.Certificate) Issued {
	t.Helper()
	tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	key := newKey(t)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	out := Issued{CertFile: filepath.Join(dir, tmpl.Subject.CommonName+".crt"), KeyFile: filepath.Join(dir, tmpl.Subject.CommonName+".key"), Cert: cert}
	Write(t, out.CertFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	Write(t, out.KeyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}))
	return out
}

// Pair loads the issued certificate for a client's tls.Config.
func (i Issued) Pair(t T) tls.Certificate {
	t.Helper()
	pair, err := tls.LoadX509KeyPair(i.CertFile, i.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	return pair
}

// SPKI is the base64 SHA-256 of the certificate's public key, which
// Chromium's --ignore-certificate-errors-spki-list trusts.
func (i Issued) SPKI() string {
	sum := sha256.Sum256(i.Cert.RawSubjectPublicKeyInfo)
	return base64.StdEncoding.EncodeToString(sum[:])
}

// Write writes a file (0600) or fails the test.
func Write(t T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func newKey(t T) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}
