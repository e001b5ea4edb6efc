package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/aegisai/audit/internal/platform/httpauth"
	"github.com/aegisai/audit/query"
	"github.com/aegisai/audit/shared"
)

// A query string net/url cannot read whole (a semicolon, a bad escape) is
// a 400 naming it: url.URL.Query drops the broken parts silently, so
// `?cursor=…;` was answered with the first page and `?limit=1;` with 50,
// where the package promises that every parameter is checked (found by an
// attack). Each is refused before the index is read (the Reader here
// reads nothing).
func TestAQueryThatDoesNotParseIsRefused(t *testing.T) {
	s := unreadService(t)
	for _, target := range []string{
		"/v1/users/u/decisions?limit=1;",
		"/v1/users/u/decisions?cursor=abc%zz",
		"/v1/sessions/s/decisions?since=2026-01-01;until=2026-01-02",
		"/v1/decisions/d1?limit=1;",
		"/v1/decisions/d1/proof?cursor=%zz",
		"/v1/verifier-key?%zz",
		"/openapi.json?a;b",
	} {
		r := httptest.NewRequest("GET", target, nil)
		r.Header.Set("Authorization", "Bearer read-token-0123456789")
		w := httptest.NewRecorder()
		s.Handler().ServeHTTP(w, r)
		var e apiError
		if w.Code != 400 || json.Unmarshal(w.Body.Bytes(), &e) != nil || e.Error != "bad_request" || e.Field != "query" {
			t.Errorf("%s answered %d %s; want 400 bad_request, field query", target, w.Code, w.Body)
		}
	}
}

// unreadService is the service of chain prod over an index that must not
// be read, with the token read-token-0123456789 for it.
func unreadService(t *testing.T) *Service {
	t.Helper()
	var key string
	for _, v := range vectorsOf(t, "verifier-key") {
		if _, err := shared.ParseKeyset(v.Keyset); err == nil {
			key = v.Keyset
			break
		}
	}
	tok, err := httpauth.Parse(strings.NewReader("auditor read-token-0123456789 prod read\n"), "tokens")
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{Reader: &query.Reader{DB: unreadDB{t}, Table: "t", Chain: "prod"}, Evidence: &query.Evidence{}, Tokens: tok, Chain: "prod", VerifierKey: key})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// unreadDB is a DynamoDB that must not be read.
type unreadDB struct{ t *testing.T }

func (db unreadDB) Query(context.Context, *dynamodb.QueryInput, ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	db.t.Helper()
	return nil, errors.New("the index was read")
}

// An id that is "/" alone (a valid decision, user or session id) cannot
// reach its route: Go's ServeMux takes the segment %2F for a trailing
// slash and never matches it to {id}. It was answered "no such endpoint",
// which a caller reads as a wrong URL; the answer now says what it is
// and what reads it.
func TestAnIDThatIsASlashIsAnsweredForWhatItIs(t *testing.T) {
	s := unreadService(t)
	for _, target := range []string{"/v1/decisions/%2F", "/v1/decisions/%2f/proof", "/v1/users/%2F/decisions", "/v1/sessions/%2F/decisions"} {
		r := httptest.NewRequest("GET", target, nil)
		r.Header.Set("Authorization", "Bearer read-token-0123456789")
		w := httptest.NewRecorder()
		s.Handler().ServeHTTP(w, r)
		var e apiError
		if w.Code != 404 || json.Unmarshal(w.Body.Bytes(), &e) != nil || e.Error != "not_found" || !strings.Contains(e.Message, `an id "/" cannot be looked up over HTTP`) {
			t.Errorf("%s answered %d %s; want 404 saying that an id \"/\" cannot be looked up over HTTP", target, w.Code, w.Body)
		}
	}
}
