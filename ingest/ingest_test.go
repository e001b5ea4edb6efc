package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/aegisai/audit/internal/platform/httpauth"
	"github.com/aegisai/audit/producer"
	"github.com/aegisai/audit/shared"
)

// fakeRecorder records what it is given, or fails with err.
type fakeRecorder struct {
	mu        sync.Mutex
	err       error
	got       []*shared.Envelope
	mode      []producer.Durability
	escalated []*shared.Envelope
}

func (f *fakeRecorder) LogEvent(_ context.Context, ev *producer.Event, opts ...producer.Option) (*shared.Receipt, error) {
	e := ev.Envelope()
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	d := producer.DurabilityOf(opts...)
	f.got = append(f.got, e)
	f.mode = append(f.mode, d)
	r := &shared.Receipt{EventID: e.EventID, DecisionID: e.DecisionID(), Durability: d.String()}
	if d == producer.Sealed {
		r.Chain, r.Seq, r.EntryHash, r.Object, r.Line, r.CheckpointSeq = e.Environment, 7, strings.Repeat("ab", 32), "audit/x.jsonl", 1, 7
	}
	return r, nil
}

func (f *fakeRecorder) Ready() error { return nil }

// Escalate records the escalation as spooled (as a producer with a spool
// does), with Govern's rule for the action.
func (f *fakeRecorder) EscalateEvent(ev *producer.Event, err error, pol producer.Policy) producer.Outcome {
	e := ev.Envelope()
	f.mu.Lock()
	defer f.mu.Unlock()
	f.escalated = append(f.escalated, e)
	d := *e.Decision
	d.Action = producer.Stricter(d.Action, pol.FailSafe)
	return producer.Outcome{Decision: d, Err: err, Escalated: d.Action != e.Decision.Action, Spooled: true}
}

const tokenFile = `
svc-prod  prod-token-0123456789 prod
svc-dev   dev-token-01234567890 dev   record
auditor   read-token-0123456789 prod  read
`

var goodDecision = `{"environment":"prod","decision":{"decision_id":"d1","action":"ALLOW","confidence_score":0.92,` +
	`"policy_version":"p1","user_id":"u1","session_id":"s1","metadata":{"ip_country":"DE"}}}`

func newService(t *testing.T, rec *fakeRecorder) *Service {
	t.Helper()
	tok, err := httpauth.Parse(strings.NewReader(tokenFile), "tokens")
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{Recorders: map[string]Recorder{"prod": rec, "dev": &fakeRecorder{}}, Tokens: tok, MaxBodyBytes: 4096})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// contract checks every request and answer against openapi.yaml, and
// which documented answers the tests produced.
type contract struct {
	router routers.Router
	seen   map[string]bool
}

func newContract(t *testing.T) *contract {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(OpenAPI)
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("openapi.yaml is not a valid OpenAPI document: %v", err)
	}
	r, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	return &contract{router: r, seen: map[string]bool{}}
}

func (c *contract) do(t *testing.T, h http.Handler, req *http.Request, validRequest bool) *httptest.ResponseRecorder {
	t.Helper()
	body, _ := readAll(req)
	req.Body = bodyOf(body)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	route, params, err := c.router.FindRoute(req)
	if err != nil {
		t.Fatalf("%s %s is not in openapi.yaml: %v", req.Method, req.URL, err)
	}
	in := &openapi3filter.RequestValidationInput{Request: req.Clone(context.Background()), PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
	in.Request.Body = bodyOf(body)
	reqErr := openapi3filter.ValidateRequest(context.Background(), in)
	if validRequest && reqErr != nil {
		t.Errorf("%s %s: the request the test meant as valid breaks openapi.yaml: %v", req.Method, req.URL, reqErr)
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: w.Code, Header: w.Header(),
		Options: &openapi3filter.Options{IncludeResponseStatus: true}}
	out.SetBodyBytes(w.Body.Bytes())
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		t.Errorf("%s %s answered %d %s, which openapi.yaml does not allow: %v", req.Method, req.URL, w.Code, w.Body, err)
	}
	c.seen[fmt.Sprintf("%s %s %d", req.Method, route.Path, w.Code)] = true
	return w
}

func post(path, token, contentType, body string) *http.Request {
	r := httptest.NewRequest("POST", path, strings.NewReader(body))
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	return r
}

