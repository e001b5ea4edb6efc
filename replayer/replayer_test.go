package replayer_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"golang.org/x/mod/sumdb/note"

	"github.com/aegisai/audit/archive"
	"github.com/aegisai/audit/internal/testbed/s3mem"
	"github.com/aegisai/audit/replayer"
	"github.com/aegisai/audit/shared"
)

// memChain writes a chain of perDay decisions on each of days days into an
// in-memory S3, as the sealer lays it out (one object per day), and
// returns the store and the verifier key. Decision n has user u<n%3>.
func memChain(t *testing.T, days, perDay int) (*s3mem.S3, string) {
	t.Helper()
	return memChainOf(t, days, perDay, func(n, _, _ int, at string) string {
		return fmt.Sprintf(`{"type":"decision","event_id":"e%d","environment":"mem","occurred_at":%q,"decision":{"decision_id":"d%d","action":"ALLOW","confidence_score":0.5,"policy_version":"p","user_id":"u%d","session_id":"s"}}`,
			n, at, n, n%3)
	})
}

// memChainOf is memChain with the n-th record (record i of day d, at the
// time at) given by record.
func memChainOf(t *testing.T, days, perDay int, record func(n, d, i int, at string) string) (*s3mem.S3, string) {
	t.Helper()
	dayOf := make([]int, days)
	for d := range dayOf {
		dayOf[d] = d
	}
	return memObjects(t, dayOf, perDay, record)
}

// memObjects writes a chain of one object of perObject records for each
// element of dayOf, on that day after the first (in that order: days may
// repeat and go back), each with its checkpoint.
func memObjects(t testing.TB, dayOf []int, perObject int, record func(n, d, i int, at string) string) (*s3mem.S3, string) {
	t.Helper()
	signer, vkey := memSigner(t, "aegis-mem")
	start := time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)
	b := newMemBuilder(t, signer, vkey, start, func() time.Time { return start })
	for _, d := range dayOf {
		ts := func(i int) time.Time { return start.AddDate(0, 0, d).Add(time.Duration(i) * time.Minute) }
		raws := make([][]byte, perObject)
		for i := range raws {
			raws[i] = []byte(record(b.n+i, d, i, shared.FormatTime(ts(i))))
		}
		b.object(signer, raws, ts)
	}
	return b.store, vkey
}

func TestDiscoverReadsOnlyTheRangesDays(t *testing.T) {
	store, vkey := memChain(t, 10, 6)
	from := time.Date(2026, 11, 4, 8, 2, 0, 0, time.UTC) // the third entry of day 4
	to := time.Date(2026, 11, 6, 8, 1, 0, 0, time.UTC)   // before the second entry of day 6
	var got []string
	rep, err := replayer.Discover(context.Background(), replayer.DiscoverConfig{S3: store, Bucket: "audit", Chain: "mem", VerifierKey: vkey,
		From: from, To: to, UserID: "u0"}, func(f replayer.Found) error { got = append(got, f.Entry.DecisionID()); return nil })
	if err != nil {
		t.Fatal(err)
	}
	// Day 4 holds d18..d23, day 5 d24..d29, day 6 d30..: users u0 are the
	// multiples of 3 from d20 to d30.
	if strings.Join(got, " ") != "d21 d24 d27 d30" || rep.Days != 3 || rep.Objects != 3 {
		t.Fatalf("found %v in %d objects of %d days", got, rep.Objects, rep.Days)
	}
}

// Issue 12: a chain without a genesis object (a misspelt name) is an
// error, not an empty answer.
func TestDiscoverRefusesAChainWithoutGenesis(t *testing.T) {
	store, vkey := memChain(t, 10, 6)
	from, to := time.Date(2026, 11, 4, 0, 0, 0, 0, time.UTC), time.Date(2026, 11, 5, 0, 0, 0, 0, time.UTC)
	_, err := replayer.Discover(context.Background(), replayer.DiscoverConfig{S3: store, Bucket: "audit", Chain: "mme", VerifierKey: vkey,
		From: from, To: to}, func(replayer.Found) error { return nil })
	if !errors.Is(err, replayer.ErrNoChain) || !strings.Contains(err.Error(), `chain "mme" has no genesis object (s3://audit/audit/`) {
		t.Fatalf("got %v, want ErrNoChain naming the chain and the genesis key", err)
	}
}

