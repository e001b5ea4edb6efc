package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/aegisai/audit/internal/platform/serve"
	"github.com/aegisai/audit/internal/testbed/pipeline"
	"github.com/aegisai/audit/internal/testbed/testcerts"
	"github.com/aegisai/audit/sealer"
	"github.com/aegisai/audit/shared"
)

// aegis rotate-key asks the running sealer to hand over to its staged
// key; aegis verify with the old key then names the hand-over, and with
// the keyset built from it verifies the whole chain.
func TestRotateKeyCommand(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	nextS, nextV, err := note.GenerateKey(rand.Reader, "aegis-next")
	if err != nil {
		t.Fatal(err)
	}
	p, err := pipeline.Start(ctx, stack, pipeline.Config{Indexers: -1, Sealer: func(c *sealer.Config) { c.NextSignerKey = nextS }})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	w := pipeline.NewWorkload(p.Cfg.Chain, p.Cfg.Chain, 10, 0, 3, 5, time.Now())
	prod, err := p.Producer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	if err := prod.Publish(ctx, w.Events[:5]...); err != nil {
		t.Fatal(err)
	}
	setStackEnv(t)
	nextPub := writeFile(t, "next.pub", nextV)
	if code, out := aegis(t, "rotate-key", "--chain", p.Cfg.Chain); code != 1 || !strings.Contains(out, "--new-verifier-key-file") {
		t.Fatalf("without the new key: exit %d: %s", code, out)
	}
	if code, out := aegis(t, "rotate-key", "--chain", p.Cfg.Chain, "--new-verifier-key-file", writeFile(t, "next.key", nextS)); code != 1 || !strings.Contains(out, "private (signer) key") {
		t.Fatalf("a private key: exit %d: %s", code, out)
	}
	code, out := aegis(t, "rotate-key", "--chain", p.Cfg.Chain, "--brokers", stack.KafkaAddr, "--new-verifier-key-file", nextPub)
	if code != 0 || !strings.Contains(out, "key-change request to aegis-next+") {
		t.Fatalf("rotate-key: exit %d: %s", code, out)
	}
	if err := prod.Publish(ctx, w.Events[5:]...); err != nil {
		t.Fatal(err)
	}
	if err := p.WaitHead(ctx, 11); err != nil {
		t.Fatal(err)
	}
	R := uint64(6) // genesis, five decisions, then the request
	pub := writeFile(t, "chain.pub", p.Cfg.VerifierKey)
	args := []string{"verify", "--chain", p.Cfg.Chain, "--bucket", p.Cfg.Bucket, "--s3-endpoint", stack.S3Endpoint}
	next, _ := shared.ParseVerifierKey(nextV)
	code, out = aegis(t, append(args, "--verifier-key-file", pub)...)
	// The failure names R, and prints the keyset to save as it is.
	if code != 1 || !strings.Contains(out, "hands its checkpoints over to key "+next.ID()+" from seq 7 (this KEY entry is seq 6)") ||
		!strings.Contains(out, fmt.Sprintf("then save these lines as the keyset file):\n%s 0 %d\n%s %d -\n", p.Cfg.VerifierKey, R, nextV, R+1)) {
		t.Fatalf("verify with the old key: exit %d: %s", code, out)
	}
	if code, out := aegis(t, append(args, "--verifier-key-file", pub, "--json")...); code != 1 ||
		!strings.Contains(out, fmt.Sprintf(`"keyset":%q`, fmt.Sprintf("%s 0 %d\n%s %d -\n", p.Cfg.VerifierKey, R, nextV, R+1))) {
		t.Fatalf("verify --json with the old key: exit %d: %s", code, out)
	}
	keyset := writeFile(t, "chain.keyset", fmt.Sprintf("%s 0 %d\n%s %d -", p.Cfg.VerifierKey, R, nextV, R+1))
	if code, out := aegis(t, append(args, "--verifier-key-file", keyset)...); code != 0 || !strings.Contains(out, "OK chain") || !strings.Contains(out, "signed to seq 11") {
		t.Fatalf("verify with the keyset: exit %d: %s", code, out)
	}
}

// aegis health exits 0 only when the URL answers 200.
func TestHealthCommand(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" {
			http.Error(w, "recovering", http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	if code, out := aegis(t, "health", srv.URL+"/readyz"); code != 0 || !strings.Contains(out, "200 OK") {
		t.Fatalf("ready: exit %d: %s", code, out)
	}
	if code, out := aegis(t, "health", srv.URL+"/other"); code != 1 || !strings.Contains(out, "503") || !strings.Contains(out, "recovering") {
		t.Fatalf("not ready: exit %d: %s", code, out)
	}
	if code, out := aegis(t, "health", "127.0.0.1:1/readyz"); code != 1 || !strings.Contains(out, "want http(s)://") {
		t.Fatalf("no scheme: exit %d: %s", code, out)
	}
}

// aegis health of an https URL (ingest or query with --tls-cert-file):
// the certificate checked against --ca-file, for the name --server-name
// gives when the probe asks 127.0.0.1.
func TestHealthCommandOverTLS(t *testing.T) {
	dir := t.TempDir()
	ca := testcerts.NewCA(t)
	cert := ca.Server(t, dir, "query.internal", 1)
	cfg, err := serve.TLSFiles{Cert: cert.CertFile, Key: cert.KeyFile}.Config(nil, flagName)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := serve.Listen(serve.Options{Addr: "127.0.0.1:0", TLS: cfg})
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve()
	defer srv.Shutdown(t.Context())
	caFile := filepath.Join(dir, "ca.pem")
	testcerts.Write(t, caFile, ca.PEM)
	url := srv.URL() + "/readyz"
	if code, out := aegis(t, "health", url, "--ca-file", caFile, "--server-name", "query.internal"); code != 0 || !strings.Contains(out, "200 OK") {
		t.Fatalf("with the CA and the name: exit %d: %s", code, out)
	}
	if code, out := aegis(t, "health", url, "--ca-file", caFile, "--server-name", "other.internal"); code != 1 || !strings.Contains(out, "other.internal") {
		t.Fatalf("another name: exit %d: %s", code, out)
	}
	if code, out := aegis(t, "health", url); code != 1 || !strings.Contains(out, "certificate") {
		t.Fatalf("the system's roots: exit %d: %s", code, out)
	}
}
