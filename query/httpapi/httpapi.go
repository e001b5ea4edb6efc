// Package httpapi is the HTTP face of the query side (`aegis query`): a
// JSON API over package query, its OpenAPI document, and the auditor's web
// page that checks proofs in the browser.
//
//	GET /v1/decisions/{id}                a decision, a page of its overrides (limit, cursor), its current state
//	GET /v1/decisions/{id}/proof          the evidence bundle of that answer (docs/FORMAT.md section 11)
//	GET /v1/users/{id}/decisions          a user's decisions, newest first
//	GET /v1/sessions/{id}/decisions       a session's decisions, newest first
//	GET /v1/verifier-key                  the chain and the checkpoint key the service trusts
//	GET /openapi.json                     the OpenAPI 3 document of the above
//	GET /                                 the auditor's page
//
// Invariants: every /v1/ answer but the verifier key needs a bearer token
// bound to the service's chain (httpauth): 401 without a known token, 403
// for a token of another chain. Every query parameter is checked: an
// unknown or repeated one, or a bad value, is a 400 naming it; an unknown
// decision id a 404; another method a 405. Errors are JSON
// ({"error":code,"message":…,"field":…}); nothing from DynamoDB or S3
// decides a status but a proof's outcome.
package httpapi

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/aegisai/audit/internal/platform/awsconn"
	"github.com/aegisai/audit/internal/platform/httpauth"
	"github.com/aegisai/audit/query"
	"github.com/aegisai/audit/replayer"
	"github.com/aegisai/audit/shared"
)

// Config configures a Service.
type Config struct {
	// Reader answers the lookups (required). Its Chain must be Chain.
	Reader *query.Reader
	// Evidence builds proofs (required for /proof).
	Evidence *query.Evidence
	// Tokens are the bearer tokens (required).
	Tokens *httpauth.Tokens
	// Chain is the chain served (required).
	Chain string
	// VerifierKey is the chain's checkpoint verifier key (required): the
	// page shows it and checks proofs with it unless the auditor gives
	// their own.
	VerifierKey string
	// Metrics, if set, receives aegis_query_* metrics.
	Metrics prometheus.Registerer
	// Logger defaults to zap.NewNop().
	Logger *zap.Logger
	// MaxProofs is how many proofs are built at once (default 8); more
	// wait their turn. Each holds one object read from S3 at a time, up
	// to the store's limit (64 MiB), so this bounds their memory.
	MaxProofs int
	// Deadline bounds each request's reads of DynamoDB and S3 (default
	// DefaultDeadline): past it the request is answered 503 "unavailable",
	// nothing checked. Keep it below the server's write timeout, past
	// which an answer is never delivered.
	Deadline time.Duration
}

// DefaultDeadline is Config.Deadline's default: below the minute aegis
// query's server gives an answer to be written (serve.Options.WriteTimeout).
// Before, a request to a hung S3 or DynamoDB went on past that minute (for
// ever without a response timeout on the SDK's client), and the caller got
// no answer at all, or a closed connection (found by an outside trial,
// 2026-12-01).
const DefaultDeadline = 50 * time.Second

// Service serves the API and the page.
type Service struct {
	cfg     Config
	key     shared.Keyset
	mux     *http.ServeMux
	log     *zap.Logger
	request *prometheus.CounterVec
	seconds *prometheus.HistogramVec
	proofs  chan struct{} // one token per proof being built
}

//go:embed openapi.json
var openAPI []byte

//go:embed page
var pageFS embed.FS

