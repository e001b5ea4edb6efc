package e2e

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"github.com/twmb/franz-go/pkg/kmsg"
	"hash/crc32"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/aegisai/audit/internal/testbed/pipeline"
	"github.com/aegisai/audit/producer"
	"github.com/aegisai/audit/shared"
)

// txnClient is a transactional producer of the decisions topic, as a
// producer that bypasses ours and holds a transactional id may be.
func txnClient(t *testing.T, topic, id string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(stack.KafkaAddr), kgo.DefaultProduceTopic(topic),
		kgo.TransactionalID(id), kgo.TransactionTimeout(10 * time.Second)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// abortTxn writes values in one transaction of cl and aborts it.
func abortTxn(ctx context.Context, t *testing.T, cl *kgo.Client, values ...[]byte) {
	t.Helper()
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	for _, v := range values {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: v}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	if err := cl.EndTransaction(ctx, kgo.TryAbort); err != nil {
		t.Fatal(err)
	}
}

// sealsPastABomb publishes a bomb after what the caller wrote, then
// events, and fails unless every event is sealed after the bomb's entry.
func sealsPastABomb(ctx context.Context, t *testing.T, p *pipeline.Pipeline, before uint64) {
	t.Helper()
	bomb, _ := bombBatch(t, 1<<20, zstd.SpeedDefault) // 1 MiB of zeros: far past 256 times
	produceBatch(ctx, t, p.Cfg.Topic, bomb)
	after := pipeline.NewWorkload(p.Cfg.Chain, "after-"+p.Cfg.Chain, 2, 0, 1, 61, time.Now())
	publish(t, p, after.Events)
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := p.WaitHead(wctx, before+3); err != nil {
		t.Fatalf("the sealer did not seal past the bomb: head %+v, uncommitted %d: %v", p.Sealer.Head(), p.Sealer.Uncommitted(), err)
	}
	chain := readChain(t, p)
	if e := chain[before+1]; e.Type != shared.EntryInvalid || !strings.Contains(e.Invalid.Reason, "decompresses past") {
		t.Fatalf("seq %d is %s (%+v), want the bomb", before+1, e.Type, e.Invalid)
	}
	if _, err := p.Verify(ctx); err != nil {
		t.Fatal(err)
	}
}

// A producer with a transactional id (SECURITY.md section 3 grants ours
// none; one that bypasses ours may hold one) aborts two transactions and
// then writes a compression bomb. The sealer's raw read of the bomb
// (readUnreadable) took the first aborted transaction's records for
// records a read_committed consumer reads: its fetch of one byte got one
// batch and, from kfake, no aborted transactions, and it kept one aborted
// transaction per producer id (the last) where a broker lists several. It
// moved the consumer back to them; franz-go skipped them (it knows they
// are aborted) and reported the bomb again; and so on for ever. The
// attacker gains what the bomb fix took away: the sealer seals nothing
// more, and /readyz stays green while it spins.
func TestAttack33bTwoAbortedTransactionsBeforeABombStopTheSealer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p := startPipeline(t, pipeline.Config{Indexers: -1})
	<-p.Sealer.Ready()
	w := pipeline.NewWorkload(p.Cfg.Chain, p.Cfg.Chain, 1, 0, 1, 60, time.Now())
	publish(t, p, w.Events)
	if err := p.WaitHead(ctx, 1); err != nil {
		t.Fatal(err)
	}
	cl := txnClient(t, p.Cfg.Topic, "twice-"+p.Cfg.Chain)
	abortTxn(ctx, t, cl, []byte(decisionRecord(p.Cfg.Chain, "a1", `{}`)))
	abortTxn(ctx, t, cl, []byte(decisionRecord(p.Cfg.Chain, "a2", `{}`)))
	sealsPastABomb(ctx, t, p, 1)
}

