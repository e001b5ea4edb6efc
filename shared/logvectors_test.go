package shared

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
)

// logBuilder seals a small chain into objects and checkpoints, as the
// sealer lays them out, for the log vectors.
type logBuilder struct {
	t       *testing.T
	head    Head
	objects map[string]string
	n       int
	// signer signs the checkpoints (the vectors' key; after rotate, the
	// second key).
	signer note.Signer
}

const vecPrefix = "audit"

func newLogBuilder(t *testing.T) *logBuilder {
	b := &logBuilder{t: t, objects: map[string]string{}, signer: vecSigner(t)}
	g, err := NewGenesis("prod", vecTime, "aegis-prod", vecVerifierKey)
	if err != nil {
		t.Fatal(err)
	}
	line, _ := g.Line()
	key := GenesisKey(vecPrefix, "prod")
	b.objects[key] = string(line) + "\n"
	b.head = Head{Chain: "prod", Seq: 0, Hash: g.Hash, Offset: -1}
	b.checkpoint(b.head, key)
	return b
}

// batch seals n decisions read on day (of November 2026) as one object and
// checkpoints it; edit may change a record's source first.
func (b *logBuilder) batch(day, n int, edit func(i int, src *Source)) string {
	raws := make([]string, n)
	for i := range raws {
		k := b.n + 1 + i
		raws[i] = fmt.Sprintf(`{"type":"decision","event_id":"evt-%d","environment":"prod","occurred_at":"2026-11-%02dT09:59:00Z","decision":{"decision_id":"dec-%d","action":"ALLOW","confidence_score":0.5,"policy_version":"p1","user_id":"u%d","session_id":"s1"}}`, k, day, k, k%3)
	}
	return b.records(day, raws, edit)
}

// records seals raws read on day as one object and checkpoints it.
func (b *logBuilder) records(day int, raws []string, edit func(i int, src *Source)) string {
	var lines []string
	var first *Entry
	for i, raw := range raws {
		b.n++
		src := Source{Topic: "decisions", Offset: b.head.Offset + 1 + int64(i%2), Timestamp: time.Date(2026, 11, day, 10, 0, b.n, 0, time.UTC)}
		if edit != nil {
			edit(i, &src)
		}
		e, err := SealRecord(b.head, src, []byte(raw), vecTime)
		if err != nil {
			b.t.Fatal(err)
		}
		if first == nil {
			first = e
		}
		line, _ := e.Line()
		lines = append(lines, string(line))
		b.head = b.head.Next(e)
	}
	key := BatchKey(vecPrefix, first)
	b.objects[key] = strings.Join(lines, "\n") + "\n"
	b.checkpoint(b.head, key)
	return key
}

func (b *logBuilder) checkpoint(h Head, object string) string {
	var leaves []Hash
	if body, ok := b.objects[object]; ok {
		for _, l := range strings.Split(strings.TrimSuffix(body, "\n"), "\n") {
			leaves = append(leaves, mustParse(b.t, l).Hash)
		}
	}
	cp := Checkpoint{Chain: h.Chain, Seq: h.Seq, Hash: h.Hash, Offset: h.Offset, Object: object, Root: MerkleRoot(leaves), Time: vecTime}
	msg, err := cp.Sign(b.signer)
	if err != nil {
		b.t.Fatal(err)
	}
	key := CheckpointKey(vecPrefix, h.Chain, h.Seq)
	b.objects[key] = string(msg)
	return key
}

func (b *logBuilder) vector(name, expect, rule, desc string) Vector {
	v := Vector{Name: name, Kind: "log", Expect: expect, Rule: rule, Description: desc, Prefix: vecPrefix, Chain: "prod", VerifierKey: vecVerifierKey}
	keys := make([]string, 0, len(b.objects))
	for k := range b.objects {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v.Objects = append(v.Objects, VectorObject{Key: k, Body: b.objects[k]})
	}
	return v
}

// base is a chain of genesis and two objects of three entries, read on two
// days, with a checkpoint per object, beside another chain's object and an
// unrelated key.
func base(t *testing.T) (*logBuilder, string, string) {
	b := newLogBuilder(t)
	a := b.batch(27, 3, nil)
	bk := b.batch(28, 3, nil)
	b.objects["audit/year=2026/month=11/day=27/env=staging/00000000000000000001.jsonl"] = "another chain's object: ignored\n"
	b.objects["audit/README.txt"] = "no env= segment: ignored\n"
	return b, a, bk
}