// New validates cfg (every problem at once) and builds the handler.
func New(cfg Config) (*Service, error) {
	var errs []error
	if cfg.Reader == nil || cfg.Evidence == nil || cfg.Tokens == nil {
		errs = append(errs, errors.New("Reader, Evidence and Tokens are required"))
	}
	if !shared.ValidIdentifier(cfg.Chain) {
		errs = append(errs, fmt.Errorf("Chain %q is not a chain id", cfg.Chain))
	} else if cfg.Reader != nil && cfg.Reader.Chain != cfg.Chain {
		errs = append(errs, fmt.Errorf("Reader.Chain %q is not Chain %q", cfg.Reader.Chain, cfg.Chain))
	}
	key, err := shared.ParseKeyset(cfg.VerifierKey)
	if err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("query service config: %w", errors.Join(errs...))
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.MaxProofs <= 0 {
		cfg.MaxProofs = 8
	}
	if cfg.Deadline <= 0 {
		cfg.Deadline = DefaultDeadline
	}
	s := &Service{cfg: cfg, key: key, mux: http.NewServeMux(), log: cfg.Logger, proofs: make(chan struct{}, cfg.MaxProofs),
		request: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aegis_query_requests_total", Help: "Requests answered, by route and status.",
		}, []string{"route", "code"}),
		seconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "aegis_query_request_seconds", Help: "Time to answer a request, by route.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"route"}),
	}
	if cfg.Metrics != nil {
		cfg.Metrics.MustRegister(s.request, s.seconds)
	}
	page, _ := fs.Sub(pageFS, "page")
	files := http.FileServerFS(page)
	s.handle("/v1/decisions/{id}", "decision", true, s.decision)
	s.handle("/v1/decisions/{id}/proof", "proof", true, s.proof)
	s.handle("/v1/users/{id}/decisions", "user", true, s.view(func(ctx context.Context, id string, rg query.Range) (query.Page, error) {
		return cfg.Reader.ByUser(ctx, id, rg)
	}))
	s.handle("/v1/sessions/{id}/decisions", "session", true, s.view(func(ctx context.Context, id string, rg query.Range) (query.Page, error) {
		return cfg.Reader.BySession(ctx, id, rg)
	}))
	s.handle("/v1/verifier-key", "verifier_key", false, s.verifierKey)
	s.handle("/openapi.json", "openapi", false, func(w http.ResponseWriter, r *http.Request) int {
		if err := noParams(r); err != nil {
			return writeError(w, err)
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(openAPI)
		return http.StatusOK
	})
	s.handle("/v1/", "unknown", false, func(w http.ResponseWriter, r *http.Request) int {
		if slashID.MatchString(r.URL.EscapedPath()) {
			return writeJSON(w, http.StatusNotFound, apiError{Error: "not_found",
				Message: `an id "/" cannot be looked up over HTTP (the router takes the segment %2F for a trailing slash): use aegis get or aegis list`})
		}
		return writeJSON(w, http.StatusNotFound, apiError{Error: "not_found", Message: "no such endpoint (see /openapi.json)"})
	})
	s.handle("/", "page", false, func(w http.ResponseWriter, r *http.Request) int {
		// A path that is none of the page's files is answered as every
		// other error is, in JSON (the file server's own 404 is text).
		name := strings.TrimPrefix(r.URL.Path, "/")
		if name == "" {
			name = "."
		}
		if _, err := fs.Stat(page, name); err != nil {
			return writeJSON(w, http.StatusNotFound, apiError{Error: "not_found", Message: "no such page or endpoint (see /openapi.json)"})
		}
		// The page's scripts only talk to this origin; nothing inline, no
		// other base for its links, no form sent anywhere, no framing; its
		// address (with a decision id) goes to no other site.
		w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
		w.Header().Set("Referrer-Policy", "no-referrer")
		w.Header().Set("X-Frame-Options", "DENY")
		rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
		files.ServeHTTP(rec, r)
		return rec.code
	})
	return s, nil
}

// slashID matches the path of a lookup whose id is "/" alone, which
// ServeMux never routes to {id}: it takes a segment %2F for a trailing
// slash.
var slashID = regexp.MustCompile(`^/v1/(decisions/%2[Ff](/proof)?|(users|sessions)/%2[Ff]/decisions)$`)

// Handler is the service's HTTP handler.
func (s *Service) Handler() http.Handler { return s.mux }

