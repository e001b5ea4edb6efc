package retry

import (
	"context"
	"errors"
	"testing"
	"time"
)

var (
	errFlaky = errors.New("flaky")
	errFinal = errors.New("final")
)

func policy(retries *[]time.Duration) Policy {
	return Policy{Timeout: time.Second, Initial: time.Millisecond, Max: 4 * time.Millisecond,
		Final:   func(err error) bool { return errors.Is(err, errFinal) },
		OnRetry: func(_ int, wait time.Duration, _ error) { *retries = append(*retries, wait) }}
}

func TestRetriesUntilSuccessWithCappedBackoff(t *testing.T) {
	var waits []time.Duration
	calls := 0
	err := policy(&waits).Do(context.Background(), func(context.Context) error {
		if calls++; calls < 5 {
			return errFlaky
		}
		return nil
	})
	want := []time.Duration{time.Millisecond, 2 * time.Millisecond, 4 * time.Millisecond, 4 * time.Millisecond}
	if err != nil || calls != 5 || len(waits) != len(want) {
		t.Fatalf("err %v after %d calls, waits %v", err, calls, waits)
	}
	for i := range want {
		if waits[i] != want[i] {
			t.Fatalf("waits %v, want %v", waits, want)
		}
	}
}

func TestFinalErrorIsReturnedAtOnce(t *testing.T) {
	var waits []time.Duration
	calls := 0
	err := policy(&waits).Do(context.Background(), func(context.Context) error { calls++; return errFinal })
	if !errors.Is(err, errFinal) || calls != 1 || len(waits) != 0 {
		t.Fatalf("err %v after %d calls and %d waits", err, calls, len(waits))
	}
}

func TestStopsWhenContextEnds(t *testing.T) {
	var waits []time.Duration
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	err := policy(&waits).Do(ctx, func(context.Context) error {
		if calls++; calls == 3 {
			cancel()
		}
		return errFlaky
	})
	if !errors.Is(err, context.Canceled) || calls != 3 {
		t.Fatalf("err %v after %d calls", err, calls)
	}
}
