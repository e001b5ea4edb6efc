package producer

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/aegisai/audit/shared"
)

// A Govern call in flight when the service closes its producer is either
// audited or has its escalation spooled. Before, Close closed the Kafka
// client and the spool under it: the call's record failed ("client
// closed"), its escalation could not be written ("file already closed"),
// and the caller applied the fail-safe action with nothing recorded
// (outside trial h1: 4 of 4 calls in flight at Close).
// Several calls, so that some wait in the client's buffer behind the
// produce request in flight.
func TestCloseWaitsForAGovernCallInFlight(t *testing.T) {
	c := testBroker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dir := t.TempDir()
	p, err := New(ctx, Config{Brokers: c.ListenAddrs(), Environment: "prod", SpoolDir: dir, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	// The broker takes a while to answer produce requests from now on.
	c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		time.Sleep(500 * time.Millisecond)
		return nil, nil, false
	})
	const n = 8
	outc := make(chan Outcome, n)
	for i := range n {
		d := shared.Decision{DecisionID: fmt.Sprintf("d%d", i), Action: shared.ActionAllow, ConfidenceScore: 0.5, PolicyVersion: "p", UserID: "u", SessionID: "s"}
		go func() { outc <- p.Govern(ctx, d, Policy{}) }()
		if i == 0 {
			time.Sleep(50 * time.Millisecond) // the first produce request is in flight
		}
	}
	time.Sleep(50 * time.Millisecond) // the others wait behind it
	p.Close()
	spooled := 0
	for range n {
		out := <-outc
		if !out.Audited && !out.Spooled {
			t.Errorf("a Govern call in flight at Close: not audited (%v) and not spooled (%v)", out.Err, out.SpoolErr)
		}
		if out.Spooled {
			spooled++
		}
	}
	if spooled > 0 {
		s, err := openSpool(dir, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		defer s.close()
		if s.records() != 2*spooled {
			t.Fatalf("%d calls spooled, but the spool holds %d records after Close, want %d", spooled, s.records(), 2*spooled)
		}
	}
}
