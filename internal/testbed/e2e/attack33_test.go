package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/aegisai/audit/internal/platform/topics"
	"github.com/aegisai/audit/internal/testbed/pipeline"
	"github.com/aegisai/audit/sealer"
	"github.com/aegisai/audit/shared"
)

// Attack 33: a hostile producer on the decisions topic.

// Someone allowed to alter the decisions topic (an attacker with more
// than Write, or an operator who "scales" it) adds a partition while the
// sealer runs, and records are produced to both. At its start the sealer
// refuses a topic of more than one partition (topics.EnsureSingle), but
// its group consumes every partition of the topic, and a partition added
// under it was sealed like the first: its records were chained into the
// same objects as partition 0's, offsets going back (FORMAT.md section 6:
// every entry of a chain is read from one partition, offsets rising), and
// signed, so that every verifier refuses the chain from there on, for
// good; the transaction then committed partition 0's offset at the
// highest offset polled of any partition, past records of partition 0 it
// never sealed; and the sealer stopped on a "topic lost". It must stop as
// at its start (topics.ErrNotSingle) with nothing of another partition
// sealed and no offset committed past what it sealed.
func TestAttack33APartitionAddedUnderTheSealer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	first := startPipeline(t, pipeline.Config{Indexers: -1})
	w := pipeline.NewWorkload(first.Cfg.Chain, first.Cfg.Chain, 10, 0, 3, 33, time.Now())
	publish(t, first, w.Events[:5])
	if err := first.WaitHead(ctx, 5); err != nil {
		t.Fatal(err)
	}
	if err := first.Stop(); err != nil {
		t.Fatal(err)
	}
	s, err := sealer.New(ctx, sealer.Config{
		Brokers: stack.Brokers, Topic: first.Cfg.Topic, SealedTopic: first.Cfg.SealedTopic, Chain: first.Cfg.Chain,
		S3: first.S3, Bucket: first.Cfg.Bucket, Retention: 24 * time.Hour,
		SignerKey: first.Cfg.SignerKey, VerifierKey: first.Cfg.VerifierKey, BatchMaxAge: 200 * time.Millisecond,
		// The client learns of a new partition at its next metadata
		// refresh (5 minutes by default): sooner here.
		KafkaOptions: []kgo.Opt{kgo.MetadataMinAge(250 * time.Millisecond), kgo.MetadataMaxAge(time.Second)},
	})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	stopped := make(chan error, 1)
	go func() { stopped <- s.Run(runCtx) }()
	<-s.Ready()

	cl, err := kgo.NewClient(kgo.SeedBrokers(stack.KafkaAddr), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := kadm.NewClient(cl).CreatePartitions(ctx, 1, first.Cfg.Topic); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second) // the sealer's client sees the partition and its group takes it
	for round, e := range w.Events[5:] {
		v, err := e.Record()
		if err != nil {
			t.Fatal(err)
		}
		recs := []*kgo.Record{{Topic: first.Cfg.Topic, Partition: 0, Value: v}}
		for i := range 20 {
			recs = append(recs, &kgo.Record{Topic: first.Cfg.Topic, Partition: 1,
				Value: []byte(decisionRecord(first.Cfg.Chain, fmt.Sprint("p1-", round, "-", i), `{}`))})
		}
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	var runErr error
	select {
	case runErr = <-stopped:
	case <-time.After(20 * time.Second):
		stop()
		runErr = <-stopped
	}

	head := s.Head()
	offsets := map[int64]int{}
	for _, e := range readChain(t, first)[1:] {
		if e.Source.Partition != 0 {
			t.Fatalf("seq %d was sealed from partition %d (offset %d) of the decisions topic: the chain breaks there for good",
				e.Seq, e.Source.Partition, e.Source.Offset)
		}
		offsets[e.Source.Offset]++
	}
	for off, n := range offsets {
		if n != 1 || off > head.Offset {
			t.Fatalf("offset %d sealed %d times (head offset %d)", off, n, head.Offset)
		}
	}
	if rep, err := first.Verify(ctx); err != nil || rep.Head != head {
		t.Fatalf("verify: %+v, %v; want the chain up to head %+v", rep.LogReport, err, head)
	}
	committed, err := kadm.NewClient(cl).FetchOffsets(ctx, "aegis-sealer-"+first.Cfg.Chain)
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := committed.Lookup(first.Cfg.Topic, 0); ok && o.At > head.Offset+1 {
		t.Fatalf("the sealer's group committed offset %d of partition 0, past the head's offset %d: records in between are skipped for good", o.At, head.Offset)
	}
	if !errors.Is(runErr, topics.ErrNotSingle) {
		t.Fatalf("the sealer: %v; want it stopped on the topic's second partition (topics.ErrNotSingle), as at its start", runErr)
	}
}