type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (r *statusRecorder) WriteHeader(code int) { r.code = code; r.ResponseWriter.WriteHeader(code) }

// handle registers a GET (and HEAD) route: other methods are 405, and the
// route's requests are counted and timed.
func (s *Service) handle(pattern, route string, auth bool, fn func(http.ResponseWriter, *http.Request) int) {
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		started := time.Now()
		ctx, cancel := context.WithTimeout(r.Context(), s.cfg.Deadline)
		defer cancel()
		code := s.serve(w, r.WithContext(ctx), auth, fn)
		s.request.WithLabelValues(route, strconv.Itoa(code)).Inc()
		s.seconds.WithLabelValues(route).Observe(time.Since(started).Seconds())
	})
}

func (s *Service) serve(w http.ResponseWriter, r *http.Request, auth bool, fn func(http.ResponseWriter, *http.Request) int) int {
	// Every answer is the type it says: a browser never sniffs a JSON
	// answer holding a producer's text into HTML or script.
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		return writeJSON(w, http.StatusMethodNotAllowed, apiError{Error: "method_not_allowed", Message: r.Method + " is not allowed; use GET"})
	}
	if auth {
		w.Header().Set("Cache-Control", "no-store")
		p, err := s.cfg.Tokens.Authorize(r, s.cfg.Chain, httpauth.Read)
		switch {
		case errors.Is(err, httpauth.ErrUnauthenticated):
			httpauth.LogDenied(s.log, r, "", err)
			w.Header().Set("WWW-Authenticate", `Bearer realm="aegis-query"`)
			return writeJSON(w, http.StatusUnauthorized, apiError{Error: "unauthenticated", Message: err.Error()})
		case errors.Is(err, httpauth.ErrForbidden):
			httpauth.LogDenied(s.log, r, p.Name, err)
			return writeJSON(w, http.StatusForbidden, apiError{Error: "forbidden", Message: err.Error()})
		case err != nil:
			return writeError(w, err)
		}
		// Who read what: an auditor's reads are few, and the record of
		// them is part of what an audit of the audit trail asks for.
		code := fn(w, r)
		s.log.Info("read", append([]zap.Field{zap.String("token", p.Name), zap.String("path", r.URL.Path), zap.Int("status", code),
			zap.String("remote", r.RemoteAddr)}, httpauth.ClientCertificate(r)...)...)
		return code
	}
	return fn(w, r)
}

