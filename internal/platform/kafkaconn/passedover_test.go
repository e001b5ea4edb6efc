package kafkaconn

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// refusals counts, per partition, the batches franz-go refused as too
// large (its error log line when it stops the partition's cursor).
type refusals struct {
	mu   sync.Mutex
	seen map[int32]int
	kick chan struct{}
}

func (r *refusals) Level() kgo.LogLevel { return kgo.LogLevelError }

func (r *refusals) Log(_ kgo.LogLevel, msg string, keyvals ...any) {
	if msg != "batch decompresses larger than MaxDecompressBatchBytes, stopping consuming the partition; skip the batch with SetOffsets" {
		return
	}
	for i := 0; i+1 < len(keyvals); i += 2 {
		if keyvals[i] == "partition" {
			r.mu.Lock()
			r.seen[keyvals[i+1].(int32)]++
			r.mu.Unlock()
			select {
			case r.kick <- struct{}{}:
			default:
			}
		}
	}
}

// wait returns once partition p's batch was refused n times.
func (r *refusals) wait(t *testing.T, p int32, n int) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		r.mu.Lock()
		got := r.seen[p]
		r.mu.Unlock()
		if got >= n {
			return
		}
		select {
		case <-r.kick:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			t.Fatalf("partition %d: %d refusals, want %d", p, got, n)
		}
	}
}

// A group consumer's partition whose refusal franz-go dropped, with the
// fetch holding it, as another partition was moved past its own: the
// partition is set again and its refusal reported, although what it is set
// to is where it was already set. franz-go's group consumer ignores a
// SetOffsets to the offset a partition was last set to, and its cursor,
// stopped by the refusal, stayed stopped for good: one partition of the
// sealed topic stayed unindexed at its first bomb in fresh-clone CI runs
// (TestACompressionBombOnTheSealedTopicDoesNotStopTheIndexer).
func TestAPartitionWhoseRefusalWasDroppedIsReadAgain(t *testing.T) {
	const topic = "sealed"
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, topic))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	produce := func(p int32, value []byte, codec kgo.CompressionCodec) {
		t.Helper()
		w, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.RecordPartitioner(kgo.ManualPartitioner()),
			kgo.ProducerBatchCompression(codec))
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		if err := w.ProduceSync(ctx, &kgo.Record{Topic: topic, Partition: p, Value: value}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	bomb := bytes.Repeat([]byte{0}, 512<<10) // past a 64 KiB bound
	for p := range int32(2) {
		produce(p, bomb, kgo.ZstdCompression())
		produce(p, fmt.Appendf(nil, "after the bomb of partition %d", p), kgo.NoCompression())
	}

	seen := &refusals{seen: map[int32]int{}, kick: make(chan struct{}, 1)}
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...), kgo.ConsumerGroup("indexers"),
		kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit(),
		kgo.FetchMaxWait(100 * time.Millisecond), kgo.WithLogger(seen)}, BoundedDecompression(64<<10)...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var u PassedOver
	// Joined, both partitions fetched and stopped at their bombs
	// (refusals buffered, not polled).
	seen.wait(t, 0, 1)
	seen.wait(t, 1, 1)
	// A move (an idle reader's, or one past another partition's batch)
	// sets both where they start: franz-go drops the buffered refusals and
	// fetches both again, and both are refused again, unpolled.
	u.From(topic, 0, 0)
	u.From(topic, 1, 0)
	u.moveAll(cl, nil)
	seen.wait(t, 0, 2)
	seen.wait(t, 1, 2)
	// Partition 1's refusal is polled and passed over, which drops
	// partition 0's buffered refusal again. Partition 0 is set where it
	// was last set: it must still be fetched, and its refusal reported.
	u.Note(&kgo.ErrDecompressTooLarge{Topic: topic, Partition: 1, Offset: 0, Epoch: -1, NextOffset: 1})
	if passed := u.Pass(cl, kgo.Fetches{}); len(passed) != 1 {
		t.Fatalf("passed %d batches, want partition 1's", len(passed))
	}

	got := map[int32]string{}
	for len(got) < 2 && ctx.Err() == nil {
		pollCtx, cancelPoll := u.PollContext(ctx)
		fetches := cl.PollRecords(pollCtx, 100)
		cancelPoll()
		fetches.EachError(func(_ string, p int32, err error) {
			if !u.Note(err) && ctx.Err() == nil && pollCtx.Err() == nil {
				t.Errorf("partition %d: %v", p, err)
			}
		})
		fetches.EachRecord(func(r *kgo.Record) { got[r.Partition] = string(r.Value) })
		u.Pass(cl, fetches)
	}
	for p := range int32(2) {
		if want := fmt.Sprintf("after the bomb of partition %d", p); got[p] != want {
			seen.mu.Lock()
			t.Errorf("partition %d: read %q after %d refusals, want %q", p, got[p], seen.seen[p], want)
			seen.mu.Unlock()
		}
	}
}
