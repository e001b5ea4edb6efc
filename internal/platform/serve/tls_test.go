package serve

import (
	"crypto/tls"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/aegisai/audit/internal/testbed/testcerts"
)

func flag(s string) string { return "--" + s }

// serveTLS starts a server with the files.
func serveTLS(t *testing.T, files TLSFiles) *Server {
	t.Helper()
	cfg, err := files.Config(nil, flag)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Listen(Options{Addr: "127.0.0.1:0", TLS: cfg, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "api "+r.URL.Path)
	})})
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve()
	t.Cleanup(func() { s.srv.Close() })
	return s
}

func client(ca *testcerts.CA, cert *tls.Certificate) *http.Client {
	cfg := &tls.Config{RootCAs: ca.Pool()}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: cfg, DisableKeepAlives: true}, Timeout: 10 * time.Second}
}

// servedSerial is the serial number of the certificate the server shows.
func servedSerial(t *testing.T, c *http.Client, url string) int64 {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(b) != "api /x" {
		t.Fatalf("%d %q", resp.StatusCode, b)
	}
	return resp.TLS.PeerCertificates[0].SerialNumber.Int64()
}

// HTTPS with the files given, a plain-HTTP request refused, and a
// certificate renewed over its files served without a restart, while a
// renewal that does not load leaves the previous one in service.
func TestServesTLSAndTakesARenewedCertificate(t *testing.T) {
	dir := t.TempDir()
	ca := testcerts.NewCA(t)
	first := ca.Server(t, dir, "aegis.test", 10)
	s := serveTLS(t, TLSFiles{Cert: first.CertFile, Key: first.KeyFile})
	if s.URL() != "https://"+s.Addr() {
		t.Fatalf("URL %s", s.URL())
	}
	c := client(ca, nil)
	if got := servedSerial(t, c, s.URL()+"/x"); got != 10 {
		t.Fatalf("serial %d", got)
	}
	if code, _ := get(t, "http://"+s.Addr()+"/x"); code != http.StatusBadRequest {
		t.Fatalf("plain HTTP to the TLS port: %d", code)
	}

	// Renewed in place: a new pair written over the files.
	renewed := ca.Server(t, t.TempDir(), "aegis.test", 11)
	for _, f := range [][2]string{{renewed.CertFile, first.CertFile}, {renewed.KeyFile, first.KeyFile}} {
		b, _ := os.ReadFile(f[0])
		testcerts.Write(t, f[1], b)
	}
	deadline := time.Now().Add(10 * time.Second)
	for servedSerial(t, c, s.URL()+"/x") != 11 {
		if time.Now().After(deadline) {
			t.Fatal("the renewed certificate is not served")
		}
		time.Sleep(200 * time.Millisecond)
	}

	// A half-written renewal (a certificate that is not the key's): the
	// last good pair stays in service.
	b, _ := os.ReadFile(ca.Server(t, t.TempDir(), "third.test", 12).CertFile)
	testcerts.Write(t, first.CertFile, b)
	time.Sleep(1500 * time.Millisecond) // past reloadEvery: the bad pair has been tried
	if got := servedSerial(t, c, s.URL()+"/x"); got != 11 {
		t.Fatalf("after a bad renewal the server shows serial %d, want the previous 11", got)
	}
}

func TestClientCertificatesRequiredWithAClientCA(t *testing.T) {
	dir := t.TempDir()
	ca, clients := testcerts.NewCA(t), testcerts.NewCA(t)
	srv := ca.Server(t, dir, "aegis.test", 20)
	caFile := filepath.Join(dir, "clients.pem")
	testcerts.Write(t, caFile, clients.PEM)
	s := serveTLS(t, TLSFiles{Cert: srv.CertFile, Key: srv.KeyFile, ClientCA: caFile})
	if _, err := client(ca, nil).Get(s.URL() + "/x"); err == nil {
		t.Fatal("a client without a certificate was served")
	}
	stranger := testcerts.NewCA(t).Client(t, dir, "stranger", 21).Pair(t)
	if _, err := client(ca, &stranger).Get(s.URL() + "/x"); err == nil {
		t.Fatal("a client certificate of another CA was accepted")
	}
	known := clients.Client(t, dir, "service-a", 22).Pair(t)
	if got := servedSerial(t, client(ca, &known), s.URL()+"/x"); got != 20 {
		t.Fatalf("serial %d", got)
	}
}

