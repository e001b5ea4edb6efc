package main

import (
	"fmt"
	"io"
	"time"
)

// progress shows a job's progress on one terminal line, rewritten at most
// five times a second; on anything else it writes nothing.
type progress struct {
	w     io.Writer
	what  string
	start time.Time
	last  time.Time
	on    bool
}

func newProgress(w io.Writer, what string) *progress {
	return &progress{w: w, what: what, start: time.Now(), on: isTerminal(w)}
}

func (p *progress) update(done, total int, entries uint64) {
	if !p.on || time.Since(p.last) < 200*time.Millisecond && done < total {
		return
	}
	p.last = time.Now()
	rate := float64(entries) / max(time.Since(p.start).Seconds(), 1e-3)
	pct := 100.0
	if total > 0 {
		pct = 100 * float64(done) / float64(total)
	}
	fmt.Fprintf(p.w, "\r%s: %d/%d objects (%.0f%%), %d entries, %.0f entries/s ", p.what, done, total, pct, entries, rate)
}

func (p *progress) done() {
	if p.on {
		fmt.Fprintln(p.w)
	}
}
