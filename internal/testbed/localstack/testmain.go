package localstack

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
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
	// The servers' output goes to AEGIS_STACK_LOG, or to a temporary file
	// whose tail is printed when the package fails.
	path := os.Getenv("AEGIS_STACK_LOG")
	keep := path != ""
	if !keep {
		f, err := os.CreateTemp("", "aegis-stack-*.log")
		if err != nil {
			fmt.Fprintln(os.Stderr, "localstack:", err)
			return 1
		}
		path = f.Name()
		f.Close()
		defer os.Remove(path)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		fmt.Fprintln(os.Stderr, "localstack:", err)
		return 1
	}
	defer f.Close()
	s, err := Start(ctx, Options{Log: f})
	if err != nil {
		fmt.Fprintln(os.Stderr, "localstack:", err)
		printTail(path)
		return 1
	}
	*stack = s
	code := m.Run()
	s.Close()
	if code != 0 {
		printTail(path)
	}
	return code
}

func printTail(path string) {
	b, err := os.ReadFile(path)
	if err != nil {
		return
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	fmt.Fprintf(os.Stderr, "localstack: last lines of the servers' output (%s):\n", path)
	for _, l := range lines[max(0, len(lines)-40):] {
		fmt.Fprintln(os.Stderr, "  ", l)
	}
}

var (
	uniq atomic.Int64
	// run tells this process's names from those of earlier runs, which an
	// external stack keeps (a process id alone repeats).
	run = func() string {
		var b [3]byte
		_, _ = rand.Read(b[:])
		return hex.EncodeToString(b[:])
	}()
)

// Name returns a name unique in this run, for isolating tests that share a
// stack (tables, topics, chains; buckets take Stack.Bucket).
func Name(prefix string) string {
	return fmt.Sprintf("%s-%d%s-%d", prefix, os.Getpid(), run, uniq.Add(1))
}
