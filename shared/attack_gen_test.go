package shared

import (
	"bytes"
	"math/rand"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestAttackGeneratedBodies (attack4): envelopes built with members in
// random order, random whitespace between tokens (rarely a kind JSON does
// not allow), metadata of random nesting with tricky member names
// (type/event_id/occurred_at, NFC and NFD, U+E000..U+FFFF and above,
// escapes, duplicates), numbers and strings at the canonical form's edges:
// whatever completeFast takes, completeStrict takes the same way.
type genJSON struct {
	r *rand.Rand
}

var (
	genWS      = []string{"", "", "", " ", "\t", "\n", "\r", "\r\n", "  "}
	badWS      = []string{"\f", "\v", "\u00a0", "\x00", "\ufeff", "\u2028"}
	genNames   = []string{"a", "b", "type", "event_id", "occurred_at", "A", "é", "e\u0301", "\U0001F600", "\ufffd", "\ue000", "\uff01", "", "a\\u0062", "\\\"", "ab", "a\x7f"}
	genNumbers = []string{"0", "1", "-1", "0.5", "0.000001", "999999999999999", "12345678901234.5", "-0.1", "0.25", "-0", "1.0", "1e2", "1E2", "0.0000001", "9999999999999999", "123456789012345.5", "01", "1.", ".5", "1e400", "9007199254740993"}
	genStrings = []string{`""`, `"x"`, `"\n"`, `"\u001f"`, `"é"`, "\"\U0001F600\"", `"\u0000"`, "\"\x7f\"", `"\\"`, `"\u000a"`, `"\/"`, `"\u00e9"`, "\"\xff\"", "\"\xed\xa0\x80\"", `"\ud83d\ude00"`, `"\uFFFF"`, "\"\ufdd0\"", `"\u001F"`}
)

func (g *genJSON) ws() string {
	if g.r.Intn(400) == 0 {
		return badWS[g.r.Intn(len(badWS))]
	}
	return genWS[g.r.Intn(len(genWS))]
}

// pick takes from list, its first good entries mostly.
func (g *genJSON) pick(list []string, good int) string {
	if g.r.Intn(30) == 0 {
		return list[g.r.Intn(len(list))]
	}
	return list[g.r.Intn(good)]
}

func (g *genJSON) value(depth int) string {
	switch k := g.r.Intn(10); {
	case depth > 3 || k < 3:
		return g.pick(genNumbers, 9)
	case k < 6:
		return g.pick(genStrings, 9)
	case k < 7:
		return []string{"null", "true", "false"}[g.r.Intn(3)]
	case k < 8:
		n := g.r.Intn(4)
		parts := make([]string, n)
		for i := range parts {
			parts[i] = g.ws() + g.value(depth+1) + g.ws()
		}
		return "[" + strings.Join(parts, ",") + g.ws() + "]"
	default:
		return g.object(depth + 1)
	}
}

func (g *genJSON) object(depth int) string {
	n := g.r.Intn(5)
	parts := make([]string, n)
	for i := range parts {
		parts[i] = g.ws() + `"` + g.pick(genNames, 15) + `"` + g.ws() + ":" + g.ws() + g.value(depth) + g.ws()
	}
	return "{" + strings.Join(parts, ",") + g.ws() + "}"
}

// members writes an object of the given members in random order with
// random whitespace.
func (g *genJSON) members(m map[string]string) string {
	var parts []string
	for k, v := range m {
		parts = append(parts, g.ws()+`"`+k+`"`+g.ws()+":"+g.ws()+v+g.ws())
	}
	g.r.Shuffle(len(parts), func(i, j int) { parts[i], parts[j] = parts[j], parts[i] })
	return g.ws() + "{" + strings.Join(parts, ",") + g.ws() + "}" + g.ws()
}

func TestAttackGeneratedBodies(t *testing.T) {
	g := &genJSON{r: rand.New(rand.NewSource(20261129))}
	fastN := 0
	for i := 0; i < 100000; i++ {
		override := g.r.Intn(3) == 0
		top := map[string]string{"environment": `"prod"`}
		typ := TypeDecision
		if override {
			typ = TypeOverride
			top["override"] = g.members(map[string]string{"decision_id": `"d1"`, "reviewer_id": `"r"`, "new_action": `"BLOCK"`,
				"reason": g.pick(genStrings, 9)})
		} else {
			dm := map[string]string{"decision_id": `"d"`, "action": `"ALLOW"`, "confidence_score": g.pick(genNumbers, 9),
				"policy_version": `"p"`, "user_id": `"u"`, "session_id": `"s"`}
			if g.r.Intn(3) > 0 {
				dm["metadata"] = g.object(3)
			}
			top["decision"] = g.members(dm)
		}
		if g.r.Intn(3) == 0 {
			top["type"] = `"` + string(typ) + `"`
		}
		if g.r.Intn(3) == 0 {
			top["event_id"] = g.pick(genStrings, 9)
		}
		if g.r.Intn(3) == 0 {
			top["occurred_at"] = []string{`"2026-01-01T00:00:00Z"`, `"2026-01-01T00:00:00.100Z"`, `"2026-01-01T00:00:00+00:00"`, `"0000-01-01T00:00:00Z"`}[g.r.Intn(4)]
		}
		if g.r.Intn(10) == 0 {
			top[g.pick(genNames, 15)] = g.value(2)
		}
		body := g.members(top)
		if g.r.Intn(20) == 0 {
			body = strings.Replace(body, `"environment"`, `"environment":"prod","environment"`, 1)
		}
		d := Defaults{Type: typ, EventID: "ev", OccurredAt: time.UnixMilli(g.r.Int63n(1 << 45))}
		fast, fr, ok := completeFast([]byte(body), d)
		if !ok {
			continue
		}
		fastN++
		strict, sr, err := completeStrict([]byte(body), d)
		if err != nil {
			t.Fatalf("fast accepts, strict refuses (%v): %q", err, body)
		}
		if !bytes.Equal(fr, sr) || !reflect.DeepEqual(fast, strict) {
			t.Fatalf("differ %q\nfast   %s\nstrict %s", body, fr, sr)
		}
	}
	if fastN < 1000 {
		t.Fatalf("the fast path took only %d generated bodies: the generator no longer reaches it", fastN)
	}
}