// A record of about 900 KB, under the broker's 1 MB: an object with one
// member name of 450,000 U+0085 (a C1 control, two bytes of UTF-8 each)
// and no ':' after it. The reason of its INVALID entry quoted the name
// whole, Go-quoted (six bytes for each) and then JSON-escaped in the
// line: a sealed line of about 3 MB, which the sealer could not publish
// to the sealed topic (a record over the broker's limit), and it failed
// every transaction after it. A second record, a name of 420,000 ASCII
// letters, made a reason that the sealer published and the indexer could
// not write (an item over DynamoDB's 400 KB): the indexer stopped. The
// legitimate events after them must still be sealed, published and
// indexed.
func TestAttack33AReasonQuotingAHugeMemberNameIsPublished(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p := startPipeline(t, pipeline.Config{Indexers: 1})
	<-p.Sealer.Ready()
	cl, err := kgo.NewClient(kgo.SeedBrokers(stack.KafkaAddr), kgo.DefaultProduceTopic(p.Cfg.Topic))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	values := [][]byte{[]byte(`{"` + strings.Repeat("\u0085", 450_000) + `"}`), []byte(`{"` + strings.Repeat("a", 420_000) + `"}`)}
	for _, v := range values {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: v}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	w := pipeline.NewWorkload(p.Cfg.Chain, p.Cfg.Chain, 5, 0, 3, 35, time.Now())
	publish(t, p, w.Events)
	wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
	defer wcancel()
	if err := p.WaitHead(wctx, 7); err != nil {
		t.Fatalf("the events after the record are not sealed and published: %v (head %+v, %d uncommitted)", err, p.Sealer.Head(), p.Sealer.Uncommitted())
	}
	if err := p.WaitIndexed(wctx); err != nil {
		t.Fatal(err)
	}
	for _, d := range w.Decisions {
		if _, err := p.Reader.Decision(ctx, d.Decision.DecisionID); err != nil {
			t.Fatalf("decision %s after the record not indexed: %v", d.Decision.DecisionID, err)
		}
	}
	if _, err := p.Verify(ctx); err != nil {
		t.Fatal(err)
	}
	for i, v := range values {
		if e := readChain(t, p)[1+i]; e.Type != shared.EntryInvalid || e.Invalid.Size != len(v) || len(e.Invalid.Reason) > shared.MaxInvalidReason+64 {
			t.Fatalf("record %d sealed as %s, %+v; want INVALID of its %d bytes with a reason of at most %d bytes", i, e.Type, e.Invalid.Size, len(v), shared.MaxInvalidReason)
		}
	}
}

