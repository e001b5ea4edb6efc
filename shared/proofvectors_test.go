package shared

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// proofChain seals a decision, unrelated decisions and two overrides of the
// decision into three objects, and returns the builder and the bundle of
// the decision.
func proofChain(t *testing.T) (*logBuilder, *Bundle) {
	b := newLogBuilder(t)
	dec := func(id, action string) string {
		return fmt.Sprintf(`{"type":"decision","event_id":"evt-%s","environment":"prod","occurred_at":"2026-11-27T09:59:00Z","decision":{"decision_id":%q,"action":%q,"confidence_score":0.9,"policy_version":"p1","user_id":"u1","session_id":"s1"}}`, id, id, action)
	}
	ovr := func(n int, id, action string) string {
		return fmt.Sprintf(`{"type":"override","event_id":"ovr-%d","environment":"prod","occurred_at":"2026-11-27T10:30:00Z","override":{"decision_id":%q,"reviewer_id":"rev-7","new_action":%q,"reason":"checked by hand"}}`, n, id, action)
	}
	var raws []string
	for i := range 6 {
		raws = append(raws, dec(fmt.Sprint("dec-", i), "ALLOW"))
	}
	raws[4] = dec("dec-proved", "BLOCK")
	a := b.records(27, raws, nil)
	c := b.records(27, []string{dec("dec-x", "ALLOW"), ovr(1, "dec-proved", "CHALLENGE"), dec("dec-y", "ALLOW")}, nil)
	d := b.records(28, []string{ovr(2, "dec-proved", "ALLOW")}, nil)
	bundle := &Bundle{Chain: "prod", DecisionID: "dec-proved", KeyID: vecVerifier(t).ID()}
	for _, at := range []struct {
		key  string
		line int
	}{{a, 4}, {c, 1}, {d, 0}} {
		lines := strings.Split(strings.TrimSuffix(b.objects[at.key], "\n"), "\n")
		var leaves []Hash
		var last *Entry
		for _, l := range lines {
			last = mustParse(t, l)
			leaves = append(leaves, last.Hash)
		}
		bundle.Items = append(bundle.Items, BundleItem{Object: at.key, Line: []byte(lines[at.line]), Index: uint64(at.line), Size: uint64(len(lines)),
			Path: InclusionProof(leaves, at.line), Checkpoint: []byte(b.objects[CheckpointKey(vecPrefix, "prod", last.Seq)])})
	}
	return b, bundle
}

func TestBundleVerifies(t *testing.T) {
	_, b := proofChain(t)
	rep, err := VerifyBundle(b.Encode(), SingleKeyset(vecVerifier(t)))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Action != ActionBlock || rep.CurrentAction != ActionAllow || len(rep.Entries) != 3 {
		t.Fatalf("report %+v: want BLOCK, now ALLOW, 3 entries", rep)
	}
	if last := rep.Entries[2]; last.Envelope.Override == nil || rep.CurrentSeq != last.Entry.Seq {
		t.Fatalf("current seq %d, want the latest override's %d", rep.CurrentSeq, last.Entry.Seq)
	}
}

// Every single-byte change to a bundle is refused.
func TestBundleRefusesEverySingleByteChange(t *testing.T) {
	_, b := proofChain(t)
	raw := b.Encode()
	trusted := SingleKeyset(vecVerifier(t))
	for i := range raw {
		for _, x := range []byte{0x01, 0x20, 0x80} {
			edited := bytes.Clone(raw)
			edited[i] ^= x
			if _, err := VerifyBundle(edited, trusted); !errors.Is(err, ErrBadBundle) {
				t.Fatalf("byte %d (%q) xor %#x accepted: %v", i, raw[i], x, err)
			}
		}
	}
	t.Logf("%d bytes, each changed 3 ways, all refused", len(raw))
}

// overrideFirst seals an override before its decision, in one object, and
// returns their bundle.
func overrideFirst(t *testing.T) *Bundle {
	b := newLogBuilder(t)
	key := b.records(27, []string{
		`{"type":"override","event_id":"o1","environment":"prod","occurred_at":"2026-11-27T10:00:00Z","override":{"decision_id":"d1","reviewer_id":"r","new_action":"BLOCK","reason":"early"}}`,
		`{"type":"decision","event_id":"e1","environment":"prod","occurred_at":"2026-11-27T09:00:00Z","decision":{"decision_id":"d1","action":"ALLOW","confidence_score":0.5,"policy_version":"p","user_id":"u","session_id":"s"}}`,
	}, nil)
	lines := strings.Split(strings.TrimSuffix(b.objects[key], "\n"), "\n")
	leaves := []Hash{mustParse(t, lines[0]).Hash, mustParse(t, lines[1]).Hash}
	note := []byte(b.objects[CheckpointKey(vecPrefix, "prod", mustParse(t, lines[1]).Seq)])
	bundle := &Bundle{Chain: "prod", DecisionID: "d1", KeyID: vecVerifier(t).ID()}
	for i := range lines {
		bundle.Items = append(bundle.Items, BundleItem{Object: key, Line: []byte(lines[i]), Index: uint64(i), Size: 2, Path: InclusionProof(leaves, i), Checkpoint: note})
	}
	return bundle
}

