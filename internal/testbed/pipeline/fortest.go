package pipeline

import (
	"context"
	"os"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/aegisai/audit/internal/testbed/localstack"
)

// ForTest starts a pipeline for a test and stops it when the test ends,
// failing the test if a service stopped with an error. AEGIS_TEST_LOG=stderr
// writes the services' logs to stderr (seen even when a test hangs), any
// other value to the test log.
func ForTest(t testing.TB, st *localstack.Stack, cfg Config) *Pipeline {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	switch os.Getenv("AEGIS_TEST_LOG") {
	case "":
	case "stderr":
		cfg.Logger, _ = zap.NewDevelopment()
	default:
		cfg.Logger = zaptest.NewLogger(t)
	}
	p, err := Start(ctx, st, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Stop(); err != nil {
			t.Errorf("pipeline stopped with: %v", err)
		}
	})
	return p
}
