package query

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/aegisai/audit/indexer/layout"
)

// FuzzDecodeCursor: a cursor is outside input (a query parameter anyone
// with a token can forge). The decoder never panics, and a cursor it
// accepts starts the page inside the view it was asked for: the user or
// session of the query, a decision item's key, a view key within the
// query's range. A cursor the reader wrote itself is always accepted.
func FuzzDecodeCursor(f *testing.F) {
	at := time.Date(2026, 11, 27, 10, 3, 0, 0, time.UTC)
	d := layout.Decision{PK: layout.DecisionPK("d1"), SK: layout.SKDecision + layout.SortTime(at) + "#e-d1",
		GSI1SK: layout.ViewSortKey(at, 7), GSI2SK: layout.ViewSortKey(at, 7)}
	user := view{index: layout.GSI1, pkAttr: layout.AttrGSI1PK, skAttr: layout.AttrGSI1SK, pk: layout.UserPK("u")}
	session := view{index: layout.GSI2, pkAttr: layout.AttrGSI2PK, skAttr: layout.AttrGSI2SK, pk: layout.SessionPK("s")}
	good := encodeCursor(d, user)
	f.Add(good, "u", false, "", "")
	f.Add(encodeCursor(d, session), "s", true, "2026-11-27", "2026-11-28")
	f.Add(good, "v", false, "", "")
	f.Add(good, "u", false, "2026-11-28", "")
	raw, _ := base64.RawURLEncoding.DecodeString(good)
	f.Add(base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(string(raw), `"v":1`, `"v":1,"v":1`, 1))), "u", false, "", "")
	f.Add("AAAA", "u", false, "", "")
	f.Fuzz(func(t *testing.T, s, id string, bySession bool, since, until string) {
		v := view{index: layout.GSI1, pkAttr: layout.AttrGSI1PK, skAttr: layout.AttrGSI1SK, pk: layout.UserPK(id)}
		if bySession {
			v = view{index: layout.GSI2, pkAttr: layout.AttrGSI2PK, skAttr: layout.AttrGSI2SK, pk: layout.SessionPK(id)}
		}
		var rg Range
		rg.Since, _ = ParseTime("since", since)
		rg.Until, _ = ParseTime("until", until)
		if _, err := rg.check(); err != nil {
			return
		}
		lo, hi := rg.bounds()
		c, err := decodeCursor(s, v, lo, hi)
		if err != nil {
			if _, ok := err.(*ParamError); !ok {
				t.Fatalf("a bad cursor is %T, not a *ParamError: %v", err, err)
			}
			return
		}
		did, _ := strings.CutPrefix(c.PK, layout.PKDecision)
		switch {
		case len(s) > maxCursor:
			t.Fatalf("accepted a cursor of %d bytes", len(s))
		case c.VP != v.pk:
			t.Fatalf("a cursor of %q read the view of %q", c.VP, v.pk)
		case !strings.HasPrefix(c.PK, layout.PKDecision) || checkID("decision_id", did) != nil || !strings.HasPrefix(c.SK, layout.SKDecision):
			t.Fatalf("a cursor starts at a key that is not a decision item's: %q %q", c.PK, c.SK)
		case !viewKey.MatchString(c.VS) || c.VS < lo || c.VS >= hi:
			t.Fatalf("a cursor starts at view key %q outside [%q, %q)", c.VS, lo, hi)
		}
		// The reader's own cursor for where this one points is accepted.
		own := encodeCursor(layout.Decision{PK: c.PK, SK: c.SK, GSI1SK: c.VS, GSI2SK: c.VS}, v)
		if _, err := decodeCursor(own, v, lo, hi); err != nil {
			t.Fatalf("the reader's own cursor is refused: %v", err)
		}
	})
}

// FuzzDecodeOverrideCursor: a cursor of a decision's overrides is outside
// input too. The decoder never panics, and a cursor it accepts starts
// after an override's sort key of the decision asked for; the reader's own
// cursors are always accepted.
func FuzzDecodeOverrideCursor(f *testing.F) {
	at := time.Date(2026, 11, 27, 10, 3, 0, 0, time.UTC)
	good := encodeOverrideCursor("d1", layout.SKOverride+layout.SortTime(at)+"#o-1")
	f.Add(good, "d1")
	f.Add(good, "d2")
	f.Add(encodeCursor(layout.Decision{PK: layout.DecisionPK("d1"), SK: layout.SKDecision + "x", GSI1SK: layout.ViewSortKey(at, 1)},
		view{index: layout.GSI1, pkAttr: layout.AttrGSI1PK, skAttr: layout.AttrGSI1SK, pk: layout.UserPK("u")}), "d1")
	f.Add(encodeOverrideCursor("d1", layout.SKDecision+"x"), "d1")
	f.Add("AAAA", "d1")
	f.Fuzz(func(t *testing.T, s, id string) {
		sk, err := decodeOverrideCursor(s, id)
		if err != nil {
			if _, ok := err.(*ParamError); !ok {
				t.Fatalf("a bad cursor is %T, not a *ParamError: %v", err, err)
			}
			return
		}
		if len(s) > maxCursor || !strings.HasPrefix(sk, layout.SKOverride) {
			t.Fatalf("accepted %q: starts after %q", s, sk)
		}
		if other := id + "x"; len(other) <= 256 {
			if _, err := decodeOverrideCursor(s, other); err == nil {
				t.Fatalf("a cursor of decision %q is accepted for %q", id, other)
			}
		}
		if got, err := decodeOverrideCursor(encodeOverrideCursor(id, sk), id); err != nil || got != sk {
			t.Fatalf("the reader's own cursor is refused or changed: %q %v", got, err)
		}
	})
}