// apiError is every error's body.
type apiError struct {
	Error   string `json:"error"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

func writeJSON(w http.ResponseWriter, code int, v any) int {
	b, err := json.Marshal(v)
	if err != nil {
		code, b = http.StatusInternalServerError, []byte(`{"error":"internal","message":"encoding the answer failed"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	w.Write(append(b, '\n'))
	return code
}

// writeError answers err with its status: a parameter error 400, an
// unknown decision 404, DynamoDB out of reach 503, anything else 500 (its
// detail logged, not sent).
func writeError(w http.ResponseWriter, err error) int {
	var pe *query.ParamError
	switch {
	case errors.As(err, &pe):
		return writeJSON(w, http.StatusBadRequest, apiError{Error: "bad_request", Field: pe.Field, Message: pe.Error()})
	case errors.Is(err, query.ErrNotFound):
		return writeJSON(w, http.StatusNotFound, apiError{Error: "not_found", Message: err.Error()})
	case awsconn.Unavailable(err):
		w.Header().Set("Retry-After", "5")
		return writeJSON(w, http.StatusServiceUnavailable, apiError{Error: "unavailable", Message: "the index (DynamoDB) could not be reached; try again"})
	}
	return writeJSON(w, http.StatusInternalServerError, apiError{Error: "internal", Message: "the index could not be read; see the service's log"})
}

func (s *Service) fail(w http.ResponseWriter, r *http.Request, err error) int {
	code := writeError(w, err)
	if code == http.StatusInternalServerError {
		s.log.Error("query failed", zap.String("path", r.URL.Path), zap.Error(err))
	}
	return code
}

func (s *Service) decision(w http.ResponseWriter, r *http.Request) int {
	h, err := s.history(r, false)
	if err != nil {
		return s.fail(w, r, err)
	}
	return writeJSON(w, http.StatusOK, h)
}

// history reads the decision of the request's path with the page of its
// overrides the request's limit and cursor select; latest (for a proof)
// reads every override of a decision with more than one page of them for
// the latest (query.OverridePage.Latest).
func (s *Service) history(r *http.Request, latest bool) (*query.History, error) {
	q, err := params(r)
	if err != nil {
		return nil, err
	}
	for name := range q {
		if name != "limit" && name != "cursor" {
			return nil, &query.ParamError{Field: name, Reason: "unknown parameter (limit, cursor)"}
		}
	}
	rg, err := parseRange(q) // limit and cursor, checked as a view's
	if err != nil {
		return nil, err
	}
	return s.cfg.Reader.DecisionPage(r.Context(), r.PathValue("id"), query.OverridePage{Limit: rg.Limit, Cursor: rg.Cursor, Latest: latest})
}

// proofFailure is the body of a proof that cannot be given (409).
type proofFailure struct {
	apiError
	DecisionID string `json:"decision_id"`
}

// proof answers the evidence bundle of a decision's answer (the same limit
// and cursor select the same page of overrides), built from S3 and
// checked against the trusted key. A proof that cannot be built (entries
// not signed yet, S3 holding something that does not verify, the index
// pointing where S3 has no such entry, or at an object deleted since) is a
// 409 that says why.
func (s *Service) proof(w http.ResponseWriter, r *http.Request) int {
	// Each way of checking nothing is a 503 "unavailable": never a verdict.
	notChecked := func(retryAfter, msg string) int {
		w.Header().Set("Retry-After", retryAfter)
		return writeJSON(w, http.StatusServiceUnavailable, proofFailure{apiError: apiError{Error: "unavailable", Message: msg}, DecisionID: r.PathValue("id")})
	}
	// The slot is taken before the history is read: for a decision with
	// more overrides than its page, that read takes every override item of
	// the decision id (query.OverridePage.Latest), as many as any chain's
	// producers wrote; before, a token holder's parallel requests made as
	// many of those reads at once as they sent (trial 32).
	select {
	case s.proofs <- struct{}{}:
		defer func() { <-s.proofs }()
	case <-r.Context().Done():
		return notChecked("5", "every proof slot was busy until the request ended: nothing was checked; try again")
	}
	h, err := s.history(r, true)
	if err != nil {
		return s.fail(w, r, err)
	}
	bundle, _, err := s.cfg.Evidence.Prove(r.Context(), h)
	switch {
	case err != nil && awsconn.Unavailable(err):
		s.log.Warn("proof: S3 could not be reached", zap.String("decision_id", h.DecisionID), zap.Error(err))
		return notChecked("5", "S3 could not be reached: nothing was checked, nothing found wrong; try again")
	case err != nil && awsconn.Refused(err):
		// S3 refused this service's own access: a setup to mend, not
		// evidence found wrong (it answered 409 proof_failed, as for
		// tampering, with the SDK's text naming the bucket and key).
		s.log.Error("proof: S3 refused the service's credentials; nothing was checked", zap.String("decision_id", h.DecisionID), zap.Error(err))
		return notChecked("60", "S3 refused this service's access: nothing was checked, nothing found wrong; its operator must mend its S3 credentials or policy (see the service's log)")
	case err != nil && r.Context().Err() != nil:
		// The request ended (its deadline passed, or the caller hung up)
		// while S3 was read: the SDK's "context canceled" is no verdict.
		// Before, it was answered, logged and counted as 409 proof_failed,
		// as for a chain found wrong (found by an outside trial, 2026-12-01).
		s.log.Warn("proof: the request ended before S3 answered; nothing was checked", zap.String("decision_id", h.DecisionID),
			zap.NamedError("ended", r.Context().Err()), zap.Error(err))
		return notChecked("5", "S3 did not answer before the request ended: nothing was checked, nothing found wrong; try again")
	}
	if err != nil {
		code := "proof_failed"
		switch {
		case errors.Is(err, replayer.ErrUnsigned):
			code = "unsigned"
		case errors.Is(err, replayer.ErrObjectGone):
			code = "gone"
		}
		s.log.Warn("proof failed", zap.String("decision_id", h.DecisionID), zap.Error(err))
		return writeJSON(w, http.StatusConflict, proofFailure{apiError: apiError{Error: code, Message: err.Error()}, DecisionID: h.DecisionID})
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(bundle)
	return http.StatusOK
}

func (s *Service) view(read func(context.Context, string, query.Range) (query.Page, error)) func(http.ResponseWriter, *http.Request) int {
	return func(w http.ResponseWriter, r *http.Request) int {
		q, err := params(r)
		if err != nil {
			return writeError(w, err)
		}
		rg, err := parseRange(q)
		if err != nil {
			return writeError(w, err)
		}
		page, err := read(r.Context(), r.PathValue("id"), rg)
		if err != nil {
			return s.fail(w, r, err)
		}
		return writeJSON(w, http.StatusOK, page)
	}
}

// KeyInfo is /v1/verifier-key's answer: the key that signs the chain's
// checkpoints now, and the whole keyset (docs/FORMAT.md section 7.4: each
// key with the seqs it signs) the service checks proofs with.
type KeyInfo struct {
	Chain       string `json:"chain"`
	VerifierKey string `json:"verifier_key"`
	KeyID       string `json:"key_id"`
	Keyset      string `json:"keyset"`
}

func (s *Service) verifierKey(w http.ResponseWriter, r *http.Request) int {
	if err := noParams(r); err != nil {
		return writeError(w, err)
	}
	cur := s.key.Ranges[len(s.key.Ranges)-1].Key
	return writeJSON(w, http.StatusOK, KeyInfo{Chain: s.cfg.Chain, VerifierKey: cur.Text, KeyID: cur.ID(), Keyset: s.key.String()})
}

// params are the request's query parameters. A query string that does not
// parse whole (a semicolon, a bad escape) is a *query.ParamError of field
// "query": url.URL.Query would drop the broken parts, and answer
// `?cursor=…;` with the first page.
func params(r *http.Request) (url.Values, error) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, &query.ParamError{Field: "query", Reason: err.Error() + ": separate parameters with & and write % as %25"}
	}
	return q, nil
}

