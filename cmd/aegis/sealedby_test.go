package main

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/aegisai/audit/archive"
	"github.com/aegisai/audit/indexer/layout"
	"github.com/aegisai/audit/internal/platform/topics"
	"github.com/aegisai/audit/internal/testbed/localstack"
	"github.com/aegisai/audit/internal/testbed/pipeline"
	"github.com/aegisai/audit/query"
	"github.com/aegisai/audit/sealer"
	"github.com/aegisai/audit/shared"
)

// sealedBy is testdata/sealed-by/<build>/fixture.json: what an older build
// sealed, as that build's own verification reported it.
type sealedBy struct {
	Build string `json:"build"`
	Chain string `json:"chain"`
	// Verifier is the file of the verifier key or keyset (default
	// verifier.pub); signer.test-only is the signer key of the head.
	Verifier string `json:"verifier"`
	Entries  uint64 `json:"entries"` // the genesis included
	Invalid  uint64 `json:"invalid"`
	HeadSeq  uint64 `json:"head_seq"`
	// HandOver is the seq of the chain's KEY entry (0: none).
	HandOver uint64 `json:"hand_over"`
	// Overridden is a decision of the chain with an override.
	Overridden struct {
		DecisionID string `json:"decision_id"`
		Action     string `json:"action"` // its current state
	} `json:"overridden"`
}

// README "Upgrading": every role of a release reads the chains older
// releases sealed. Each folder of testdata/sealed-by holds what an older
// build sealed (its objects, as a download of the bucket, and its keys).
// Today's Python checker reads the download; the objects go into a fresh
// locked bucket, where today's aegis verifies them, today's sealer
// continues the chain with the old build's keys (and an override of an old
// decision), today's indexer and rebuild index both parts, and prove,
// verify-proof and get --verify read an old decision across the boundary.
func TestChainsOlderBuildsSealed(t *testing.T) {
	root, err := localstack.FindRoot()
	if err != nil {
		t.Fatal(err)
	}
	found, err := filepath.Glob(filepath.Join(root, "testdata", "sealed-by", "*", "fixture.json"))
	if err != nil || len(found) == 0 {
		t.Fatalf("no testdata/sealed-by/*/fixture.json (%v)", err)
	}
	for _, f := range found {
		dir := filepath.Dir(f)
		t.Run(filepath.Base(dir), func(t *testing.T) { continueOlderChain(t, root, dir) })
	}
}

