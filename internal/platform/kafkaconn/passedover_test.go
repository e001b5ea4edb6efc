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

// bombedTopic is a kfake cluster whose topic has partitions partitions,
// each holding a batch past a 64 KiB bound and then a record naming it.
func bombedTopic(t *testing.T, ctx context.Context, topic string, partitions int32) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(partitions, topic))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
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
	for p := range partitions {
		produce(p, bomb, kgo.ZstdCompression())
		produce(p, fmt.Appendf(nil, "after the bomb of partition %d", p), kgo.NoCompression())
	}
	return c
}

// groupReader is a group consumer of topic under a 64 KiB bound, passing
// over refused batches with u, with the refusals it logs counted and the
// partitions revoked from it tracked.
func groupReader(t *testing.T, c *kfake.Cluster, topic string, u *PassedOver) (*kgo.Client, *refusals, *ownership) {
	t.Helper()
	seen := &refusals{seen: map[int32]int{}, kick: make(chan struct{}, 1)}
	own := &ownership{}
	opts := append([]kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...), kgo.ConsumerGroup("indexers"),
		kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit(),
		kgo.FetchMaxWait(100 * time.Millisecond), kgo.WithLogger(u.Logger(seen))}, own.opts()...)
	cl, err := kgo.NewClient(append(opts, BoundedDecompression(64<<10)...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl, seen, own
}

// ownership tracks, as the indexer does, the partitions revoked from a
// group consumer since its last poll.
type ownership struct {
	mu      sync.Mutex
	revoked []int32
}

func (o *ownership) opts() []kgo.Opt {
	revoke := func(_ context.Context, _ *kgo.Client, ps map[string][]int32) {
		o.mu.Lock()
		defer o.mu.Unlock()
		for _, list := range ps {
			o.revoked = append(o.revoked, list...)
		}
	}
	return []kgo.Opt{kgo.OnPartitionsRevoked(revoke), kgo.OnPartitionsLost(revoke)}
}

func (o *ownership) take() (revoked []int32) {
	o.mu.Lock()
	defer o.mu.Unlock()
	revoked, o.revoked = o.revoked, nil
	return revoked
}

// readPast polls cl as the indexer does until it has read want records
// or ctx is done, and returns the last record read from each partition.
func readPast(ctx context.Context, t *testing.T, cl *kgo.Client, topic string, u *PassedOver, own *ownership, want int) map[int32]string {
	got := map[int32]string{}
	for len(got) < want && ctx.Err() == nil {
		pollCtx, cancelPoll := u.PollContext(ctx)
		fetches := cl.PollRecords(pollCtx, 100)
		cancelPoll()
		for _, p := range own.take() {
			u.Forget(topic, p)
		}
		fetches.EachError(func(_ string, p int32, err error) {
			if !u.Note(err) && ctx.Err() == nil && pollCtx.Err() == nil {
				t.Errorf("partition %d: %v", p, err)
			}
		})
		fetches.EachRecord(func(r *kgo.Record) { got[r.Partition] = string(r.Value) })
		u.Pass(cl, fetches)
	}
	return got
}

// A group consumer's partition whose refusal franz-go dropped, with the
// fetch holding it, as another partition was moved past its own: the
// partition is set back at its batch and its refusal reported, although
// that is where it was last set. franz-go's group consumer ignores a
// SetOffsets to the offset a partition was last set to, and its cursor,
// stopped by the refusal, stayed stopped for good: one partition of the
// sealed topic stayed unindexed at its first bomb in fresh-clone CI runs
// (TestACompressionBombOnTheSealedTopicDoesNotStopTheIndexer).
func TestAPartitionWhoseRefusalWasDroppedIsReadAgain(t *testing.T) {
	const topic = "sealed"
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := bombedTopic(t, ctx, topic, 2)
	var u PassedOver
	cl, seen, own := groupReader(t, c, topic, &u)
	// Joined, both partitions fetched and stopped at their bombs
	// (refusals buffered, not polled).
	seen.wait(t, 0, 1)
	seen.wait(t, 1, 1)
	// Both set at their bombs (as a move sets a partition whose refusal
	// it dropped): franz-go drops the buffered refusals and fetches both
	// again, and both are refused again, unpolled.
	u.move(cl, map[kafkaPartition]kgo.EpochOffset{{topic, 0}: {Epoch: -1, Offset: 0}, {topic, 1}: {Epoch: -1, Offset: 0}},
		map[kafkaPartition]bool{{topic, 0}: true, {topic, 1}: true})
	seen.wait(t, 0, 2)
	seen.wait(t, 1, 2)
	// Partition 1's refusal is polled and passed over, which drops
	// partition 0's buffered refusal again. Partition 0 is set back at its
	// bomb, where it was last set: it must still be fetched, and its
	// refusal reported.
	u.Note(&kgo.ErrDecompressTooLarge{Topic: topic, Partition: 1, Offset: 0, Epoch: -1, NextOffset: 1})
	if passed := u.Pass(cl, kgo.Fetches{}); len(passed) != 1 {
		t.Fatalf("passed %d batches, want partition 1's", len(passed))
	}

	got := readPast(ctx, t, cl, topic, &u, own, 2)
	for p := range int32(2) {
		if want := fmt.Sprintf("after the bomb of partition %d", p); got[p] != want {
			seen.mu.Lock()
			t.Errorf("partition %d: read %q after %d refusals, want %q", p, got[p], seen.seen[p], want)
			seen.mu.Unlock()
		}
	}
}

// A group consumer's partition whose refusal franz-go dropped, with every
// buffered fetch, when a rebalance took another partition from it: the
// reader, which knows from franz-go's log that it stopped the partition,
// sets it back at its batch, and the refusal is reported again.
func TestARefusalDroppedByARebalanceIsReportedAgain(t *testing.T) {
	const topic = "sealed"
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := bombedTopic(t, ctx, topic, 2)
	var uA, uB PassedOver
	a, seenA, ownA := groupReader(t, c, topic, &uA)
	seenA.wait(t, 0, 1)
	seenA.wait(t, 1, 1)
	// A second reader joins: the rebalance takes a partition from the
	// first, whose buffered refusals franz-go drops, the kept partition's
	// with them.
	b, seenB, ownB := groupReader(t, c, topic, &uB)
	for {
		ownA.mu.Lock()
		n := len(ownA.revoked)
		ownA.mu.Unlock()
		if n > 0 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("no partition was revoked from the first reader")
		case <-time.After(20 * time.Millisecond):
		}
	}

	var wg sync.WaitGroup
	var gotA, gotB map[int32]string
	wg.Go(func() { gotA = readPast(ctx, t, a, topic, &uA, ownA, 1) })
	wg.Go(func() { gotB = readPast(ctx, t, b, topic, &uB, ownB, 1) })
	wg.Wait()
	for p := range int32(2) {
		want := fmt.Sprintf("after the bomb of partition %d", p)
		if gotA[p] != want && gotB[p] != want {
			t.Errorf("partition %d: neither reader read %q (first read %v after %v refusals, second %v after %v)", p, want,
				gotA, seenA.seen, gotB, seenB.seen)
		}
	}
}

