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
	s, err := Start(ctx, Options{})
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