func TestProveMakesABundleThatVerifiesOffline(t *testing.T) {
	store, vkey := memChain(t, 3, 5)
	key := shared.BatchKey("audit", &shared.Entry{Type: shared.EntryEvent, Chain: "mem", Seq: 6,
		Source: &shared.Source{Timestamp: time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC)}})
	raw, rep, err := replayer.Prove(context.Background(), replayer.ProveConfig{S3: store, Bucket: "audit", Chain: "mem", VerifierKey: vkey},
		"d7", []replayer.EntryRef{{Seq: 8, Object: key, Line: 3}})
	if err != nil {
		t.Fatal(err)
	}
	trusted, _ := shared.ParseKeyset(vkey)
	if again, err := shared.VerifyBundle(raw, trusted); err != nil || again.Action != rep.Action || len(again.Entries) != 1 {
		t.Fatalf("the bundle does not verify offline: %v", err)
	}
	// An index that points at the wrong line is named, not trusted.
	if _, _, err := replayer.Prove(context.Background(), replayer.ProveConfig{S3: store, Bucket: "audit", Chain: "mem", VerifierKey: vkey},
		"d7", []replayer.EntryRef{{Seq: 8, Object: key, Line: 4}}); err == nil || !strings.Contains(err.Error(), "index is out of date") {
		t.Fatalf("a wrong pointer: %v", err)
	}
}

// A decision's object written over by someone without the signing key,
// and its checkpoint deleted (a delete marker), still prove: the sealed
// versions underneath are read (the checkpoint's signature covers them),
// each named in a warning; the bundle is the one made before. An object
// that no version of proves stays an error.
func TestProveReadsTheSealedVersionUnderARewrite(t *testing.T) {
	store, vkey := memChain(t, 3, 5)
	key := shared.BatchKey("audit", &shared.Entry{Type: shared.EntryEvent, Chain: "mem", Seq: 6,
		Source: &shared.Source{Timestamp: time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC)}})
	var warnings []string
	cfg := replayer.ProveConfig{S3: store, Bucket: "audit", Chain: "mem", VerifierKey: vkey, Warn: func(w string) { warnings = append(warnings, w) }}
	refs := []replayer.EntryRef{{Seq: 8, Object: key, Line: 3}}
	before, _, err := replayer.Prove(context.Background(), cfg, "d7", refs)
	if err != nil || len(warnings) != 0 {
		t.Fatalf("before: %v, warnings %v", err, warnings)
	}
	body := store.Objects("audit")[key]
	store.PutVersion("audit", key, append([]byte("x"), body...))
	store.Delete("audit", shared.CheckpointKey("audit", "mem", 10))
	after, _, err := replayer.Prove(context.Background(), cfg, "d7", refs)
	if err != nil || !bytes.Equal(after, before) {
		t.Fatalf("after the rewrite: %v (same bundle: %v)", err, bytes.Equal(after, before))
	}
	all := strings.Join(warnings, "\n")
	if len(warnings) != 2 || !strings.Contains(all, key+": the current version (version ") ||
		!strings.Contains(all, shared.CheckpointKey("audit", "mem", 10)+": the current version (a delete marker)") {
		t.Fatalf("warnings %q, want the object's and the checkpoint's", warnings)
	}
	// No version proves (another chain's key is trusted): the refusal of
	// the oldest, the sealed one, is told first, with the current one's.
	// Before, the current one's alone (a rewrite's), which hid why the
	// sealed version was refused (an outside trial).
	_, other := memSigner(t, "aegis-other")
	sealed := store.Versions("audit", key)[0].ID
	if _, _, err := replayer.Prove(context.Background(), replayer.ProveConfig{S3: store, Bucket: "audit", Chain: "mem", VerifierKey: other},
		"d7", refs); err == nil || !strings.Contains(err.Error(), "no version of "+key+" is the sealed one; the oldest is refused: "+key+" version "+sealed+":") ||
		!strings.Contains(err.Error(), "(the current, version ") {
		t.Fatalf("no version proves: %v, want the oldest's refusal and the current one's", err)
	}
	store.Remove("audit", key)
	if _, _, err := replayer.Prove(context.Background(), cfg, "d7", refs); !errors.Is(err, replayer.ErrObjectGone) {
		t.Fatalf("an object removed with all its versions: %v, want it named gone", err)
	}
}

