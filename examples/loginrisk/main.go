// Command loginrisk is a small login-risk service that shows how a service
// governs its AI decisions with the audit layer: it scores a login, decides
// ALLOW, CHALLENGE or BLOCK, and returns the decision only once it is
// audited. When the audit trail is unavailable (stop the broker and try),
// it returns the fail-safe action instead and the escalation is spooled, to
// be recorded when the broker is back.
//
//	go run ./examples/loginrisk --brokers 127.0.0.1:9092 --environment prod
//	curl -s localhost:8090/login -d '{"user_id":"u-42","session_id":"s-1","ip_country":"DE","failed_attempts":0,"new_device":false}'
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/aegisai/audit/producer"
	"github.com/aegisai/audit/shared"
)

// Login is what the service is asked about.
type Login struct {
	UserID         string `json:"user_id"`
	SessionID      string `json:"session_id"`
	IPCountry      string `json:"ip_country"`
	FailedAttempts int    `json:"failed_attempts"`
	NewDevice      bool   `json:"new_device"`
}

// Answer is what the service returns to the login flow.
type Answer struct {
	DecisionID string        `json:"decision_id"`
	Action     shared.Action `json:"action"`
	Risk       float64       `json:"risk"`
	// Confidence is the model's confidence in the action it chose, as
	// recorded in the audit trail (decide).
	Confidence float64 `json:"confidence"`
	// Audited is false when the fail-safe action was returned instead of
	// the model's.
	Audited   bool   `json:"audited"`
	Escalated bool   `json:"escalated"`
	Reason    string `json:"reason,omitempty"`
}

// Governor is the part of the producer the service needs.
type Governor interface {
	Govern(ctx context.Context, d shared.Decision, pol producer.Policy, opts ...producer.Option) producer.Outcome
}

// Service scores logins and governs each decision.
type Service struct {
	Audit  Governor
	Policy string // the model's policy version, recorded with each decision
}

// score is the toy model: risk in [0,1] from a few signals.
func score(l Login) float64 {
	risk := 0.05
	if l.NewDevice {
		risk += 0.3
	}
	risk += 0.15 * float64(min(l.FailedAttempts, 4))
	switch l.IPCountry {
	case "", "XX":
		risk += 0.2
	}
	return min(risk, 1)
}

// The risk thresholds between the actions.
const (
	allowBelow     = 0.3
	challengeBelow = 0.7
)

// decide maps a risk to an action and the model's confidence in that
// action: how far the risk is inside the action's band, from 0.5 at a
// threshold (a coin flip between two actions) to 1 at the band's far end
// (risk 0 for ALLOW, 1 for BLOCK) or, for CHALLENGE, its middle. The
// confidence is in the action chosen, not in "low risk": a BLOCK at risk 1
// is as sure as an ALLOW at risk 0.
func decide(risk float64) (shared.Action, float64) {
	sure := func(distance, span float64) float64 { return 0.5 + 0.5*min(distance/span, 1) }
	switch {
	case risk < allowBelow:
		return shared.ActionAllow, sure(allowBelow-risk, allowBelow)
	case risk < challengeBelow:
		half := (challengeBelow - allowBelow) / 2
		return shared.ActionChallenge, sure(min(risk-allowBelow, challengeBelow-risk), half)
	}
	return shared.ActionBlock, sure(risk-challengeBelow, 1-challengeBelow)
}

// ServeHTTP answers POST /login.
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/login" {
		http.Error(w, "POST /login", http.StatusNotFound)
		return
	}
	var l Login
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&l); err != nil || l.UserID == "" || l.SessionID == "" {
		http.Error(w, "want {user_id, session_id, ip_country, failed_attempts, new_device}", http.StatusBadRequest)
		return
	}
	risk := score(l)
	meta, _ := json.Marshal(map[string]any{"ip_country": l.IPCountry, "failed_attempts": l.FailedAttempts, "new_device": l.NewDevice})
	action, confidence := decide(risk)
	d := shared.Decision{DecisionID: "login-" + uuid.NewString(), Action: action, ConfidenceScore: confidence,
		PolicyVersion: s.Policy, UserID: l.UserID, SessionID: l.SessionID, Metadata: meta}
	// The rule: the user gets the audited decision, or the fail-safe one.
	out := s.Audit.Govern(r.Context(), d, producer.Policy{FailSafe: shared.ActionChallenge})
	a := Answer{DecisionID: d.DecisionID, Action: out.Decision.Action, Risk: risk, Confidence: confidence, Audited: out.Audited, Escalated: out.Escalated}
	if out.Err != nil {
		a.Reason = "audit trail unavailable: fail-safe action applied"
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(a)
}

func main() {
	brokers := flag.String("brokers", "127.0.0.1:9092", "Kafka seed broker")
	env := flag.String("environment", "dev", "audit chain to record in")
	listen := flag.String("listen", "127.0.0.1:8090", "address to serve POST /login on")
	// One spool a producer process (it is locked): a default per user,
	// so that two people's runs on one machine do not collide.
	spool := flag.String("spool-dir", fmt.Sprintf("%s/loginrisk-spool-%d", os.TempDir(), os.Getuid()), "where escalations wait while the broker is down")
	flag.Parse()
	// Readable logs, with a stack trace only on errors (the development
	// config adds one to every warning: a short broker outage printed
	// hundreds of lines).
	logger, _ := zap.NewDevelopment(zap.AddStacktrace(zap.ErrorLevel))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	audit, err := producer.New(ctx, producer.Config{Brokers: []string{*brokers}, Environment: *env, SpoolDir: *spool, RecordedBy: "loginrisk",
		Timeout: 2 * time.Second, Logger: logger})
	if err != nil {
		log.Fatal(err)
	}
	defer audit.Close()
	srv := &http.Server{Addr: *listen, Handler: &Service{Audit: audit, Policy: "loginrisk-2026.11"}, ReadHeaderTimeout: 5 * time.Second}
	// ListenAndServe returns as Shutdown begins: main waits for Shutdown
	// to finish the answers in flight before it closes the producer.
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		<-ctx.Done()
		if err := srv.Shutdown(context.Background()); err != nil {
			logger.Warn("shutdown", zap.Error(err))
		}
	}()
	fmt.Printf("loginrisk on http://%s/login, auditing to %s\n", *listen, *env)
	if err := srv.ListenAndServe(); err != http.ErrServerClosed {
		log.Fatal(err)
	}
	<-drained
}
