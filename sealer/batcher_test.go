package sealer

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

func rec(n int) *kgo.Record { return &kgo.Record{Value: make([]byte, n)} }

func TestBatcherClosesOnCountBytesAgeAndIdle(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1000, 0)}
	b := newBatcher(3, 2000, time.Second, clock.now)
	if b.due(true) || b.wait(time.Minute) != time.Minute {
		t.Fatal("an empty batch is never due and waits as long as allowed")
	}
	// Under load (not idle) a batch fills to its count.
	b.add(rec(10))
	b.add(rec(10))
	if b.due(false) {
		t.Fatal("two of three records, not idle, young: not due")
	}
	b.add(rec(10))
	if !b.full() || !b.due(false) || len(b.take()) != 3 || b.len() != 0 {
		t.Fatal("closes at the count limit")
	}
	// Size.
	b.add(rec(1000))
	if b.due(false) {
		t.Fatal("1512 of 2000 bytes: not due")
	}
	b.add(rec(100))
	if !b.due(false) {
		t.Fatal("closes at the byte limit")
	}
	b.take()
	// Age, by the injected clock, and the poll's wait shrinking to it.
	b.add(rec(1))
	clock.advance(400 * time.Millisecond)
	if b.due(false) || b.wait(time.Minute) != 600*time.Millisecond {
		t.Fatalf("wait %v, want the 600ms left of the age limit", b.wait(time.Minute))
	}
	clock.advance(600 * time.Millisecond)
	if !b.due(false) || b.wait(time.Minute) != time.Millisecond {
		t.Fatal("closes at the age limit")
	}
	b.take()
	// Light traffic: a lone record closes at once when the consumer is idle.
	b.add(rec(1))
	if !b.due(true) {
		t.Fatal("a lone record under light traffic is sealed at once")
	}
}
