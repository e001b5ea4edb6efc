// Package ingest is the HTTP front of the producer (`aegis ingest`): the
// same contract as the Go library for services in every other language.
//
//	POST /v1/decisions   a decision envelope (JSON)
//	POST /v1/overrides   an override envelope (JSON)
//	GET  /openapi.yaml   the API (openapi.yaml in this package)
//
// The body is the envelope of docs/FORMAT.md section 4; "type",
// "event_id" and "occurred_at" may be left out (the path gives the type,
// the service a new UUID and the time of receipt). It is validated by the
// same code as the library and the sealer. `?durability=sealed` waits for
// the sealed entry and answers with its receipt.
//
//	201  recorded: {"event_id", "durability", "receipt"}
//	400  invalid: {"error", "message", "fields": [{"field", "reason"}]},
//	     nothing published
//	401  missing or unknown bearer token; 403 token not bound to the environment
//	413  body over the limit; 415 not application/json, or a Content-Encoding
//	503  audit trail unavailable: Retry-After, and the fail-safe action the
//	     caller must apply instead of the decision ("fail_safe_action")
//	404  no such endpoint; 405 another method than the endpoint's
//
// Every error answer is {"error": code, "message": text, ...}, the shape
// of the query service's (`aegis query`): the code is one word a program
// can switch on (Problem's codes), the message is for people.
//
// A request answered 201 is durable in Kafka (sealed, with a receipt, in
// Sealed mode); on shutdown the service stops accepting, answers the
// requests in flight, then flushes and closes the producers.
package ingest

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/aegisai/audit/internal/platform/httpauth"
	"github.com/aegisai/audit/producer"
	"github.com/aegisai/audit/shared"
)

// OpenAPI is the API document, served at /openapi.yaml.
//
//go:embed openapi.yaml
var OpenAPI []byte

// Recorder is the part of a producer the service uses. The service
// checks each body once (producer.ParseEvent) and hands the checked event
// over, which the producer publishes as it is.
type Recorder interface {
	LogEvent(ctx context.Context, ev *producer.Event, opts ...producer.Option) (*shared.Receipt, error)
	// EscalateEvent records that a decision LogEvent could not audit was
	// replaced by the fail-safe action (producer.Producer.EscalateEvent:
	// spooled, as the bytes LogEvent published, for publication when the
	// broker is back).
	EscalateEvent(ev *producer.Event, err error, pol producer.Policy) producer.Outcome
	Ready() error
}

// Config configures the service.
type Config struct {
	// Recorders are the producers by environment (chain) served (at least
	// one).
	Recorders map[string]Recorder
	// Tokens authenticate callers (required).
	Tokens *httpauth.Tokens
	// MaxBodyBytes bounds a request body. Default 64 KiB (the largest
	// valid envelope is about 25 KiB).
	MaxBodyBytes int64
	// MaxReading bounds the request bodies read at once, every caller's
	// together (default 1,024: 64 MiB at the default MaxBodyBytes), and
	// MaxReadingPerToken those of one token (default 256), so that the
	// holder of a token who sends bodies slowly (each held until the
	// server's read timeout) holds at most a quarter of them and a
	// bounded memory: beyond either, the request is answered 429 with
	// Retry-After, its body not read and nothing recorded.
	MaxReading, MaxReadingPerToken int
	// FailSafe is the action a 503 tells the caller to apply (default
	// CHALLENGE).
	FailSafe shared.Action
	// RetryAfter is the 503's Retry-After. Default 5s.
	RetryAfter time.Duration
	Metrics    prometheus.Registerer
	Logger     *zap.Logger
	// Now is the clock for a missing occurred_at. Default time.Now.
	Now func() time.Time
}

// Service is the ingest API.
type Service struct {
	cfg      Config
	requests *prometheus.CounterVec
	seconds  *prometheus.HistogramVec
	reading  atomic.Int64 // bodies being read (MaxReading)
	byToken  sync.Map     // token name → *atomic.Int64, its bodies being read
}

