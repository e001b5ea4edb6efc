package e2e

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/aegisai/audit/archive"
	"github.com/aegisai/audit/indexer"
	"github.com/aegisai/audit/indexer/layout"
	"github.com/aegisai/audit/internal/testbed/pipeline"
	"github.com/aegisai/audit/internal/testbed/s3pace"
	"github.com/aegisai/audit/replayer"
	"github.com/aegisai/audit/sealer"
	"github.com/aegisai/audit/shared"
)

// Issue 6: verification streams the listing. Producers whose clocks
// disagree around midnight, and one that sends a zero timestamp, make the
// sealer file later seqs under earlier days, so S3 lists the chain's
// objects out of seq order. On the real servers, reading two keys a page,
// Verify still reads every object in seq order and verifies the chain,
// with never more than a page and the objects in flight listed ahead of
// what it has read; and it still names a missing object among them.
func TestVerifyStreamsAChainWhoseDatesGoBack(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p := startPipeline(t, pipeline.Config{Indexers: -1, Sealer: func(c *sealer.Config) { c.BatchMaxRecords = 3 }})
	<-p.Sealer.Ready()
	at := func(s string) int64 { return mustTime(t, s).UnixMilli() }
	stamps := []int64{at("2026-11-27T23:59:58Z"), at("2026-11-28T00:00:01Z"), at("2026-11-27T23:59:59.500Z"), // a slow clock
		at("2026-11-28T00:00:02Z"), 0, at("2026-11-28T00:00:03Z"), at("2026-11-29T09:00:00Z"), at("2026-11-27T23:59:59.900Z")}
	for i := range 30 {
		stamps = append(stamps, at("2026-11-29T10:00:00Z")+int64(i))
	}
	var recs []rawRecord
	for i, ms := range stamps {
		recs = append(recs, rawRecord{fmt.Sprintf(`{"type":"decision","event_id":"evt-%d","environment":%q,"occurred_at":"2026-11-27T09:00:00Z","decision":{"decision_id":"dec-%d","action":"ALLOW","confidence_score":0.5,"policy_version":"p","user_id":"u","session_id":"s"}}`,
			i, p.Cfg.Chain, i), ms})
	}
	publishAt(t, p.Cfg.Topic, recs...)
	if err := p.WaitHead(ctx, uint64(len(stamps))); err != nil {
		t.Fatal(err)
	}
	// The listing is out of seq order: the first batch key listed is not
	// the first batch.
	st := &archive.Store{S3: p.S3, Bucket: p.Cfg.Bucket}
	keys, err := st.List(ctx, "audit/year=")
	if err != nil {
		t.Fatal(err)
	}
	var firsts []uint64
	for _, k := range keys {
		if info, err := shared.ParseBatchKey("audit", k); err == nil && info.Chain == p.Cfg.Chain {
			firsts = append(firsts, info.FirstSeq)
		}
	}
	if len(firsts) < 12 || firsts[0] == 1 {
		t.Fatalf("batches listed in seq order %v: the test needs dates that go back", firsts)
	}

	defer func(n int32) { archive.ListPageSize = n }(archive.ListPageSize)
	archive.ListPageSize = 2
	paced := &s3pace.Pace{S3API: p.S3}
	cfg := replayer.Config{S3: paced, Bucket: p.Cfg.Bucket, Chain: p.Cfg.Chain, VerifierKey: p.Cfg.VerifierKey, Parallelism: 2}
	rep, err := replayer.Verify(ctx, cfg)
	if err != nil || rep.Entries != uint64(len(stamps))+1 || rep.Unsigned != 0 {
		t.Fatalf("verify: %v (%+v)", err, rep.LogReport)
	}
	if paced.Read != len(firsts) || paced.Listed != len(firsts) {
		t.Fatalf("%d batch objects read and %d listed, want each of the %d once", paced.Read, paced.Listed, len(firsts))
	}
	// A page, 2*Parallelism items in flight and the object read ahead.
	if limit := 2 + 2*2 + 1; paced.MaxAhead() > limit {
		t.Fatalf("%d batch keys listed ahead of the objects read (after each page: %v), want at most %d", paced.MaxAhead(), paced.Ahead, limit)
	}

	// The object of the zero timestamp (seq 5, filed under 1970) is the
	// one a listing meets first; hidden from the listing, as if deleted
	// on the server's disk, the chain is broken at the object after it.
	hidden := "audit/year=1970/month=01/day=01/env=" + p.Cfg.Chain + "/00000000000000000005.jsonl"
	cfg.S3 = &hidingS3{S3API: p.S3, key: hidden}
	_, err = replayer.Verify(ctx, cfg)
	var f *replayer.Failure
	if !errors.As(err, &f) || !f.HasSeq || f.Seq != 6 || !errors.Is(err, shared.ErrChainBroken) {
		t.Fatalf("verify without %s: %v, want the chain broken at seq 6", hidden, err)
	}
}

// hidingS3 leaves one key out of every listing.
type hidingS3 struct {
	archive.S3API
	key string
}

func (h *hidingS3) ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, opts ...func(*s3.Options)) (*s3.ListObjectsV2Output, error) {
	out, err := h.S3API.ListObjectsV2(ctx, in, opts...)
	if err == nil {
		out.Contents = slices.DeleteFunc(out.Contents, func(o types.Object) bool { return aws.ToString(o.Key) == h.key })
	}
	return out, err
}