func continueOlderChain(t *testing.T, root, dir string) {
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	var fx sealedBy
	if raw, err := os.ReadFile(filepath.Join(dir, "fixture.json")); err != nil || json.Unmarshal(raw, &fx) != nil || fx.Chain == "" {
		t.Fatalf("fixture.json of %s: %v", dir, err)
	}
	pub := filepath.Join(dir, cmp.Or(fx.Verifier, "verifier.pub"))
	skey, err := os.ReadFile(filepath.Join(dir, "signer.test-only"))
	if err != nil {
		t.Fatal(err)
	}
	vkey, err := os.ReadFile(pub)
	if err != nil {
		t.Fatal(err)
	}
	objects := filepath.Join(dir, "objects")
	python := func(dir string, entries, head uint64) {
		t.Helper()
		cmd := exec.Command("python3", filepath.Join(root, "testdata/vectors/check_vectors.py"), "--dir", dir, "--chain", fx.Chain, "--verifier-key", pub)
		out, err := cmd.CombinedOutput()
		want := fmt.Sprintf("OK chain %s: %d entries, head seq %d ", fx.Chain, entries, head)
		if err != nil || !strings.HasPrefix(string(out), want) || !strings.Contains(string(out), fmt.Sprintf("signed to seq %d, 0 unsigned", head)) {
			t.Fatalf("check_vectors.py --dir %s: %v: %s (want %q...)", dir, err, out, want)
		}
	}
	python(objects, fx.Entries, fx.HeadSeq)

	// The old build's objects, in a bucket of their own, as it wrote them
	// (under COMPLIANCE lock, with their SHA-256, in the order and at the
	// times S3 stored them: stored.json).
	if stack.S3DataDir == "" {
		t.Skip("sets the times S3 stored the objects at on the S3 server's disk: needs the native stack (the containers path has no data dir)")
	}
	var stored map[string]time.Time
	if raw, err := os.ReadFile(filepath.Join(dir, "stored.json")); err != nil || json.Unmarshal(raw, &stored) != nil {
		t.Fatalf("stored.json of %s: %v", dir, err)
	}
	bucket, store := uploadStored(ctx, t, objects, stored, true)
	setStackEnv(t)
	flags := []string{"--chain", fx.Chain, "--bucket", bucket, "--verifier-key-file", pub}
	verify := func(entries uint64) {
		t.Helper()
		code, out := aegis(t, append([]string{"verify", "--json"}, flags...)...)
		if code != 0 || !strings.Contains(out, `"ok":true`) || !strings.Contains(out, fmt.Sprintf(`"entries":%d,`, entries)) ||
			!strings.Contains(out, fmt.Sprintf(`"invalid":%d,`, fx.Invalid)) {
			t.Fatalf("aegis verify of the chain %s sealed: exit %d: %s (want %d entries, %d invalid)", fx.Build, code, out, entries, fx.Invalid)
		}
	}
	verify(fx.Entries)

	// Today's sealer takes the chain over from its signed head, on the
	// old records restored to their topic (a chain is sealed from one
	// topic, whose offsets cannot start over), with a group that has
	// committed nothing here; a reviewer using today's producer reverses
	// an old decision's override.
	topic := restoreTopic(ctx, t, objects)
	fresh := func(c *sealer.Config) { c.Group = localstack.Name("sealer") }
	p := pipeline.ForTest(t, stack, pipeline.Config{Chain: fx.Chain, Bucket: bucket, Topic: topic, Indexers: 1,
		SignerKey: strings.TrimSpace(string(skey)), VerifierKey: strings.TrimSpace(string(vkey)), Sealer: fresh})
	select {
	case <-p.Sealer.Ready():
	case <-ctx.Done():
		t.Fatal("the sealer did not take the chain over")
	}
	if h := p.Sealer.Head(); h.Seq != fx.HeadSeq {
		t.Fatalf("today's sealer took the chain over at seq %d, want the old build's head %d", h.Seq, fx.HeadSeq)
	}
	w := pipeline.NewWorkload(fx.Chain, localstack.Name("today"), 12, 2, 3, 7, time.Now())
	now := shared.ActionBlock
	if fx.Overridden.Action == string(now) {
		now = shared.ActionAllow
	}
	reverse := &shared.Envelope{Type: shared.TypeOverride, EventID: localstack.Name("reverse"), Environment: fx.Chain, OccurredAt: time.Now().UTC(),
		Override: &shared.Override{DecisionID: fx.Overridden.DecisionID, ReviewerID: "reviewer-99", NewAction: now,
			Reason: "second review after the upgrade"}}
	events := append(w.Events, reverse)
	prod, err := p.Producer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := prod.Publish(ctx, events...); err != nil {
		t.Fatal(err)
	}
	prod.Close()
	head := fx.HeadSeq + uint64(len(events))
	if err := p.WaitHead(ctx, head); err != nil {
		t.Fatal(err)
	}
	if err := p.WaitIndexed(ctx); err != nil {
		t.Fatal(err)
	}
	verify(head + 1)
	download := t.TempDir()
	if err := pipeline.Download(ctx, store, download); err != nil {
		t.Fatal(err)
	}
	python(download, head+1, head)

	// Today's sealer published the old entries too (its group had
	// committed none), and the indexer indexed them as it indexes its
	// own; rebuild writes the same items from S3 alone into a new table.
	index := append([]string{"--table", p.Cfg.Table}, flags...)
	if code, out := aegis(t, append([]string{"index", "check"}, index...)...); code != 0 {
		t.Fatalf("index check of the indexer's table: exit %d: %s", code, out)
	}
	table := localstack.Name("rebuilt")
	if err := layout.EnsureTable(ctx, p.DynamoDB, table); err != nil {
		t.Fatal(err)
	}
	rebuilt := append([]string{"--table", table}, flags...)
	if code, out := aegis(t, append([]string{"rebuild"}, rebuilt...)...); code != 0 {
		t.Fatalf("rebuild: exit %d: %s", code, out)
	}
	if code, out := aegis(t, append([]string{"index", "check"}, rebuilt...)...); code != 0 {
		t.Fatalf("index check of the rebuilt table: exit %d: %s", code, out)
	}

	// The old decision, its old override and today's, checked against S3.
	id := fx.Overridden.DecisionID
	code, out := aegis(t, append([]string{"get", id, "--json", "--verify"}, index...)...)
	var got struct {
		query.History
		Verification struct{ OK bool } `json:"verification"`
	}
	if err := json.Unmarshal([]byte(out), &got); code != 0 || err != nil || got.CurrentAction != string(now) ||
		len(got.Overrides) != 2 || !got.Verification.OK {
		t.Fatalf("get --json --verify %s: exit %d %v (want 2 overrides, now %s, verified):\n%s", id, code, err, now, out)
	}
	bundle := filepath.Join(t.TempDir(), "proof.json")
	if code, out := aegis(t, append([]string{"prove", id, "--out", bundle}, index...)...); code != 0 {
		t.Fatalf("prove %s: exit %d: %s", id, code, out)
	}
	if code, out := aegis(t, "verify-proof", bundle, "--verifier-key-file", pub, "--chain", fx.Chain); code != 0 ||
		!strings.Contains(out, "OK decision "+id) || !strings.Contains(out, "now "+string(now)) || !strings.Contains(out, "override to "+fx.Overridden.Action) {
		t.Fatalf("verify-proof of %s: exit %d: %s", id, code, out)
	}
	if err := p.Stop(); err != nil && !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}

	// A copy of the bucket (S3 Replication, a restore) is dated by when it
	// was copied: the retired key's checkpoints fail the date rule of
	// FORMAT.md 7.4 there, as a thief's would. aegis verify reads the
	// whole chain, and takes it; the readers of part of it verify the
	// whole chain first and take the retired key's checkpoints by its
	// hashes (before, rebuild, index check, discover and prove refused the
	// copy).
	if fx.HandOver == 0 {
		return
	}
	copied, _ := uploadStored(ctx, t, objects, stored, false)
	onCopy := []string{"--chain", fx.Chain, "--bucket", copied, "--verifier-key-file", pub}
	if code, out := aegis(t, append([]string{"verify"}, onCopy...)...); code != 0 {
		t.Fatalf("aegis verify of a copy of the chain: exit %d: %s", code, out)
	}
	copyTable := localstack.Name("copy") // a new table: rebuild creates it
	fromCopy := append([]string{"--table", copyTable}, onCopy...)
	code, out = aegis(t, append([]string{"rebuild", "--create-table"}, fromCopy...)...)
	if code != 0 || !strings.Contains(out, "the chain is verified from its start") || !strings.Contains(out, ", 1 key hand-over, ") {
		t.Fatalf("aegis rebuild of a copy of the chain: exit %d: %s", code, out)
	}
	if code, out := aegis(t, append([]string{"index", "check"}, fromCopy...)...); code != 0 {
		t.Fatalf("index check of the table rebuilt from the copy: exit %d: %s", code, out)
	}
	code, out = aegis(t, append([]string{"get", id, "--json", "--verify"}, fromCopy...)...)
	got.Overrides, got.Verification.OK = nil, false
	warning, answer, _ := strings.Cut(out, "\n{") // the warning on stderr, then the answer
	if err := json.Unmarshal([]byte("{"+answer), &got); code != 0 || err != nil || !strings.Contains(warning, "the chain is verified from its start") || got.CurrentAction != fx.Overridden.Action ||
		len(got.Overrides) != 1 || !got.Verification.OK {
		t.Fatalf("get --json --verify %s on the copy: exit %d %v (want the whole chain verified first, its old override, now %s, verified):\n%s", id, code, err, fx.Overridden.Action, out)
	}
	code, out = aegis(t, append([]string{"discover", "--from", "2026-01-01", "--to", "2027-01-01", "--decision", id, "--json"}, onCopy...)...)
	if lines := strings.Count(out, `{"seq":`); code != 0 || lines != 2 || !strings.Contains(out, "the chain is verified from its start") {
		t.Fatalf("discover --decision %s on the copy: exit %d, %d entries (want the decision and its override): %s", id, code, lines, out)
	}
	if code, out := aegis(t, append([]string{"prove", id, "--out", bundle}, fromCopy...)...); code != 0 {
		t.Fatalf("prove %s on the copy: exit %d: %s", id, code, out)
	}
	if code, out := aegis(t, "verify-proof", bundle, "--verifier-key-file", pub, "--chain", fx.Chain); code != 0 || !strings.Contains(out, "OK decision "+id) {
		t.Fatalf("verify-proof of %s proved on the copy: exit %d: %s", id, code, out)
	}
	// Today's sealer, with a group that committed nothing, takes the copy
	// over all the same: it publishes again the entries after the
	// hand-over only, and seals the records the copy lacks (those sealed
	// into the first bucket above), as after a move to a replica.
	q := pipeline.ForTest(t, stack, pipeline.Config{Chain: fx.Chain, Bucket: copied, Topic: topic, Indexers: -1,
		SignerKey: strings.TrimSpace(string(skey)), VerifierKey: strings.TrimSpace(string(vkey)), Sealer: fresh})
	if err := q.WaitHead(ctx, head); err != nil {
		t.Fatalf("today's sealer on the copy: %v (head %d, want %d)", err, q.Sealer.Head().Seq, head)
	}
	if err := q.WaitSealed(ctx, int64(head-fx.HandOver)); err != nil {
		t.Fatalf("today's sealer on the copy: %v (stats %+v; want the %d entries after the hand-over published)", err, q.Sealer.Stats(), head-fx.HandOver)
	}
	if err := q.Stop(); err != nil && !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	// The retired key's checkpoints it does not take there are the
	// sealer's, dated by the copy: no forgery to alert on (the
	// AegisForgedCheckpoint alert fired on each, found by an outside
	// trial).
	if bad, _, err := pipeline.MetricValue(q.Metrics, "aegis_sealer_bad_checkpoints_total", ""); err != nil || bad != 0 {
		t.Fatalf("the sealer on the copy counted %v bad checkpoints (%v), want none", bad, err)
	}
	if code, out := aegis(t, append([]string{"verify", "--json"}, onCopy...)...); code != 0 || !strings.Contains(out, fmt.Sprintf(`"entries":%d,`, head+1)) {
		t.Fatalf("aegis verify of the copy continued: exit %d: %s", code, out)
	}
}