func TestTLSSettingsThatCannotServeAreNamed(t *testing.T) {
	dir := t.TempDir()
	ca := testcerts.NewCA(t)
	srv, other := ca.Server(t, dir, "aegis.test", 30), ca.Server(t, dir, "other.test", 31)
	notPEM := filepath.Join(dir, "empty.pem")
	testcerts.Write(t, notPEM, []byte("not a certificate\n"))
	encrypted := filepath.Join(dir, "encrypted.key") // as openssl writes a key with a passphrase
	testcerts.Write(t, encrypted, []byte("-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIGbMFcGCSqGSIb3DQEFDTBKMCkGCSqGSIb3DQEFDDAcBAgAAAAAAAAAAAICCAAw\n-----END ENCRYPTED PRIVATE KEY-----\n"))
	for _, c := range []struct {
		files TLSFiles
		want  string
	}{
		{TLSFiles{Cert: srv.CertFile}, "--tls-cert-file and --tls-key-file go together"},
		{TLSFiles{ClientCA: notPEM}, "--tls-client-ca-file needs --tls-cert-file and --tls-key-file"},
		{TLSFiles{Cert: srv.CertFile, Key: encrypted}, "an encrypted key? give it unencrypted"},
		{TLSFiles{Cert: srv.CertFile, Key: other.KeyFile}, "--tls-cert-file " + srv.CertFile + " and --tls-key-file " + other.KeyFile},
		{TLSFiles{Cert: filepath.Join(dir, "missing.crt"), Key: srv.KeyFile}, "missing.crt"},
		{TLSFiles{Cert: srv.CertFile, Key: srv.KeyFile, ClientCA: notPEM}, "--tls-client-ca-file " + notPEM + ": no PEM certificate"},
		{TLSFiles{Cert: srv.CertFile, Key: srv.KeyFile, ClientCA: filepath.Join(dir, "none.pem")}, "--tls-client-ca-file: open"},
	} {
		if _, err := c.files.Config(nil, flag); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want %q", c.files, err, c.want)
		}
	}
}

func TestLoopback(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:8080": true, "[::1]:8080": true, "localhost:80": true, "127.1.2.3:1": true,
		"0.0.0.0:8080": false, "[::]:8080": false, "10.0.0.5:8080": false, "query.internal:443": false, ":8080": false, "bad": false,
	} {
		if got := Loopback(addr); got != want {
			t.Errorf("Loopback(%q) = %v, want %v", addr, got, want)
		}
	}
}