func (h *hidingS3) ListObjectVersions(ctx context.Context, in *s3.ListObjectVersionsInput, opts ...func(*s3.Options)) (*s3.ListObjectVersionsOutput, error) {
	out, err := h.S3API.ListObjectVersions(ctx, in, opts...)
	if err == nil {
		out.Versions = slices.DeleteFunc(out.Versions, func(v types.ObjectVersion) bool { return aws.ToString(v.Key) == h.key })
	}
	return out, err
}

// Issue 6: rebuild and index check read the listing as they go, whole
// chain and --from/--to alike. On the real servers, reading two keys a
// page, each asks for the next page of a folder only when the objects
// listed before are read: the keys held are a page and the objects in
// flight, not the chain nor the range. Before, a whole-chain rebuild took
// every key from one listing of versions held whole (none came from a
// paged listing), and a rebuild or check of a range listed all its days
// before reading the first object; this test then fails.
func TestRebuildAndCheckReadTheListingAsTheyGo(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p := startPipeline(t, pipeline.Config{Indexers: -1, Sealer: func(c *sealer.Config) { c.BatchMaxRecords = 2 }})
	<-p.Sealer.Ready()
	// 3 days of 12 decisions, 2 an object.
	var recs []rawRecord
	for d := range 3 {
		for i := range 12 {
			n := 12*d + i
			ms := mustTime(t, "2026-11-27T10:00:00Z").AddDate(0, 0, d).Add(time.Duration(i) * time.Second).UnixMilli()
			recs = append(recs, rawRecord{fmt.Sprintf(`{"type":"decision","event_id":"evt-%d","environment":%q,"occurred_at":"2026-11-27T09:00:00Z","decision":{"decision_id":"dec-%d","action":"ALLOW","confidence_score":0.5,"policy_version":"p","user_id":"u","session_id":"s"}}`,
				n, p.Cfg.Chain, n), ms})
		}
	}
	publishAt(t, p.Cfg.Topic, recs...)
	if err := p.WaitHead(ctx, uint64(len(recs))); err != nil {
		t.Fatal(err)
	}
	st := &archive.Store{S3: p.S3, Bucket: p.Cfg.Bucket}
	onDays := func(days ...string) int {
		n := 0
		for _, day := range days {
			keys, err := st.List(ctx, "audit/year=2026/month=11/day="+day+"/env="+p.Cfg.Chain+"/")
			if err != nil {
				t.Fatal(err)
			}
			n += len(keys)
		}
		return n
	}
	all := onDays("27", "28", "29")
	if all < 18 {
		t.Fatalf("%d objects: the sealer did not close its batches at 2 records", all)
	}
	fresh := p.Cfg.Table + "-paced"
	if err := layout.EnsureTable(ctx, p.DynamoDB, fresh); err != nil {
		t.Fatal(err)
	}
	defer func(n int32) { archive.ListPageSize = n }(archive.ListPageSize)
	archive.ListPageSize = 2
	const workers = 4 // rebuild's objects in flight
	from, to := mustTime(t, "2026-11-28T10:00:05Z"), mustTime(t, "2026-11-29T10:00:03Z")
	for _, tc := range []struct {
		name     string
		from, to time.Time
		check    bool
		objects  int
		entries  uint64
	}{
		{"rebuild", time.Time{}, time.Time{}, false, all, 36},
		{"rebuild --from --to", from, to, false, onDays("28", "29"), 24},
		{"index check --from --to", from, to, true, onDays("28", "29"), 24},
		{"index check", time.Time{}, time.Time{}, true, all, 36},
	} {
		t.Run(tc.name, func(t *testing.T) {
			paced := &s3pace.Pace{S3API: p.S3}
			cfg := replayer.RebuildConfig{S3: paced, Bucket: p.Cfg.Bucket, Chain: p.Cfg.Chain, VerifierKey: p.Cfg.VerifierKey,
				Index: &indexer.Index{DB: p.DynamoDB, Table: fresh}, From: tc.from, To: tc.to}
			var totals []int
			cfg.Progress = func(r replayer.RebuildReport) { totals = append(totals, r.Objects) }
			run := replayer.Rebuild
			if tc.check {
				run = replayer.Check
			}
			rep, err := run(ctx, cfg)
			if err != nil || rep.Objects != tc.objects || rep.Done != tc.objects || rep.Entries != tc.entries || len(rep.Differences) != 0 {
				t.Fatalf("%v (%+v), want %d objects of %d entries and no difference", err, rep, tc.objects, tc.entries)
			}
			if len(totals) != tc.objects || totals[0] != tc.objects {
				t.Fatalf("progress totals %v, want %d objects from the first", totals, tc.objects)
			}
			if paced.Read != tc.objects || paced.Listed != tc.objects {
				t.Fatalf("%d batch objects read and %d listed, want each of the %d once", paced.Read, paced.Listed, tc.objects)
			}
			// A page, the objects in flight and the one being handed on
			// (a resumed rebuild reads every object: nothing read ahead
			// for a rule of its own).
			if limit := 2 + workers + 1; paced.MaxAhead() > limit {
				t.Fatalf("%d batch keys listed ahead of the objects read (after each page: %v), want at most %d", paced.MaxAhead(), paced.Ahead, limit)
			}
		})
	}
}
