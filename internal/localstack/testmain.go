package localstack

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"
)

// RunTests starts a stack for a test package, stores it in *stack, runs the
// tests and stops it. A stack that does not start fails the package: the
// end-to-end tests are never skipped.
func RunTests(m *testing.M, stack **Stack) int {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	opts := Options{}
	if path := os.Getenv("AEGIS_STACK_LOG"); path != "" {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			fmt.Fprintln(os.Stderr, "localstack:", err)
			return 1
		}
		defer f.Close()
		opts.Log = f
	}
	s, err := Start(ctx, opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, "localstack:", err)
		return 1
	}
	*stack = s
	defer s.Close()
	return m.Run()
}

var uniq atomic.Int64

// Name returns a name unique in this process, for isolating tests that share
// a stack (buckets, tables, topics, chains).
func Name(prefix string) string {
	return fmt.Sprintf("%s-%d-%d", prefix, os.Getpid(), uniq.Add(1))
}