// Records a hostile producer sends with franz-go's client, bypassing the
// producer library: no value (a tombstone), empty, not JSON, JSON of every
// trick (byte order mark, duplicate and escaped member names, invalid
// UTF-8, NUL, lone surrogates, deep nesting, huge and long numbers,
// trailing bytes), an event of another chain, keys of 100 KB and headers
// by the thousand with names like ours and binary values, and a value
// near the broker's limit. Each is sealed once, in offset order, as an
// event or an INVALID entry holding its size and SHA-256 (its bytes when
// at most 64 KiB); the chain verifies; the events after them are indexed.
func TestAttack33HostileRecordsAreSealedOnceAndThePipelineGoesOn(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p := startPipeline(t, pipeline.Config{Indexers: 1})
	<-p.Sealer.Ready()
	chain := p.Cfg.Chain
	valid := decisionRecord(chain, "ok", `{}`)
	values := [][]byte{
		nil,
		{},
		[]byte("null"), []byte("[]"), []byte(`"x"`), []byte("{"), []byte("}{"), []byte("{} x"), []byte("\x00"),
		append([]byte("\xef\xbb\xbf"), valid...),
		[]byte(strings.Replace(valid, `"type":"decision"`, `"type":"decision","type":"decision"`, 1)),
		[]byte(strings.Replace(valid, `"type":"decision"`, `"\u0074ype":"decision"`, 1)),
		[]byte(strings.Replace(valid, `"type":"decision"`, `"type":"decision","\u0074ype":"override"`, 1)),
		[]byte(strings.Replace(valid, `"u-ok"`, "\"u-\xff\xfe\"", 1)),
		[]byte(strings.Replace(valid, `"u-ok"`, `"u-\u0000"`, 1)),
		[]byte(strings.Replace(valid, `"u-ok"`, `"u-\ud800"`, 1)),
		[]byte(strings.Replace(valid, `"u-ok"`, `"u-\ufdd0"`, 1)),
		[]byte(strings.Repeat("[", 100_000) + strings.Repeat("]", 100_000)),
		[]byte(decisionRecord(chain, "deep", strings.Repeat(`{"a":`, 40)+"1"+strings.Repeat("}", 40))),
		[]byte(decisionRecord(chain, "n1", `{"x":1e999999999999}`)),
		[]byte(decisionRecord(chain, "n2", `{"x":1`+strings.Repeat("0", 300_000)+`}`)),
		[]byte(decisionRecord(chain, "n3", `{"x":0.`+strings.Repeat("0", 300_000)+`1}`)),
		[]byte(decisionRecord(chain, "n4", `{"x":-0}`)),
		[]byte(decisionRecord("other-chain", "env", `{}`)),
		[]byte(`{"environment":"` + chain + `","type":"key_change","verifier_key":"` + strings.Repeat("A", 200_000) + `"}`),
		[]byte(decisionRecord(chain, "big", `{"s":"`+strings.Repeat("x", 990_000)+`"}`)),
	}
	var headers []kgo.RecordHeader
	for i := range 2000 {
		headers = append(headers, kgo.RecordHeader{Key: fmt.Sprint("aegis-chain-", i), Value: []byte{0, 0xff, byte(i)}})
	}
	headers = append(headers, kgo.RecordHeader{Key: "recorded_by", Value: []byte("token:admin")}, kgo.RecordHeader{Key: "", Value: nil})
	cl, err := kgo.NewClient(kgo.SeedBrokers(stack.KafkaAddr), kgo.DefaultProduceTopic(p.Cfg.Topic), kgo.ProducerBatchMaxBytes(1_040_000))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var sent [][]byte
	for i, v := range values {
		rec := &kgo.Record{Value: v}
		switch i % 3 {
		case 1:
			rec.Key = bytes.Repeat([]byte{0xff, 0}, 50_000)
		case 2:
			rec.Headers = headers
		}
		if len(v) > 500_000 {
			rec.Key, rec.Headers = nil, nil
		}
		if err := cl.ProduceSync(ctx, rec).FirstErr(); err != nil {
			t.Fatalf("record %d (%d bytes): %v", i, len(v), err)
		}
		sent = append(sent, v)
	}
	w := pipeline.NewWorkload(chain, chain, 5, 0, 3, 37, time.Now())
	publish(t, p, w.Events)
	n := uint64(len(sent) + len(w.Events))
	if err := p.WaitHead(ctx, n); err != nil {
		t.Fatalf("head %+v: %v", p.Sealer.Head(), err)
	}
	if err := p.WaitIndexed(ctx); err != nil {
		t.Fatal(err)
	}
	entries := readChain(t, p)
	if uint64(len(entries)) != n+1 {
		t.Fatalf("%d entries, want %d", len(entries), n+1)
	}
	for i, v := range sent {
		e := entries[i+1]
		if e.Source.Offset != int64(i) {
			t.Fatalf("seq %d sealed from offset %d, want %d", e.Seq, e.Source.Offset, i)
		}
		if e.Type != shared.EntryInvalid {
			t.Logf("record %d (%.40q) sealed as %s", i, v, e.Type)
			continue
		}
		raw, _ := decodeB64(e.Invalid.Raw)
		if e.Invalid.Size != len(v) || e.Invalid.SHA256 != shared.Hash(sha256.Sum256(v)) || (len(v) > 0 && len(v) <= shared.MaxInvalidRaw) != (e.Invalid.Raw != "") ||
			e.Invalid.Raw != "" && !bytes.Equal(raw, v) || e.Invalid.Reason == "" || len(e.Invalid.Reason) > shared.MaxInvalidReason+64 {
			t.Fatalf("record %d (%.40q, %d bytes) sealed as INVALID %d bytes, raw of %d, reason %.200q", i, v, len(v), e.Invalid.Size, len(raw), e.Invalid.Reason)
		}
	}
	if _, err := p.Verify(ctx); err != nil {
		t.Fatal(err)
	}
	for _, d := range w.Decisions {
		if _, err := p.Reader.Decision(ctx, d.Decision.DecisionID); err != nil {
			t.Fatalf("decision %s after the hostile records not indexed: %v", d.Decision.DecisionID, err)
		}
	}
}

