package main

import (
	"fmt"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
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
	default:
		return nil, fmt.Errorf("--log-format %q: want json or console", format)
	}
	if err := cfg.Level.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	return cfg.Build()
}
