package kafkaconn

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// slowMoves is a franz-go logger that takes a while over each manual
// SetOffsets' "assigning partitions" line (written before franz-go stops
// the fetches under way): it stands for a reader's goroutine descheduled
// between the two SetOffsets of a move, on a busy host, long enough for
// the fetch the first one starts to be answered.
type slowMoves struct{ *refusals }

func (slowMoves) Level() kgo.LogLevel { return kgo.LogLevelInfo }

func (l slowMoves) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	if msg == "assigning partitions" {
		for i := 0; i+1 < len(keyvals); i += 2 {
			if keyvals[i] == "why" && keyvals[i+1] == "from manual SetOffsets" {
				time.Sleep(20 * time.Millisecond)
			}
		}
	}
	l.refusals.Log(level, msg, keyvals...)
}

// A move past a refused batch first sets its partition one offset off,
// at the batch's last offset, then past it. The fetch the first set starts
// is dropped by the second, but when it is answered first, franz-go has
// logged the batch's refusal already: PassedOver took that line for a
// partition stopped at the batch it had just passed, and at the next poll
// holding none of its records set the partition back at the batch. The
// batch was passed over (and committed past) a second time and every
// record after it read and indexed again; a batch of several records
// (whose first set is not the second move's) can repeat it at each pass.
func TestAttack34cAMovePastABombIsNotUndoneByTheRefusalItsFirstSetLogs(t *testing.T) {
	const topic = "sealed"
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, topic))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	w, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.DefaultProduceTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	bombs, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.DefaultProduceTopic(topic),
		kgo.ProducerBatchCompression(kgo.ZstdCompression()))
	if err != nil {
		t.Fatal(err)
	}
	if err := bombs.ProduceSync(ctx, &kgo.Record{Value: bytes.Repeat([]byte{0}, 512<<10)}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	bombs.Close()
	const after = 20
	for i := range after {
		if err := w.ProduceSync(ctx, &kgo.Record{Value: fmt.Appendf(nil, "record %d", i)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()

	var u PassedOver
	seen := &refusals{seen: map[int32]int{}, kick: make(chan struct{}, 1)}
	own := &ownership{}
	cl, err := kgo.NewClient(append(append([]kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...), kgo.ConsumerGroup("indexers"),
		kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit(),
		kgo.FetchMaxWait(100 * time.Millisecond), kgo.WithLogger(u.Logger(slowMoves{seen}))}, own.opts()...),
		BoundedDecompression(64<<10)...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()

	read := map[string]int{}
	passed := 0
	var caughtUp time.Time
	for ctx.Err() == nil && (caughtUp.IsZero() || time.Since(caughtUp) < 2*time.Second) {
		pollCtx, cancelPoll := context.WithTimeout(ctx, 200*time.Millisecond)
		fetches := cl.PollRecords(pollCtx, 1000)
		cancelPoll()
		for _, p := range own.take() {
			u.Forget(topic, p)
		}
		fetches.EachError(func(_ string, _ int32, err error) { u.Note(err) })
		fetches.EachRecord(func(r *kgo.Record) { read[string(r.Value)]++ })
		passed += len(u.Pass(cl, fetches))
		if caughtUp.IsZero() && len(read) == after {
			caughtUp = time.Now()
		}
	}
	if len(read) != after {
		t.Fatalf("read %d of the %d records after the bomb", len(read), after)
	}
	again := 0
	for _, n := range read {
		again += n - 1
	}
	seen.mu.Lock()
	defer seen.mu.Unlock()
	if passed != 1 || again != 0 {
		t.Errorf("the bomb passed over %d times (want 1), %d records read again (want 0), %d refusals logged", passed, again, seen.seen[0])
	}
}
