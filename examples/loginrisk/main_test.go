package main

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aegisai/audit/internal/testbed/localstack"
	"github.com/aegisai/audit/internal/testbed/pipeline"
	"github.com/aegisai/audit/producer"
	"github.com/aegisai/audit/replayer"
	"github.com/aegisai/audit/shared"
)

var stack *localstack.Stack

func TestMain(m *testing.M) { os.Exit(localstack.RunTests(m, &stack)) }

func login(t *testing.T, url, body string) Answer {
	t.Helper()
	resp, err := http.Post(url+"/login", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var a Answer
	if resp.StatusCode != 200 || json.NewDecoder(resp.Body).Decode(&a) != nil {
		t.Fatalf("login: %d", resp.StatusCode)
	}
	return a
}

// The service returns the model's decision while the audit trail is up,
// the fail-safe CHALLENGE while the broker is stopped, and the escalation
// is sealed once the broker is back.
func TestLoginRiskFailsSafe(t *testing.T) {
	stack.NeedsInProcessKafka(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p := pipeline.ForTest(t, stack, pipeline.Config{Indexers: -1})
	audit, err := p.Producer(ctx, func(c *producer.Config) { c.SpoolDir = t.TempDir(); c.Timeout = time.Second })
	if err != nil {
		t.Fatal(err)
	}
	defer audit.Close()
	srv := httptest.NewServer(&Service{Audit: audit, Policy: "test"})
	defer srv.Close()
	const calm = `{"user_id":"u-1","session_id":"s-1","ip_country":"DE","failed_attempts":0,"new_device":false}`
	const risky = `{"user_id":"u-2","session_id":"s-2","ip_country":"XX","failed_attempts":4,"new_device":true}`

	if a := login(t, srv.URL, calm); a.Action != shared.ActionAllow || !a.Audited {
		t.Fatalf("calm login with the audit trail up: %+v", a)
	}
	if a := login(t, srv.URL, risky); a.Action != shared.ActionBlock || !a.Audited || a.Risk != 1 || a.Confidence != 1 {
		t.Fatalf("risky login: %+v", a)
	}
	<-p.Sealer.Ready()
	if err := stack.StopKafka(); err != nil {
		t.Fatal(err)
	}
	a := login(t, srv.URL, calm)
	if err := stack.StartKafka(); err != nil {
		t.Fatal(err)
	}
	if a.Action != shared.ActionChallenge || a.Audited || !a.Escalated {
		t.Fatalf("calm login with the broker stopped: %+v, want the fail-safe CHALLENGE", a)
	}
	// The escalation is recorded after all: the model's ALLOW, then the
	// fail-safe's override to CHALLENGE, in S3 under signed checkpoints.
	var got []string
	err = p.WaitFor(ctx, func() bool {
		got = got[:0]
		_, err := replayer.Discover(ctx, replayer.DiscoverConfig{S3: p.S3, Bucket: p.Cfg.Bucket, Chain: p.Cfg.Chain, VerifierKey: p.Cfg.VerifierKey,
			DecisionID: a.DecisionID, From: time.Now().Add(-time.Hour), To: time.Now().Add(time.Hour)}, func(f replayer.Found) error {
			env, err := f.Entry.Envelope()
			if err != nil {
				return err
			}
			if env.Decision != nil {
				got = append(got, "decision "+string(env.Decision.Action))
			} else {
				got = append(got, "override "+string(env.Override.NewAction)+" by "+env.Override.ReviewerID)
			}
			return nil
		})
		return err == nil && len(got) == 2
	})
	if err != nil || strings.Join(got, ", ") != "decision ALLOW, override CHALLENGE by aegis-failsafe" {
		t.Fatalf("sealed for %s: %v (%v)", a.DecisionID, got, err)
	}
}

// Issue 26: the confidence recorded is the model's confidence in the
// action it chose: highest far from a threshold, 0.5 at one, never low for
// a sure BLOCK.
func TestConfidenceIsInTheActionChosen(t *testing.T) {
	for _, c := range []struct {
		risk       float64
		action     shared.Action
		confidence float64
	}{
		{0, shared.ActionAllow, 1},
		{0.15, shared.ActionAllow, 0.75},
		{0.3, shared.ActionChallenge, 0.5},
		{0.5, shared.ActionChallenge, 1},
		{0.6, shared.ActionChallenge, 0.75},
		{0.7, shared.ActionBlock, 0.5},
		{1, shared.ActionBlock, 1},
	} {
		action, confidence := decide(c.risk)
		if action != c.action || math.Abs(confidence-c.confidence) > 1e-9 {
			t.Errorf("risk %g: %s with confidence %g, want %s with %g", c.risk, action, confidence, c.action, c.confidence)
		}
	}
	for r := 0.0; r <= 1; r += 0.01 {
		if _, confidence := decide(r); confidence < 0.5 || confidence > 1 {
			t.Fatalf("risk %g: confidence %g outside [0.5, 1]", r, confidence)
		}
	}
}
