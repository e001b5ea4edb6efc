package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/aegisai/audit/archive"
	"github.com/aegisai/audit/indexer/layout"
	"github.com/aegisai/audit/internal/platform/awsconn"
	"github.com/aegisai/audit/internal/platform/httpauth"
	"github.com/aegisai/audit/internal/platform/serve"
	"github.com/aegisai/audit/internal/testbed/localstack"
	"github.com/aegisai/audit/internal/testbed/pipeline"
	"github.com/aegisai/audit/query"
	"github.com/aegisai/audit/query/httpapi"
	"github.com/aegisai/audit/replayer"
	"github.com/aegisai/audit/sealer"
	"github.com/aegisai/audit/shared"
)

var stack *localstack.Stack

func TestMain(m *testing.M) { os.Exit(localstack.RunTests(m, &stack)) }

const (
	prodToken   = "prod-token-0123456789abcdef"
	devToken    = "dev-token-0123456789abcdef"
	recordToken = "record-token-0123456789abcdef"
)

// fixture is a sealed and indexed chain served by the query service.
type fixture struct {
	p       *pipeline.Pipeline
	w       *pipeline.Workload
	base    string
	handler http.Handler // the service's, to serve it again elsewhere
	// good is a decision with an override; tampered ones are changed in
	// DynamoDB by the tests that use them (and only there).
	good, tamperedAction, tamperedLine string
	// paged is a decision overridden to ALLOW, BLOCK and REVIEW, in that
	// order, to read in pages.
	paged         string
	user          string
	userDecisions []string // newest first
	ready         chan struct{}
}

var (
	fixOnce sync.Once
	fix     *fixture
	fixErr  error
)

func setup(t *testing.T) *fixture {
	t.Helper()
	fixOnce.Do(func() { fix, fixErr = start() })
	if fixErr != nil {
		t.Fatal(fixErr)
	}
	return fix
}

func start() (*fixture, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p, err := pipeline.Start(ctx, stack, pipeline.Config{Indexers: 1, Sealer: func(c *sealer.Config) { c.BatchMaxRecords = 40 }})
	if err != nil {
		return nil, err
	}
	w := pipeline.NewWorkload(p.Cfg.Chain, p.Cfg.Chain, 120, 30, 4, 7, time.Now())
	prod, err := p.Producer(ctx)
	if err != nil {
		return nil, err
	}
	defer prod.Close()
	paged := prod.NewDecision(shared.Decision{DecisionID: "paged", Action: shared.ActionBlock, ConfidenceScore: 0.5,
		PolicyVersion: "p", UserID: "paged-user", SessionID: "paged-session"})
	events := append(slices.Clip(w.Events), paged)
	for i, action := range []shared.Action{shared.ActionAllow, shared.ActionBlock, shared.ActionReview} {
		o := prod.NewOverride(shared.Override{DecisionID: "paged", ReviewerID: "r", NewAction: action, Reason: "again"})
		o.OccurredAt = paged.OccurredAt.Add(time.Duration(i+1) * time.Second)
		events = append(events, o)
	}
	// An override whose decision is never sealed (issue 22).
	events = append(events, prod.NewOverride(shared.Override{DecisionID: "orphan", ReviewerID: "r", NewAction: shared.ActionAllow, Reason: "ahead of its decision"}))
	if err := prod.Publish(ctx, events...); err != nil {
		return nil, err
	}
	if err := p.WaitSealed(ctx, int64(len(events))); err != nil {
		return nil, err
	}
	if err := p.WaitIndexed(ctx); err != nil {
		return nil, err
	}
	f := &fixture{p: p, w: w, paged: "paged", ready: make(chan struct{})}
	overridden := map[string]bool{}
	for _, o := range w.Overrides {
		overridden[o.Override.DecisionID] = true
	}
	for _, d := range w.Decisions {
		id := d.Decision.DecisionID
		switch {
		case overridden[id] && f.good == "":
			f.good = id
		case overridden[id] && f.tamperedAction == "":
			f.tamperedAction = id
		case !overridden[id] && f.tamperedLine == "":
			f.tamperedLine = id
		}
	}
	f.user = w.Decisions[0].Decision.UserID
	for i := len(w.Decisions) - 1; i >= 0; i-- {
		if d := w.Decisions[i].Decision; d.UserID == f.user {
			f.userDecisions = append(f.userDecisions, d.DecisionID)
		}
	}
	tokens, err := httpauth.Parse(strings.NewReader(fmt.Sprintf("prod %s %s read\ndev %s dev\nsvc %s %s record\n", prodToken, p.Cfg.Chain, devToken, recordToken, p.Cfg.Chain)), "tokens")
	if err != nil {
		return nil, err
	}
	reg := prometheus.NewRegistry()
	svc, err := httpapi.New(httpapi.Config{
		Reader: p.Reader, Tokens: tokens, Chain: p.Cfg.Chain, VerifierKey: p.Cfg.VerifierKey, Metrics: reg,
		Evidence: &query.Evidence{Config: replayer.ProveConfig{S3: p.S3, Bucket: p.Cfg.Bucket, Chain: p.Cfg.Chain, VerifierKey: p.Cfg.VerifierKey}},
	})
	if err != nil {
		return nil, err
	}
	f.handler = svc.Handler()
	srv, err := serve.Listen(serve.Options{Addr: "127.0.0.1:0", Handler: f.handler, Registry: reg, Ready: func() error {
		select {
		case <-f.ready:
			return nil
		default:
			return fmt.Errorf("starting")
		}
	}})
	if err != nil {
		return nil, err
	}
	go srv.Serve()
	f.base = "http://" + srv.Addr()
	return f, nil
}

