package main

import (
	"fmt"
	"os"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/aegisai/audit/internal/platform/shown"
)

// newLogger builds the process logger: zap's production JSON (one object
// per line, ISO 8601 times, for log pipelines) or a readable console
// encoding for development, both to standard error at the given level.
func newLogger(level, format string) (*zap.Logger, error) {
	var cfg zap.Config
	switch format {
	case "json":
		cfg = zap.NewProductionConfig()
		cfg.EncoderConfig.EncodeTime = zapcore.ISO8601TimeEncoder
	case "console":
		cfg = zap.NewDevelopmentConfig()
		cfg.Development = false // no panics on DPanic in a running role
		// A person reads it: the message says what to do; the Go stack
		// (zap's development default from warnings on) buried it.
		cfg.DisableStacktrace = true
	default:
		return nil, fmt.Errorf("--log-format %q: want json or console", format)
	}
	if err := cfg.Level.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	// Logs carry text from outside (a request's path, an event's ids):
	// zap escapes the C0 controls only, so what a terminal tailing the log
	// would obey (C1's CSI, U+202E) goes through shown.Writer, whose
	// escapes are JSON's own spelling inside the JSON lines (found by an
	// attack on this session's escaping).
	sink := zapcore.Lock(zapcore.AddSync(&shown.Writer{W: os.Stderr}))
	return cfg.Build(zap.WrapCore(func(c zapcore.Core) zapcore.Core {
		enc := zapcore.NewJSONEncoder(cfg.EncoderConfig)
		if format == "console" {
			enc = zapcore.NewConsoleEncoder(cfg.EncoderConfig)
		}
		core := zapcore.NewCore(enc, sink, cfg.Level)
		if cfg.Sampling != nil { // as cfg.Build would have
			core = zapcore.NewSamplerWithOptions(core, time.Second, cfg.Sampling.Initial, cfg.Sampling.Thereafter)
		}
		return core
	}))
}