// A producer allowed a transactional id of its own (docs/SECURITY.md
// section 3 grants producers none: this is what one would do with it)
// opens a transaction on the decisions topic and never ends it, then
// another that it aborts, and one it commits late. The sealer reads
// committed records only (read_committed): the events published after
// the open transaction wait behind it until the broker aborts it at its
// timeout (the producer's to choose, up to transaction.max.timeout.ms,
// 15 minutes by default), then every event is sealed once, in order; the
// aborted records never are, the late-committed one is, and the chain
// verifies. While they wait, aegis_sealer_lag_records says 0: the
// records behind an open transaction are past the topic's last stable
// offset, which is what the sealer counts (AegisSealerStalledWhileProducing,
// on the producers' counts, is the alert that sees such a stall).
func TestAttack33TransactionsLeftOpenAbortedOrCommittedLate(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p := startPipeline(t, pipeline.Config{Indexers: -1})
	<-p.Sealer.Ready()
	chain := p.Cfg.Chain
	txn := func(id string) *kgo.Client {
		cl, err := kgo.NewClient(kgo.SeedBrokers(stack.KafkaAddr), kgo.DefaultProduceTopic(p.Cfg.Topic),
			kgo.TransactionalID(id), kgo.TransactionTimeout(3*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cl.Close)
		if err := cl.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		return cl
	}
	open := txn("open-" + chain)
	if err := open.ProduceSync(ctx, &kgo.Record{Value: []byte(decisionRecord(chain, "open", `{}`))}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	w := pipeline.NewWorkload(chain, chain, 3, 0, 3, 38, time.Now())
	publish(t, p, w.Events)
	aborted := txn("aborted-" + chain)
	if err := aborted.ProduceSync(ctx, &kgo.Record{Value: []byte(decisionRecord(chain, "aborted", `{}`))}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if err := aborted.EndTransaction(ctx, kgo.TryAbort); err != nil {
		t.Fatal(err)
	}
	late := txn("late-" + chain)
	if err := late.ProduceSync(ctx, &kgo.Record{Value: []byte(decisionRecord(chain, "late", `{}`))}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	if h := p.Sealer.Head(); h.Seq != 0 {
		t.Fatalf("head seq %d while a transaction before every record is open: the sealer read past the last stable offset", h.Seq)
	}
	t.Logf("records waiting behind the open transaction; aegis_sealer_lag_records = %v", metricValue(t, p, "aegis_sealer_lag_records", ""))
	if err := late.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	publish(t, p, pipeline.NewWorkload(chain, "after-"+chain, 2, 0, 3, 39, time.Now()).Events)
	if err := p.WaitHead(ctx, 6); err != nil { // 3 events, the late one, 2 after
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	var ids []string
	for _, e := range readChain(t, p)[1:] {
		if e.Type != shared.EntryEvent {
			t.Fatalf("seq %d sealed as %s", e.Seq, e.Type)
		}
		env, _ := e.Envelope()
		ids = append(ids, env.EventID)
	}
	want := []string{w.Events[0].EventID, w.Events[1].EventID, w.Events[2].EventID, "evt-late"}
	if len(ids) != 6 || fmt.Sprint(ids[:4]) != fmt.Sprint(want) {
		t.Fatalf("sealed %v, want %v and the 2 after", ids, want)
	}
	if _, err := p.Verify(ctx); err != nil {
		t.Fatal(err)
	}
}

// The decisions topic deleted and made again while the sealer runs (by
// someone allowed to: producers are not), and filled past the sealed
// head's offset at once. The new topic's records are not the sealed ones,
// and the group's offset (the head's + 1) would skip its first: the
// running sealer must seal none of them. It does not: its client fetches
// the old topic id (UNKNOWN_TOPIC_ID, fetch failed, /readyz failing) for
// as long as it runs, metadata refreshes or not. Restarted, it stops
// with ErrTopicLost before sealing anything (README, "When things fail").
func TestAttack33TopicRecreatedUnderTheSealer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	first := startPipeline(t, pipeline.Config{Indexers: -1})
	w := pipeline.NewWorkload(first.Cfg.Chain, first.Cfg.Chain, 60, 0, 3, 40, time.Now())
	publish(t, first, w.Events[:10])
	if err := first.WaitHead(ctx, 10); err != nil {
		t.Fatal(err)
	}
	if err := first.Stop(); err != nil {
		t.Fatal(err)
	}
	s, err := sealer.New(ctx, sealer.Config{
		Brokers: stack.Brokers, Topic: first.Cfg.Topic, SealedTopic: first.Cfg.SealedTopic, Chain: first.Cfg.Chain,
		S3: first.S3, Bucket: first.Cfg.Bucket, Retention: 24 * time.Hour,
		SignerKey: first.Cfg.SignerKey, VerifierKey: first.Cfg.VerifierKey, BatchMaxAge: 200 * time.Millisecond,
		Logger: first.Cfg.Logger,
		// The client refreshes its metadata every 5 minutes by default:
		// sooner here.
		KafkaOptions: []kgo.Opt{kgo.MetadataMinAge(250 * time.Millisecond), kgo.MetadataMaxAge(2 * time.Second)},
	})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	stopped := make(chan error, 1)
	go func() { stopped <- s.Run(runCtx) }()
	<-s.Ready()
	time.Sleep(time.Second)
	head := s.Head()

	cl, err := kgo.NewClient(kgo.SeedBrokers(stack.KafkaAddr), kgo.DefaultProduceTopic(first.Cfg.Topic), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := kadm.NewClient(cl).DeleteTopics(ctx, first.Cfg.Topic); err != nil {
		t.Fatal(err)
	}
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 1, -1, nil, first.Cfg.Topic); err != nil {
		t.Fatal(err)
	}
	var recs []*kgo.Record
	for _, e := range w.Events[10:] {
		v, _ := e.Record()
		recs = append(recs, &kgo.Record{Value: v})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	var runErr error
	select {
	case runErr = <-stopped:
	case <-time.After(8 * time.Second):
		stop()
		runErr = <-stopped
	}
	if s.Head() != head || s.Stats().Committed != 0 {
		t.Fatalf("the running sealer over the recreated topic: head %+v (was %+v), %+v, stopped with %v; want nothing sealed",
			s.Head(), head, s.Stats(), runErr)
	}
	if err := sealerStopsUnsealed(ctx, t, first, first.Cfg.Topic, head); !errors.Is(err, sealer.ErrTopicLost) {
		t.Fatalf("the sealer restarted over the recreated topic: %v, want ErrTopicLost", err)
	}
}