// A partition revoked and assigned again between two polls, and stopped
// anew by then: the reader learns of the revocation (Forget) after
// franz-go logged the new stop. Forgetting that stop too left the
// partition stopped for good once a move past another partition's batch
// dropped its refusal.
func TestAStopLoggedBeforeARevocationIsTakenIsKept(t *testing.T) {
	const topic = "sealed"
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := bombedTopic(t, ctx, topic, 2)
	var u PassedOver
	cl, seen, own := groupReader(t, c, topic, &u)
	seen.wait(t, 0, 1)
	seen.wait(t, 1, 1)
	// Partition 0's revocation and new assignment, taken at this poll.
	u.Forget(topic, 0)
	u.Note(&kgo.ErrDecompressTooLarge{Topic: topic, Partition: 1, Offset: 0, Epoch: -1, NextOffset: 1})
	if passed := u.Pass(cl, kgo.Fetches{}); len(passed) != 1 {
		t.Fatalf("passed %d batches, want partition 1's", len(passed))
	}
	got := readPast(ctx, t, cl, topic, &u, own, 2)
	for p := range int32(2) {
		if want := fmt.Sprintf("after the bomb of partition %d", p); got[p] != want {
			t.Errorf("partition %d: read %q, want %q", p, got[p], want)
		}
	}
}
