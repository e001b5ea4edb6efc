package replayer_test

import (
	"context"
	"testing"
	"time"

	"github.com/aegisai/audit/replayer"
	"github.com/aegisai/audit/shared"
)

// What the retired-key rule (FORMAT.md 7.4) costs a proof of an entry a
// retired key signs: besides the reads any proof makes, a listing of the
// versions of the object and of its checkpoint, one of the retiring
// checkpoint, and a listing and a GET for the next key's first
// checkpoint; and, to tell the sealer's bucket from a copy whose dates
// say nothing (archive.RetirementDatedLate, 2026-12-01), one more listing
// of the retiring checkpoint's versions and a GET of it (`go test -run TestProveOfARetiredKeysEntryCostsAFewRequests
// -v ./replayer` prints the counts). A proof of an entry the current key signs costs none of
// them.
func TestProveOfARetiredKeysEntryCostsAFewRequests(t *testing.T) {
	store, keyset, _ := rotatedChainSigned(t, false)
	count := func(seq uint64, key string, line int, decision string) map[string]int {
		ops := map[string]int{}
		store.Fail = func(op, _ string) error { ops[op]++; return nil }
		defer func() { store.Fail = nil }()
		cfg := replayer.ProveConfig{S3: store, Bucket: "audit", Chain: "mem", VerifierKey: keyset}
		if _, _, err := replayer.Prove(context.Background(), cfg, decision, []replayer.EntryRef{{Seq: seq, Object: key, Line: line}}); err != nil {
			t.Fatal(err)
		}
		return ops
	}
	batch := func(seq uint64, day int) string {
		return shared.BatchKey("audit", &shared.Entry{Type: shared.EntryEvent, Chain: "mem", Seq: seq,
			Source: &shared.Source{Timestamp: time.Date(2026, 11, 1+day, 8, 0, 0, 0, time.UTC)}})
	}
	retired := count(1, batch(1, 3), 1, "d0") // seqs 1-2, the retired key's
	current := count(6, batch(6, 2), 1, "d5") // seqs 6-7, the next key's
	t.Logf("prove of an entry the retired key signs: %v; the current key's: %v", retired, current)
	if current["ListObjectVersions"] != 0 {
		t.Fatalf("a proof of the current key's entry listed versions: %v", current)
	}
	// The object's and the checkpoint's versions, the retiring
	// checkpoint's, and the checkpoint keys after seq 5 (a listing of
	// versions too), then a GET of the next key's first checkpoint; the
	// retiring checkpoint's versions again and a GET of it.
	if retired["ListObjectVersions"] != 5 || retired["GetObject"] != current["GetObject"]+2 || retired["HeadObject"] != current["HeadObject"] {
		t.Fatalf("a proof of the retired key's entry: %v, want 5 version listings and two GETs more than %v", retired, current)
	}
}
