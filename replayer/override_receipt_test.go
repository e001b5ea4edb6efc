package replayer_test

// Found by an outside trial (2026-12-01): a Sealed-mode receipt of an OVERRIDE
// (producer.LogOverride with Sealed, or ingest's POST
// /v1/overrides?durability=sealed) is refused by VerifyReceipt (aegis
// verify-receipt), on any bucket, rotated or not: "no entry is the
// decision itself". README ("Recording a decision", Sealed mode) says
// verify-receipt checks the receipt against S3; nothing restricts it to
// decisions.

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aegisai/audit/replayer"
	"github.com/aegisai/audit/shared"
)

func TestVerifyReceiptOfAnOverride(t *testing.T) {
	ctx := context.Background()
	s1, v1 := memSigner(t, "aegis-mem")
	start := time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)
	b := newMemBuilder(t, s1, v1, start, now)
	ovr := `{"type":"override","event_id":"o1","environment":"mem","occurred_at":"2026-11-01T08:00:01Z","override":{"decision_id":"d0","reviewer_id":"analyst-7","new_action":"BLOCK","reason":"r"}}`
	b.object(s1, [][]byte{[]byte(decisionRecord(0, 0, 0, "2026-11-01T08:00:00Z"))}, func(int) time.Time { return start })
	entries, key := b.object(s1, [][]byte{[]byte(ovr)}, func(int) time.Time { return start.Add(time.Minute) })
	e := entries[0]
	cfg := replayer.ProveConfig{S3: b.store, Bucket: "audit", Chain: "mem", VerifierKey: v1}
	// the decision's receipt verifies
	if _, _, err := replayer.VerifyReceipt(ctx, cfg, &shared.Receipt{EventID: "e0", DecisionID: "d0", Durability: shared.DurabilitySealed,
		Chain: "mem", Seq: 1, EntryHash: mustEntryHash(t, b, 1), Object: shared.BatchKey("audit", &shared.Entry{Type: shared.EntryEvent, Chain: "mem", Seq: 1, Source: &shared.Source{Timestamp: start}}),
		Line: 1, CheckpointSeq: 1}); err != nil {
		t.Fatalf("the decision's receipt: %v", err)
	}
	// the override's receipt, exactly as the sealer would give it
	r := &shared.Receipt{EventID: "o1", DecisionID: "d0", Durability: shared.DurabilitySealed, Chain: "mem", Seq: e.Seq,
		EntryHash: e.Hash.String(), Object: key, Line: 1, CheckpointSeq: e.Seq}
	bundle, rep, err := replayer.VerifyReceipt(ctx, cfg, r)
	if err != nil || bundle != nil || rep.CurrentAction != shared.ActionBlock || rep.Action != "" {
		t.Fatalf("the override's receipt: %v (bundle %d bytes, %+v), want its entry proved, and no bundle (a bundle holds the decision)", err, len(bundle), rep)
	}
}

func mustEntryHash(t *testing.T, b *memBuilder, seq uint64) string {
	t.Helper()
	for k, body := range b.store.Objects("audit") {
		info, err := shared.ParseBatchKey("audit", k)
		if err != nil || info.FirstSeq != seq {
			continue
		}
		es, _, err := shared.ParseObject(k, seq, body)
		if err != nil {
			t.Fatal(err)
		}
		return es[0].Hash.String()
	}
	t.Fatalf("no object at seq %d", seq)
	return ""
}

// A receipt's version_id is no part of the evidence (the entry is proved
// from the sealed version), but one naming another version than the one
// that holds the entry was accepted without a word (an outside trial):
// it is verified with a warning now, and one naming the sealed version,
// or none, without.
func TestVerifyReceiptSaysWhenItsVersionIsNotTheSealedOne(t *testing.T) {
	ctx := context.Background()
	s1, v1 := memSigner(t, "aegis-mem")
	start := time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)
	b := newMemBuilder(t, s1, v1, start, now)
	entries, key := b.object(s1, [][]byte{[]byte(decisionRecord(0, 0, 0, "2026-11-01T08:00:00Z")), []byte(decisionRecord(1, 1, 0, "2026-11-01T08:00:00Z"))},
		func(int) time.Time { return start })
	sealed := b.store.Versions("audit", key)[0].ID
	body := b.store.Objects("audit")[key]
	b.store.PutVersion("audit", key, []byte(strings.Replace(string(body), `"ALLOW"`, `"BLOCK"`, 1))) // line 1 changed
	over := b.store.Versions("audit", key)[1].ID
	b.store.PutVersion("audit", key, body) // the same bytes again: holds the entry
	again := b.store.Versions("audit", key)[2].ID
	var warnings []string
	cfg := replayer.ProveConfig{S3: b.store, Bucket: "audit", Chain: "mem", VerifierKey: v1, Warn: func(w string) { warnings = append(warnings, w) }}
	for _, tc := range []struct {
		version, want string
	}{
		{"", ""},
		{sealed, ""},
		{again, ""},
		{over, "which does not hold its entry at line 1"},
		{"v999999", "which the bucket does not hold"},
	} {
		warnings = nil
		e := entries[0]
		r := &shared.Receipt{EventID: "e0", DecisionID: "d0", Durability: shared.DurabilitySealed, Chain: "mem", Seq: e.Seq,
			EntryHash: e.Hash.String(), Object: key, VersionID: tc.version, Line: 1, CheckpointSeq: entries[1].Seq}
		if _, _, err := replayer.VerifyReceipt(ctx, cfg, r); err != nil {
			t.Fatalf("version %q: %v, want the entry proved", tc.version, err)
		}
		var named []string
		for _, w := range warnings {
			if strings.Contains(w, "the receipt names version") {
				named = append(named, w)
			}
		}
		if tc.want == "" && len(named) != 0 || tc.want != "" && (len(named) != 1 || !strings.Contains(named[0], tc.want) || !strings.Contains(named[0], tc.version)) {
			t.Errorf("version %q: warnings %q, want one saying %q", tc.version, named, tc.want)
		}
	}
}
