package e2e

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/aegisai/audit/internal/testbed/chaos"
)

// Issue 7: a short `make chaos` (5 kills) in every test run. What it checks
// is counts, not speed: the takeover bound is only a hang detector here
// (make chaos holds takeovers to 2s).
func TestChaosShort(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	o := chaos.Options{Kills: 5, Rate: 500, TakeoverBound: time.Minute}
	if testing.Verbose() {
		o.Log = os.Stderr
	}
	rep, err := chaos.Run(ctx, stack, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("chaos:\n%s", rep)
	if bad := rep.Failed(o.TakeoverBound); bad != "" {
		t.Fatal(bad)
	}
}

// A short `make soak`: every long-running role as its own process (ingest
// and query too, with their flags and environment as an operator gives
// them), under HTTP load for 20 seconds; everything answered 201 must
// be sealed once and every decision indexed, and query must answer. Too
// few samples are taken to judge growth (Growth wants 8): that is make
// soak's, over half an hour.
func TestSoakShort(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	o := chaos.SoakOptions{Duration: 20 * time.Second, Rate: 100, Every: 5 * time.Second}
	if testing.Verbose() {
		o.Log = os.Stderr
	}
	rep, err := chaos.Soak(ctx, stack, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("soak:\n%s", rep)
	if bad := rep.Failed(); bad != "" {
		t.Fatal(bad)
	}
	if rep.Answers[201] == 0 || rep.Answers[400] == 0 || rep.Answers[401] == 0 || rep.Reads[200] == 0 || rep.States == 0 || rep.Receipts == 0 {
		t.Fatalf("the load did not reach every answer it asks for: ingest %v, query %v", rep.Answers, rep.Reads)
	}
}
