package ingest

import (
	"encoding/json"
	"net/http/httptest"
	"testing"
)

// A query string net/url cannot read whole (a semicolon, a bad escape)
// is refused, not read without the parts it could not: url.URL.Query
// drops them silently, so `?durability=sealed;` was answered 201 durable
// and the caller that asked for a sealed receipt got none, without a
// word (found by an attack).
func TestAQueryThatDoesNotParseIsRefused(t *testing.T) {
	for _, q := range []string{"durability=sealed;", "durability=sealed;x=1", "durability=sealed%", "durability=%zz", "x=%zz&durability=sealed"} {
		t.Run(q, func(t *testing.T) {
			rec := &fakeRecorder{}
			w := httptest.NewRecorder()
			newService(t, rec).Handler().ServeHTTP(w, post("/v1/decisions?"+q, "prod-token-0123456789", "application/json", goodDecision))
			var p Problem
			if w.Code != 400 || json.Unmarshal(w.Body.Bytes(), &p) != nil || p.Error != CodeBadRequest || len(p.Fields) != 1 || p.Fields[0].Field != "query" {
				t.Fatalf("?%s answered %d %s; want 400 bad_request naming the query", q, w.Code, w.Body)
			}
			if len(rec.got) != 0 {
				t.Fatalf("?%s published %d events; want none", q, len(rec.got))
			}
		})
	}
}
