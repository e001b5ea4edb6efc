package producer_test

import (
	"context"
	"errors"
	"log"

	"github.com/aegisai/audit/producer"
	"github.com/aegisai/audit/shared"
)

// A login-risk service records each decision before acting on it. If the
// audit write fails, the decision is not returned as made: the service falls
// back to its fail-safe action (here CHALLENGE).
func Example() {
	ctx := context.Background()
	audit, err := producer.New(ctx, producer.Config{Brokers: []string{"127.0.0.1:9092"}, Environment: "prod"})
	if err != nil {
		log.Fatal(err)
	}
	defer audit.Close()

	action := shared.ActionAllow
	_, err = audit.LogDecision(ctx, shared.Decision{
		DecisionID: "dec-7f3a", Action: action, ConfidenceScore: 0.92, PolicyVersion: "policy-2026.11",
		UserID: "user-42", SessionID: "sess-9", Metadata: []byte(`{"ip_country":"DE"}`),
	})
	switch {
	case errors.Is(err, shared.ErrInvalidEvent):
		log.Printf("bug in the caller, nothing was published: %v", err)
		action = shared.ActionChallenge
	case errors.Is(err, producer.ErrAuditUnavailable):
		log.Printf("decision not audited, escalating: %v", err)
		action = shared.ActionChallenge
	}
	_ = action // return action to the client
}