func logVectors(t *testing.T) []Vector {
	var out []Vector
	report := func(v Vector, b *logBuilder, cpSeq uint64) Vector {
		v.Report = &VectorReport{Entries: b.head.Seq + 1, HeadSeq: b.head.Seq, HeadHash: b.head.Hash.String(), CheckpointedSeq: cpSeq, Unsigned: b.head.Seq - cpSeq}
		return v
	}

	b, _, _ := base(t)
	out = append(out, report(b.vector("accept-log", "accept", "", "genesis and two objects read on two days, a checkpoint for each; another chain's object and a key without env= are ignored"), b, 6))

	b, a, _ := base(t)
	known := b.objects[CheckpointKey(vecPrefix, "prod", 3)]
	v := report(b.vector("accept-log-known-checkpoint", "accept", "", "the chain extends the checkpoint of seq 3 the auditor kept"), b, 6)
	v.KnownCheckpoint = known
	out = append(out, v)

	b, _, _ = base(t)
	delete(b.objects, CheckpointKey(vecPrefix, "prod", 6))
	out = append(out, report(b.vector("accept-log-unsigned-tail", "accept", "",
		"the last object has no checkpoint yet: the log verifies with 3 unsigned entries, which a verifier must report"), b, 3))

	b, _, bk := base(t)
	known = b.objects[CheckpointKey(vecPrefix, "prod", 6)]
	delete(b.objects, bk)
	delete(b.objects, CheckpointKey(vecPrefix, "prod", 6))
	v = b.vector("reject-log-truncated", "reject", "section 7.3: truncation", "the last object and its checkpoint deleted together; the auditor kept the checkpoint of seq 6")
	v.KnownCheckpoint = known
	out = append(out, v)

	b, _, _ = base(t)
	b.objects[CheckpointPrefix(vecPrefix, "prod")+"latest.note"] = b.objects[CheckpointKey(vecPrefix, "prod", 6)]
	out = append(out, b.vector("reject-log-stray-object", "reject", "section 1: stray objects", "a copy of a checkpoint at checkpoints/env=prod/latest.note"))

	b, _, _ = base(t)
	b.objects[CheckpointPrefix(vecPrefix, "prod")+"99999999999999999999.note"] = b.objects[CheckpointKey(vecPrefix, "prod", 6)]
	out = append(out, b.vector("reject-log-seq-beyond-2^53", "reject", "section 1: stray objects", "a checkpoint key whose 20 digits exceed 2^53-1"))

	b, a, _ = base(t)
	g := GenesisKey(vecPrefix, "prod")
	b.objects[g] += strings.SplitAfter(b.objects[a], "\n")[0]
	out = append(out, b.vector("reject-log-genesis-two-lines", "reject", "section 6", "the genesis object holds a second line"))

	b, _, bk = base(t)
	body := b.objects[bk]
	delete(b.objects, bk)
	b.objects[strings.Replace(bk, "day=28", "day=27", 1)] = body
	out = append(out, b.vector("reject-log-wrong-date", "reject", "section 1: batch keys", "the second object stored under the date of the day before"))

	b, a, bk = base(t)
	b.checkpoint(Head{Chain: "prod", Seq: 3, Hash: lastHash(t, b.objects[a]), Offset: 3}, bk)
	out = append(out, b.vector("reject-log-checkpoint-object", "reject", "section 7.3", "the checkpoint of seq 3 names the second object, not the one holding seq 3"))

	b, a, _ = base(t)
	second := mustParse(t, strings.SplitAfter(b.objects[a], "\n")[1])
	b.checkpoint(Head{Chain: "prod", Seq: 2, Hash: second.Hash, Offset: second.Source.Offset}, a)
	out = append(out, b.vector("reject-log-checkpoint-not-last", "reject", "section 7.3", "a checkpoint of seq 2, which is not the last line of its object"))

	b, a, _ = base(t)
	b.checkpoint(Head{Chain: "prod", Seq: 3, Hash: lastHash(t, b.objects[a]), Offset: 1}, a)
	out = append(out, b.vector("reject-log-checkpoint-offset", "reject", "section 7.3", "the checkpoint of seq 3 states another Kafka offset"))

	b, _, bk = base(t)
	otherS, _ := testKey("aegis-prod", "another seed")
	other, _ := NewSigner(otherS)
	cp := Checkpoint{Chain: "prod", Seq: 6, Hash: b.head.Hash, Offset: b.head.Offset, Object: bk, Time: vecTime}
	msg, _ := cp.Sign(other)
	b.objects[CheckpointKey(vecPrefix, "prod", 6)] = string(msg)
	out = append(out, b.vector("reject-log-checkpoint-other-key", "reject", "section 7.2", "the checkpoint of seq 6, right in every field, signed by another key under the trusted key's name"))

	b, _, _ = base(t)
	b.checkpoint(Head{Chain: "prod", Seq: 9, Hash: b.head.Hash, Offset: 9}, "audit/x.jsonl")
	out = append(out, b.vector("reject-log-checkpoint-beyond-head", "reject", "section 7.3", "a signed checkpoint of seq 9 where the chain ends at 6: entries are missing"))

	b, a, _ = base(t)
	lines := strings.SplitAfter(b.objects[a], "\n")
	b.objects[a] = lines[0] + lines[2]
	out = append(out, b.vector("reject-log-dropped-line", "reject", "section 6", "the middle line of the first object deleted"))

	b, a, _ = base(t)
	lines = strings.SplitAfter(b.objects[a], "\n")
	b.objects[a] = lines[0] + lines[2] + lines[1]
	out = append(out, b.vector("reject-log-reordered", "reject", "section 6", "two lines of the first object swapped"))

	// The second object rewritten consistently from the first one's head,
	// as an attacker who can write a new version would: its checkpoint no
	// longer matches.
	b, _, bk = base(t)
	cpKey := CheckpointKey(vecPrefix, "prod", 6)
	keep := b.objects[cpKey]
	lines = strings.Split(strings.TrimSuffix(b.objects[mustKeyOfSeq(t, b, 1)], "\n"), "\n")
	last := mustParse(t, lines[len(lines)-1])
	b.head = Head{Chain: "prod", Seq: last.Seq, Hash: last.Hash, Offset: last.Source.Offset}
	b.n = 100
	b.batch(28, 3, nil)
	b.objects[cpKey] = keep
	_ = bk
	out = append(out, b.vector("reject-log-replaced-object", "reject", "section 7.3", "the second object replaced by other entries that link to the first: the checkpoint of seq 6 does not match"))

	b = newLogBuilder(t)
	b.batch(27, 2, nil)
	b.batch(28, 3, func(i int, src *Source) {
		if i == 1 {
			src.Topic = "other"
		}
	})
	out = append(out, b.vector("reject-log-mixed-topic", "reject", "section 6", "one entry read from another topic"))

	b, _, _ = base(t)
	for k := range b.objects {
		if strings.Contains(k, "/checkpoints/") {
			delete(b.objects, k)
		}
	}
	out = append(out, b.vector("reject-log-no-checkpoint", "reject", "section 7.3", "no checkpoint at all"))

	b, _, _ = base(t)
	delete(b.objects, GenesisKey(vecPrefix, "prod"))
	out = append(out, b.vector("reject-log-no-genesis", "reject", "section 6", "the genesis object missing"))

	b = newLogBuilder(t)
	b.batch(27, 2, nil)
	b.batch(28, 3, func(i int, src *Source) {
		if i == 2 {
			src.Timestamp = time.Date(2026, 11, 29, 0, 0, 0, 1e6, time.UTC)
		}
	})
	out = append(out, b.vector("reject-log-mixed-dates", "reject", "sections 1 and 6: one date per object", "the last entry of an object filed under November 28 was read on November 29"))
	return out
}

