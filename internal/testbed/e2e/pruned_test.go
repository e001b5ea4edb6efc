package e2e

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/aegisai/audit/archive"
	"github.com/aegisai/audit/indexer"
	"github.com/aegisai/audit/internal/platform/httpauth"
	"github.com/aegisai/audit/internal/testbed/pipeline"
	"github.com/aegisai/audit/query"
	"github.com/aegisai/audit/query/httpapi"
	"github.com/aegisai/audit/replayer"
	"github.com/aegisai/audit/sealer"
	"github.com/aegisai/audit/shared"
)

// A chain whose oldest objects and checkpoints were deleted after their
// retention (here removed from versitygw's disk, as a lifecycle rule
// would once their retention ended) verifies from what remains when the
// verifier is asked to (docs/FORMAT.md section 6.1), and says where it
// starts; not asked, it fails as before. A hole after the start still
// fails, and so does a checkpoint left of the seq before the start that
// does not sign the first remaining entry's prev. Before, a chain past
// its first retention period could not be verified at all (operator
// trial).
func TestVerifyAPrunedChain(t *testing.T) {
	if stack.S3DataDir == "" {
		t.Fatal("this test edits the local S3's disk: run it on the native stack")
	}
	ctx := context.Background()
	p, refs := sealedChain(t) // genesis, then objects of seqs 1-10, 11-20, 21-30, 31-40, a checkpoint each
	if len(refs) < 5 || refs[0].Key != shared.GenesisKey("audit", p.Cfg.Chain) {
		t.Fatalf("%d objects, first %s", len(refs), refs[0].Key)
	}
	disk := func(key string) string { return filepath.Join(stack.S3DataDir, p.Cfg.Bucket, filepath.FromSlash(key)) }
	remove := func(key string) {
		t.Helper()
		if err := os.Remove(disk(key)); err != nil {
			t.Fatal(err)
		}
	}
	// The index as the chain was before pruning (no indexer runs here).
	if _, err := replayer.Rebuild(ctx, replayer.RebuildConfig{S3: p.S3, Bucket: p.Cfg.Bucket, Chain: p.Cfg.Chain, VerifierKey: p.Cfg.VerifierKey,
		Index: &indexer.Index{DB: p.DynamoDB, Table: p.Cfg.Table}}); err != nil {
		t.Fatal(err)
	}
	start := refs[2].FirstSeq
	gone := firstDecisionOf(t, p, refs[1].Key, refs[1].FirstSeq)
	remove(refs[0].Key)
	remove(refs[1].Key)
	remove(shared.CheckpointKey("audit", p.Cfg.Chain, 0)) // the checkpoint of seq start-1 stays
	verify := func(pruned bool) (replayer.Report, error) {
		return replayer.Verify(ctx, replayer.Config{S3: p.S3, Bucket: p.Cfg.Bucket, Chain: p.Cfg.Chain, VerifierKey: p.Cfg.VerifierKey, Pruned: pruned})
	}
	if _, err := verify(false); err == nil || !strings.Contains(err.Error(), "no genesis object") {
		t.Fatalf("not asked to accept a pruned chain: %v, want no genesis object", err)
	}
	rep, err := verify(true)
	if err != nil {
		t.Fatalf("pruned: %v", err)
	}
	if rep.StartSeq != start || rep.StartObject != refs[2].Key || rep.StartSealedAt.IsZero() || rep.Entries != rep.Head.Seq-start+1 || rep.Unsigned != 0 {
		t.Fatalf("pruned report: start %d in %s sealed %v, %d entries to seq %d, %d unsigned; want start %d in %s",
			rep.StartSeq, rep.StartObject, rep.StartSealedAt, rep.Entries, rep.Head.Seq, rep.Unsigned, start, refs[2].Key)
	}

	prunedReadersReadFromTheStart(t, p, rep.Head.Seq, start, refs[2].Key, gone)

	// The checkpoint of start-1 replaced on disk by one the chain's key
	// signs for that seq with another hash (what the chain's own key
	// would sign for another history): refused, as not of one chain.
	kept := disk(shared.CheckpointKey("audit", p.Cfg.Chain, start-1))
	good, err := os.ReadFile(kept)
	if err != nil {
		t.Fatal(err)
	}
	cp, err := shared.OpenCheckpoint(good, mustVerifierKey(t, p.Cfg.VerifierKey))
	if err != nil {
		t.Fatal(err)
	}
	signer, err := shared.NewSigner(p.Cfg.SignerKey)
	if err != nil {
		t.Fatal(err)
	}
	cp.Hash = rep.Head.Hash
	forged, err := cp.Sign(signer)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(kept, forged, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := verify(true); err == nil || !strings.Contains(err.Error(), "they are not of one chain") {
		t.Fatalf("a checkpoint of the seq before the start that signs another hash: %v", err)
	}
	if err := os.WriteFile(kept, good, 0o644); err != nil {
		t.Fatal(err)
	}

	// A hole after the start is not pruning.
	remove(refs[3].Key)
	var f *replayer.Failure
	if _, err := verify(true); !errors.As(err, &f) || f.Key != refs[4].Key || !strings.Contains(err.Error(), "no object in the bucket holds") {
		t.Fatalf("a hole after the start: %v, want it named at %s", err, refs[4].Key)
	}
}

func mustVerifierKey(t *testing.T, text string) shared.VerifierKey {
	t.Helper()
	k, err := shared.ParseVerifierKey(text)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// prunedReadersReadFromTheStart: discover, rebuild and index check of the
// pruned chain's day, asked to accept a pruned chain, read it from its
// start (before, discover failed with no such chain and rebuild and check
// with the deleted object missing); not asked, they fail and point at
// --pruned. The index from before the pruning holds the deleted entries'
// items: check names them extra, rebuild --only-missing deletes them, and
// the check then finds the index and S3 the same.
func prunedReadersReadFromTheStart(t *testing.T, p *pipeline.Pipeline, head, start uint64, startKey, gone string) {
	t.Helper()
	ctx := context.Background()
	if h, err := replayer.SignedHead(ctx, p.S3, p.Cfg.Bucket, "", p.Cfg.Chain, p.Cfg.VerifierKey); err != nil || h.Seq != head {
		t.Fatalf("S3's signed head for aegis index status: %v, seq %d, want %d", err, h.Seq, head)
	}
	// The query service, over the index from before the pruning: a decision
	// whose object is gone is answered 409 "gone" (before, "proof_failed"
	// with S3's bare "object not found"), one at the start proves.
	api := queryService(t, p)
	if code, body := api("/v1/decisions/" + gone + "/proof"); code != http.StatusConflict || !strings.Contains(body, `"error":"gone"`) || !strings.Contains(body, "--pruned") {
		t.Fatalf("proof of %s, whose object was deleted: %d %s, want 409 gone", gone, code, body)
	}
	startID := firstDecisionOf(t, p, startKey, start)
	if code, body := api("/v1/decisions/" + startID + "/proof"); code != http.StatusOK {
		t.Fatalf("proof of %s at the pruned chain's start: %d %s", startID, code, body)
	}
	from := time.Now().UTC().Add(-48 * time.Hour).Truncate(24 * time.Hour)
	to := from.AddDate(0, 0, 4)
	discover := func(pruned bool) (replayer.DiscoverReport, []uint64, error) {
		var seqs []uint64
		rep, err := replayer.Discover(ctx, replayer.DiscoverConfig{S3: p.S3, Bucket: p.Cfg.Bucket, Chain: p.Cfg.Chain, VerifierKey: p.Cfg.VerifierKey,
			From: from, To: to, Pruned: pruned}, func(f replayer.Found) error { seqs = append(seqs, f.Entry.Seq); return nil })
		return rep, seqs, err
	}
	if _, _, err := discover(false); !errors.Is(err, replayer.ErrNoChain) || !strings.Contains(err.Error(), "--pruned") {
		t.Fatalf("discover not asked to accept a pruned chain: %v, want no such chain and a hint at --pruned", err)
	}
	rep, seqs, err := discover(true)
	if err != nil || rep.StartSeq != start || rep.StartObject != startKey || uint64(len(seqs)) != head-start+1 || seqs[0] != start {
		t.Fatalf("discover --pruned: %v, start %d in %s, %d entries from %v; want seqs %d to %d from %s", err, rep.StartSeq, rep.StartObject, len(seqs), seqs[:min(len(seqs), 1)], start, head, startKey)
	}
	rcfg := replayer.RebuildConfig{S3: p.S3, Bucket: p.Cfg.Bucket, Chain: p.Cfg.Chain, VerifierKey: p.Cfg.VerifierKey,
		Index: &indexer.Index{DB: p.DynamoDB, Table: p.Cfg.Table}, TempDir: t.TempDir()}
	if _, err := replayer.Rebuild(ctx, rcfg); err == nil || !strings.Contains(err.Error(), "--pruned") {
		t.Fatalf("rebuild not asked to accept a pruned chain: %v, want a failure pointing at --pruned", err)
	}
	rcfg.Pruned = true
	// The index still holds the deleted entries' items: extra to the
	// check, and deleted by rebuild --only-missing (the index follows S3).
	crep, err := replayer.Check(ctx, rcfg)
	if err != nil || crep.StartSeq != start || crep.Extra == 0 || crep.Missing+crep.Different != 0 {
		t.Fatalf("index check --pruned of the index from before the pruning: %v, start %d, %d extra, %d missing, %d different",
			err, crep.StartSeq, crep.Extra, crep.Missing, crep.Different)
	}
	for _, d := range crep.Differences {
		if d.Seq >= start {
			t.Fatalf("an item of seq %d that remains is named extra: %+v", d.Seq, d)
		}
	}
	mend := rcfg
	mend.OnlyMissing = true
	if mrep, err := replayer.Rebuild(ctx, mend); err != nil || mrep.Extra != crep.Extra || mrep.Missing+mrep.Different != 0 {
		t.Fatalf("rebuild --only-missing --pruned: %v, %d extra deleted (check found %d), %d missing, %d different", err, mrep.Extra, crep.Extra, mrep.Missing, mrep.Different)
	}
	rrep, err := replayer.Rebuild(ctx, rcfg)
	if err != nil || rrep.StartSeq != start || rrep.HeadSeq != head || rrep.Entries != head-start+1 {
		t.Fatalf("rebuild --pruned: %v, start %d, head %d, %d entries", err, rrep.StartSeq, rrep.HeadSeq, rrep.Entries)
	}
	crep, err = replayer.Check(ctx, rcfg)
	if err != nil || crep.DifferenceCount() != 0 || crep.StartSeq != start {
		t.Fatalf("index check --pruned after the mend: %v, %d differences %v, start %d", err, crep.DifferenceCount(), crep.Differences, crep.StartSeq)
	}

	// prove reads an entry's object and checkpoints only: the start's
	// first decision proves as on any chain.
	cfg := replayer.ProveConfig{S3: p.S3, Bucket: p.Cfg.Bucket, Chain: p.Cfg.Chain, VerifierKey: p.Cfg.VerifierKey}
	if _, _, err := replayer.Prove(ctx, cfg, startID, []replayer.EntryRef{{Seq: start, Object: startKey, Line: 1}}); err != nil {
		t.Fatalf("prove of decision %s at the pruned chain's start: %v", startID, err)
	}
}

// firstDecisionOf is the decision id of the first entry of the object at
// key (first seq first), read before anything is deleted.
func firstDecisionOf(t *testing.T, p *pipeline.Pipeline, key string, first uint64) string {
	t.Helper()
	obj, err := (&archive.Store{S3: p.S3, Bucket: p.Cfg.Bucket}).Get(context.Background(), key, "")
	if err != nil {
		t.Fatal(err)
	}
	entries, _, err := shared.ParseObject(key, first, obj.Body)
	if err != nil {
		t.Fatal(err)
	}
	env, err := entries[0].Envelope()
	if err != nil || env.Decision == nil {
		t.Fatalf("the first entry of %s: %v, not a decision", key, err)
	}
	return env.Decision.DecisionID
}

// queryService serves p's index and bucket as aegis query does; the
// returned func GETs a path with a token for p's chain.
func queryService(t *testing.T, p *pipeline.Pipeline) func(path string) (int, string) {
	t.Helper()
	tokens, err := httpauth.Parse(strings.NewReader("auditor auditor-token-0123456789abcdef "+p.Cfg.Chain+" read\n"), "tokens")
	if err != nil {
		t.Fatal(err)
	}
	svc, err := httpapi.New(httpapi.Config{Reader: p.Reader, Tokens: tokens, Chain: p.Cfg.Chain, VerifierKey: p.Cfg.VerifierKey,
		Metrics:  prometheus.NewRegistry(),
		Evidence: &query.Evidence{Config: replayer.ProveConfig{S3: p.S3, Bucket: p.Cfg.Bucket, Chain: p.Cfg.Chain, VerifierKey: p.Cfg.VerifierKey}}})
	if err != nil {
		t.Fatal(err)
	}
	h := svc.Handler()
	return func(path string) (int, string) {
		r := httptest.NewRequest(http.MethodGet, path, nil)
		r.Header.Set("Authorization", "Bearer auditor-token-0123456789abcdef")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code, w.Body.String()
	}
}

// A chain pruned by an S3 lifecycle rule, against versitygw: the rule's
// expiration puts a delete marker over the oldest objects and their
// checkpoints once their retention has ended (a DeleteObject without a
// version id, which Object Lock allows), and deletes the versions under
// them later. verify --pruned takes such keys as deleted (FORMAT.md 6.1,
// revision 2026-11-30.4) and starts after them; a marker over an object
// still under its retention is refused. The pipeline locks for 24 hours,
// so the verifier's clock is set past the oldest objects' retention and
// before the later ones' (sealed two seconds after).
func TestVerifyAChainPrunedByALifecycleRule(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p := startPipeline(t, pipeline.Config{Indexers: -1, Sealer: func(c *sealer.Config) { c.BatchMaxRecords = 10 }})
	w := pipeline.NewWorkload(p.Cfg.Chain, p.Cfg.Chain, 30, 0, 5, 6, time.Now())
	publish(t, p, w.Events[:10])
	if err := p.WaitHead(ctx, 10); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2100 * time.Millisecond) // S3 dates to the second: the later objects' retention ends later
	publish(t, p, w.Events[10:])
	if err := p.WaitHead(ctx, 30); err != nil {
		t.Fatal(err)
	}
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	st := &archive.Store{S3: p.S3, Bucket: p.Cfg.Bucket}
	refs, err := st.Batches(ctx, p.Cfg.Chain)
	if err != nil || len(refs) != 4 || refs[2].FirstSeq != 11 {
		t.Fatalf("objects %+v: %v", refs, err)
	}
	until := func(key string) time.Time {
		obj, err := st.Head(ctx, key, "")
		if err != nil {
			t.Fatal(err)
		}
		return obj.RetainUntil
	}
	first, later := until(refs[1].Key), until(refs[2].Key)
	if !later.After(first) {
		t.Fatalf("the second object's retention ends at %v, not after the first's %v", later, first)
	}
	now := first.Add(later.Sub(first) / 2)
	for _, key := range []string{refs[0].Key, refs[1].Key, shared.CheckpointKey("audit", p.Cfg.Chain, 0)} {
		if _, err := p.S3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(p.Cfg.Bucket), Key: aws.String(key)}); err != nil {
			t.Fatal(err)
		}
	}
	verify := func(pruned bool) (replayer.Report, error) {
		return replayer.Verify(ctx, replayer.Config{S3: p.S3, Bucket: p.Cfg.Bucket, Chain: p.Cfg.Chain, VerifierKey: p.Cfg.VerifierKey,
			Pruned: pruned, Now: func() time.Time { return now }})
	}
	if _, err := verify(false); !errors.Is(err, replayer.ErrRewritten) || !strings.Contains(err.Error(), "delete marker") {
		t.Fatalf("not asked to accept a pruned chain: %v, want the marker named", err)
	}
	rep, err := verify(true)
	if err != nil || rep.StartSeq != 11 || rep.PrunedMarkers != 3 || rep.Head.Seq != 30 || rep.Entries != 20 {
		t.Fatalf("--pruned: %v, start %d, %d keys under markers taken as deleted, head %d, %d entries; want 11, 3, 30, 20",
			err, rep.StartSeq, rep.PrunedMarkers, rep.Head.Seq, rep.Entries)
	}
	// The next object's retention has not ended: a marker over it is not
	// pruning.
	if _, err := p.S3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(p.Cfg.Bucket), Key: aws.String(refs[2].Key)}); err != nil {
		t.Fatal(err)
	}
	if _, err := verify(true); err == nil || !strings.Contains(err.Error(), "pruning cannot have deleted") {
		t.Fatalf("a marker over an object under its retention: %v", err)
	}
}
