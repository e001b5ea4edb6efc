package ingest

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
)

// A body with a Content-Encoding the service does not decode: a gzipped
// one was answered 400 "body unexpected '\x1f'", which does not say what
// to change, and a plain one labelled gzip was recorded as if the label
// were not there. Both are 415 naming the encoding (RFC 9110 section
// 15.5.16).
func TestAContentEncodingIsRefusedByName(t *testing.T) {
	var gz bytes.Buffer
	z := gzip.NewWriter(&gz)
	z.Write([]byte(goodDecision))
	z.Close()
	for name, body := range map[string]string{"gzipped": gz.String(), "plain, labelled gzip": goodDecision} {
		rec := &fakeRecorder{}
		r := post("/v1/decisions", "prod-token-0123456789", "application/json", body)
		r.Header.Set("Content-Encoding", "gzip")
		w := httptest.NewRecorder()
		newService(t, rec).Handler().ServeHTTP(w, r)
		var p Problem
		if w.Code != 415 || json.Unmarshal(w.Body.Bytes(), &p) != nil || p.Error != CodeUnsupportedMediaType || !strings.Contains(p.Message, `Content-Encoding "gzip"`) {
			t.Errorf("%s: answered %d %s; want 415 naming Content-Encoding \"gzip\"", name, w.Code, w.Body)
		}
		if len(rec.got) != 0 {
			t.Errorf("%s: recorded %d events; want none", name, len(rec.got))
		}
	}
	r := post("/v1/decisions", "prod-token-0123456789", "application/json", goodDecision)
	r.Header.Set("Content-Encoding", "identity")
	w := httptest.NewRecorder()
	newService(t, &fakeRecorder{}).Handler().ServeHTTP(w, r)
	if w.Code != 201 {
		t.Errorf("Content-Encoding identity: answered %d %s; want 201", w.Code, w.Body)
	}
}