// checkProblem checks an error answer's body: the code its status calls
// for and a message.
func checkProblem(t *testing.T, w *httptest.ResponseRecorder) {
	t.Helper()
	var p Problem
	if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil {
		t.Fatalf("status %d: the body is not a Problem: %v: %s", w.Code, err, w.Body)
	}
	want := map[int]string{401: CodeUnauthenticated, 403: CodeForbidden, 404: CodeNotFound, 405: CodeMethodNotAllowed,
		413: CodeTooLarge, 415: CodeUnsupportedMediaType, 503: CodeUnavailable}[w.Code]
	if w.Code == 400 {
		want = CodeInvalidEvent
		if len(p.Fields) > 0 && strings.HasPrefix(p.Fields[0].Field, "query.") {
			want = CodeBadRequest
		}
	}
	if p.Error != want || p.Message == "" {
		t.Errorf("status %d answered error %q message %q, want error %q and a message: %s", w.Code, p.Error, p.Message, want, w.Body)
	}
}

func TestEveryAnswerIsTheDocumentedOne(t *testing.T) {
	rec := &fakeRecorder{}
	s := newService(t, rec)
	h := s.Handler()
	c := newContract(t)
	const json_ = "application/json"
	override := `{"environment":"prod","override":{"decision_id":"d1","reviewer_id":"r1","new_action":"BLOCK","reason":"fraud ring"}}`

	cases := []struct {
		name        string
		req         *http.Request
		valid       bool
		code        int
		fields      []string
		contains    string
		wantRetryAt bool
	}{
		{"decision", post("/v1/decisions", "prod-token-0123456789", json_, goodDecision), true, 201, nil, `"durability":"durable"`, false},
		{"decision sealed", post("/v1/decisions?durability=sealed", "prod-token-0123456789", "application/json; charset=utf-8", goodDecision), true, 201, nil, `"checkpoint_seq":7`, false},
		{"override", post("/v1/overrides", "prod-token-0123456789", json_, override), true, 201, nil, `"event_id"`, false},
		{"every field named", post("/v1/decisions", "prod-token-0123456789", json_,
			`{"environment":"prod","decision":{"decision_id":"","action":"MAYBE","confidence_score":1.5,"policy_version":"p","user_id":"u","session_id":"s"}}`),
			false, 400, []string{"decision.decision_id", "decision.action", "decision.confidence_score"}, "", false},
		{"unknown member", post("/v1/decisions", "prod-token-0123456789", json_, strings.Replace(goodDecision, `"user_id"`, `"userid":"x","user_id"`, 1)),
			false, 400, []string{"decision.userid"}, "", false},
		{"integer beyond 2^53", post("/v1/decisions", "prod-token-0123456789", json_, strings.Replace(goodDecision, `"DE"`, `9007199254740993`, 1)),
			false, 400, []string{"decision.metadata.ip_country"}, "", false},
		{"not JSON", post("/v1/decisions", "prod-token-0123456789", json_, `{"environment":`), false, 400, []string{"environment"}, "", false},
		{"override on the decisions path", post("/v1/decisions", "prod-token-0123456789", json_, `{"type":"override",`+override[1:]), false, 400, []string{"type"}, "", false},
		{"recorded_by stated", post("/v1/overrides", "prod-token-0123456789", json_, strings.Replace(override, `{`, `{"recorded_by":"token:svc-other",`, 1)),
			false, 400, []string{"recorded_by"}, "set by the service", false},
		{"the fail-safe reviewer", post("/v1/overrides", "prod-token-0123456789", json_, strings.Replace(override, `"r1"`, `"aegis-failsafe"`, 1)),
			true, 400, []string{"override.reviewer_id"}, "reserved", false},
		{"bad durability", post("/v1/decisions?durability=eventually", "prod-token-0123456789", json_, goodDecision), false, 400, []string{"query.durability"}, "", false},
		{"durability twice", post("/v1/decisions?durability=durable&durability=sealed", "prod-token-0123456789", json_, goodDecision), false, 400, []string{"query.durability"}, "", false},
		{"unknown environment", post("/v1/decisions", "prod-token-0123456789", json_, strings.Replace(goodDecision, `"prod"`, `"staging"`, 1)),
			false, 403, nil, "may write prod", false},
		{"no token", post("/v1/decisions", "", json_, goodDecision), false, 401, nil, "bearer token", false},
		{"wrong token", post("/v1/decisions", "prod-token-0123456788", json_, goodDecision), false, 401, nil, "bearer token", false},
		{"dev token for prod", post("/v1/decisions", "dev-token-01234567890", json_, goodDecision), false, 403, nil, `may write dev, not`, false},
		{"a token to read", post("/v1/decisions", "read-token-0123456789", json_, goodDecision), false, 403, nil, `is a token to read, not to record`, false},
		{"too large", post("/v1/decisions", "prod-token-0123456789", json_, strings.Replace(goodDecision, `"DE"`, `"`+strings.Repeat("x", 5000)+`"`, 1)),
			false, 413, nil, "larger than 4096", false},
		{"not json", post("/v1/decisions", "prod-token-0123456789", "text/plain", goodDecision), false, 415, nil, "application/json", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := c.do(t, h, tc.req, tc.valid)
			if w.Code != tc.code {
				t.Fatalf("status %d %s, want %d", w.Code, w.Body, tc.code)
			}
			if got := w.Header().Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("X-Content-Type-Options %q, want nosniff: a browser must not guess another type", got)
			}
			if tc.contains != "" && !strings.Contains(w.Body.String(), tc.contains) {
				t.Errorf("body %s lacks %q", w.Body, tc.contains)
			}
			if w.Code >= 400 {
				checkProblem(t, w)
			}
			if tc.fields != nil {
				var p Problem
				json.Unmarshal(w.Body.Bytes(), &p)
				var got []string
				for _, f := range p.Fields {
					got = append(got, f.Field)
				}
				if strings.Join(got, " ") != strings.Join(tc.fields, " ") {
					t.Errorf("fields %v, want %v", got, tc.fields)
				}
			}
		})
	}
	// Only the valid requests reached the producer, with what was asked.
	if len(rec.got) != 3 || rec.mode[1] != producer.Sealed || rec.mode[0] != producer.Durable {
		t.Fatalf("recorded %d events, modes %v", len(rec.got), rec.mode)
	}
	if rec.got[0].EventID == "" || rec.got[0].OccurredAt.IsZero() || rec.got[0].Type != shared.TypeDecision {
		t.Errorf("defaults not filled: %+v", rec.got[0])
	}
	for _, ev := range rec.got { // the credential each event came with is sealed with it
		if ev.RecordedBy != "token:svc-prod" {
			t.Errorf("recorded_by %q, want token:svc-prod (the token's name)", ev.RecordedBy)
		}
	}

	// The audit trail is down: 503 with Retry-After and the fail-safe action.
	rec.err = fmt.Errorf("%w: broker gone", producer.ErrAuditUnavailable)
	w := c.do(t, h, post("/v1/decisions", "prod-token-0123456789", json_, goodDecision), true)
	var p Problem
	json.Unmarshal(w.Body.Bytes(), &p)
	if w.Code != 503 || w.Header().Get("Retry-After") != "5" || p.FailSafeAction != shared.ActionChallenge || p.EventID == "" || p.OccurredAt == "" ||
		p.EscalationSpooled == nil || !*p.EscalationSpooled || len(rec.escalated) != 1 || rec.escalated[0].EventID != p.EventID {
		t.Fatalf("unavailable: %d %v %s; escalated %v", w.Code, w.Header(), w.Body, rec.escalated)
	}
	checkProblem(t, w)
	if strings.Contains(p.Message, "broker gone") { // the cause is logged, not told to callers
		t.Errorf("the 503 tells the caller the cause: %q", p.Message)
	}
	if !strings.Contains(p.Message, "the broker may still take it") {
		t.Errorf("the 503 of an event the broker did not take: %q", p.Message)
	}
	// In Sealed mode, durable in Kafka but not sealed in time: the broker
	// took it, which the 503 said it may still do (an outside trial).
	rec.err = fmt.Errorf("%w: event e after 30s", producer.ErrNotSealed)
	var ns Problem
	w = c.do(t, h, post("/v1/decisions?durability=sealed", "prod-token-0123456789", json_, goodDecision), true)
	json.Unmarshal(w.Body.Bytes(), &ns)
	if w.Code != 503 || !strings.Contains(ns.Message, "durable in Kafka and will be sealed") || strings.Contains(ns.Message, "may still take it") {
		t.Errorf("not sealed in time: %d %q", w.Code, ns.Message)
	}
	rec.escalated = rec.escalated[:1]
	// A retry with the event_id and occurred_at the 503 gave is the same
	// event, byte for byte (with the time of receipt it would be another).
	rec.err = nil
	retry := strings.Replace(goodDecision, `{`, fmt.Sprintf(`{"event_id":%q,"occurred_at":%q,`, p.EventID, p.OccurredAt), 1)
	if w := c.do(t, h, post("/v1/decisions", "prod-token-0123456789", json_, retry), true); w.Code != 201 {
		t.Fatalf("the retry: %d %s", w.Code, w.Body)
	}
	first, _ := rec.escalated[0].Record()
	again, _ := rec.got[len(rec.got)-1].Record()
	if !bytes.Equal(first, again) {
		t.Errorf("the retry is another event:\n%s\n%s", first, again)
	}
	rec.err = fmt.Errorf("%w: broker gone", producer.ErrAuditUnavailable)
	// The caller is never told to apply a weaker action than the event's:
	// a BLOCK decision stays BLOCK, an override to REVIEW stays REVIEW.
	for _, tc := range []struct{ path, body, want string }{
		{"/v1/decisions", strings.Replace(goodDecision, `"ALLOW"`, `"BLOCK"`, 1), "BLOCK"},
		{"/v1/overrides", strings.Replace(override, `"BLOCK"`, `"REVIEW"`, 1), "REVIEW"},
		{"/v1/overrides", strings.Replace(override, `"BLOCK"`, `"ALLOW"`, 1), "CHALLENGE"},
	} {
		w := c.do(t, h, post(tc.path, "prod-token-0123456789", json_, tc.body), true)
		var p Problem
		json.Unmarshal(w.Body.Bytes(), &p)
		if w.Code != 503 || string(p.FailSafeAction) != tc.want || (tc.path == "/v1/overrides") != (p.EscalationSpooled == nil) {
			t.Errorf("%s %s: %d %s; want 503 with %s", tc.path, tc.body, w.Code, w.Body, tc.want)
		}
	}
	if len(rec.escalated) != 2 {
		t.Errorf("%d decisions escalated, want the two answered 503", len(rec.escalated))
	}
	rec.err = nil

	// The overrides path answers alike.
	for _, tc := range []struct {
		req  *http.Request
		code int
	}{
		{post("/v1/overrides", "prod-token-0123456789", json_, strings.Replace(override, `"fraud ring"`, `" "`, 1)), 400},
		{post("/v1/overrides", "", json_, override), 401},
		{post("/v1/overrides", "dev-token-01234567890", json_, override), 403},
		{post("/v1/overrides", "read-token-0123456789", json_, override), 403},
		{post("/v1/overrides", "prod-token-0123456789", json_, strings.Replace(override, "fraud ring", strings.Repeat("x", 5000), 1)), 413},
		{post("/v1/overrides", "prod-token-0123456789", "application/xml", override), 415},
	} {
		w := c.do(t, h, tc.req, false)
		if w.Code != tc.code {
			t.Errorf("%s: %d %s, want %d", tc.req.URL, w.Code, w.Body, tc.code)
		}
		checkProblem(t, w)
	}
	rec.err = fmt.Errorf("%w: broker gone", producer.ErrAuditUnavailable)
	if w := c.do(t, h, post("/v1/overrides", "prod-token-0123456789", json_, override), true); w.Code != 503 {
		t.Errorf("override while unavailable: %d", w.Code)
	}
	rec.err = nil

	// The caller's event id is kept, so a retry is one event.
	c.do(t, h, post("/v1/decisions", "prod-token-0123456789", json_, `{"event_id":"mine-1",`+goodDecision[1:]), true)
	if got := rec.got[len(rec.got)-1].EventID; got != "mine-1" {
		t.Errorf("event id %q, want the caller's", got)
	}

	// Too many bodies of one token being read at once: 429, nothing read
	// or recorded (TestAToken'sSlowBodiesHoldABoundedShare has the real
	// thing over HTTP).
	n := len(rec.got)
	var held []func()
	for range s.cfg.MaxReadingPerToken {
		release, busy := s.startReading("svc-prod")
		if busy != "" {
			t.Fatal(busy)
		}
		held = append(held, release)
	}
	for _, path := range []string{"/v1/decisions", "/v1/overrides"} {
		body := goodDecision
		if path == "/v1/overrides" {
			body = override
		}
		if w := c.do(t, h, post(path, "prod-token-0123456789", json_, body), true); w.Code != 429 || w.Header().Get("Retry-After") == "" {
			t.Errorf("%s with every place of its token taken: %d %s (Retry-After %q), want 429", path, w.Code, w.Body, w.Header().Get("Retry-After"))
		}
	}
	for _, release := range held {
		release()
	}
	if len(rec.got) != n {
		t.Errorf("%d events recorded by the 429s", len(rec.got)-n)
	}

	// A wrong method is refused by the router (not in the contract).
	w = httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/v1/decisions", nil))
	if w.Code != http.StatusMethodNotAllowed {
		t.Errorf("GET /v1/decisions: %d", w.Code)
	}
	// The document itself.
	w = c.do(t, h, httptest.NewRequest("GET", "/openapi.yaml", nil), true)
	if w.Code != 200 || !bytes.Equal(w.Body.Bytes(), OpenAPI) {
		t.Errorf("openapi.yaml: %d", w.Code)
	}

	// Every answer the document promises was produced by some request.
	doc, _ := openapi3.NewLoader().LoadFromData(OpenAPI)
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			for code := range op.Responses.Map() {
				if key := fmt.Sprintf("%s %s %s", method, path, code); !c.seen[key] {
					t.Errorf("openapi.yaml documents %s, but no test produced it", key)
				}
			}
		}
	}
}