// rotate seals n decisions and then a key-change request to the second
// vectors key as one object on day, checkpointed by the current key; later
// checkpoints are signed by the second key. It returns the object and the
// seq of the KEY entry.
func (b *logBuilder) rotate(day, n int) (string, uint64) {
	raws := make([]string, 0, n+1)
	for i := range n {
		k := b.n + 1 + i
		raws = append(raws, fmt.Sprintf(`{"type":"decision","event_id":"evt-%d","environment":"prod","occurred_at":"2026-11-%02dT09:59:00Z","decision":{"decision_id":"dec-%d","action":"BLOCK","confidence_score":0.75,"policy_version":"p1","user_id":"u%d","session_id":"s2"}}`, k, day, k, k%3))
	}
	vk, err := ParseVerifierKey(vecVerifierKey2)
	if err != nil {
		b.t.Fatal(err)
	}
	raws = append(raws, string(KeyChangeRequest("prod", vk)))
	key := b.records(day, raws, nil)
	signer, err := NewSigner(vecSignerKey2)
	if err != nil {
		b.t.Fatal(err)
	}
	b.signer = signer
	return key, b.head.Seq
}

// rotated is a chain whose key is handed over at seq 9: genesis, two
// objects (seqs 1-6), an object of two decisions ending in the KEY entry
// (7-9, checkpointed by the first key), and one of three decisions
// (10-12, checkpointed by the second key).
func rotated(t *testing.T) (*logBuilder, string, string) {
	b, _, _ := base(t)
	k, _ := b.rotate(29, 2)
	after := b.batch(30, 3, nil)
	return b, k, after
}

