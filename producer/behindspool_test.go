package producer

import (
	"context"
	"encoding/json"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap/zaptest"

	"github.com/aegisai/audit/shared"
)

// A decision escalated through an outage and a reviewer's override of it
// logged as soon as the broker is back: the override must be published
// after the spooled escalation, or the escalation, sealed later, sets the
// decision's state over it (FORMAT.md 11: the latest override by seq).
// Before, the reviewer's BLOCK went out at once and the spool's CHALLENGE
// followed within a second (outside trial h1: "now CHALLENGE").
func TestAnOverrideLoggedAfterAnOutageIsPublishedAfterTheSpool(t *testing.T) {
	c := testBroker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := New(ctx, Config{Brokers: c.ListenAddrs(), Environment: "prod", SpoolDir: t.TempDir(), Timeout: 2 * time.Second, Logger: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	// The broker answers produce requests late until it is back: the
	// Govern call gives up on its decision and spools its escalation.
	var back atomic.Bool
	c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		if back.Load() {
			return nil, nil, false
		}
		c.KeepControl()
		time.Sleep(500 * time.Millisecond)
		return nil, nil, false
	})
	d := shared.Decision{DecisionID: "d1", Action: shared.ActionAllow, ConfidenceScore: 0.5, PolicyVersion: "p", UserID: "u", SessionID: "s"}
	gctx, gcancel := context.WithTimeout(ctx, 200*time.Millisecond)
	out := p.Govern(gctx, d, Policy{FailSafe: shared.ActionChallenge})
	gcancel()
	if out.Audited || !out.Spooled {
		t.Fatalf("Govern during the outage: audited %v, spooled %v (%v, %v)", out.Audited, out.Spooled, out.Err, out.SpoolErr)
	}
	back.Store(true)
	if _, err := p.LogOverride(ctx, shared.Override{DecisionID: "d1", ReviewerID: "analyst-7", NewAction: shared.ActionBlock, Reason: "fraud"}); err != nil {
		t.Fatal(err)
	}
	recs := topicRecords(ctx, t, c, p.cfg.Topic, 3)
	var order []string
	for _, r := range recs {
		var e struct {
			Type     string `json:"type"`
			Override *struct {
				NewAction string `json:"new_action"`
			} `json:"override"`
		}
		if err := json.Unmarshal(r.Value, &e); err != nil {
			t.Fatal(err)
		}
		if e.Override != nil {
			order = append(order, e.Override.NewAction)
		} else {
			order = append(order, e.Type)
		}
	}
	if len(order) != 3 || order[2] != string(shared.ActionBlock) {
		t.Fatalf("published in the order %v, want the decision and its CHALLENGE, then the reviewer's BLOCK", order)
	}
}