func proofVectors(t *testing.T) []Vector {
	_, b := proofChain(t)
	v := func(name, expect, rule, desc string, bundle []byte) Vector {
		return Vector{Name: name, Kind: "proof", Expect: expect, Rule: rule, Description: desc, VerifierKey: vecVerifierKey, Bundle: string(bundle)}
	}
	good := v("proof", "accept", "", "a BLOCK decision overridden to CHALLENGE, then ALLOW: three entries in three objects", b.Encode())
	good.DecisionID, good.Action, good.CurrentAction, good.Retired = "dec-proved", "BLOCK", "ALLOW", &[]string{}
	edit := func(f func(*Bundle)) []byte {
		_, c := proofChain(t)
		f(c)
		return c.Encode()
	}
	otherS, _ := testKey("aegis-prod", "another seed")
	other, _ := NewSigner(otherS)
	first := v("accept-proof-override-first", "accept", "", "an override sealed before its decision still sets the current action", overrideFirst(t).Encode())
	first.DecisionID, first.Action, first.CurrentAction, first.Retired = "d1", "ALLOW", "BLOCK", &[]string{}
	k1 := func(t *testing.T, c *Bundle, i int) Checkpoint {
		cp, err := OpenCheckpoint(c.Items[i].Checkpoint, vecVerifier(t))
		if err != nil {
			t.Fatal(err)
		}
		return cp
	}
	second, _ := NewSigner(vecSignerKey2)
	// After the hand-over at seq 9, the last object's checkpoint (seq 10)
	// is signed by the second key.
	rotatedBundle := func(f func(*Bundle)) []byte {
		_, c := proofChain(t)
		c.Items[2].Checkpoint, _ = k1(t, c, 2).Sign(second)
		c.KeyID = SignedBy(c.Items[2].Checkpoint)
		if f != nil {
			f(c)
		}
		return c.Encode()
	}
	rv := func(name, expect, rule, desc string, bundle []byte) Vector {
		return Vector{Name: name, Kind: "proof", Expect: expect, Rule: rule, Description: desc, Keyset: rotatedKeyset, Bundle: string(bundle)}
	}
	rot := rv("accept-proof-key-rotated", "accept", "", "the decision and first override signed by the first key (seqs 0 to 9), the last override's checkpoint (seq 10) by the second key", rotatedBundle(nil))
	rot.DecisionID, rot.Action, rot.CurrentAction, rot.Retired = "dec-proved", "BLOCK", "ALLOW", &[]string{vecVerifier(t).ID()}
	return []Vector{good, first, rot,
		v("reject-proof-objects-overlap", "reject", "section 11: items whose objects share a seq name one object",
			"an override and its decision in one object, the decision also proved in a second object that starts at its seq, under a checkpoint of the next seq: each item verifies alone",
			overlapping(t).Encode()),
		v("reject-proof-two-checkpoints", "reject", "section 11: one checkpoint for one seq and one object",
			"an override and its decision in one object, the decision's checkpoint signed again with a time one second later: each item verifies alone",
			func() []byte {
				c := overrideFirst(t)
				cp := k1(t, c, 1)
				cp.Time = cp.Time.Add(time.Second)
				c.Items[1].Checkpoint, _ = cp.Sign(vecSigner(t))
				return c.Encode()
			}()),
		rv("reject-proof-retired-key", "reject", "section 7.4: a key signs only its range",
			"the bundle as the first key alone would sign it: its checkpoint of seq 10 is beyond the first key's range", b.Encode()),
		rv("reject-proof-new-key-before-range", "reject", "section 7.4: a key signs only its range",
			"the checkpoint of seq 9 signed by the second key, trusted only from seq 10", rotatedBundle(func(c *Bundle) {
				c.Items[1].Checkpoint, _ = k1(t, c, 1).Sign(second)
			})),
		rv("reject-proof-key-id-not-last", "reject", "section 11: key_id",
			"key_id names the first key, but the last checkpoint is signed by the second", rotatedBundle(func(c *Bundle) { c.KeyID = vecVerifier(t).ID() })),
		v("reject-proof-line", "reject", "section 11, step 1", "one byte of the override's reason changed",
			edit(func(c *Bundle) {
				c.Items[1].Line = bytes.Replace(c.Items[1].Line, []byte("by hand"), []byte("by band"), 1)
			})),
		v("reject-proof-path", "reject", "section 11, step 5", "one hash of a path changed", edit(func(c *Bundle) { c.Items[0].Path[1][0] ^= 1 })),
		v("reject-proof-index", "reject", "section 11, step 3", "the index of the first entry one higher", edit(func(c *Bundle) { c.Items[0].Index++ })),
		v("reject-proof-size", "reject", "section 11, step 3", "the size of the first object one higher", edit(func(c *Bundle) { c.Items[0].Size++ })),
		v("reject-proof-object", "reject", "section 11, step 2", "the object of the second entry named as the first's",
			edit(func(c *Bundle) { c.Items[1].Object = c.Items[0].Object })),
		v("reject-proof-other-key", "reject", "section 11, step 2", "the last checkpoint signed by another key under the same name", edit(func(c *Bundle) {
			cp, err := OpenCheckpoint(c.Items[2].Checkpoint, vecVerifier(t))
			if err != nil {
				t.Fatal(err)
			}
			c.Items[2].Checkpoint, _ = cp.Sign(other)
		})),
		v("reject-proof-key-id", "reject", "section 11", "key_id of another key", edit(func(c *Bundle) { c.KeyID = "aegis-prod+00000000" })),
		v("reject-proof-no-decision", "reject", "section 11", "only the overrides", edit(func(c *Bundle) { c.Items = c.Items[1:] })),
		v("reject-proof-other-decision", "reject", "section 11, step 1", "the bundle claims another decision id", edit(func(c *Bundle) { c.DecisionID = "dec-0" })),
		v("reject-proof-order", "reject", "section 11", "entries out of seq order", edit(func(c *Bundle) { c.Items[0], c.Items[1] = c.Items[1], c.Items[0] })),
		v("reject-proof-whitespace", "reject", "section 11: canonical JSON", "a space after the first comma", bytes.Replace(b.Encode(), []byte(`,"decision_id"`), []byte(`, "decision_id"`), 1)),
	}
}

