package replayer_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

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
	skey, vkey, err := note.GenerateKey(rand.Reader, "aegis-mem")
	if err != nil {
		t.Fatal(err)
	}
	signer, err := shared.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	store := s3mem.New("audit")
	put := func(key string, body []byte) { store.PutVersion("audit", key, body) }
	start := time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)
	g, err := shared.NewGenesis("mem", start, signer.Name(), vkey)
	if err != nil {
		t.Fatal(err)
	}
	gl, _ := g.Line()
	sign := func(entries []*shared.Entry, offset int64, key string) {
		last := entries[len(entries)-1]
		msg, err := shared.Checkpoint{Chain: "mem", Seq: last.Seq, Hash: last.Hash, Offset: offset, Object: key, Root: shared.ObjectRoot(entries), Time: start}.Sign(signer)
		if err != nil {
			t.Fatal(err)
		}
		put(shared.CheckpointKey("audit", "mem", last.Seq), msg)
	}
	put(shared.GenesisKey("audit", "mem"), append(gl, '\n'))
	sign([]*shared.Entry{g}, -1, shared.GenesisKey("audit", "mem"))
	head := shared.Head{Chain: "mem", Hash: g.Hash, Offset: -1}
	n := 0
	for d := range days {
		var entries []*shared.Entry
		var body []byte
		for i := range perDay {
			ts := start.AddDate(0, 0, d).Add(time.Duration(i) * time.Minute)
			raw := fmt.Sprintf(`{"type":"decision","event_id":"e%d","environment":"mem","occurred_at":%q,"decision":{"decision_id":"d%d","action":"ALLOW","confidence_score":0.5,"policy_version":"p","user_id":"u%d","session_id":"s"}}`,
				n, shared.FormatTime(ts), n, n%3)
			e, err := shared.SealRecord(head, shared.Source{Topic: "decisions", Offset: int64(n), Timestamp: ts}, []byte(raw), ts)
			if err != nil {
				t.Fatal(err)
			}
			l, _ := e.Line()
			body = append(append(body, l...), '\n')
			entries = append(entries, e)
			head = head.Next(e)
			n++
		}
		key := shared.BatchKey("audit", entries[0])
		put(key, body)
		sign(entries, entries[len(entries)-1].Source.Offset, key)
	}
	return store, vkey
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