// rotatedKeyset trusts the first key for seqs 0 to 9, the second from 10.
var rotatedKeyset = vecVerifierKey + " 0 9\n" + vecVerifierKey2 + " 10 -\n"

func rotationVectors(t *testing.T) []Vector {
	var out []Vector
	vec := func(b *logBuilder, name, expect, rule, desc, keyset string) Vector {
		v := b.vector(name, expect, rule, desc)
		v.VerifierKey, v.Keyset = "", keyset
		if expect == "accept" {
			v.Report = &VectorReport{Entries: b.head.Seq + 1, HeadSeq: b.head.Seq, HeadHash: b.head.Hash.String(), CheckpointedSeq: b.head.Seq}
		}
		return v
	}
	b, _, _ := rotated(t)
	out = append(out, vec(b, "accept-log-key-rotated", "accept", "",
		"the key entry at seq 9 ends its object, whose checkpoint the first key signs; the second key signs seq 12; the keyset says so", rotatedKeyset))

	b, _, _ = rotated(t)
	out = append(out, vec(b, "reject-log-keyset-unaware", "reject", "section 7.4: hand-overs match the keyset",
		"the rotated chain checked with the first key alone, trusted for every seq: the hand-over at seq 9 is not in the keyset", vecVerifierKey))

	b, _, _ = rotated(t)
	out = append(out, vec(b, "reject-log-keyset-boundary", "reject", "section 7.4: hand-overs match the keyset",
		"the keyset retires the first key at seq 8, the chain at seq 9", vecVerifierKey+" 0 8\n"+vecVerifierKey2+" 9 -\n"))

	// An attacker who stole the retired key signs the newest object's
	// checkpoint with it (as if no hand-over had happened).
	b, _, after := rotated(t)
	b.signer = vecSigner(t)
	b.checkpoint(b.head, after)
	out = append(out, vec(b, "reject-log-retired-key-after-range", "reject", "section 7.4: a key signs only its range",
		"the checkpoint of seq 12, right in every field, signed by the first key, retired after seq 9", rotatedKeyset))

	// The same attacker rewrites history from before the hand-over: a
	// chain of the same length without the key entry, all signed by the
	// retired key.
	b, _, _ = base(t)
	b.batch(29, 3, nil)
	b.batch(30, 3, nil)
	out = append(out, vec(b, "reject-log-retired-key-fork", "reject", "section 7.4",
		"a fork without the hand-over, signed throughout by the first key: it signs seq 12, beyond its range, and the chain has no key entry at seq 9", rotatedKeyset))

	// An attacker who stole the new key signs the hand-over's checkpoint
	// with it: the new key signs nothing before its range.
	b, k, _ := rotated(t)
	b.checkpoint(Head{Chain: "prod", Seq: 9, Hash: lastHash(t, b.objects[k]), Offset: mustParse(t, lastLine(b.objects[k])).Source.Offset}, k)
	out = append(out, vec(b, "reject-log-new-key-before-range", "reject", "section 7.4: a key signs only its range",
		"the checkpoint of the hand-over (seq 9) signed by the second key, trusted only from seq 10", rotatedKeyset))

	b, _, _ = rotated(t)
	delete(b.objects, CheckpointKey(vecPrefix, "prod", 9))
	out = append(out, vec(b, "reject-log-hand-over-unsigned", "reject", "section 7.4: the retiring key signs the hand-over",
		"the checkpoint of seq 9 deleted: the second key's checkpoint of seq 12 covers the key entry, the first key never signed it", rotatedKeyset))

	b, k, after = rotated(t)
	for _, key := range []string{k, after, CheckpointKey(vecPrefix, "prod", 9), CheckpointKey(vecPrefix, "prod", 12)} {
		delete(b.objects, key)
	}
	out = append(out, vec(b, "reject-log-cut-before-hand-over", "reject", "section 7.4: hand-overs match the keyset",
		"the hand-over and everything after it deleted together: the keyset retires the first key at seq 9, the chain ends at seq 6", rotatedKeyset))

	// A key entry that does not end its object: the checkpoint of the
	// object is then the new key's, which never signs its own appointment.
	b, _, _ = base(t)
	vk, _ := ParseVerifierKey(vecVerifierKey2)
	b.records(29, []string{string(KeyChangeRequest("prod", vk)),
		`{"type":"decision","event_id":"evt-x","environment":"prod","occurred_at":"2026-11-29T09:59:00Z","decision":{"decision_id":"dec-x","action":"ALLOW","confidence_score":0.5,"policy_version":"p1","user_id":"u1","session_id":"s1"}}`}, nil)
	out = append(out, vec(b, "reject-log-key-entry-not-last", "reject", "section 6: a key entry ends its object",
		"the key entry at seq 7 followed by a decision in the same object", vecVerifierKey+" 0 7\n"+vecVerifierKey2+" 8 -\n"))
	return out
}