func TestVerifySeesEveryVersion(t *testing.T) {
	for _, tc := range []struct {
		name   string
		tamper func(store *s3mem.S3, key string, body []byte)
		want   string
	}{
		{"the same bytes written again", func(s *s3mem.S3, k string, b []byte) { s.PutVersion("audit", k, b) }, "holds 2 versions"},
		{"a delete marker", func(s *s3mem.S3, k string, b []byte) { s.Delete("audit", k) }, "delete marker"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store, vkey := memChain(t, 3, 4)
			st := &archive.Store{S3: store, Bucket: "audit"}
			refs, err := st.Batches(context.Background(), "mem")
			if err != nil {
				t.Fatal(err)
			}
			obj, err := st.Get(context.Background(), refs[2].Key, "")
			if err != nil {
				t.Fatal(err)
			}
			tc.tamper(store, refs[2].Key, obj.Body)
			_, err = replayer.Verify(context.Background(), replayer.Config{S3: store, Bucket: "audit", Chain: "mem", VerifierKey: vkey})
			var f *replayer.Failure
			if !errors.As(err, &f) || f.Key != refs[2].Key || !errors.Is(err, replayer.ErrRewritten) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("verify: %v, want %s named (%s)", err, refs[2].Key, tc.want)
			}
		})
	}
}

// Objects and checkpoints are checked in one pipeline, but the verdict is
// the one of checking every object first: a broken object is named even
// when a checkpoint before it is broken too, and a broken checkpoint is
// named when every object verifies.
func TestVerifyNamesABrokenObjectBeforeABrokenCheckpoint(t *testing.T) {
	ctx := context.Background()
	store, vkey := memChain(t, 4, 5)
	st := &archive.Store{S3: store, Bucket: "audit"}
	refs, err := st.Batches(ctx, "mem")
	if err != nil {
		t.Fatal(err)
	}
	cps, err := st.Checkpoints(ctx, "mem")
	if err != nil {
		t.Fatal(err)
	}
	// The checkpoint of day 1 signed by another key, written over it.
	other, _, _ := note.GenerateKey(rand.Reader, "aegis-mem")
	signer, _ := shared.NewSigner(other)
	cp1, err := st.Get(ctx, cps[1], "")
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := shared.OpenCheckpoint(cp1.Body, mustVerifier(t, vkey))
	if err != nil {
		t.Fatal(err)
	}
	forged, err := parsed.Sign(signer)
	if err != nil {
		t.Fatal(err)
	}
	store.PutVersion("audit", cps[1], forged)
	_, err = replayer.Verify(ctx, replayer.Config{S3: store, Bucket: "audit", Chain: "mem", VerifierKey: vkey})
	var f *replayer.Failure
	if !errors.As(err, &f) || f.Key != cps[1] {
		t.Fatalf("verify with a forged checkpoint: %v, want %s named", err, cps[1])
	}
	// Then a line of a later object changed: that object is named.
	obj, err := st.Get(ctx, refs[3].Key, "")
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(strings.Replace(string(obj.Body), `"u0"`, `"u9"`, 1))
	store.PutVersion("audit", refs[3].Key, body)
	_, err = replayer.Verify(ctx, replayer.Config{S3: store, Bucket: "audit", Chain: "mem", VerifierKey: vkey})
	if !errors.As(err, &f) || f.Key != refs[3].Key || f.Line == 0 {
		t.Fatalf("verify with a forged checkpoint and a changed line after it: %v, want %s and its line named", err, refs[3].Key)
	}
}

func mustVerifier(t *testing.T, vkey string) shared.VerifierKey {
	t.Helper()
	k, err := shared.ParseVerifierKey(vkey)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// Someone with write access to the bucket but not the signing key puts an
// object over archive.DefaultMaxObjectBytes at the chain's next batch key.
// Verification names it as a failure of that object, without reading it
// whole (the in-memory S3 announces no length: the read is cut at the
// limit).
func TestVerifyNamesAnOversizedObject(t *testing.T) {
	store, vkey := memChain(t, 2, 3)
	key := "audit/year=2026/month=11/day=03/env=mem/00000000000000000007.jsonl"
	store.PutVersion("audit", key, make([]byte, archive.DefaultMaxObjectBytes+1))
	_, err := replayer.Verify(context.Background(), replayer.Config{S3: store, Bucket: "audit", Chain: "mem", VerifierKey: vkey})
	var f *replayer.Failure
	if !errors.As(err, &f) || f.Key != key || !errors.Is(err, replayer.ErrVerifyFailed) || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("verify: %v, want a failure of %s for its size", err, key)
	}
}

// heapAtGet forces a collection and records the live heap each time a batch
// object is read.
type heapAtGet struct {
	*s3mem.S3
	live []uint64
}

func (h *heapAtGet) GetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	if strings.HasSuffix(aws.ToString(in.Key), ".jsonl") {
		var m runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m)
		h.live = append(h.live, m.HeapAlloc)
	}
	return h.S3.GetObject(ctx, in, opts...)
}

