package producer_test

import (
	"context"
	"log"

	"github.com/aegisai/audit/producer"
	"github.com/aegisai/audit/shared"
)

// A login-risk service governs each decision before acting on it: if the
// audit write fails, the decision is not returned as made, the service
// gets the fail-safe action (here CHALLENGE) and the escalation is spooled
// to be recorded when the broker is back.
func Example() {
	ctx := context.Background()
	audit, err := producer.New(ctx, producer.Config{Brokers: []string{"127.0.0.1:9092"}, Environment: "prod",
		SpoolDir: "/var/lib/loginrisk/aegis-spool"})
	if err != nil {
		log.Fatal(err)
	}
	defer audit.Close()

	out := audit.Govern(ctx, shared.Decision{
		DecisionID: "dec-7f3a", Action: shared.ActionAllow, ConfidenceScore: 0.92, PolicyVersion: "policy-2026.11",
		UserID: "user-42", SessionID: "sess-9", Metadata: []byte(`{"ip_country":"DE"}`),
	}, producer.Policy{FailSafe: shared.ActionChallenge})
	if !out.Audited {
		log.Printf("decision not audited (%v): returning %s", out.Err, out.Decision.Action)
	}
	_ = out.Decision.Action // return this action to the client, never the unaudited one
}
