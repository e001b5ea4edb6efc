package main

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"go.uber.org/zap"
)

// The roles' logs carry text from outside escaped as aegis prints it: a
// C1 CSI or U+202E in a logged id reaches no terminal raw, and each JSON
// line still reads back to the same text.
func TestLogsShowOutsideTextEscaped(t *testing.T) {
	for _, format := range []string{"json", "console"} {
		const id = "user\u202e-evil\u009b31m"
		out := logged(t, format, func(log *zap.Logger) { log.Info("request", zap.String("path", "/v1/decisions/"+id)) })
		if strings.ContainsAny(out.String(), "\u202e\u009b") || !strings.Contains(out.String(), `\u202e`) {
			t.Fatalf("%s log: %q", format, out.String())
		}
		if format == "json" {
			var line struct{ Path string }
			if err := json.Unmarshal(out.Bytes(), &line); err != nil || line.Path != "/v1/decisions/"+id {
				t.Fatalf("the JSON line reads back as %q (%v)", line.Path, err)
			}
		}
	}
}

// The console format is for people: a warning or an error is its message
// and fields, without the Go stack zap's development config adds (it
// buried the message, an operator's trial found); JSON keeps a stack on
// errors for the log pipeline.
func TestConsoleLogsCarryNoStack(t *testing.T) {
	for _, format := range []string{"console", "json"} {
		out := logged(t, format, func(log *zap.Logger) {
			log.Warn("the token file changed but does not parse")
			log.Error("S3 refused the request")
		})
		stack := strings.Contains(out.String(), "newLogger") || strings.Contains(out.String(), ".go:") && strings.Contains(out.String(), "TestConsoleLogsCarryNoStack")
		if stack != (format == "json") {
			t.Errorf("%s log, stack %v:\n%s", format, stack, out.String())
		}
	}
}

// logged is what a role's logger in format writes to standard error
// while f logs.
func logged(t *testing.T, format string, f func(*zap.Logger)) *bytes.Buffer {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := os.Stderr
	os.Stderr = w
	log, err := newLogger("info", format)
	if err != nil {
		os.Stderr = stderr
		t.Fatal(err)
	}
	f(log)
	_ = log.Sync()
	os.Stderr = stderr
	w.Close()
	var out bytes.Buffer
	out.ReadFrom(r)
	return &out
}
