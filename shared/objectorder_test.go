package shared

import (
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// objectsFailure reads a chain's genesis and batch objects as the
// verifier does (in order of their keys' seq, each with ParseObject, then
// LogVerifier.Object) and returns the first failure's object and line.
func objectsFailure(t *testing.T, objects map[string]string) string {
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
		if info, err := ParseBatchKey(vecPrefix, k); err == nil && info.Chain == "prod" {
			batches = append(batches, batch{k, info.FirstSeq})
		}
	}
	sort.Slice(batches, func(i, j int) bool { return batches[i].seq < batches[j].seq })
	lv := NewLogVerifier(vecPrefix, "prod", ks, nil)
	for _, b := range batches {
		entries, _, err := ParseObject(b.key, b.seq, []byte(objects[b.key]))
		if err == nil {
			err = lv.Object(b.key, entries)
		}
		var f *Failure
		if errors.As(err, &f) {
			return fmt.Sprintf("%s line %d", f.Key, f.Line)
		} else if err != nil {
			t.Fatal(err)
		}
	}
	return "ok"
}

// pythonLogFailure runs the Python checker's verify_log on objects and
// returns its failure's object and line.
func pythonLogFailure(t *testing.T, objects map[string]string) string {
	t.Helper()
	in, err := json.Marshal(objects)
	if err != nil {
		t.Fatal(err)
	}
	dir, err := filepath.Abs(vectorDir)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("python3", "-c", `
import json, sys
sys.path.insert(0, sys.argv[1])
import check_vectors as cv
objs = [(k, v.encode()) for k, v in json.load(sys.stdin).items()]
try:
    cv.verify_log("audit", "prod", cv.parse_keyset(sys.argv[2]), objs)
    print("ok")
except cv.LogFail as f:
    print(f"{f.obj} line {f.line or 0}")
`, dir, vecVerifierKey)
	cmd.Stdin = strings.NewReader(string(in))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("python3: %v\n%s", err, out)
	}
	return strings.TrimSpace(string(out))
}

// Within an object, the rules of the object (section 6's second bullet:
// its key, and one date for every entry) come before the chain's (the
// third: seq, prev, topic, offset), as the Python reference checks them:
// an object whose line 2 repeats an offset and whose line 3 is of another
// day fails at line 3 in both; before, Go named line 2.
func TestObjectRulesBeforeChainRulesAsPython(t *testing.T) {
	day28 := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	cases := []struct {
		name string
		edit func(i int, src *Source)
		// after changes the object's body once sealed.
		after func(b *logBuilder, key string)
	}{
		{"an offset repeated on line 2, another day on line 3", func(i int, src *Source) {
			if i == 1 {
				src.Offset -= 2 // the offset of line 1
			}
			if i == 2 {
				src.Timestamp = day28
			}
		}, nil},
		{"an offset repeated on line 2 alone", func(i int, src *Source) {
			if i == 1 {
				src.Offset -= 2 // the offset of line 1
			}
		}, nil},
		{"another day on line 3 alone", func(i int, src *Source) {
			if i == 2 {
				src.Timestamp = day28
			}
		}, nil},
		{"an offset repeated on line 2, the genesis entry as line 3", func(i int, src *Source) {
			if i == 1 {
				src.Offset -= 2 // the offset of line 1
			}
		}, func(b *logBuilder, key string) {
			lines := strings.SplitAfter(b.objects[key], "\n")
			b.objects[key] = lines[0] + lines[1] + b.objects[GenesisKey(vecPrefix, "prod")]
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := newLogBuilder(t)
			b.batch(27, 2, nil)
			key := b.batch(27, 3, tc.edit)
			if tc.after != nil {
				tc.after(b, key)
			}
			got, want := objectsFailure(t, b.objects), pythonLogFailure(t, b.objects)
			if got != want || want == "ok" {
				t.Fatalf("Go: %s, Python: %s", got, want)
			}
			t.Logf("both: %s", got)
		})
	}
}