// The same producer aborts one transaction of more than 1 MiB (three
// records of 400 KB, each its own batch), then writes a bomb. The raw read
// of the bomb fetches at most 1 MiB from the first offset after the last
// one polled: it sees aborted batches only and never reaches the bomb
// ("the broker answered no such batch" or "a batch cut short"), on every
// poll, for ever. franz-go, which fetched past them, does not fetch the
// partition again. The attacker stops the sealer for good.
func TestAttack33bAMebibyteOfAbortedRecordsBeforeABombStopsTheSealer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p := startPipeline(t, pipeline.Config{Indexers: -1})
	<-p.Sealer.Ready()
	w := pipeline.NewWorkload(p.Cfg.Chain, p.Cfg.Chain, 1, 0, 1, 62, time.Now())
	publish(t, p, w.Events)
	if err := p.WaitHead(ctx, 1); err != nil {
		t.Fatal(err)
	}
	cl := txnClient(t, p.Cfg.Topic, "big-"+p.Cfg.Chain, kgo.ProducerBatchMaxBytes(1_000_000), kgo.ProducerBatchCompression(kgo.NoCompression()))
	big := func(id string) []byte {
		return []byte(decisionRecord(p.Cfg.Chain, id, `{"s":"`+strings.Repeat("x", 400_000)+`"}`))
	}
	abortTxn(ctx, t, cl, big("b1"), big("b2"), big("b3"))
	sealsPastABomb(ctx, t, p, 1)
}

// A producer with a transactional id commits a transaction and writes a
// compression bomb right after it: between the last record the sealer
// polled and the bomb lies the transaction's commit marker, a control
// batch. The raw read of the bomb asked the broker for one byte (a fetch
// answers one batch then), found the marker and nothing after it ("the
// broker answered no such batch"), on every poll, for ever: the sealer
// sealed nothing more, as before the bomb fix, /readyz failing.
func TestAttack33bATransactionCommittedRightBeforeABombStopsTheSealer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p := startPipeline(t, pipeline.Config{Indexers: -1})
	<-p.Sealer.Ready()
	cl := txnClient(t, p.Cfg.Topic, "commit-"+p.Cfg.Chain)
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte(decisionRecord(p.Cfg.Chain, "c1", `{}`))}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	if err := p.WaitHead(ctx, 1); err != nil {
		t.Fatal(err)
	}
	sealsPastABomb(ctx, t, p, 1)
}

// A service records its decisions through our producer library with zstd
// (Config.Kafka takes any franz-go option; compression saves bandwidth),
// each decision carrying the same 16 KiB metadata (the most an event may
// hold: a policy's feature snapshot, say). franz-go puts the events of a
// Publish in one batch; zstd finds the metadata repeated across records,
// and the batch decompresses to more than 256 times its compressed size.
// The sealer took it for a compression bomb and sealed the whole batch as
// one INVALID entry: none of the decisions is an event of the chain, none
// is indexed, though every Publish returned nil. LIMITS.md ("Producers")
// says no producer of ours writes such a batch.
func TestAttack33bLegitimateEventsCompressedWithZstdAreSealedAsEvents(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p := startPipeline(t, pipeline.Config{Indexers: -1})
	<-p.Sealer.Ready()
	prod, err := p.Producer(ctx, func(c *producer.Config) {
		c.Kafka = append(c.Kafka, kgo.ProducerBatchCompression(kgo.ZstdCompression()))
	})
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	meta := []byte(`{"features":"` + strings.Repeat("0", shared.MaxMetadataBytes-20) + `"}`)
	w := pipeline.NewWorkload(p.Cfg.Chain, p.Cfg.Chain, 200, 0, 50, 63, time.Now())
	for _, e := range w.Events {
		e.Decision.Metadata = meta
	}
	if err := prod.Publish(ctx, w.Events...); err != nil {
		t.Fatal(err)
	}
	if err := p.WaitHead(ctx, 1); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	invalid, events := 0, 0
	for _, e := range readChain(t, p)[1:] {
		switch e.Type {
		case shared.EntryInvalid:
			invalid++
			t.Logf("seq %d INVALID: %.160s", e.Seq, e.Invalid.Reason)
		case shared.EntryEvent:
			events++
		}
	}
	if invalid > 0 || events != len(w.Events) {
		t.Fatalf("%d decisions published and confirmed; sealed %d events and %d INVALID entries", len(w.Events), events, invalid)
	}
}