// New validates cfg.
func New(cfg Config) (*Service, error) {
	if len(cfg.Recorders) == 0 {
		return nil, errors.New("ingest: no environment to record (Recorders)")
	}
	if cfg.Tokens == nil {
		return nil, errors.New("ingest: no tokens: every request must be authenticated")
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 64 << 10
	}
	if cfg.MaxReading <= 0 {
		cfg.MaxReading = 1024
	}
	if cfg.MaxReadingPerToken <= 0 {
		cfg.MaxReadingPerToken = 256
	}
	if cfg.FailSafe == "" {
		cfg.FailSafe = shared.ActionChallenge
	}
	if !cfg.FailSafe.Valid() {
		return nil, fmt.Errorf("ingest: fail-safe action %q is not one of ALLOW, CHALLENGE, BLOCK, REVIEW", cfg.FailSafe)
	}
	if cfg.RetryAfter <= 0 {
		cfg.RetryAfter = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Service{cfg: cfg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "aegis_ingest_requests_total",
			Help: "Requests by route and status code."}, []string{"route", "code"}),
		seconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "aegis_ingest_request_seconds",
			Help: "Time to answer, by route and durability.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)}, []string{"route", "durability"}),
	}
	if cfg.Metrics != nil {
		cfg.Metrics.MustRegister(s.requests, s.seconds)
	}
	return s, nil
}

// Handler serves the API.
func (s *Service) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/decisions", s.record("decisions", shared.TypeDecision))
	mux.HandleFunc("POST /v1/overrides", s.record("overrides", shared.TypeOverride))
	mux.HandleFunc("GET /openapi.yaml", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/yaml")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Write(OpenAPI)
	})
	// Another method on a known path, and an unknown path, are answered
	// in JSON like every other error (the mux's own answers are text).
	for path, allow := range map[string]string{"/v1/decisions": "POST", "/v1/overrides": "POST", "/openapi.yaml": "GET, HEAD"} {
		mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", allow)
			answer(w, http.StatusMethodNotAllowed, Problem{Error: CodeMethodNotAllowed, Message: fmt.Sprintf("%s is not allowed on %s; use %s", r.Method, path, allow)})
		})
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		answer(w, http.StatusNotFound, Problem{Error: CodeNotFound, Message: "no such endpoint: POST /v1/decisions or /v1/overrides (see /openapi.yaml)"})
	})
	return mux
}

// Ready is nil when every producer can publish.
func (s *Service) Ready() error {
	envs := make([]string, 0, len(s.cfg.Recorders))
	for env := range s.cfg.Recorders {
		envs = append(envs, env)
	}
	sort.Strings(envs)
	for _, env := range envs {
		if err := s.cfg.Recorders[env].Ready(); err != nil {
			return fmt.Errorf("environment %s: %w", env, err)
		}
	}
	return nil
}

// Created is the 201 body.
type Created struct {
	EventID    string          `json:"event_id"`
	Durability string          `json:"durability"`
	Receipt    *shared.Receipt `json:"receipt"`
}

// FieldProblem is one broken rule in a 400 body.
type FieldProblem struct {
	Field  string `json:"field"`
	Reason string `json:"reason"`
}

// Problem is the body of every error answer.
type Problem struct {
	// Error is the problem's code: one of the Code constants.
	Error string `json:"error"`
	// Message says what is wrong, for people.
	Message string `json:"message"`
	// Fields lists every broken rule (400).
	Fields []FieldProblem `json:"fields,omitempty"`
	// EventID and OccurredAt are the event's (503: retry with both, so
	// that the event is recorded once; either may be the service's, set
	// where the body left it out).
	EventID    string `json:"event_id,omitempty"`
	OccurredAt string `json:"occurred_at,omitempty"`
	// FailSafeAction is the action to apply instead of the event's (503):
	// the service's fail-safe action, or the event's own when stricter.
	FailSafeAction shared.Action `json:"fail_safe_action,omitempty"`
	// EscalationSpooled says, for a decision answered 503, whether the
	// record of the escalation (the decision, then an override to
	// FailSafeAction) is spooled, to be published in order when the broker
	// is back (--spool-dir); false when the service has no spool or it is
	// full.
	EscalationSpooled *bool `json:"escalation_spooled,omitempty"`
}

