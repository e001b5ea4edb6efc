package shared

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"
)

// objectsFailureSeq is objectsFailure naming the seq too: "key line N seq S"
// ("seq -" when none is named).
func objectsFailureSeq(t *testing.T, objects map[string]string) string {
	t.Helper()
	ks, err := ParseKeyset(vecVerifierKey)
	if err != nil {
		t.Fatal(err)
	}
	type batch struct {
		key string
		seq uint64
	}
	batches := []batch{{key: GenesisKey(vecPrefix, "prod")}}
	for k := range objects {
		if ClassifyKey(vecPrefix, "prod", k) == KeyBatch {
			info, _ := ParseBatchKey(vecPrefix, k)
			batches = append(batches, batch{k, info.FirstSeq})
		}
	}
	sort.Slice(batches, func(i, j int) bool {
		return batches[i].seq < batches[j].seq || batches[i].seq == batches[j].seq && batches[i].key < batches[j].key
	})
	lv := NewLogVerifier(vecPrefix, "prod", ks, nil)
	for _, b := range batches {
		entries, _, err := ParseObject(b.key, b.seq, []byte(objects[b.key]))
		if err == nil {
			err = lv.Object(b.key, entries)
		}
		var f *Failure
		if errors.As(err, &f) {
			seq := "-"
			if f.HasSeq {
				seq = fmt.Sprint(f.Seq)
			}
			return fmt.Sprintf("%s line %d seq %s", f.Key, f.Line, seq)
		} else if err != nil {
			t.Fatal(err)
		}
	}
	return "ok"
}

// pythonLogFailuresSeq is pythonLogFailures naming the seq too.
func pythonLogFailuresSeq(t *testing.T, chains []map[string]string) []string {
	t.Helper()
	in, err := json.Marshal(chains)
	if err != nil {
		t.Fatal(err)
	}
	return pythonAnswers(t, `
import json, sys
sys.path.insert(0, sys.argv[1])
import check_vectors as cv
ks = cv.parse_keyset(sys.argv[2])
for chain in json.load(sys.stdin):
    objs = [(k, v.encode("utf-8", "surrogateescape")) for k, v in chain.items()]
    try:
        cv.verify_log("audit", "prod", ks, objs)
        print("ok")
    except cv.LogFail as f:
        print(f"{f.obj} line {f.line or 0} seq {'-' if f.seq is None else f.seq}")
`, string(in), len(chains), vecVerifierKey)
}

