package sealer

import (
	"context"
	"crypto/rand"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"github.com/aegisai/audit/archive"
	"github.com/aegisai/audit/internal/testbed/s3mem"
)

// Every Kafka name a sealer uses by default comes from its chain, so two
// chains on one cluster never read each other's topic, share a group or
// fence each other's transactions; explicit names win.
func TestDefaultKafkaNamesComeFromTheChain(t *testing.T) {
	skey, vkey, err := note.GenerateKey(rand.Reader, "aegis-unit")
	if err != nil {
		t.Fatal(err)
	}
	mk := func(chain string, edit func(*Config)) Config {
		t.Helper()
		cfg := Config{Brokers: []string{"unused:9092"}, Chain: chain, S3: s3mem.New("audit"), Bucket: "audit", SignerKey: skey, VerifierKey: vkey}
		if edit != nil {
			edit(&cfg)
		}
		s, err := New(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		return s.cfg
	}
	a, b := mk("payments", nil), mk("logins", nil)
	for _, tc := range []struct{ what, a, b, wantA string }{
		{"topic", a.Topic, b.Topic, "aegis.decisions.payments"},
		{"group", a.Group, b.Group, "aegis-sealer-payments"},
		{"transactional id", a.TransactionalID, b.TransactionalID, "aegis-sealer-payments"},
	} {
		if tc.a != tc.wantA || tc.a == tc.b {
			t.Errorf("%s: chain payments %q, chain logins %q; want %q and a different one", tc.what, tc.a, tc.b, tc.wantA)
		}
	}
	o := mk("payments", func(c *Config) { c.Topic, c.Group, c.TransactionalID = "t", "g", "x" })
	if o.Topic != "t" || o.Group != "g" || o.TransactionalID != "x" {
		t.Errorf("overrides: %q %q %q", o.Topic, o.Group, o.TransactionalID)
	}
}

// A sealer may not write batches larger than verifiers read back
// (archive.DefaultMaxObjectBytes): the setting is refused by name.
func TestBatchMaxBytesFitsWhatVerifiersRead(t *testing.T) {
	skey, vkey, err := note.GenerateKey(rand.Reader, "aegis-unit")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		bytes int
		ok    bool
	}{{archive.MaxBatchBytes, true}, {archive.MaxBatchBytes + 1, false}} {
		cfg := Config{Brokers: []string{"unused:9092"}, Chain: "c", S3: s3mem.New("audit"), Bucket: "audit", SignerKey: skey, VerifierKey: vkey,
			BatchMaxBytes: c.bytes}
		_, err := New(context.Background(), cfg)
		if c.ok != (err == nil) || (err != nil && !strings.Contains(err.Error(), "BatchMaxBytes")) {
			t.Errorf("BatchMaxBytes %d: %v, want ok %v", c.bytes, err, c.ok)
		}
	}
}
