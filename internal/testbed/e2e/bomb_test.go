package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"hash/crc32"
	"io"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/aegisai/audit/internal/testbed/pipeline"
	"github.com/aegisai/audit/shared"
)

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// bombBatch is a Kafka record batch of one record whose value is n zero
// bytes, compressed with zstd: a few kilobytes that decompress to n.
func bombBatch(t *testing.T, n int64, level zstd.EncoderLevel) (batch, compressed []byte) {
	t.Helper()
	body := []byte{0}                    // attributes
	body = binary.AppendVarint(body, 0)  // timestamp delta
	body = binary.AppendVarint(body, 0)  // offset delta
	body = binary.AppendVarint(body, -1) // no key
	body = binary.AppendVarint(body, n)  // value length
	rec := binary.AppendVarint(nil, int64(len(body))+n+1)
	rec = append(rec, body...)
	var comp bytes.Buffer
	enc, err := zstd.NewWriter(&comp, zstd.WithEncoderLevel(level))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := enc.Write(rec); err != nil {
		t.Fatal(err)
	}
	if _, err := io.CopyN(enc, zeros{}, n); err != nil {
		t.Fatal(err)
	}
	if _, err := enc.Write([]byte{0}); err != nil { // no headers
		t.Fatal(err)
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UnixMilli()
	b := kmsg.RecordBatch{PartitionLeaderEpoch: -1, Magic: 2, Attributes: 4, FirstTimestamp: now, MaxTimestamp: now,
		ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1, NumRecords: 1, Records: comp.Bytes()}
	raw := b.AppendTo(nil)
	binary.BigEndian.PutUint32(raw[8:], uint32(len(raw)-12))
	binary.BigEndian.PutUint32(raw[17:], crc32.Checksum(raw[21:], crc32.MakeTable(crc32.Castagnoli)))
	return raw, comp.Bytes()
}

func mustClient(t *testing.T) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(stack.KafkaAddr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// produceBatch writes a record batch as it is to partition 0 of topic (to
// every partition with all), as a producer that bypasses ours may.
func produceBatch(ctx context.Context, t *testing.T, topic string, batch []byte, all ...bool) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(stack.KafkaAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	topics, err := kadm.NewClient(cl).ListTopics(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	req := kmsg.NewPtrProduceRequest()
	req.Acks, req.TimeoutMillis = -1, 10000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic, rt.TopicID = topic, topics[topic].ID
	for partition := range topics[topic].Partitions {
		if partition != 0 && len(all) == 0 {
			continue
		}
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Partition, rp.Records = partition, batch
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range resp.Topics[0].Partitions {
		if p.ErrorCode != 0 {
			t.Fatalf("produce to partition %d: error code %d", p.Partition, p.ErrorCode)
		}
	}
}

// A producer with rights on the decisions topic that bypasses ours writes
// compression bombs: a few kilobytes of zstd that decompress to 100 MiB,
// and 228 KB that decompress to 1.1 GiB, past franz-go's own bound. Before,
// the sealer decompressed both (the second took the test process to 9.8 GB
// of memory) and then stopped at the second for good: franz-go fetches the
// partition no more. Now it is sealed as one INVALID entry holding the
// batch as the broker stores it, and the records after it are sealed; a
// sealer started again over it goes on, and the chain verifies.
func TestACompressionBombIsSealedAsInvalidAndTheChainGoesOn(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	p := startPipeline(t, pipeline.Config{Indexers: 1})
	w := pipeline.NewWorkload(p.Cfg.Chain, p.Cfg.Chain, 3, 0, 1, 21, time.Now())
	publish(t, p, w.Events)
	if err := p.WaitHead(ctx, 3); err != nil {
		t.Fatal(err)
	}
	batch, compressed := bombBatch(t, 100<<20, zstd.SpeedBestCompression)
	produceBatch(ctx, t, p.Cfg.Topic, batch)
	more := pipeline.NewWorkload(p.Cfg.Chain, "after-"+p.Cfg.Chain, 3, 0, 1, 22, time.Now())
	publish(t, p, more.Events)
	// Past franz-go's own bound: too large for the raw member.
	huge, _ := bombBatch(t, 1100<<20, zstd.SpeedFastest)
	produceBatch(ctx, t, p.Cfg.Topic, huge)
	after := pipeline.NewWorkload(p.Cfg.Chain, "huge-"+p.Cfg.Chain, 1, 0, 1, 24, time.Now())
	publish(t, p, after.Events)
	if err := p.WaitHead(ctx, 9); err != nil {
		t.Fatalf("the sealer did not seal past the bombs: %v", err)
	}
	chain := readChain(t, p)
	if e := chain[8]; e.Type != shared.EntryInvalid || e.Invalid.Size != len(huge) || e.Invalid.Raw != "" || chain[9].Event == nil {
		t.Fatalf("seq 8 and 9 are %s (%+v) and %s; want the huge bomb's batch of %d bytes and an event", e.Type, e.Invalid, chain[9].Type, len(huge))
	}
	e := chain[4]
	if e.Type != shared.EntryInvalid || e.Invalid == nil {
		t.Fatalf("seq 4 is %s, want the bomb's invalid entry", e.Type)
	}
	stored, err := base64.StdEncoding.DecodeString(e.Invalid.Raw)
	if err != nil || len(stored) != e.Invalid.Size || shared.Hash(sha256.Sum256(stored)) != e.Invalid.SHA256 {
		t.Fatalf("the entry's raw (%d bytes, %v) is not its size %d and sha256", len(stored), err, e.Invalid.Size)
	}
	var got kmsg.RecordBatch
	if err := got.ReadFrom(stored); err != nil || !bytes.Equal(got.Records, compressed) || got.NumRecords != 1 ||
		got.FirstOffset != e.Source.Offset || !bytes.Contains([]byte(e.Invalid.Reason), []byte("decompresses past")) {
		t.Fatalf("the entry holds batch %+v (%v), reason %q; want the bomb at offset %d", got.FirstOffset, err, e.Invalid.Reason, e.Source.Offset)
	}
	if chain[5].Event == nil || chain[7].Event == nil {
		t.Fatalf("the events after the bomb are sealed as %s, %s", chain[5].Type, chain[7].Type)
	}
	if _, err := p.Verify(ctx); err != nil {
		t.Fatal(err)
	}
	if err := p.WaitIndexed(ctx); err != nil {
		t.Fatal(err)
	}
	for _, d := range append(more.Decisions, after.Decisions...) {
		if _, err := p.Reader.Decision(ctx, d.Decision.DecisionID); err != nil {
			t.Fatalf("decision %s after the bomb: %v", d.Decision.DecisionID, err)
		}
	}

	// A sealer started again whose group's commit is not past the bombs
	// (it crashed between S3 and its commit) reads them again in its
	// recovery: the same entries, no fork.
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(stack.KafkaAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	rewind := kadm.Offsets{}
	rewind.AddOffset(p.Cfg.Topic, 0, chain[4].Source.Offset, -1)
	if err := kadm.NewClient(cl).CommitAllOffsets(ctx, "aegis-sealer-"+p.Cfg.Chain, rewind); err != nil {
		t.Fatal(err)
	}
	again := startPipeline(t, p.Cfg)
	last := pipeline.NewWorkload(p.Cfg.Chain, "last-"+p.Cfg.Chain, 2, 0, 1, 23, time.Now())
	publish(t, again, last.Events)
	if err := again.WaitHead(ctx, 11); err != nil {
		t.Fatalf("a sealer started again after the bomb: %v (%v)", err, again.Err())
	}
	if _, err := again.Verify(ctx); err != nil {
		t.Fatal(err)
	}
}