// tamper changes one attribute of a decision's item in DynamoDB, as
// someone with write access to the table could.
func (f *fixture) tamper(t *testing.T, decisionID, attr string, value types.AttributeValue) {
	t.Helper()
	ctx := context.Background()
	part, err := layout.LoadDecision(ctx, f.p.DynamoDB, f.p.Cfg.Table, decisionID)
	if err != nil || len(part.Decisions) != 1 {
		t.Fatalf("decision %s: %+v %v", decisionID, part, err)
	}
	d := part.Decisions[0]
	_, err = f.p.DynamoDB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:        aws.String(f.p.Cfg.Table),
		Key:              map[string]types.AttributeValue{"PK": &types.AttributeValueMemberS{Value: d.PK}, "SK": &types.AttributeValueMemberS{Value: d.SK}},
		UpdateExpression: aws.String("SET #a = :v"), ExpressionAttributeNames: map[string]string{"#a": attr},
		ExpressionAttributeValues: map[string]types.AttributeValue{":v": value},
	})
	if err != nil {
		t.Fatal(err)
	}
}

type response struct {
	req    *http.Request
	status int
	header http.Header
	body   []byte
}

func call(t *testing.T, method, url, token string) response {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	switch token {
	case "":
	case "basic":
		req.Header.Set("Authorization", "Basic "+prodToken)
	default:
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{req, resp.StatusCode, resp.Header, b}
}

// apiCase is one request, its expected status and (for errors) field.
type apiCase struct {
	name, method, path, query, token string
	status                           int
	field                            string
	check                            func(t *testing.T, body []byte)
}

// decision404s is the count of decision lookups answered 404 so far,
// from /metrics: the fixture's service is shared by the package's tests,
// whose own 404s (the page's unknown ids) come before this test's.
func decision404s(t *testing.T, f *fixture) int {
	t.Helper()
	const prefix = `aegis_query_requests_total{code="404",route="decision"} `
	for _, line := range strings.Split(string(call(t, "GET", f.base+"/metrics", "").body), "\n") {
		if n, ok := strings.CutPrefix(line, prefix); ok {
			v, err := strconv.Atoi(n)
			if err != nil {
				t.Fatalf("/metrics: %q", line)
			}
			return v
		}
	}
	return 0
}

func TestAPIStatusesAuthAndOpenAPI(t *testing.T) {
	f := setup(t)
	doc := loadOpenAPI(t, f)
	notFound := decision404s(t, f)
	esc := url.PathEscape
	first := call(t, "GET", f.base+"/v1/users/"+esc(f.user)+"/decisions?limit=2", prodToken)
	var firstPage query.Page
	if err := json.Unmarshal(first.body, &firstPage); err != nil || firstPage.Next == "" {
		t.Fatalf("first page: %s", first.body)
	}
	f.tamper(t, f.tamperedLine, "s3_line", &types.AttributeValueMemberN{Value: "999"})
	good := w(f).find(f.good)
	cases := []apiCase{
		{name: "decision", path: "/v1/decisions/" + esc(f.good), status: 200, check: func(t *testing.T, b []byte) {
			var h query.History
			if err := json.Unmarshal(b, &h); err != nil || h.DecisionID != f.good || len(h.Overrides) == 0 || h.CurrentAction != string(h.Overrides[len(h.Overrides)-1].NewAction) || h.UserID != good.UserID {
				t.Fatalf("%s: %+v", b, h)
			}
		}},
		{name: "proof", path: "/v1/decisions/" + esc(f.good) + "/proof", status: 200, check: func(t *testing.T, b []byte) {
			vk, _ := shared.ParseKeyset(f.p.Cfg.VerifierKey)
			rep, err := shared.VerifyBundle(b, vk)
			if err != nil || rep.DecisionID != f.good || len(rep.Entries) < 2 {
				t.Fatalf("bundle: %+v %v", rep, err)
			}
		}},
		{name: "decision, a page of overrides", path: "/v1/decisions/paged", query: "limit=1", status: 200, check: func(t *testing.T, b []byte) {
			var h query.History
			if err := json.Unmarshal(b, &h); err != nil || len(h.Overrides) != 1 || h.Overrides[0].NewAction != "ALLOW" || h.Next == "" ||
				h.CurrentOverride == nil || h.CurrentOverride.NewAction != "REVIEW" || h.CurrentAction != "REVIEW" || h.CurrentSeq != h.CurrentOverride.Proof.Seq {
				t.Fatalf("%s: want the ALLOW override, a cursor, and the REVIEW override as the current state's", b)
			}
			last := call(t, "GET", f.base+"/v1/decisions/paged?limit=2&cursor="+h.Next, prodToken)
			var h2 query.History
			if err := json.Unmarshal(last.body, &h2); err != nil || len(h2.Overrides) != 2 || h2.Overrides[0].NewAction != "BLOCK" || h2.Overrides[1].NewAction != "REVIEW" ||
				h2.Next != "" || h2.CurrentOverride != nil {
				t.Fatalf("%s: want BLOCK and REVIEW, the last page (REVIEW on it)", last.body)
			}
		}},
		{name: "proof of a page of overrides", path: "/v1/decisions/paged/proof", query: "limit=1", status: 200, check: func(t *testing.T, b []byte) {
			vk, _ := shared.ParseKeyset(f.p.Cfg.VerifierKey)
			rep, err := shared.VerifyBundle(b, vk)
			if err != nil || rep.DecisionID != "paged" || len(rep.Entries) != 3 || rep.CurrentAction != "REVIEW" {
				t.Fatalf("bundle: %+v %v; want the decision, the page's override and the current one (REVIEW)", rep, err)
			}
		}},
		{name: "bad override limit", path: "/v1/decisions/paged", query: "limit=501", status: 400, field: "limit"},
		{name: "since on a decision", path: "/v1/decisions/paged", query: "since=2026-01-01", status: 400, field: "since"},
		{name: "view cursor on a decision", path: "/v1/decisions/paged", query: "cursor=" + firstPage.Next, status: 400, field: "cursor"},
		{name: "user, first page", path: "/v1/users/" + esc(f.user) + "/decisions", query: "limit=2", status: 200, check: func(t *testing.T, b []byte) {
			var pg query.Page
			if err := json.Unmarshal(b, &pg); err != nil || strings.Join(pg.IDs(), ",") != strings.Join(f.userDecisions[:2], ",") || pg.Next == "" {
				t.Fatalf("%s: want %v first", b, f.userDecisions[:2])
			}
		}},
		{name: "user, next page", path: "/v1/users/" + esc(f.user) + "/decisions", query: "limit=2&cursor=" + firstPage.Next, status: 200, check: func(t *testing.T, b []byte) {
			var pg query.Page
			if err := json.Unmarshal(b, &pg); err != nil || strings.Join(pg.IDs(), ",") != strings.Join(f.userDecisions[2:4], ",") {
				t.Fatalf("%s: want %v", b, f.userDecisions[2:4])
			}
		}},
		{name: "user, all", path: "/v1/users/" + esc(f.user) + "/decisions", query: "limit=500&since=2000-01-01&until=2999-01-01T00:00:00Z", status: 200, check: func(t *testing.T, b []byte) {
			var pg query.Page
			if err := json.Unmarshal(b, &pg); err != nil || strings.Join(pg.IDs(), ",") != strings.Join(f.userDecisions, ",") || pg.Next != "" {
				t.Fatalf("%s: want all %d of %v", b, len(f.userDecisions), f.userDecisions)
			}
		}},
		{name: "unknown user: empty", path: "/v1/users/nobody/decisions", status: 200, check: func(t *testing.T, b []byte) {
			if string(b) != "{\"decisions\":[]}\n" {
				t.Fatalf("%s", b)
			}
		}},
		{name: "session", path: "/v1/sessions/" + esc(good.SessionID) + "/decisions", status: 200},
		{name: "verifier key without a token", path: "/v1/verifier-key", status: 200, check: func(t *testing.T, b []byte) {
			if !strings.Contains(string(b), f.p.Cfg.VerifierKey) {
				t.Fatalf("%s", b)
			}
		}},
		{name: "bad limit", path: "/v1/users/u/decisions", query: "limit=0", status: 400, field: "limit"},
		{name: "limit not a number", path: "/v1/sessions/s/decisions", query: "limit=ten", status: 400, field: "limit"},
		{name: "unknown parameter", path: "/v1/users/u/decisions", query: "user=x", status: 400, field: "user"},
		{name: "repeated parameter", path: "/v1/users/u/decisions", query: "limit=1&limit=2", status: 400, field: "limit"},
		{name: "bad since", path: "/v1/users/u/decisions", query: "since=yesterday", status: 400, field: "since"},
		{name: "until before since", path: "/v1/users/u/decisions", query: "since=2026-01-02&until=2026-01-01", status: 400, field: "until"},
		{name: "forged cursor", path: "/v1/users/" + esc(f.user) + "/decisions", query: "cursor=eyJ2IjoxfQ", status: 400, field: "cursor"},
		{name: "cursor of another user", path: "/v1/users/other/decisions", query: "cursor=" + firstPage.Next, status: 400, field: "cursor"},
		{name: "garbage cursor", path: "/v1/sessions/s/decisions", query: "cursor=%00%ff", status: 400, field: "cursor"},
		{name: "parameter on a decision", path: "/v1/decisions/" + esc(f.good), query: "verbose=1", status: 400, field: "verbose"},
		{name: "id too long", path: "/v1/decisions/" + strings.Repeat("x", 300), status: 400, field: "decision_id"},
		{name: "control character in id", path: "/v1/users/a%0Ab/decisions", status: 400, field: "user_id"},
		{name: "no token", path: "/v1/decisions/" + esc(f.good), status: 401, token: "-"},
		{name: "unknown token", path: "/v1/users/u/decisions", status: 401, token: "not-a-token-of-this-service"},
		{name: "not a bearer token", path: "/v1/sessions/s/decisions", status: 401, token: "basic"},
		{name: "no token for a proof", path: "/v1/decisions/x/proof", status: 401, token: "-"},
		{name: "another chain's user", path: "/v1/users/u/decisions", status: 403, token: devToken},
		{name: "token of another chain", path: "/v1/decisions/" + esc(f.good), status: 403, token: devToken},
		{name: "another chain's proof", path: "/v1/decisions/" + esc(f.good) + "/proof", status: 403, token: devToken},
		{name: "another chain's session", path: "/v1/sessions/s/decisions", status: 403, token: devToken},
		{name: "a token to record", path: "/v1/decisions/" + esc(f.good), status: 403, token: recordToken, check: func(t *testing.T, b []byte) {
			if !strings.Contains(string(b), `\"svc\" is a token to record, not to read`) {
				t.Fatalf("%s", b)
			}
		}},
		{name: "unknown decision", path: "/v1/decisions/no-such-decision", status: 404},
		{name: "unknown decision's proof", path: "/v1/decisions/no-such-decision/proof", status: 404},
		{name: "decision not indexed, an override of it is", path: "/v1/decisions/orphan", status: 404, check: func(t *testing.T, b []byte) {
			var e struct{ Error, Message string }
			if err := json.Unmarshal(b, &e); err != nil || e.Error != "not_found" || !strings.Contains(e.Message, "but 1 override of it is") {
				t.Fatalf("%s: want not_found saying that 1 override is indexed", b)
			}
		}},
		{name: "index points where S3 has no entry", path: "/v1/decisions/" + esc(f.tamperedLine) + "/proof", status: 409, check: func(t *testing.T, b []byte) {
			if !strings.Contains(string(b), `"error":"proof_failed"`) || !strings.Contains(string(b), "line 999") {
				t.Fatalf("%s", b)
			}
		}},
		{name: "parameter on a proof", path: "/v1/decisions/" + esc(f.good) + "/proof", query: "format=pdf", status: 400, field: "format"},
		{name: "parameter on the key", path: "/v1/verifier-key", query: "x=1", status: 400, field: "x"},
		{name: "POST", method: "POST", path: "/v1/decisions/" + esc(f.good), status: 405},
		{name: "DELETE", method: "DELETE", path: "/v1/users/u/decisions", status: 405},
		{name: "PUT", method: "PUT", path: "/v1/sessions/s/decisions", status: 405},
		{name: "POST proof", method: "POST", path: "/v1/decisions/x/proof", status: 405},
		{name: "POST key", method: "POST", path: "/v1/verifier-key", status: 405},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			method, token := c.method, c.token
			if method == "" {
				method = "GET"
			}
			switch token {
			case "":
				token = prodToken
			case "-":
				token = ""
			}
			u := f.base + c.path
			if c.query != "" {
				u += "?" + c.query
			}
			r := call(t, method, u, token)
			if r.status != c.status {
				t.Fatalf("%s %s: %d %s, want %d", method, u, r.status, r.body, c.status)
			}
			if !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
				t.Fatalf("content type %q", r.header.Get("Content-Type"))
			}
			if c.status == 401 && r.header.Get("WWW-Authenticate") == "" {
				t.Fatal("401 without WWW-Authenticate")
			}
			if c.status == 405 && r.header.Get("Allow") != "GET, HEAD" {
				t.Fatalf("405 with Allow %q", r.header.Get("Allow"))
			}
			if c.field != "" {
				var e struct{ Error, Field string }
				if err := json.Unmarshal(r.body, &e); err != nil || e.Error != "bad_request" || e.Field != c.field {
					t.Fatalf("%s: want a bad_request naming %s", r.body, c.field)
				}
			}
			doc.check(t, r.req, r.status, r.header, r.body)
			if c.check != nil {
				c.check(t, r.body)
			}
		})
	}
	// S3 or DynamoDB out of reach: 503 "unavailable", never a verdict.
	for _, c := range outageCases(t, f) {
		r := call(t, "GET", c.base+c.path, prodToken)
		var e struct{ Error string }
		if r.status != 503 || json.Unmarshal(r.body, &e) != nil || e.Error != "unavailable" || r.header.Get("Retry-After") == "" {
			t.Fatalf("%s with %s out of reach: %d %s, want 503 unavailable with Retry-After", c.path, c.down, r.status, r.body)
		}
		doc.check(t, r.req, r.status, r.header, r.body)
	}
	doc.covered(t)

	// The operational endpoints beside the API, and the metrics.
	if r := call(t, "GET", f.base+"/readyz", ""); r.status != 503 {
		t.Fatalf("/readyz before ready: %d", r.status)
	}
	close(f.ready)
	for path, want := range map[string]string{"/healthz": "ok", "/readyz": "ready", "/metrics": fmt.Sprintf(`aegis_query_requests_total{code="404",route="decision"} %d`, notFound+2),
		"/": `<script src="verify.js"`, "/verify.js": "crypto.subtle.verify", "/openapi.json": `"openapi": "3.0.3"`} {
		r := call(t, "GET", f.base+path, "")
		if r.status != 200 || !strings.Contains(string(r.body), want) {
			var counts []string // the request counts, which the first 300 bytes of /metrics leave out
			for _, line := range strings.Split(string(r.body), "\n") {
				if strings.HasPrefix(line, "aegis_query_requests_total{") {
					counts = append(counts, line)
				}
			}
			t.Fatalf("GET %s: %d, want 200 with %q: %.300s (request counts: %s)", path, r.status, want, r.body, strings.Join(counts, "; "))
		}
	}
	for _, path := range []string{"/v1/nothing-here", "/nothing", "/openapi.yaml"} {
		if r := call(t, "GET", f.base+path, prodToken); r.status != 404 || r.header.Get("Content-Type") != "application/json" ||
			!strings.Contains(string(r.body), `"error":"not_found"`) {
			t.Fatalf("GET %s: %d %s %s, want a JSON 404", path, r.status, r.header.Get("Content-Type"), r.body)
		}
	}
	for _, path := range []string{"/verify.js", "/style.css"} { // the page's own files
		if r := call(t, "GET", f.base+path, ""); r.status != 200 {
			t.Fatalf("GET %s: %d", path, r.status)
		}
	}
	if r := call(t, "GET", f.base+"/", ""); !strings.Contains(r.header.Get("Content-Security-Policy"), "default-src 'self'") ||
		!strings.Contains(r.header.Get("Content-Security-Policy"), "base-uri 'none'; form-action 'none'") ||
		r.header.Get("Referrer-Policy") != "no-referrer" || r.header.Get("X-Frame-Options") != "DENY" {
		t.Fatalf("the page has no content security policy: %v", r.header)
	}
	for _, path := range []string{"/", "/openapi.json", "/v1/nothing-here", "/v1/decisions/no-such-decision", "/v1/users/u/decisions?limit=0"} {
		if r := call(t, "GET", f.base+path, prodToken); r.header.Get("X-Content-Type-Options") != "nosniff" {
			t.Fatalf("GET %s (%d): no X-Content-Type-Options: nosniff, so a browser may read a JSON answer as HTML: %v", path, r.status, r.header)
		}
	}
}