// rawBatch is a Kafka record batch (magic 2) of one record of value v,
// its records compressed by compress under codec attrs.
func rawBatch(v []byte, attrs int16, compress func([]byte) []byte) []byte {
	body := []byte{0}                    // attributes
	body = binary.AppendVarint(body, 0)  // timestamp delta
	body = binary.AppendVarint(body, 0)  // offset delta
	body = binary.AppendVarint(body, -1) // no key
	body = binary.AppendVarint(body, int64(len(v)))
	body = append(body, v...)
	body = append(body, 0) // no headers
	rec := append(binary.AppendVarint(nil, int64(len(body))), body...)
	now := time.Now().UnixMilli()
	b := kmsg.RecordBatch{PartitionLeaderEpoch: -1, Magic: 2, Attributes: attrs, FirstTimestamp: now, MaxTimestamp: now,
		ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1, NumRecords: 1, Records: compress(rec)}
	raw := b.AppendTo(nil)
	binary.BigEndian.PutUint32(raw[8:], uint32(len(raw)-12))
	binary.BigEndian.PutUint32(raw[17:], crc32.Checksum(raw[21:], crc32.MakeTable(crc32.Castagnoli)))
	return raw
}

// A producer that bypasses ours writes a batch whose gzip member is
// followed by a few zero bytes. Kafka's broker validates compressed
// batches by decompressing them with java.util.zip.GZIPInputStream, which
// ignores what follows the last member that is not one; Go's gzip reader
// (the sealer's BoundedDecompression and franz-go's own) refuses it
// ("gzip: invalid header" or an unexpected EOF). franz-go reports a
// decompression error that is not ErrDecompressTooLarge, which the sealer
// does not seal: it fetches the batch again and again, sealing nothing
// more, as before the bomb fix. The attacker stops the sealer for good.
func TestAttack33bAGzipBatchWithTrailingBytesDoesNotStopTheSealer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p := startPipeline(t, pipeline.Config{Indexers: -1})
	<-p.Sealer.Ready()
	w := pipeline.NewWorkload(p.Cfg.Chain, p.Cfg.Chain, 1, 0, 1, 64, time.Now())
	publish(t, p, w.Events)
	if err := p.WaitHead(ctx, 1); err != nil {
		t.Fatal(err)
	}
	batch := rawBatch([]byte(decisionRecord(p.Cfg.Chain, "gz", `{}`)), 1, func(rec []byte) []byte {
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		zw.Write(rec)
		zw.Close()
		return append(b.Bytes(), make([]byte, 16)...)
	})
	produceBatch(ctx, t, p.Cfg.Topic, batch)
	after := pipeline.NewWorkload(p.Cfg.Chain, "after-"+p.Cfg.Chain, 2, 0, 1, 65, time.Now())
	publish(t, p, after.Events)
	wctx, cancel2 := context.WithTimeout(ctx, 20*time.Second)
	defer cancel2()
	if err := p.WaitHead(wctx, 4); err != nil {
		t.Fatalf("the sealer did not seal past the batch: head %+v: %v", p.Sealer.Head(), err)
	}
	chain := readChain(t, p)
	if e := chain[2]; e.Type != shared.EntryInvalid || e.Invalid.Size != len(batch) || !strings.Contains(e.Invalid.Reason, "does not decompress") {
		t.Fatalf("seq 2 is %s (%+v), want the batch as an invalid entry", e.Type, e.Invalid)
	}
	if _, err := p.Verify(ctx); err != nil {
		t.Fatal(err)
	}
}