func (s *Service) record(route string, typ shared.EventType) http.HandlerFunc {
	var created routeMetrics
	return func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		durability := producer.Durable
		code := s.serve(w, r, typ, &durability)
		if code == http.StatusCreated && durability == producer.Durable {
			// The answer to nearly every request: its series looked up
			// once, not by label values each time.
			created.once.Do(func() {
				created.requests = s.requests.WithLabelValues(route, strconv.Itoa(http.StatusCreated))
				created.seconds = s.seconds.WithLabelValues(route, producer.Durable.String())
			})
			created.requests.Inc()
			created.seconds.Observe(time.Since(start).Seconds())
			return
		}
		s.requests.WithLabelValues(route, strconv.Itoa(code)).Inc()
		s.seconds.WithLabelValues(route, durability.String()).Observe(time.Since(start).Seconds())
		if code == clientClosedRequest {
			// The connection ends without an answer. Returning would let
			// net/http answer 200 with no body, which a caller that only
			// half-closed reads as success (found by an attack).
			panic(http.ErrAbortHandler)
		}
	}
}

// routeMetrics are the series of a route's Durable 201s, made on the
// first one (so that /metrics shows no series before it has a count).
type routeMetrics struct {
	once     sync.Once
	requests prometheus.Counter
	seconds  prometheus.Observer
}

// startReading takes a place among the bodies read at once for token's
// request, and returns its release; busy says why there is none.
func (s *Service) startReading(token string) (release func(), busy string) {
	c, ok := s.byToken.Load(token)
	if !ok {
		c, _ = s.byToken.LoadOrStore(token, new(atomic.Int64))
	}
	mine := c.(*atomic.Int64)
	if mine.Add(1) > int64(s.cfg.MaxReadingPerToken) {
		mine.Add(-1)
		return nil, fmt.Sprintf("%d requests of this token are being read at once, its most (--max-reading-per-token): nothing was recorded; retry after a second", s.cfg.MaxReadingPerToken)
	}
	if s.reading.Add(1) > int64(s.cfg.MaxReading) {
		s.reading.Add(-1)
		mine.Add(-1)
		return nil, fmt.Sprintf("%d requests are being read at once, the service's most (--max-reading): nothing was recorded; retry after a second", s.cfg.MaxReading)
	}
	return func() { s.reading.Add(-1); mine.Add(-1) }, ""
}

// RecordedBy is the recorded_by ingest seals on every event a token
// records (docs/FORMAT.md section 4): "token:" and the token's name.
func RecordedBy(token string) string { return "token:" + token }

// EscalationRecordedBy is the recorded_by of the fail-safe escalations
// ingest records itself: without "token:", so that no caller can make it
// write this for them, and a caller's override that imitates an
// escalation (a reviewer id like aegis-failsafe) still names its token.
const EscalationRecordedBy = "aegis-ingest"