// TestBundleItemsAreOneHistory: items that each verify alone but carry
// two checkpoints of one seq, or of one object, are refused (section 11),
// and a vector's retired signers are compared.
func TestBundleItemsAreOneHistory(t *testing.T) {
	// item is an object of size lines ending at seq, with its checkpoint.
	item := func(seq, size uint64, object, note string) ProvedEntry {
		return ProvedEntry{Object: object, Checkpoint: Checkpoint{Seq: seq}, note: note, size: size}
	}
	for name, c := range map[string]struct {
		items []ProvedEntry
		want  string
	}{
		"one checkpoint":            {[]ProvedEntry{item(6, 3, "a", "n"), item(6, 3, "a", "n"), item(9, 3, "b", "m")}, ""},
		"two of one seq":            {[]ProvedEntry{item(6, 1, "a", "n"), item(9, 1, "b", "m"), item(6, 1, "c", "o")}, "entries 1 and 3 are in two objects that share seq 6 (a, seqs 6 to 6; c, seqs 6 to 6)"},
		"two of one object":         {[]ProvedEntry{item(6, 1, "a", "n"), item(7, 2, "a", "o")}, "entries 1 and 2 carry two different checkpoints of the object a"},
		"the same bytes of one seq": {[]ProvedEntry{item(6, 2, "a", "n"), item(6, 2, "a", "n")}, ""},
		"objects that overlap":      {[]ProvedEntry{item(12, 4, "c", "p"), item(6, 3, "a", "n"), item(9, 4, "b", "m")}, "entries 2 and 3 are in two objects that share seq 6 (a, seqs 4 to 6; b, seqs 6 to 9)"},
		"one inside another":        {[]ProvedEntry{item(20, 20, "a", "n"), item(9, 2, "b", "m")}, "entries 1 and 2 are in two objects that share seq 8"},
		"objects end to end":        {[]ProvedEntry{item(6, 3, "a", "n"), item(9, 3, "b", "m"), item(12, 3, "c", "p")}, ""},
		"a hostile object is shown": {[]ProvedEntry{item(6, 1, "a\n\x1b[1A", "n"), item(6, 1, "b", "m")}, `"a\n\x1b[1A"`},
	} {
		err := oneHistory(c.items)
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%s: %v, want %q", name, err, c.want)
		}
	}
	vs, err := LoadVectors(vectorDir)
	if err != nil {
		t.Fatal(err)
	}
	i := indexOf(vs, "accept-proof-key-rotated")
	if i < 0 || vs[i].Retired == nil || len(*vs[i].Retired) != 1 {
		t.Fatal("accept-proof-key-rotated names no retired signer")
	}
	v := vs[i]
	v.Retired = &[]string{}
	if err := CheckVector(v); err == nil || !strings.Contains(err.Error(), "retired") {
		t.Fatalf("a vector that names no retired signer of a bundle the first key signs in part: %v", err)
	}
}
