// Package retry runs a call until it succeeds, fails for good, or its
// context ends: each attempt gets its own timeout, and the waits between
// attempts double from Initial up to Max. The sealer (S3) and the indexer
// (DynamoDB) share it; they differ only in which errors are final.
package retry

import (
	"context"
	"fmt"
	"time"
)

// Policy says how to retry.
type Policy struct {
	// Timeout bounds each attempt.
	Timeout time.Duration
	// Initial is the first wait; waits double up to Max.
	Initial, Max time.Duration
	// Final reports errors returned at once, without retrying (nil: none).
	Final func(error) bool
	// OnRetry, if set, is called before each wait (for logs and metrics).
	OnRetry func(attempt int, wait time.Duration, err error)
}

// Do runs fn until it returns nil or a final error, or ctx ends; then it
// returns ctx's error with the last attempt's error in its text.
func (p Policy) Do(ctx context.Context, fn func(context.Context) error) error {
	wait := p.Initial
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, p.Timeout)
		err := fn(actx)
		cancel()
		if err == nil || (p.Final != nil && p.Final(err)) {
			return err
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%w (last error: %v)", ctx.Err(), err)
		}
		if p.OnRetry != nil {
			p.OnRetry(attempt, wait, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last error: %v)", ctx.Err(), err)
		case <-time.After(wait):
		}
		wait = min(2*wait, p.Max)
	}
}
