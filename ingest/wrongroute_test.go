package ingest

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
)

// A decision sent to /v1/overrides, or an override to /v1/decisions,
// without "type" was answered only that its "decision" (or "override")
// is not a member of the top-level object: true of the path's type, and
// no help to a caller who picked the wrong path. With "type" it was told
// where to send it; now without too.
func TestAnEventSentToTheOtherPathIsToldWhereItGoes(t *testing.T) {
	override := `{"environment":"prod","override":{"decision_id":"d1","reviewer_id":"r","new_action":"BLOCK","reason":"x"}}`
	for _, c := range []struct{ path, body, field, want string }{
		{"/v1/overrides", goodDecision, "decision", "send it to /v1/decisions"},
		{"/v1/decisions", override, "override", "send it to /v1/overrides"},
	} {
		w := httptest.NewRecorder()
		newService(t, &fakeRecorder{}).Handler().ServeHTTP(w, post(c.path, "prod-token-0123456789", "application/json", c.body))
		var p Problem
		if w.Code != 400 || json.Unmarshal(w.Body.Bytes(), &p) != nil || len(p.Fields) == 0 || p.Fields[0].Field != c.field ||
			!strings.Contains(p.Fields[0].Reason, c.want) || !strings.Contains(p.Message, c.want) {
			t.Errorf("POST %s of a %s answered %d %s; want 400 whose field %s says %q", c.path, c.field, w.Code, w.Body, c.field, c.want)
		}
	}
}