// serve answers one request and returns its status code.
func (s *Service) serve(w http.ResponseWriter, r *http.Request, typ shared.EventType, durability *producer.Durability) int {
	principal, err := s.cfg.Tokens.Authenticate(r)
	if err != nil {
		httpauth.LogDenied(s.cfg.Logger, r, "", err)
		w.Header().Set("WWW-Authenticate", `Bearer realm="aegis-ingest"`)
		return answer(w, http.StatusUnauthorized, Problem{Error: CodeUnauthenticated, Message: err.Error()})
	}
	if err := principal.Allow(httpauth.Record); err != nil { // a reader's token records nothing
		httpauth.LogDenied(s.cfg.Logger, r, principal.Name, err)
		return answer(w, http.StatusForbidden, Problem{Error: CodeForbidden, Message: err.Error()})
	}
	if ok, charset := isJSON(r.Header.Get("Content-Type")); !ok {
		return answer(w, http.StatusUnsupportedMediaType, Problem{Error: CodeUnsupportedMediaType, Message: "the body must be application/json"})
	} else if charset != "" {
		// JSON is UTF-8 (RFC 8259 section 8.1); a body declared in another
		// charset whose bytes happen to be UTF-8 (Latin-1's "NÃ©meth")
		// would be sealed as other text ("Németh") than the caller's.
		return answer(w, http.StatusUnsupportedMediaType, Problem{Error: CodeUnsupportedMediaType,
			Message: fmt.Sprintf("charset %q is not supported: JSON is UTF-8 (send charset=utf-8, or no charset)", charset)})
	}
	if ce := r.Header.Values("Content-Encoding"); len(ce) > 0 && (len(ce) > 1 || !strings.EqualFold(strings.TrimSpace(ce[0]), "identity")) {
		// Nothing is decoded: a gzipped body read as JSON was refused for
		// its first byte, and a plain one labelled gzip was recorded.
		return answer(w, http.StatusUnsupportedMediaType, Problem{Error: CodeUnsupportedMediaType,
			Message: fmt.Sprintf("Content-Encoding %q is not supported: send the body uncompressed, without Content-Encoding", strings.Join(ce, ", "))})
	}
	q, err := query(r.URL)
	if err != nil {
		return answer(w, http.StatusBadRequest, badRequest(FieldProblem{Field: "query", Reason: err.Error()}))
	}
	if len(q) > 0 {
		for k := range q {
			if k != "durability" {
				return answer(w, http.StatusBadRequest, badRequest(FieldProblem{Field: "query." + k, Reason: "unknown parameter"}))
			}
		}
		if len(q["durability"]) > 1 {
			return answer(w, http.StatusBadRequest, badRequest(FieldProblem{Field: "query.durability", Reason: "given more than once"}))
		}
		if *durability, err = producer.ParseDurability(q.Get("durability")); err != nil {
			return answer(w, http.StatusBadRequest, badRequest(FieldProblem{Field: "query.durability",
				Reason: fmt.Sprintf("%q: want %s or %s", q.Get("durability"), producer.Durable, producer.Sealed)}))
		}
	}
	release, busy := s.startReading(principal.Name)
	if busy != "" {
		w.Header().Set("Retry-After", "1")
		return answer(w, http.StatusTooManyRequests, Problem{Error: CodeTooManyRequests, Message: busy})
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
	release()
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return answer(w, http.StatusRequestEntityTooLarge, Problem{Error: CodeTooLarge, Message: fmt.Sprintf("the body is larger than %d bytes", s.cfg.MaxBodyBytes)})
		}
		return answer(w, http.StatusBadRequest, Problem{Error: CodeBadRequest, Message: "reading the body: " + err.Error()})
	}
	ev, err := producer.ParseEvent(body, shared.Defaults{Type: typ, EventID: uuid.NewString(), OccurredAt: s.cfg.Now().UTC(),
		RecordedBy: RecordedBy(principal.Name)})
	if err != nil {
		return answer(w, http.StatusBadRequest, invalid(err, typ))
	}
	env := ev.Envelope()
	if env.Type != typ {
		return answer(w, http.StatusBadRequest, invalidEvent(FieldProblem{Field: "type", Reason: fmt.Sprintf("is %q: send it to /v1/%ss", env.Type, env.Type)}))
	}
	if o := env.Override; o != nil && o.ReviewerID == producer.FailSafeReviewer {
		// Only the service's own escalations name it: a caller's override
		// would pass for one in the trail.
		return answer(w, http.StatusBadRequest, invalidEvent(FieldProblem{Field: "override.reviewer_id",
			Reason: fmt.Sprintf("%q is reserved for the fail-safe escalations this service records", o.ReviewerID)}))
	}
	if !principal.May(env.Environment) {
		httpauth.LogDenied(s.cfg.Logger, r, principal.Name, fmt.Errorf("%w: environment %q", httpauth.ErrForbidden, env.Environment))
		return answer(w, http.StatusForbidden, Problem{Error: CodeForbidden, Message: fmt.Sprintf("%v: %q may write %s, not %q", httpauth.ErrForbidden,
			principal.Name, strings.Join(principal.Environments(), ","), env.Environment)})
	}
	rec, ok := s.cfg.Recorders[env.Environment]
	if !ok {
		return answer(w, http.StatusBadRequest, invalidEvent(FieldProblem{Field: "environment", Reason: fmt.Sprintf("%q is not recorded by this service", env.Environment)}))
	}
	receipt, err := rec.LogEvent(r.Context(), ev, withDurability(*durability))
	switch {
	case err == nil:
		return answerCreated(w, receipt)
	case errors.Is(err, shared.ErrInvalidEvent):
		return answer(w, http.StatusBadRequest, invalid(err, typ))
	case r.Context().Err() != nil:
		// The caller went away before an answer: it was told nothing, so
		// no escalation records what it was told (an attack had callers
		// hang up to make the service override any decision id as
		// aegis-ingest). Its own timeout is its fail-safe. A decision that
		// could not be made durable is still spooled, not lost.
		spooled := false
		if env.Decision != nil {
			spooled = rec.EscalateEvent(ev, err, producer.Policy{Untold: true, Durability: *durability}).Spooled
		}
		s.cfg.Logger.Info("the caller went away before its event was confirmed; no escalation recorded", zap.String("token", principal.Name),
			zap.String("environment", env.Environment), zap.String("event_id", env.EventID), zap.Bool("decision_spooled", spooled), zap.Error(err))
		return clientClosedRequest
	}
	// The caller applies the fail-safe action instead of the event's, never
	// a weaker one; for a decision, the escalation is recorded (spooled for
	// the broker's return) so that the chain shows what the caller was
	// told to apply.
	// occurred_at as the record holds it: Go's spelling of the same
	// instant ("…00Z" for a body's "…00.000Z") is another event's bytes.
	p := Problem{Error: CodeUnavailable, EventID: env.EventID, OccurredAt: ev.OccurredAt()}
	spooled := false
	var spoolErr error
	switch {
	case env.Decision != nil:
		out := rec.EscalateEvent(ev, err, producer.Policy{FailSafe: s.cfg.FailSafe, Durability: *durability, RecordedBy: EscalationRecordedBy})
		p.FailSafeAction, spooled, spoolErr = out.Decision.Action, out.Spooled, out.SpoolErr
		p.EscalationSpooled = &spooled
	case env.Override != nil:
		p.FailSafeAction = producer.Stricter(env.Override.NewAction, s.cfg.FailSafe)
	default:
		p.FailSafeAction = s.cfg.FailSafe
	}
	// The cause (the broker's address, a timeout) is logged below, not
	// told to the caller: it needs what to do, not the inside.
	p.Message = "audit trail unavailable: the event is not confirmed recorded (the broker may still take it): apply fail_safe_action, and retry with the same event_id and occurred_at"
	if errors.Is(err, producer.ErrNotSealed) {
		// Kafka took it; the sealer did not seal it in time (an outside
		// trial found the message above told the caller otherwise).
		p.Message = "audit trail not sealed in time: the event is durable in Kafka and will be sealed, but no receipt could be given: apply fail_safe_action; a retry with the same event_id and occurred_at is recorded as a duplicate of it"
	}
	s.cfg.Logger.Warn("event not confirmed recorded; answered 503 with the fail-safe action", zap.String("token", principal.Name),
		zap.String("environment", env.Environment), zap.String("event_id", env.EventID), zap.String("fail_safe_action", string(p.FailSafeAction)),
		zap.Bool("escalation_spooled", spooled), zap.NamedError("spool_error", spoolErr), zap.Error(err))
	w.Header().Set("Retry-After", strconv.Itoa(int(s.cfg.RetryAfter.Round(time.Second)/time.Second)))
	return answer(w, http.StatusServiceUnavailable, p)
}