type workload struct{ *pipeline.Workload }

func w(f *fixture) workload { return workload{f.w} }

func (w workload) find(id string) *shared.Decision {
	for _, d := range w.Decisions {
		if d.Decision.DecisionID == id {
			return d.Decision
		}
	}
	return nil
}

// outageCase is a request to a service whose S3 or DynamoDB is down.
type outageCase struct{ base, path, down string }

// outageCases starts two more services on the fixture's chain: one whose
// DynamoDB endpoint refuses connections, one whose S3 endpoint does.
func outageCases(t *testing.T, f *fixture) []outageCase {
	t.Helper()
	ctx := context.Background()
	// Not a closed server's port: the services started below could be
	// given it, and answer (a flaky 500). This one stays bound and resets
	// every connection.
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dead.Close() })
	go func() {
		for {
			c, err := dead.Accept()
			if err != nil {
				return
			}
			c.(*net.TCPConn).SetLinger(0)
			c.Close()
		}
	}()
	conf := awsconn.Config{Endpoint: "http://" + dead.Addr().String(), Region: "us-east-1", AccessKeyID: "k", SecretAccessKey: "s", MaxAttempts: 1}
	deadS3, err := awsconn.S3(ctx, conf)
	if err != nil {
		t.Fatal(err)
	}
	deadDB, err := awsconn.DynamoDB(ctx, conf)
	if err != nil {
		t.Fatal(err)
	}
	tokens, err := httpauth.Parse(strings.NewReader(fmt.Sprintf("prod %s %s\n", prodToken, f.p.Cfg.Chain)), "tokens")
	if err != nil {
		t.Fatal(err)
	}
	serveWith := func(reader *query.Reader, s3c archive.S3API) string {
		svc, err := httpapi.New(httpapi.Config{
			Reader: reader, Tokens: tokens, Chain: f.p.Cfg.Chain, VerifierKey: f.p.Cfg.VerifierKey,
			Evidence: &query.Evidence{Config: replayer.ProveConfig{S3: s3c, Bucket: f.p.Cfg.Bucket, Chain: f.p.Cfg.Chain, VerifierKey: f.p.Cfg.VerifierKey}},
		})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(svc.Handler())
		t.Cleanup(srv.Close)
		return srv.URL
	}
	noDB := serveWith(&query.Reader{DB: deadDB, Table: f.p.Cfg.Table, Chain: f.p.Cfg.Chain}, f.p.S3)
	noS3 := serveWith(f.p.Reader, deadS3)
	// S3 up, refusing the service's credentials (403): nothing checked
	// either (it answered 409 proof_failed, as for tampering).
	wrongKey, err := awsconn.S3(ctx, awsconn.Config{Endpoint: stack.S3Endpoint, Region: "us-east-1", AccessKeyID: "not-a-user", SecretAccessKey: "s", MaxAttempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	wrongSecret, err := awsconn.S3(ctx, awsconn.Config{Endpoint: stack.S3Endpoint, Region: "us-east-1", AccessKeyID: localstack.AccessKey, SecretAccessKey: "not-the-secret", MaxAttempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	refused, refusedSecret := serveWith(f.p.Reader, wrongKey), serveWith(f.p.Reader, wrongSecret)
	esc := url.PathEscape
	return []outageCase{
		{noDB, "/v1/decisions/" + esc(f.good), "DynamoDB"},
		{noDB, "/v1/decisions/" + esc(f.good) + "/proof", "DynamoDB"},
		{noDB, "/v1/users/" + esc(f.user) + "/decisions", "DynamoDB"},
		{noDB, "/v1/sessions/s/decisions", "DynamoDB"},
		{noS3, "/v1/decisions/" + esc(f.good) + "/proof", "S3"},
		{refused, "/v1/decisions/" + esc(f.good) + "/proof", "S3 refusing the access key"},
		{refusedSecret, "/v1/decisions/" + esc(f.good) + "/proof", "S3 refusing the signature"},
	}
}