func lastLine(body string) string {
	lines := strings.Split(strings.TrimSuffix(body, "\n"), "\n")
	return lines[len(lines)-1]
}

func mustParse(t *testing.T, line string) *Entry {
	e, err := ParseLine([]byte(strings.TrimSuffix(line, "\n")))
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func lastHash(t *testing.T, body string) Hash {
	lines := strings.Split(strings.TrimSuffix(body, "\n"), "\n")
	return mustParse(t, lines[len(lines)-1]).Hash
}

// mustKeyOfSeq returns the key of the batch whose first seq is seq.
func mustKeyOfSeq(t *testing.T, b *logBuilder, seq uint64) string {
	for k := range b.objects {
		if info, err := ParseBatchKey(vecPrefix, k); err == nil && info.Chain == "prod" && info.FirstSeq == seq {
			return k
		}
	}
	t.Fatalf("no batch at seq %d", seq)
	return ""
}

// prunedVectors are chains whose oldest objects were deleted after their
// retention (section 6.1): genesis, objects of seqs 1-3 (day 27), 4-6 (28)
// and 7-9 (29), a checkpoint for each, then deletions.
func prunedVectors(t *testing.T) []Vector {
	type chain struct {
		b          *logBuilder
		o1, o2, o3 string
	}
	build := func() chain {
		b := newLogBuilder(t)
		return chain{b, b.batch(27, 3, nil), b.batch(28, 3, nil), b.batch(29, 3, nil)}
	}
	cp := func(seq uint64) string { return CheckpointKey(vecPrefix, "prod", seq) }
	gone := func(b *logBuilder, keys ...string) {
		for _, k := range keys {
			delete(b.objects, k)
		}
	}
	vec := func(b *logBuilder, name, expect, rule, desc string, start uint64) Vector {
		v := b.vector(name, expect, rule, desc)
		v.Pruned = true
		if expect == "accept" {
			v.Report = &VectorReport{Entries: b.head.Seq - start + 1, HeadSeq: b.head.Seq, HeadHash: b.head.Hash.String(),
				CheckpointedSeq: b.head.Seq, StartSeq: start}
		}
		return v
	}
	g := GenesisKey(vecPrefix, "prod")
	var out []Vector

	c := build()
	gone(c.b, g, c.o1, cp(0), cp(3))
	out = append(out, vec(c.b, "accept-log-pruned", "accept", "",
		"the genesis, the first object and their checkpoints deleted after retention; the verifier is asked to accept a pruned chain: it starts at seq 4", 4))

	c = build()
	gone(c.b, g, c.o1, cp(0), cp(3))
	v := vec(c.b, "reject-log-pruned-not-asked", "reject", "section 6: the genesis object exists",
		"the chain of accept-log-pruned, but the verifier is not asked to accept a pruned chain", 4)
	v.Pruned = false
	out = append(out, v)

	c = build()
	gone(c.b, g, c.o1, cp(0))
	out = append(out, vec(c.b, "accept-log-pruned-checkpoint-kept", "accept", "",
		"the checkpoint of seq 3 remains after its object was deleted: it signs the prev of seq 4, the first entry that remains", 4))

	c = build()
	gone(c.b, g, c.o1, cp(3))
	out = append(out, vec(c.b, "accept-log-pruned-older-checkpoint-kept", "accept", "",
		"the checkpoint of seq 0 remains, below the seq before the start: checked as a note only", 4))

	c = build()
	gone(c.b, g, c.o1, cp(0))
	c.b.checkpoint(Head{Chain: "prod", Seq: 3, Hash: c.b.head.Hash, Offset: 3}, c.o1)
	out = append(out, vec(c.b, "reject-log-pruned-checkpoint-mismatch", "reject", "section 6.1: the checkpoint of s-1 signs the start's prev",
		"a checkpoint of seq 3, signed by the trusted key, that signs another hash than the prev of seq 4", 4))

	c = build()
	gone(c.b, g, c.o1, cp(3))
	otherS, _ := testKey("aegis-prod", "another seed")
	other, _ := NewSigner(otherS)
	msg, _ := Checkpoint{Chain: "prod", Seq: 0, Hash: c.b.head.Hash, Offset: -1, Object: g, Time: vecTime}.Sign(other)
	c.b.objects[cp(0)] = string(msg)
	out = append(out, vec(c.b, "reject-log-pruned-checkpoint-other-key", "reject", "section 6.1: checkpoints below the start pass 7.2",
		"a checkpoint of seq 0, below the start, signed by another key under the trusted key's name", 4))

	c = build()
	gone(c.b, g, c.o2, cp(0), cp(6))
	out = append(out, vec(c.b, "reject-log-pruned-hole", "reject", "section 6.1: a missing object after the start is a hole",
		"the genesis and the second object deleted: the chain starts at seq 1 and seqs 4-6 are missing", 1))

	c = build()
	gone(c.b, c.o1, cp(3))
	out = append(out, vec(c.b, "reject-log-pruned-genesis-kept", "reject", "section 6.1: with its genesis a chain is not pruned",
		"the first object deleted while the genesis remains: a hole, not a pruned chain", 0))

	c = build()
	known := c.b.objects[cp(3)]
	gone(c.b, g, c.o1, cp(0), cp(3))
	v = vec(c.b, "reject-log-pruned-known-below-start", "reject", "section 6.1: a known checkpoint below the start",
		"the auditor kept the checkpoint of seq 3, whose entry was deleted", 4)
	v.KnownCheckpoint = known
	out = append(out, v)

	c = build()
	known = c.b.objects[cp(6)]
	gone(c.b, g, c.o1, cp(0), cp(3))
	v = vec(c.b, "accept-log-pruned-known-checkpoint", "accept", "", "the chain that remains extends the checkpoint of seq 6 the auditor kept", 4)
	v.KnownCheckpoint = known
	out = append(out, v)

	// Rotated chains (rotated: the KEY entry at seq 9 ends seqs 7-9;
	// seqs 10-12 are signed by the second key).
	rvec := func(b *logBuilder, name, expect, rule, desc string, start uint64, keyset string) Vector {
		v := vec(b, name, expect, rule, desc, start)
		v.VerifierKey, v.Keyset = "", keyset
		return v
	}
	b, k, _ := rotated(t)
	gone(b, g, mustKeyOfSeq(t, b, 1), mustKeyOfSeq(t, b, 4), k, cp(0), cp(3), cp(6), cp(9))
	out = append(out, rvec(b, "accept-log-pruned-after-hand-over", "accept", "",
		"the key was handed over at seq 9 and everything up to seq 9 was deleted: the keyset's boundary lies before the start, with no key entry left to match", 10, rotatedKeyset))

	b, _, _ = rotated(t)
	gone(b, g, mustKeyOfSeq(t, b, 1), mustKeyOfSeq(t, b, 4), cp(0), cp(3))
	out = append(out, rvec(b, "accept-log-pruned-before-hand-over", "accept", "",
		"pruned to seq 7: the key entry at seq 9 remains and matches the keyset's boundary", 7, rotatedKeyset))

	c = build()
	gone(c.b, g, c.o1, cp(0), cp(3))
	second, err := NewSigner(vecSignerKey2)
	if err != nil {
		t.Fatal(err)
	}
	c.b.signer = second
	c.b.checkpoint(c.b.head, c.o3) // seq 9, by the key the keyset trusts from seq 8
	v = vec(c.b, "reject-log-pruned-keyset-boundary-missing", "reject", "section 7.4 with 6.1: a boundary at or after the start needs its key entry",
		"the keyset hands over after seq 7, within the chain that remains, which holds no key entry (each checkpoint is signed by the key the keyset trusts for its seq)", 4)
	v.VerifierKey, v.Keyset = "", vecVerifierKey+" 0 7\n"+vecVerifierKey2+" 8 -\n"
	out = append(out, v)
	return out
}