// Chains cut from a sound one by one to three random edits (a line
// deleted, repeated, swapped, moved to another object, the genesis line
// put in, a byte changed, an object moved to another seq's or day's key,
// a line's bytes broken by a CR or an empty line, a line's seq edited):
// Go and the Python reference name the same object, line and seq
// (FORMAT.md section 8), up to the end of the objects (a fixed seed: the
// same chains every run). It took the place of a test of line only over
// the first six kinds of edit, which found a genesis entry at a batch key
// named at line 2 by Go and line 1 by Python.
func TestChainEditsNameTheSeqPythonNames(t *testing.T) {
	b := newLogBuilder(t)
	keys := []string{b.batch(27, 3, nil), b.batch(27, 3, nil), b.batch(28, 3, nil)}
	genesis := b.objects[GenesisKey(vecPrefix, "prod")]
	rng := rand.New(rand.NewPCG(6, 78))
	var chains []map[string]string
	for range 600 {
		objects := maps.Clone(b.objects)
		for range 1 + rng.IntN(3) {
			ks := slices.Sorted(maps.Keys(objects))
			key := ks[rng.IntN(len(ks))]
			lines := strings.SplitAfter(objects[key], "\n")
			if lines[len(lines)-1] == "" {
				lines = lines[:len(lines)-1]
			}
			if len(lines) == 0 {
				continue
			}
			i := rng.IntN(len(lines))
			switch rng.IntN(10) {
			case 0:
				lines = slices.Delete(lines, i, i+1)
			case 1:
				lines = slices.Insert(lines, rng.IntN(len(lines)+1), lines[i])
			case 2:
				j := rng.IntN(len(lines))
				lines[i], lines[j] = lines[j], lines[i]
			case 3:
				other := keys[rng.IntN(len(keys))]
				objects[other] += lines[i]
				lines = slices.Delete(lines, i, i+1)
			case 4:
				lines = slices.Insert(lines, i, genesis)
			case 5:
				l := []byte(lines[i])
				if len(l) < 2 {
					continue
				}
				l[rng.IntN(len(l)-1)] ^= 1
				lines[i] = string(l)
			case 6: // the object moved to another seq's key, or another day's
				info, err := ParseBatchKey(vecPrefix, key)
				if err != nil {
					continue
				}
				seq, d := info.FirstSeq, info.Date
				if rng.IntN(2) == 0 {
					seq = uint64(max(1, int(seq)+rng.IntN(5)-2))
				} else {
					d = d.AddDate(0, 0, rng.IntN(3)-1)
				}
				moved := fmt.Sprintf("%s/year=%04d/month=%02d/day=%02d/env=prod/%020d.jsonl", vecPrefix, d.Year(), int(d.Month()), d.Day(), seq)
				delete(objects, key)
				key = moved
			case 7:
				lines[i] = strings.TrimSuffix(lines[i], "\n") + "\r\n"
			case 8:
				lines = slices.Insert(lines, i, "\n")
			case 9: // the seq a line holds edited (the hash no longer holds)
				lines[i] = strings.Replace(lines[i], `"seq":`, `"seq":1`, 1)
			}
			objects[key] = strings.Join(lines, "")
			if objects[key] == "" {
				delete(objects, key)
			}
		}
		chains = append(chains, objects)
	}
	want := pythonLogFailuresSeq(t, chains)
	bad := 0
	for i, objects := range chains {
		got := objectsFailureSeq(t, objects)
		if got != want[i] && !(got == "ok" && !strings.Contains(want[i], ".jsonl line")) {
			if bad++; bad <= 10 {
				t.Errorf("chain %d: Go %s, Python %s", i, got, want[i])
			}
		}
	}
	t.Logf("%d chains; Python: %d fail at a line", len(chains), countLines(want))
	if bad > 0 {
		t.Errorf("%d of %d chains named differently", bad, len(chains))
	}
}

func countLines(out []string) int {
	n := 0
	for _, o := range out {
		if strings.Contains(o, ".jsonl line") && !strings.Contains(o, "line 0 ") {
			n++
		}
	}
	return n
}

// A batch whose line 1 is of another chain (sealed as that chain's, its
// hash sound) and whose line 3 is of another day: the key rule is the
// chain's own key form (FORMAT.md section 6), so the day of line 3, an
// object rule, is named before line 1's chain, a chain rule, by Go as by
// the Python reference.
func TestFirstLineOfAnotherChainAsPython(t *testing.T) {
	b := newLogBuilder(t)
	b.batch(27, 2, nil)
	key := b.batch(27, 3, func(i int, src *Source) {
		if i == 2 {
			src.Timestamp = src.Timestamp.AddDate(0, 0, 1)
		}
	})
	lines := strings.SplitAfter(b.objects[key], "\n")
	e1 := mustParse(t, strings.TrimSuffix(lines[0], "\n"))
	other, err := SealRecord(Head{Chain: "other", Seq: e1.Seq - 1, Hash: e1.Prev, Offset: e1.Source.Offset - 1}, *e1.Source, []byte("x"), vecTime)
	if err != nil {
		t.Fatal(err)
	}
	l, _ := other.Line()
	b.objects[key] = string(l) + "\n" + strings.Join(lines[1:], "")
	got, want := objectsFailureSeq(t, b.objects), pythonLogFailuresSeq(t, []map[string]string{b.objects})[0]
	if got != want || want == "ok" {
		t.Fatalf("Go: %s, Python: %s", got, want)
	}
	t.Logf("both: %s", got)
}
