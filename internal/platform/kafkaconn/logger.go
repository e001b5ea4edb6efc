package kafkaconn

import (
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kzap"
	"go.uber.org/zap"
)

// Logger is the franz-go logger of the roles: franz-go's warnings and
// errors in log's lines. A consumer group's failed round while the
// brokers cannot be reached ("group manage loop errored") is logged as a
// warning, not an error: the client retries it without end, each role
// reports the outage where it applies (a sealer's and an indexer's
// /readyz, ingest's 503), and an error line with a Go stack on every
// retry of a routine broker restart tripped error-log alerting (operator
// trial).
func Logger(log *zap.Logger) kgo.Logger {
	return retrying{kzap.New(log, kzap.Level(kgo.LogLevelWarn))}
}

type retrying struct{ kgo.Logger }

func (l retrying) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	if level == kgo.LogLevelError && msg == "group manage loop errored" {
		level = kgo.LogLevelWarn
	}
	l.Logger.Log(level, msg, keyvals...)
}