func noParams(r *http.Request) error {
	q, err := params(r)
	if err != nil {
		return err
	}
	for name := range q {
		return &query.ParamError{Field: name, Reason: "unknown parameter"}
	}
	return nil
}

// parseRange reads since, until (RFC 3339 or a date), limit and cursor;
// any other parameter, or one given twice, is refused.
func parseRange(q url.Values) (query.Range, error) {
	var rg query.Range
	for name, vs := range q {
		if len(vs) != 1 {
			return rg, &query.ParamError{Field: name, Reason: "given more than once"}
		}
		v := vs[0]
		var err error
		switch name {
		case "since":
			rg.Since, err = query.ParseTime(name, v)
		case "until":
			rg.Until, err = query.ParseTime(name, v)
		case "limit":
			n, perr := strconv.Atoi(v)
			if perr != nil || n < 1 || n > query.MaxLimit {
				err = &query.ParamError{Field: name, Reason: fmt.Sprintf("must be an integer from 1 to %d", query.MaxLimit)}
			}
			rg.Limit = n
		case "cursor":
			if v == "" {
				err = &query.ParamError{Field: name, Reason: "empty"}
			}
			rg.Cursor = v
		default:
			err = &query.ParamError{Field: name, Reason: "unknown parameter (since, until, limit, cursor)"}
		}
		if err != nil {
			return rg, err
		}
	}
	return rg, nil
}
