package sealer

import (
	"context"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
	"golang.org/x/mod/sumdb/note"

	"github.com/aegisai/audit/archive"
	"github.com/aegisai/audit/internal/testbed/s3mem"
)

// flakyHandOvers fails the first listing of a key under handovers/, as a
// throttled or unreachable S3 does, and then reads what the sealer
// reports of it on /readyz (Healthy, once the grace has passed).
type flakyHandOvers struct {
	*s3mem.S3
	s      *Sealer
	failed bool
	ready  string
}

func (f *flakyHandOvers) ListObjectVersions(ctx context.Context, in *s3.ListObjectVersionsInput, opts ...func(*s3.Options)) (*s3.ListObjectVersionsOutput, error) {
	if strings.Contains(aws.ToString(in.Prefix), "/handovers/") {
		if !f.failed {
			f.failed = true
			return nil, errors.New("SlowDown: please reduce your request rate")
		}
		if err := f.s.health.check(time.Now().Add(time.Hour)); err != nil && f.ready == "" {
			f.ready = err.Error()
		}
	}
	return f.S3.ListObjectVersions(ctx, in, opts...)
}

// The name of the copy of a hand-over's KEY entry carries a tag only a
// holder of the key computes (handOverTag), and every start lists the
// current key's copy before any hand-over: a bucket writer who learns
// the name puts more versions there than a start reads, and every start
// of every sealer of the chain stops for good with hand-over copy hidden,
// "so the key may be stolen". A listing that failed once put the whole
// name in the log and on /readyz (the S3 call, and the SDK's error naming
// s3://bucket/key). Neither shows the tag now.
func TestAStartDoesNotShowTheTagOfTheCurrentKeysCopy(t *testing.T) {
	skey, vkey, err := note.GenerateKey(rand.Reader, "aegis-unit")
	if err != nil {
		t.Fatal(err)
	}
	store := s3mem.New("audit")
	core, logs := observer.New(zap.DebugLevel)
	cfg := Config{Brokers: []string{"unused:9092"}, Chain: "unit", S3: store, Bucket: "audit",
		SignerKey: skey, VerifierKey: vkey, Now: func() time.Time { return time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC) },
		Topic: "decisions", Logger: zap.New(core)}
	s, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	flaky := &flakyHandOvers{S3: store, s: s}
	s.store.S3 = flaky
	key := copyKey(t, s)
	tag := key[strings.LastIndexByte(key, '-')+1 : strings.LastIndexByte(key, '.')]
	if _, err := s.recoverHead(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !flaky.failed {
		t.Fatal("the start did not list the copy's key")
	}
	if strings.Contains(flaky.ready, tag) {
		t.Errorf("/readyz shows the copy's tag: %s", flaky.ready)
	}
	for _, e := range logs.All() {
		line := e.Message
		for k, v := range e.ContextMap() {
			line += " " + k + "=" + strings.ReplaceAll(strings.ReplaceAll(fmtAny(v), "\n", " "), "\t", " ")
		}
		if strings.Contains(line, tag) {
			t.Errorf("the log shows the copy's tag: %s", line)
		}
	}
}

func fmtAny(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	if e, ok := v.(error); ok {
		return e.Error()
	}
	return ""
}

// A thief of the current key, before any hand-over, can put more
// versions at its copy's key than a start reads: every start of a sealer
// whose keyset's last key is that key stops with hand-over copy hidden,
// one with the new key staged too (step 2's settings). The error told the
// operator to rotate to a new key and start with its settings, and
// SECURITY.md's "On compromise" to switch at once; neither can be done,
// since only a running sealer with the new key staged seals the KEY
// entry. It now says so: where the chain never handed over from the key,
// start a new chain.
func TestACopyHiddenBeforeAnyHandOverStopsTheRotationToo(t *testing.T) {
	skey, vkey, err := note.GenerateKey(rand.Reader, "aegis-unit")
	if err != nil {
		t.Fatal(err)
	}
	nextS, _, err := note.GenerateKey(rand.Reader, "aegis-unit-2")
	if err != nil {
		t.Fatal(err)
	}
	store := s3mem.New("audit")
	at := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	cfg := Config{Brokers: []string{"unused:9092"}, Chain: "unit", S3: store, Bucket: "audit",
		SignerKey: skey, VerifierKey: vkey, Now: func() time.Time { return at }, Topic: "decisions"}
	s, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.genesis(context.Background()); err != nil {
		t.Fatal(err)
	}
	h := handOver{s: s, cfg: cfg, store: store, at: at, oldS: skey}
	h.sealMore(t, records(0, 4, at))
	key := copyKey(t, s)
	for range archive.MaxOlderVersions + 1 {
		store.PutVersion("audit", key, []byte("junk\n"))
	}
	cfg.NextSignerKey = nextS // step 2: stage the new key to rotate
	staged, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, err = staged.recoverHead(context.Background())
	if !errors.Is(err, ErrCopyHidden) {
		t.Fatalf("a sealer with the new key staged started on a chain whose current key's copy is hidden (err %v)", err)
	}
	if !strings.Contains(err.Error(), "new chain") {
		t.Fatalf("the error does not say what can be done where the chain never handed over (no sealer with the key staged starts, so none can seal the rotation it asks for): %v", err)
	}
}

// hideTags shows neither a note's nor a copy's tag, in a key or in an
// error naming s3://bucket/key, and leaves other keys as they are.
func TestHideTags(t *testing.T) {
	const tag = "03b6f6a81bb385c62eaa3d43b77346d7"
	for in, want := range map[string]string{
		"audit/handovers/chain=unit/aegis-unit-2+0a1b2c3d-" + tag + ".note":                    "audit/handovers/chain=unit/aegis-unit-2+0a1b2c3d-<tag>.note",
		"get s3://b/audit/handovers/chain=unit/from/aegis-unit+acb8bcca-" + tag + ".line: 503": "get s3://b/audit/handovers/chain=unit/from/aegis-unit+acb8bcca-<tag>.line: 503",
		"put audit/checkpoints/env=unit/00000000000000000004.note":                             "put audit/checkpoints/env=unit/00000000000000000004.note",
	} {
		if got := hideTags(in); got != want {
			t.Errorf("hideTags(%q) = %q, want %q", in, got, want)
		}
	}
}