// query is the request's query parameters, nil when it has none (without
// parsing, which makes a map). A query string that does not parse whole
// (a semicolon, a bad escape) is an error naming why: url.URL.Query
// would drop the broken parts, and `?durability=sealed;` was answered
// durable.
func query(u *url.URL) (url.Values, error) {
	if u.RawQuery == "" {
		return nil, nil
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return nil, fmt.Errorf("%w: separate parameters with & and write %% as %%25", err)
	}
	return q, nil
}

// The option of each durability, made once: an Option is a closure, one
// allocation per request otherwise.
var (
	durableOption = producer.WithDurability(producer.Durable)
	sealedOption  = producer.WithDurability(producer.Sealed)
)

func withDurability(d producer.Durability) producer.Option {
	if d == producer.Sealed {
		return sealedOption
	}
	return durableOption
}

// The codes of Problem.Error.
const (
	CodeBadRequest           = "bad_request"   // 400: the request's parameters or body cannot be read
	CodeInvalidEvent         = "invalid_event" // 400: the event breaks a rule (fields names each)
	CodeUnauthenticated      = "unauthenticated"
	CodeForbidden            = "forbidden"
	CodeNotFound             = "not_found"
	CodeMethodNotAllowed     = "method_not_allowed"
	CodeTooLarge             = "too_large"
	CodeUnsupportedMediaType = "unsupported_media_type"
	CodeTooManyRequests      = "too_many_requests" // 429: too many bodies being read at once; nothing recorded
	CodeUnavailable          = "unavailable"       // 503: apply fail_safe_action
)