// uploadStored puts every object of the folder objects into a new locked
// bucket, in the order S3 stored them (stored, by key), and with dated
// sets those times on the S3 server's disk, as the old build's bucket
// held them; without, the objects are dated by this upload (a copy).
func uploadStored(ctx context.Context, t *testing.T, objects string, stored map[string]time.Time, dated bool) (string, *archive.Store) {
	t.Helper()
	var keys []string
	err := filepath.WalkDir(objects, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(objects, path)
			keys = append(keys, filepath.ToSlash(rel))
		}
		return err
	})
	if err != nil || len(keys) != len(stored) {
		t.Fatalf("%d objects under %s, %d in stored.json (%v)", len(keys), objects, len(stored), err)
	}
	slices.SortFunc(keys, func(a, b string) int { return stored[a].Compare(stored[b]) })
	cl, err := stack.S3(ctx)
	if err != nil {
		t.Fatal(err)
	}
	bucket := stack.Bucket("sealed-by")
	if err := localstack.CreateLockedBucket(ctx, cl, bucket); err != nil {
		t.Fatal(err)
	}
	store := &archive.Store{S3: cl, Bucket: bucket}
	for _, key := range keys {
		if stored[key].IsZero() {
			t.Fatalf("%s: not in stored.json", key)
		}
		body, err := os.ReadFile(filepath.Join(objects, filepath.FromSlash(key)))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := store.Put(ctx, key, body, time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if dated {
			at := stored[key]
			if err := os.Chtimes(filepath.Join(stack.S3DataDir, bucket, filepath.FromSlash(key)), at, at); err != nil {
				t.Fatal(err)
			}
		}
	}
	return bucket, store
}