func readAll(r *http.Request) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	var b bytes.Buffer
	_, err := b.ReadFrom(r.Body)
	return b.Bytes(), err
}

type nopCloser struct{ *bytes.Reader }

func (nopCloser) Close() error { return nil }

func bodyOf(b []byte) nopCloser { return nopCloser{bytes.NewReader(b)} }

// The 201 body written by hand is byte for byte what encoding/json
// writes for Created, in both modes and with every optional field empty
// or set; a string encoding/json would escape is left to it.
func TestCreatedIsEncodingJSONs(t *testing.T) {
	for _, r := range []shared.Receipt{
		{EventID: "6f1c2b1e-3a6d-4f7e-9d0c-1b2a3c4d5e6f", DecisionID: "dec-1", Durability: "durable"},
		{EventID: "e", Durability: "durable"},
		{EventID: "e", DecisionID: "d", Durability: "sealed", Chain: "prod", Seq: 18446744073709551615, EntryHash: strings.Repeat("ab", 32),
			Object: "audit/year=2026/month=11/day=29/env=prod/00000000000000000007.jsonl", VersionID: "v-1", Line: 3, CheckpointSeq: 9},
		{EventID: "e", Durability: "sealed", Line: -1},
		{EventID: "a<b>&c", DecisionID: `q"\`, Durability: "durable"},
		{EventID: "é\u2028", DecisionID: "\x7f", Durability: "durable"},
		{EventID: "", Durability: ""},
	} {
		var want bytes.Buffer
		if err := json.NewEncoder(&want).Encode(Created{EventID: r.EventID, Durability: r.Durability, Receipt: &r}); err != nil {
			t.Fatal(err)
		}
		got, ok := createdJSON(nil, &r)
		if ok && !bytes.Equal(got, want.Bytes()) {
			t.Errorf("written by hand\n%s\nencoding/json\n%s", got, want.Bytes())
		}
		if plain := !bytes.ContainsAny(want.Bytes(), `\`) && !strings.ContainsAny(r.EventID+r.DecisionID, "\x7f<>&é"); ok != plain {
			t.Errorf("receipt %+v: written by hand %v, want %v", r, ok, plain)
		}
		w := httptest.NewRecorder()
		answerCreated(w, &r)
		if w.Code != http.StatusCreated || !bytes.Equal(w.Body.Bytes(), want.Bytes()) || w.Header().Get("Content-Type") != "application/json" {
			t.Errorf("answered %d %v %s, want %s", w.Code, w.Header(), w.Body, want.Bytes())
		}
	}
}

// The metrics count every answer by route and code, and time it by route
// and durability, whichever way the series is found (a Durable 201's is
// kept after the first, the others are looked up by label values); no
// series shows before its first request.
func TestMetricsCountEveryAnswer(t *testing.T) {
	tok, err := httpauth.Parse(strings.NewReader(tokenFile), "tokens")
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	s, err := New(Config{Recorders: map[string]Recorder{"prod": &fakeRecorder{}}, Tokens: tok, Metrics: reg})
	if err != nil {
		t.Fatal(err)
	}
	h := s.Handler()
	// series reads every series of reg: its count or its histogram's
	// number of observations, by metric name and labels.
	series := func() map[string]uint64 {
		families, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]uint64{}
		for _, f := range families {
			for _, m := range f.GetMetric() {
				key := f.GetName()
				for _, l := range m.GetLabel() {
					key += "," + l.GetName() + "=" + l.GetValue()
				}
				out[key] = uint64(m.GetCounter().GetValue()) + m.GetHistogram().GetSampleCount()
			}
		}
		return out
	}
	if got := series(); len(got) != 0 {
		t.Fatalf("series before any request: %v", got)
	}
	for _, path := range []string{"/v1/decisions", "/v1/decisions", "/v1/decisions?durability=sealed", "/v1/overrides"} {
		h.ServeHTTP(httptest.NewRecorder(), post(path, "prod-token-0123456789", "application/json", goodDecision))
	}
	h.ServeHTTP(httptest.NewRecorder(), post("/v1/decisions", "", "application/json", goodDecision))
	want := map[string]uint64{
		"aegis_ingest_requests_total,code=201,route=decisions":            3,
		"aegis_ingest_requests_total,code=401,route=decisions":            1,
		"aegis_ingest_requests_total,code=400,route=overrides":            1,
		"aegis_ingest_request_seconds,durability=durable,route=decisions": 3,
		"aegis_ingest_request_seconds,durability=sealed,route=decisions":  1,
		"aegis_ingest_request_seconds,durability=durable,route=overrides": 1,
	}
	if got := series(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("series\n%v\nwant\n%v", got, want)
	}
}

// An unknown path and another method than an endpoint's are answered in
// JSON as every other error is, not in the mux's text.
func TestUnknownPathsAndMethodsAreAnsweredInJSON(t *testing.T) {
	h := newService(t, &fakeRecorder{}).Handler()
	for _, tc := range []struct {
		method, path string
		code         int
		allow        string
	}{
		{"GET", "/v1/decisions", 405, "POST"},
		{"PUT", "/v1/overrides", 405, "POST"},
		{"DELETE", "/openapi.yaml", 405, "GET, HEAD"},
		{"POST", "/v1/decision", 404, ""},
		{"GET", "/", 404, ""},
	} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(tc.method, tc.path, nil))
		if w.Code != tc.code || w.Header().Get("Allow") != tc.allow || w.Header().Get("Content-Type") != "application/json" {
			t.Errorf("%s %s: %d Allow %q %q: %s; want %d Allow %q in JSON", tc.method, tc.path, w.Code, w.Header().Get("Allow"),
				w.Header().Get("Content-Type"), w.Body, tc.code, tc.allow)
			continue
		}
		checkProblem(t, w)
	}
}

// The message of a 400 names the first few broken fields and counts the
// rest; fields lists every one.
func TestTheMessageOfManyBrokenFieldsIsShort(t *testing.T) {
	h := newService(t, &fakeRecorder{}).Handler()
	body := `{"environment":"prod","decision":{"decision_id":"","action":"MAYBE","confidence_score":1.5,"policy_version":"","user_id":"","session_id":""}}`
	w := httptest.NewRecorder()
	h.ServeHTTP(w, post("/v1/decisions", "prod-token-0123456789", "application/json", body))
	var p Problem
	if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil || w.Code != 400 {
		t.Fatalf("%d %s: %v", w.Code, w.Body, err)
	}
	if len(p.Fields) != 6 || strings.Count(p.Message, ";") != 5 || !strings.HasSuffix(p.Message, "and 1 more (fields lists them)") {
		t.Fatalf("fields %d %v, message %q: want 6 fields, 5 named in the message and 1 counted", len(p.Fields), p.Fields, p.Message)
	}
}