// A producer with a transactional id writes a compression bomb (a value
// of 900 KB of zeros under zstd) in a transaction and aborts it. A
// read_committed reader never sees the batch; but franz-go decompresses a
// batch before it looks whether it is aborted, so the sealer is told of a
// batch too large, reads it raw and seals it as an INVALID entry: the
// chain holds a record the topic, read as the sealer reads it, does not.
func TestAttack33bAnAbortedBombIsNotSealed(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p := startPipeline(t, pipeline.Config{Indexers: -1})
	<-p.Sealer.Ready()
	cl := txnClient(t, p.Cfg.Topic, "abortedbomb-"+p.Cfg.Chain, kgo.ProducerBatchCompression(kgo.ZstdCompression()))
	abortTxn(ctx, t, cl, make([]byte, 900_000))
	w := pipeline.NewWorkload(p.Cfg.Chain, p.Cfg.Chain, 2, 0, 1, 66, time.Now())
	publish(t, p, w.Events)
	if err := p.WaitHead(ctx, 2); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	for _, e := range readChain(t, p)[1:] {
		if e.Type != shared.EntryEvent {
			t.Fatalf("seq %d (offset %d) is %s: %.200s", e.Seq, e.Source.Offset, e.Type, e.Invalid.Reason)
		}
	}
}

// Bombs as the topic's first records, three in a row (one of them an
// unreadable gzip batch), then events; then the sealer is stopped and its
// group's commit set back to offset 0, as after a crash before its first
// commit, and a new sealer recovers over them (its head a bomb's entry,
// read again at start).
// Each bomb is sealed once, in offset order; the chain verifies.
func TestAttack33bBombsFirstAndInARowSurviveARestart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p := startPipeline(t, pipeline.Config{Indexers: -1})
	<-p.Sealer.Ready()
	bomb, _ := bombBatch(t, 1<<20, zstd.SpeedDefault)
	gz := rawBatch([]byte("x"), 1, func(rec []byte) []byte { return []byte("not gzip at all") })
	for _, b := range [][]byte{bomb, gz, bomb} {
		produceBatch(ctx, t, p.Cfg.Topic, b)
	}
	w := pipeline.NewWorkload(p.Cfg.Chain, p.Cfg.Chain, 2, 0, 1, 67, time.Now())
	publish(t, p, w.Events)
	if err := p.WaitHead(ctx, 5); err != nil {
		t.Fatalf("head %+v: %v", p.Sealer.Head(), err)
	}
	check := func(p *pipeline.Pipeline, n int) {
		t.Helper()
		chain := readChain(t, p)
		if len(chain) != n+1 {
			t.Fatalf("%d entries, want %d", len(chain)-1, n)
		}
		for i, e := range chain[1:] {
			if e.Source.Offset != int64(i) || (i < 3) != (e.Type == shared.EntryInvalid) {
				t.Fatalf("seq %d: %s from offset %d", e.Seq, e.Type, e.Source.Offset)
			}
		}
		if _, err := p.Verify(ctx); err != nil {
			t.Fatal(err)
		}
	}
	check(p, 5)
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(stack.KafkaAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	rewind := kadm.Offsets{}
	rewind.AddOffset(p.Cfg.Topic, 0, 0, -1)
	if err := kadm.NewClient(cl).CommitAllOffsets(ctx, "aegis-sealer-"+p.Cfg.Chain, rewind); err != nil {
		t.Fatal(err)
	}
	again := startPipeline(t, p.Cfg)
	more := pipeline.NewWorkload(p.Cfg.Chain, "more-"+p.Cfg.Chain, 2, 0, 1, 68, time.Now())
	produceBatch(ctx, t, p.Cfg.Topic, bomb)
	publish(t, again, more.Events)
	if err := again.WaitHead(ctx, 8); err != nil {
		t.Fatalf("head %+v: %v (%v)", again.Sealer.Head(), err, again.Err())
	}
	chain := readChain(t, again)
	if len(chain) != 9 || chain[6].Type != shared.EntryInvalid || chain[6].Source.Offset != 5 {
		t.Fatalf("%d entries; seq 6 is %s", len(chain)-1, chain[6].Type)
	}
	if _, err := again.Verify(ctx); err != nil {
		t.Fatal(err)
	}
}
