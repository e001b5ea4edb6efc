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