// badRequest is the 400 body of broken request parameters.
func badRequest(fields ...FieldProblem) Problem {
	return Problem{Error: CodeBadRequest, Message: "invalid request: " + fieldsText(fields), Fields: fields}
}

// invalidEvent is the 400 body of an event that breaks the rules.
func invalidEvent(fields ...FieldProblem) Problem {
	return Problem{Error: CodeInvalidEvent, Message: "invalid event: " + fieldsText(fields), Fields: fields}
}

// fieldsText is fields as one line, "field reason; field reason", the
// first few only: fields lists them all.
func fieldsText(fields []FieldProblem) string {
	const most = 5
	var parts []string
	for _, f := range fields[:min(len(fields), most)] {
		parts = append(parts, f.Field+" "+f.Reason)
	}
	if len(fields) > most {
		parts = append(parts, fmt.Sprintf("and %d more (fields lists them)", len(fields)-most))
	}
	return strings.Join(parts, "; ")
}

// invalid is the 400 body of a validation error of an event sent as typ:
// every broken field. The member of the other type (a decision sent to
// /v1/overrides) says where it goes.
func invalid(err error, typ shared.EventType) Problem {
	other := shared.TypeDecision
	if typ == shared.TypeDecision {
		other = shared.TypeOverride
	}
	var fields []FieldProblem
	for _, fe := range shared.FieldErrorsOf(err) {
		field, reason := fe.Field, fe.Reason
		if field == "record" { // the library's word for the whole event: here, the request's body
			field = "body"
		}
		if field == string(other) && strings.HasPrefix(reason, "is not a member") {
			reason += fmt.Sprintf(": send it to /v1/%ss", other)
		}
		fields = append(fields, FieldProblem{Field: field, Reason: reason})
	}
	if len(fields) == 0 {
		fields = []FieldProblem{{Field: "body", Reason: err.Error()}}
	}
	return invalidEvent(fields...)
}

// isJSON reports whether a Content-Type header says application/json
// (with parameters or not), as mime.ParseMediaType reads it, and the
// charset it declares when that is not UTF-8 ("utf-8" or "utf8", in any
// case); the header every client sends is recognised without parsing it.
func isJSON(contentType string) (ok bool, otherCharset string) {
	if contentType == "application/json" {
		return true, ""
	}
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil || mt != "application/json" {
		return false, ""
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") && !strings.EqualFold(cs, "utf8") {
		return true, cs
	}
	return true, ""
}