// A Kubernetes secret volume: tls.crt -> ..data/tls.crt, ..data -> ..<ts>;
// a renewal writes a new ..<ts> dir and renames a new ..data link over the
// old one (atomic).
func TestTakesAKubernetesSecretSwap(t *testing.T) {
	vol := t.TempDir()
	ca := testcerts.NewCA(t)
	put := func(ts string, serial int64) {
		d := filepath.Join(vol, ts)
		os.Mkdir(d, 0o755)
		is := ca.Server(t, t.TempDir(), "aegis.test", serial)
		for src, dst := range map[string]string{is.CertFile: "tls.crt", is.KeyFile: "tls.key"} {
			b, _ := os.ReadFile(src)
			testcerts.Write(t, filepath.Join(d, dst), b)
		}
		tmp := filepath.Join(vol, "..data_tmp")
		if err := os.Symlink(ts, tmp); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(vol, "..data")); err != nil {
			t.Fatal(err)
		}
	}
	put("..2026_11_30_00_00_00.1", 20)
	for _, n := range []string{"tls.crt", "tls.key"} {
		os.Symlink(filepath.Join("..data", n), filepath.Join(vol, n))
	}
	s := serveTLS(t, TLSFiles{Cert: filepath.Join(vol, "tls.crt"), Key: filepath.Join(vol, "tls.key")})
	c := client(ca, nil)
	if got := servedSerial(t, c, s.URL()+"/x"); got != 20 {
		t.Fatal(got)
	}
	put("..2026_11_30_00_00_01.2", 21)
	os.RemoveAll(filepath.Join(vol, "..2026_11_30_00_00_00.1"))
	deadline := time.Now().Add(5 * time.Second)
	for servedSerial(t, c, s.URL()+"/x") != 21 {
		if time.Now().After(deadline) {
			t.Fatal("the swapped certificate is not served")
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// The certificate files go away for good (moved, or a directory the
// service may no longer enter): the certificate read last is served, and
// a warning says so (before: nothing at all, until it expired; found by an
// attack).
func TestCertificateFilesGoneAreWarnedOf(t *testing.T) {
	dir := t.TempDir()
	ca := testcerts.NewCA(t)
	first := ca.Server(t, dir, "aegis.test", 30)
	core, logs := observer.New(zap.InfoLevel)
	cfg, err := TLSFiles{Cert: first.CertFile, Key: first.KeyFile}.Config(zap.New(core), flag)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Listen(Options{Addr: "127.0.0.1:0", TLS: cfg})
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve()
	t.Cleanup(func() { s.srv.Close() })
	os.Remove(first.CertFile)
	os.Remove(first.KeyFile)
	c := client(ca, nil)
	for i := 0; i < 4; i++ {
		resp, err := c.Get(s.URL() + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		time.Sleep(600 * time.Millisecond)
	}
	var warned int
	for _, e := range logs.All() {
		if e.Level >= zap.WarnLevel && e.Message == "the TLS certificate files cannot be read: the certificate read last is still served, and no renewal is seen" {
			warned++
		}
	}
	if warned != 1 {
		t.Errorf("the certificate files gone for 2.4 s of handshakes: %d warnings, want 1: %v", warned, logs.All())
	}
}

// A renewal put in place by rename with the old files' size and mtime (a
// tool that normalises or preserves timestamps: SOURCE_DATE_EPOCH builds,
// Nix-style mtime 1, rsync -t/cp -p from a tree stamped so) is served: the
// files' contents are compared, not their size and time (found by an
// attack: the old certificate was served for good).
func TestARenewalWithTheOldSizeAndTimeIsServed(t *testing.T) {
	dir := t.TempDir()
	ca := testcerts.NewCA(t)
	first := ca.Server(t, dir, "aegis.test", 40)
	stamp := time.Unix(1, 0)
	for _, f := range []string{first.CertFile, first.KeyFile} {
		os.Chtimes(f, stamp, stamp)
	}
	s := serveTLS(t, TLSFiles{Cert: first.CertFile, Key: first.KeyFile})
	c := client(ca, nil)
	if got := servedSerial(t, c, s.URL()+"/x"); got != 40 {
		t.Fatal(got)
	}
	size := func(p string) int64 { fi, _ := os.Stat(p); return fi.Size() }
	var next testcerts.Issued
	for i := 0; ; i++ { // same-length DER: common for one CA's certificates of one name
		next = ca.Server(t, t.TempDir(), "aegis.test", 41)
		if size(next.CertFile) == size(first.CertFile) && size(next.KeyFile) == size(first.KeyFile) {
			break
		}
		if i == 200 {
			t.Fatal("no certificate of the same size in 200 tries")
		}
	}
	for src, dst := range map[string]string{next.CertFile: first.CertFile, next.KeyFile: first.KeyFile} {
		os.Chtimes(src, stamp, stamp)
		if err := os.Rename(src, dst); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(1500 * time.Millisecond)
	servedSerial(t, c, s.URL()+"/x") // a handshake past reloadEvery looks
	time.Sleep(100 * time.Millisecond)
	if got := servedSerial(t, c, s.URL()+"/x"); got != 41 {
		t.Errorf("the renewed pair (renamed into place, other inodes) is not served: serial %d", got)
	}
}

// What makes a certificate useless to clients is said at start: none of
// its names, not for servers; so is a key file everyone may read; and the
// served certificate's expiry is a metric to alert on (operators' trial).
func TestUnusableCertificatesAndOpenKeysAreWarnedOf(t *testing.T) {
	dir := t.TempDir()
	ca := testcerts.NewCA(t)
	good, client := ca.Server(t, dir, "aegis.test", 50), ca.Client(t, dir, "not-a-server", 51)
	for _, c := range []struct {
		name  string
		files TLSFiles
		mode  os.FileMode
		warn  string
	}{
		{"a server certificate", TLSFiles{Cert: good.CertFile, Key: good.KeyFile}, 0o600, ""},
		{"a client's certificate", TLSFiles{Cert: client.CertFile, Key: client.KeyFile}, 0o600, "names no host"},
		{"a key everyone may read", TLSFiles{Cert: good.CertFile, Key: good.KeyFile}, 0o644, "every user of this machine can read the TLS private key"},
	} {
		if err := os.Chmod(c.files.Key, c.mode); err != nil {
			t.Fatal(err)
		}
		reg := prometheus.NewRegistry()
		c.files.Metrics = reg
		core, logs := observer.New(zap.WarnLevel)
		if _, err := c.files.Config(zap.New(core), flag); err != nil {
			t.Fatal(err)
		}
		warned := logs.FilterMessageSnippet(c.warn).Len() == 1 && logs.Len() == 1
		if (c.warn == "" && logs.Len() != 0) || (c.warn != "" && !warned) {
			t.Errorf("%s: warnings %v, want %q", c.name, logs.All(), c.warn)
		}
		mfs, err := reg.Gather()
		if err != nil || len(mfs) != 1 || mfs[0].GetName() != "aegis_tls_certificate_expiry_timestamp_seconds" {
			t.Fatalf("%s: metrics %v %v", c.name, mfs, err)
		}
		cert := good.Cert
		if c.files.Cert == client.CertFile {
			cert = client.Cert
		}
		if got := mfs[0].GetMetric()[0].GetGauge().GetValue(); got != float64(cert.NotAfter.Unix()) {
			t.Errorf("%s: expiry %v, want %d", c.name, got, cert.NotAfter.Unix())
		}
	}
}

// HTTPS answers carry HSTS; a listener on every address gives a URL of
// this machine.
func TestHSTSAndTheURLOfAnyAddress(t *testing.T) {
	dir := t.TempDir()
	ca := testcerts.NewCA(t)
	cert := ca.Server(t, dir, "aegis.test", 60)
	cfg, err := TLSFiles{Cert: cert.CertFile, Key: cert.KeyFile}.Config(nil, flag)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Listen(Options{Addr: "0.0.0.0:0", TLS: cfg})
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve()
	t.Cleanup(func() { s.srv.Close() })
	if !strings.HasPrefix(s.URL(), "https://127.0.0.1:") {
		t.Fatalf("URL %s", s.URL())
	}
	resp, err := client(ca, nil).Get(s.URL() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("Strict-Transport-Security") == "" {
		t.Fatalf("no HSTS over HTTPS: %v", resp.Header)
	}
}

// A plain server's URL stays http:// once it serves (http.Server.Serve
// gives it a TLS configuration of its own, for HTTP/2, which the URL took
// for HTTPS: found by a benchmark, and seen once in an operator's log).
func TestAPlainServersURLStaysHTTP(t *testing.T) {
	s, err := Listen(Options{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve()
	t.Cleanup(func() { s.srv.Close() })
	if code, _ := get(t, s.URL()+"/healthz"); code != 200 { // served: Serve has run
		t.Fatalf("healthz: %d", code)
	}
	if !strings.HasPrefix(s.URL(), "http://") {
		t.Fatalf("URL %s of a plain server", s.URL())
	}
}
