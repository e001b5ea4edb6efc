package shared

import (
	"strings"
	"testing"
	"time"
)

// objectsFailure reads a chain's genesis and batch objects as the
// verifier does (in order of their keys' seq, each with ParseObject, then
// LogVerifier.Object) and returns the first failure's object and line.
func objectsFailure(t *testing.T, objects map[string]string) string {
	t.Helper()
	return withoutSeq(objectsFailureSeq(t, objects))
}

// pythonLogFailures is what the Python reference names for each chain:
// "key line N" (line 0: none), or "ok".
func pythonLogFailures(t *testing.T, chains []map[string]string) []string {
	t.Helper()
	out := pythonLogFailuresSeq(t, chains)
	for i := range out {
		out[i] = withoutSeq(out[i])
	}
	return out
}

// withoutSeq drops the " seq S" of a failure named by objectsFailureSeq or
// pythonLogFailuresSeq.
func withoutSeq(s string) string {
	before, _, _ := strings.Cut(s, " seq ")
	return before
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
			got, want := objectsFailure(t, b.objects), pythonLogFailures(t, []map[string]string{b.objects})[0]
			if got != want || want == "ok" {
				t.Fatalf("Go: %s, Python: %s", got, want)
			}
			t.Logf("both: %s", got)
		})
	}
}
