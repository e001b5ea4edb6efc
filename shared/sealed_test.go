package shared

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// A sealed record names the object and line the sealer stored its entry
// at; anything else on the sealed topic is not the sealer's.
func TestCheckPointer(t *testing.T) {
	entries, _ := testChain(t, 3) // seqs 1..3
	e := entries[3]
	key := func(prefix, chain string, first int) string {
		return prefix + "/year=2026/month=11/day=27/env=" + chain + "/0000000000000000000" + string(rune('0'+first)) + ".jsonl"
	}
	for _, c := range []struct {
		name string
		rec  SealedRecord
		ok   bool
	}{
		{"line 3 of the object from seq 1", SealedRecord{Object: key("audit", "prod", 1), Line: 3}, true},
		{"line 1 of its own object", SealedRecord{Object: key("audit", "prod", 3), Line: 1, VersionID: "v"}, true},
		{"under a deeper prefix", SealedRecord{Object: key("a/b/c", "prod", 2), Line: 2}, true},
		{"wrong line", SealedRecord{Object: key("audit", "prod", 1), Line: 1}, false},
		{"line 0", SealedRecord{Object: key("audit", "prod", 3), Line: 0}, false},
		{"negative line", SealedRecord{Object: key("audit", "prod", 4), Line: -1}, false},
		{"object after the entry", SealedRecord{Object: key("audit", "prod", 4), Line: 1}, false},
		{"another chain's object", SealedRecord{Object: key("audit", "dev", 1), Line: 3}, false},
		{"not a batch key", SealedRecord{Object: "audit/x.jsonl", Line: 3}, false},
		{"no prefix", SealedRecord{Object: key("", "prod", 1), Line: 3}, false},
		{"huge key", SealedRecord{Object: key(strings.Repeat("k", MaxObjectKey), "prod", 1), Line: 3}, false},
		{"huge version id", SealedRecord{Object: key("audit", "prod", 1), Line: 3, VersionID: strings.Repeat("v", MaxObjectKey+1)}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := c.rec.CheckPointer(e)
			if c.ok != (err == nil) || (err != nil && !errors.Is(err, ErrBadPointer)) {
				t.Fatalf("CheckPointer(%.80s line %d) = %v, want ok %v", c.rec.Object, c.rec.Line, err, c.ok)
			}
		})
	}
}

// Encode writes what encoding/json writes (without its HTML escaping),
// and AppendEncode the same bytes
// after whatever the buffer holds (the sealer encodes a transaction's
// records into one buffer).
func TestSealedRecordEncodesAsEncodingJSON(t *testing.T) {
	line := []byte(`{"chain":"prod","hash":"00","seq":7}`)
	for _, r := range []SealedRecord{
		{Object: "prod/events/env=prod/date=2026-11-27/chain=prod/00000000000000000007.jsonl", VersionID: "v1", Line: 3, Checkpoint: 9, Entry: line},
		{Object: `odd "key" \ with <html> & é`, Line: 1, Entry: line},
	} {
		var enc bytes.Buffer
		j := json.NewEncoder(&enc)
		j.SetEscapeHTML(false)
		if err := j.Encode(&r); err != nil {
			t.Fatal(err)
		}
		want := bytes.TrimSuffix(enc.Bytes(), []byte("\n"))
		if got := r.Encode(); !bytes.Equal(got, want) {
			t.Fatalf("Encode %s, encoding/json %s", got, want)
		}
		if got := r.AppendEncode([]byte("prefix")); !bytes.Equal(got, append([]byte("prefix"), want...)) {
			t.Fatalf("AppendEncode %s", got)
		}
	}
}