// The headers of every answer, each value one shared slice: Set would
// canonicalise the name and allocate the slice on every request.
var (
	headerJSON    = []string{"application/json"}
	headerNoStore = []string{"no-store"}
	headerNoSniff = []string{"nosniff"}
)

// clientClosedRequest is the code counted (aegis_ingest_requests_total)
// for a request whose caller went away before its answer: nothing is
// written to it (nginx's 499).
const clientClosedRequest = 499

func answer(w http.ResponseWriter, code int, body any) int {
	writeHeader(w, code)
	_ = json.NewEncoder(w).Encode(body)
	return code
}

func writeHeader(w http.ResponseWriter, code int) {
	h := w.Header()
	h["Content-Type"], h["Cache-Control"], h["X-Content-Type-Options"] = headerJSON, headerNoStore, headerNoSniff
	w.WriteHeader(code)
}

// answerCreated answers 201 with the receipt: the bytes encoding/json
// writes for Created, written without reflection when every string is
// plain (createdJSON), which is nearly always (TestCreatedIsEncodingJSONs).
func answerCreated(w http.ResponseWriter, r *shared.Receipt) int {
	// The body's size: its member names and punctuation, and the strings
	// (event id twice) and numbers of the receipt.
	size := 192 + 2*len(r.EventID) + len(r.DecisionID) + 2*len(r.Durability) + len(r.Chain) + len(r.EntryHash) + len(r.Object) + len(r.VersionID)
	body, ok := createdJSON(make([]byte, 0, size), r)
	if !ok {
		return answer(w, http.StatusCreated, Created{EventID: r.EventID, Durability: r.Durability, Receipt: r})
	}
	writeHeader(w, http.StatusCreated)
	w.Write(body)
	return http.StatusCreated
}

// createdJSON appends what json.NewEncoder(w).Encode writes for the
// Created body of r (the fields in order, omitempty as tagged, a newline
// at the end). ok is false when a string needs escaping (the caller then
// lets encoding/json write it).
func createdJSON(b []byte, r *shared.Receipt) (_ []byte, ok bool) {
	for _, s := range [...]string{r.EventID, r.DecisionID, r.Durability, r.Chain, r.EntryHash, r.Object, r.VersionID} {
		if !plainJSON(s) {
			return b, false
		}
	}
	str := func(b []byte, name, v string) []byte {
		b = append(append(append(b, '"'), name...), `":"`...)
		return append(append(b, v...), '"')
	}
	opt := func(b []byte, name, v string) []byte {
		if v == "" {
			return b
		}
		return str(append(b, ','), name, v)
	}
	num := func(b []byte, name string, v uint64) []byte {
		if v == 0 {
			return b
		}
		b = append(append(append(b, `,"`...), name...), `":`...)
		return strconv.AppendUint(b, v, 10)
	}
	b = str(append(b, '{'), "event_id", r.EventID)
	b = str(append(b, ','), "durability", r.Durability)
	b = str(append(b, `,"receipt":{`...), "event_id", r.EventID)
	b = opt(b, "decision_id", r.DecisionID)
	b = str(append(b, ','), "durability", r.Durability)
	b = opt(b, "chain", r.Chain)
	b = num(b, "seq", r.Seq)
	b = opt(b, "entry_hash", r.EntryHash)
	b = opt(b, "object", r.Object)
	b = opt(b, "version_id", r.VersionID)
	if r.Line != 0 {
		b = strconv.AppendInt(append(b, `,"line":`...), int64(r.Line), 10)
	}
	b = num(b, "checkpoint_seq", r.CheckpointSeq)
	return append(b, "}}\n"...), true
}

// plainJSON reports a string encoding/json writes as it is: printable
// ASCII but the quote, the backslash and the characters it escapes for
// HTML (<, >, &).
func plainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20 || c > 0x7e, c == '"', c == '\\', c == '<', c == '>', c == '&':
			return false
		}
	}
	return true
}