// restoreTopic writes the records the chain in objects was sealed from
// to their topic, which must be new, at the offsets and with the Kafka
// times sealed, as a restore from a backup would, and returns its name.
func restoreTopic(ctx context.Context, t *testing.T, objects string) string {
	t.Helper()
	var entries []*shared.Entry
	batches, err := filepath.Glob(filepath.Join(objects, "audit", "year=*", "month=*", "day=*", "env=*", "*.jsonl"))
	if err != nil || len(batches) == 0 {
		t.Fatalf("no batch objects under %s (%v)", objects, err)
	}
	for _, f := range batches {
		body, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		lines, err := shared.SplitLines(body)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range lines {
			e, err := shared.ParseLineLenient(l)
			if err != nil || e.Source == nil {
				t.Fatalf("%s: a line without its record: %v", f, err)
			}
			entries = append(entries, e)
		}
	}
	slices.SortFunc(entries, func(a, b *shared.Entry) int { return cmp.Compare(a.Seq, b.Seq) })
	topic := entries[0].Source.Topic
	cl, err := kgo.NewClient(kgo.SeedBrokers(stack.KafkaAddr), kgo.DefaultProduceTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := topics.Ensure(ctx, cl, topic, 1); err != nil {
		t.Fatal(err)
	}
	for i, e := range entries {
		value := []byte(e.Event)
		if e.Type == shared.EntryInvalid {
			if value, err = base64.StdEncoding.DecodeString(e.Invalid.Raw); err != nil {
				t.Fatal(err)
			}
		}
		r, err := cl.ProduceSync(ctx, &kgo.Record{Value: value, Timestamp: e.Source.Timestamp}).First()
		if err != nil || r.Offset != e.Source.Offset || e.Source.Offset != int64(i) {
			t.Fatalf("restoring seq %d (offset %d) to %s: put at offset %d: %v", e.Seq, e.Source.Offset, topic, r.Offset, err)
		}
	}
	return topic
}
