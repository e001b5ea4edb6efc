package kafkaconn

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// A group's failed round while the brokers are away is a warning; other
// errors stay errors, and franz-go is asked for warnings and errors only.
func TestGroupRetriesAreWarnings(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	l := Logger(zap.New(core))
	l.Log(kgo.LogLevelError, "group manage loop errored", "group", "aegis-indexer", "err", "dial tcp: connection refused")
	l.Log(kgo.LogLevelError, "unable to initialize a producer id")
	if l.Level() != kgo.LogLevelWarn {
		t.Errorf("franz-go asked for %s and worse, want warnings", l.Level())
	}
	got := logs.AllUntimed()
	if len(got) != 2 {
		t.Fatalf("%d lines, want 2: %v", len(got), got)
	}
	if got[0].Level != zapcore.WarnLevel || got[0].Message != "group manage loop errored" {
		t.Errorf("the group's retry logged at %s: %q", got[0].Level, got[0].Message)
	}
	if got[1].Level != zapcore.ErrorLevel {
		t.Errorf("another franz-go error logged at %s", got[1].Level)
	}
}