// A producer that overrides one decision in every batch makes its proof
// read many objects. Prove holds one object at a time: the live heap when
// the last object is read is not that of all the objects before it (about
// 1 MB each here); before, it kept every object until the bundle was built.
func TestProveHoldsOneObjectAtATime(t *testing.T) {
	const days, perDay = 10, 2500
	store, vkey := memChainOf(t, days, perDay, func(n, d, i int, at string) string {
		switch {
		case i == 0 && d == 0:
			return fmt.Sprintf(`{"type":"decision","event_id":"e%d","environment":"mem","occurred_at":%q,"decision":{"decision_id":"dx","action":"BLOCK","confidence_score":0.5,"policy_version":"p","user_id":"u","session_id":"s"}}`, n, at)
		case i == 0:
			return fmt.Sprintf(`{"type":"override","event_id":"e%d","environment":"mem","occurred_at":%q,"override":{"decision_id":"dx","reviewer_id":"r","new_action":"ALLOW","reason":"again"}}`, n, at)
		}
		return fmt.Sprintf(`{"type":"decision","event_id":"e%d","environment":"mem","occurred_at":%q,"decision":{"decision_id":"d%d","action":"ALLOW","confidence_score":0.5,"policy_version":"p","user_id":"u%d","session_id":"s","metadata":{"pad":"%0200d"}}}`, n, at, n, n%3, 0)
	})
	st := &archive.Store{S3: store, Bucket: "audit"}
	all, err := st.Batches(context.Background(), "mem")
	if err != nil {
		t.Fatal(err)
	}
	batches := all[1:] // after genesis
	if len(batches) != days {
		t.Fatalf("%d batches", len(batches))
	}
	var refs []replayer.EntryRef
	for _, b := range batches {
		refs = append(refs, replayer.EntryRef{Seq: b.FirstSeq, Object: b.Key, Line: 1})
	}
	counted := &heapAtGet{S3: store}
	_, rep, err := replayer.Prove(context.Background(), replayer.ProveConfig{S3: counted, Bucket: "audit", Chain: "mem", VerifierKey: vkey}, "dx", refs)
	if err != nil || len(rep.Entries) != days || rep.CurrentAction != shared.ActionAllow {
		t.Fatalf("prove: %v (%d entries)", err, len(rep.Entries))
	}
	if len(counted.live) != days {
		t.Fatalf("%d objects read, want each of %d once", len(counted.live), days)
	}
	obj, err := st.Get(context.Background(), batches[0].Key, "")
	if err != nil {
		t.Fatal(err)
	}
	if grew := int64(counted.live[days-1]) - int64(counted.live[0]); grew > 3*int64(len(obj.Body)) {
		t.Fatalf("the live heap grew by %d bytes over %d objects of about %d bytes: earlier objects are still held", grew, days, len(obj.Body))
	}
}

// So is verify of a chain id with nothing in the bucket (outside trial 8:
// `verify --chain prdo` read like a broken chain). With a kept checkpoint,
// the same emptiness is a broken chain: the checkpoint says there was one.
func TestVerifyRefusesAChainWithNothingAsNoSuchChain(t *testing.T) {
	store, vkey := memChain(t, 10, 6)
	_, err := replayer.Verify(context.Background(), replayer.Config{S3: store, Bucket: "audit", Chain: "mme", VerifierKey: vkey})
	if !errors.Is(err, replayer.ErrNoChain) || !strings.Contains(err.Error(), `chain "mme" has no object`) {
		t.Fatalf("got %v, want ErrNoChain naming the chain", err)
	}
}

// A verification that fails reports what verified before the failure
// (outside trial 8: verify --json said 0 objects and 0 entries).
func TestAFailedVerifyCountsWhatVerifiedBeforeIt(t *testing.T) {
	store, vkey := memChain(t, 10, 6)
	key := memDay(4, 6)
	body := bytes.Clone(store.Objects("audit")[key])
	body[bytes.Index(body, []byte(`"decision_id":"`))+15] ^= 0x01
	store.Remove("audit", key)
	store.PutVersion("audit", key, body)
	rep, err := replayer.Verify(context.Background(), replayer.Config{S3: store, Bucket: "audit", Chain: "mem", VerifierKey: vkey})
	var f *replayer.Failure
	if !errors.As(err, &f) || f.Key != key {
		t.Fatalf("verify: %v, want a failure at %s", err, key)
	}
	if rep.Objects != 5 || rep.Entries != 1+4*6 { // the genesis and days 0 to 3
		t.Fatalf("reported %d objects and %d entries verified before the failure, want 5 and 25", rep.Objects, rep.Entries)
	}
}
