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

// attack34eTopic is a kfake cluster whose topic has partitions
// partitions, each holding before small records, a batch past a 64 KiB
// bound, then after small records.
func attack34eTopic(t *testing.T, ctx context.Context, topic string, partitions int32, before, after int) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(partitions, topic))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	w, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	bombs, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerBatchCompression(kgo.ZstdCompression()))
	if err != nil {
		t.Fatal(err)
	}
	defer bombs.Close()
	for p := range partitions {
		var rs []*kgo.Record
		for i := range before {
			rs = append(rs, &kgo.Record{Topic: topic, Partition: p, Value: fmt.Appendf(nil, "p%d before %d", p, i)})
		}
		if err := w.ProduceSync(ctx, rs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
		if err := bombs.ProduceSync(ctx, &kgo.Record{Topic: topic, Partition: p, Value: bytes.Repeat([]byte{0}, 512<<10)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
		rs = nil
		for i := range after {
			rs = append(rs, &kgo.Record{Topic: topic, Partition: p, Value: fmt.Appendf(nil, "p%d after %d", p, i)})
		}
		if err := w.ProduceSync(ctx, rs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// A poll that holds maxPollRecords records hands a fetch's partitions
// over in order and leaves the rest buffered: a partition whose records
// before a bomb, and the bomb's refusal, are still buffered is not among
// the poll's, yet franz-go logged its stop when the fetch came in.
// PassedOver takes it for a stop whose refusal was dropped and sets the
// partition back at the bomb, which drops the buffered records before it:
// they are never handed over. The indexer polls 1,000 records at a time
// over six partitions.
func TestAttack34eRecordsBeforeABombLeftBufferedByAFullPollAreRead(t *testing.T) {
	const topic = "sealed"
	const before, after = 300, 10
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := attack34eTopic(t, ctx, topic, 2, before, after)
	var u PassedOver
	cl, seen, own := groupReader(t, c, topic, &u)

	read := map[string]int{}
	var caughtUp time.Time
	for ctx.Err() == nil && (caughtUp.IsZero() || time.Since(caughtUp) < 2*time.Second) {
		pollCtx, cancelPoll := context.WithTimeout(ctx, 200*time.Millisecond)
		fetches := cl.PollRecords(pollCtx, 100)
		cancelPoll()
		for _, p := range own.take() {
			u.Forget(topic, p)
		}
		fetches.EachError(func(_ string, _ int32, err error) { u.Note(err) })
		fetches.EachRecord(func(r *kgo.Record) { read[string(r.Value)]++ })
		u.Pass(cl, fetches)
		if caughtUp.IsZero() && len(read) >= 2*(before+after) {
			caughtUp = time.Now()
		}
	}
	var missing []string
	for p := range 2 {
		for i := range before {
			if k := fmt.Sprintf("p%d before %d", p, i); read[k] == 0 {
				missing = append(missing, k)
			}
		}
		for i := range after {
			if k := fmt.Sprintf("p%d after %d", p, i); read[k] == 0 {
				missing = append(missing, k)
			}
		}
	}
	if len(missing) > 0 {
		seen.mu.Lock()
		defer seen.mu.Unlock()
		t.Errorf("%d of %d records never read (first %q, last %q); refusals logged: %v", len(missing), 2*(before+after),
			missing[0], missing[len(missing)-1], seen.seen)
	}
}

// A partition stopped at a bomb and revoked before the reader polled its
// refusal, passed over by the member it went to (which committed past the
// bomb and the records after it), and assigned back to the first reader
// within one of its polls (a poll waits up to 5 s on an idle topic; a
// member joining and leaving again is a rebalance each). The first
// reader kept franz-go's stop across Forget and, at its next poll holding
// none of the partition's records, set the partition back at the bomb:
// it read the bomb and every record after it again, and the indexer
// commits past the bomb again, below what the other member committed.
func TestAttack34eAStopKeptAcrossARevocationDoesNotUndoAnotherMembersPass(t *testing.T) {
	const topic = "sealed"
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	c := bombedTopic(t, ctx, topic, 2)

	var uA PassedOver
	seenA := &refusals{seen: map[int32]int{}, kick: make(chan struct{}, 1)}
	ownA := &ownership{}
	var assignedMu sync.Mutex
	assignedA := map[int32]int{}
	a, err := kgo.NewClient(append(append([]kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...), kgo.ConsumerGroup("indexers"),
		kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit(),
		kgo.FetchMaxWait(100 * time.Millisecond), kgo.WithLogger(uA.Logger(seenA)),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, ps map[string][]int32) {
			uA.Assigned(topic, ps[topic]) // as the indexer does
			assignedMu.Lock()
			defer assignedMu.Unlock()
			for _, p := range ps[topic] {
				assignedA[p]++
			}
		})}, ownA.opts()...), BoundedDecompression(64<<10)...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	// Both partitions stopped at their bombs, the refusals not polled.
	seenA.wait(t, 0, 1)
	seenA.wait(t, 1, 1)

	// B joins; one partition goes to it.
	var uB PassedOver
	b, _, ownB := groupReader(t, c, topic, &uB)
	var moved int32 = -1
	for moved < 0 {
		ownA.mu.Lock()
		if len(ownA.revoked) > 0 {
			moved = ownA.revoked[0]
		}
		ownA.mu.Unlock()
		select {
		case <-ctx.Done():
			t.Fatal("no partition was revoked from the first reader")
		case <-time.After(20 * time.Millisecond):
		}
	}
	// B passes over the bomb, reads the record after it and commits.
	want := fmt.Sprintf("after the bomb of partition %d", moved)
	for readByB := false; !readByB && ctx.Err() == nil; {
		pollCtx, cancelPoll := context.WithTimeout(ctx, time.Second)
		fetches := b.PollRecords(pollCtx, 100)
		cancelPoll()
		for _, p := range ownB.take() {
			uB.Forget(topic, p)
		}
		fetches.EachError(func(_ string, _ int32, err error) { uB.Note(err) })
		fetches.EachRecord(func(r *kgo.Record) { readByB = readByB || string(r.Value) == want })
		uB.Pass(b, fetches)
		if err := b.CommitUncommittedOffsets(ctx); err != nil {
			t.Fatal(err)
		}
	}
	committed := b.CommittedOffsets()[topic][moved].Offset
	if committed != 2 {
		t.Fatalf("B committed %d on partition %d, want 2", committed, moved)
	}
	// B leaves; the partition comes back to A, which has not polled since.
	b.LeaveGroup()
	b.Close()
	for {
		assignedMu.Lock()
		n := assignedA[moved]
		assignedMu.Unlock()
		if n >= 2 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("partition %d never came back to the first reader", moved)
		case <-time.After(20 * time.Millisecond):
		}
	}

	// A polls as the indexer does, for a few seconds.
	readByA := map[int32][]string{}
	passedByA := map[int32]int{}
	for end := time.Now().Add(4 * time.Second); time.Now().Before(end) && ctx.Err() == nil; {
		pollCtx, cancelPoll := context.WithTimeout(ctx, 500*time.Millisecond)
		fetches := a.PollRecords(pollCtx, 100)
		cancelPoll()
		for _, p := range ownA.take() {
			uA.Forget(topic, p)
		}
		fetches.EachError(func(_ string, _ int32, err error) { uA.Note(err) })
		fetches.EachRecord(func(r *kgo.Record) { readByA[r.Partition] = append(readByA[r.Partition], string(r.Value)) })
		for _, tl := range uA.Pass(a, fetches) {
			passedByA[tl.Partition]++
		}
	}
	if len(readByA[moved]) > 0 || passedByA[moved] > 0 {
		t.Errorf("partition %d, passed over by B, which committed at 2: the first reader passed its bomb over again %d times and read %q again",
			moved, passedByA[moved], readByA[moved])
	}
	if kept := 1 - moved; len(readByA[kept]) != 1 {
		t.Errorf("partition %d, kept by the first reader: read %q, want its record after the bomb once", kept, readByA[kept])
	}
}
