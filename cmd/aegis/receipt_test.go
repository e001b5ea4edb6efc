package main

import (
	"strings"
	"testing"
)

// Issue 4: verify-receipt reads the producer's receipt and ingest's 201
// answer alike, and refuses anything else saying what it wants.
func TestParseReceipt(t *testing.T) {
	const receipt = `{"event_id":"ev-1","decision_id":"d-1","durability":"sealed","chain":"prod","seq":7,"entry_hash":"ab","object":"audit/x","version_id":"v","line":3,"checkpoint_seq":9}`
	for _, c := range []struct {
		name, in, want string // want: an error part, or "" to accept
	}{
		{"producer receipt", receipt, ""},
		{"ingest answer", `{"event_id":"ev-1","durability":"sealed","receipt":` + receipt + `}`, ""},
		{"ingest answer, durable", `{"event_id":"ev-1","durability":"durable","receipt":null}`, "only an answer to ?durability=sealed"},
		{"ingest answer, other event", `{"event_id":"ev-2","durability":"sealed","receipt":` + receipt + `}`, `names event "ev-2" but its receipt event "ev-1"`},
		{"ingest answer, unknown member", `{"event_id":"ev-1","durability":"sealed","extra":1,"receipt":` + receipt + `}`, `not ingest's 201 answer`},
		{"unknown member", `{"event_id":"ev-1","durability":"sealed","what":1}`, `want the producer's receipt, or ingest's 201 answer`},
		{"an array", `[1]`, "want a JSON object"},
		{"two values", receipt + receipt, "not a receipt"},
		{"an evidence bundle", `{"chain":"prod","decision_id":"d","entries":[],"format":"aegis-audit/proof/v1","key_id":"k+00000000"}`, "check it with aegis verify-proof"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r, err := parseReceipt([]byte(c.in))
			switch {
			case c.want == "" && err != nil:
				t.Fatal(err)
			case c.want == "" && (r.EventID != "ev-1" || r.Seq != 7 || r.CheckpointSeq != 9 || r.Object != "audit/x"):
				t.Fatalf("read %+v", r)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("got %v, want an error with %q", err, c.want)
			}
		})
	}
}
