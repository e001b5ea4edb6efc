package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
	"golang.org/x/mod/sumdb/note"

	"github.com/aegisai/audit/archive"
	"github.com/aegisai/audit/indexer"
	"github.com/aegisai/audit/indexer/layout"
	"github.com/aegisai/audit/internal/testbed/localstack"
	"github.com/aegisai/audit/internal/testbed/pipeline"
	"github.com/aegisai/audit/replayer"
	"github.com/aegisai/audit/sealer"
	"github.com/aegisai/audit/shared"
)

// rawRecord is a record published with an exact Kafka timestamp.
type rawRecord struct {
	value string
	ms    int64
}

// publishAt writes records to partition 0 of topic with exact millisecond
// timestamps, in one hand-built v2 record batch. franz-go's producer cannot
// do this for years after 2262: it computes milliseconds as
// Timestamp.UnixNano()/1e6, which overflows int64 (that overflow is what
// turned years 9999 and 10000 into 1816). Raw Kafka clients in other
// languages can, so the sealer must handle any timestamp.
func publishAt(t *testing.T, topic string, recs ...rawRecord) {
	t.Helper()
	var records []byte
	for i, r := range recs {
		rec := kmsg.Record{TimestampDelta64: r.ms - recs[0].ms, OffsetDelta: int32(i), Value: []byte(r.value)}
		rec.Length = int32(len(rec.AppendTo(nil)) - 1)
		records = rec.AppendTo(records)
	}
	maxTS := recs[0].ms
	for _, r := range recs {
		maxTS = max(maxTS, r.ms)
	}
	batch := kmsg.RecordBatch{PartitionLeaderEpoch: -1, Magic: 2, LastOffsetDelta: int32(len(recs) - 1),
		FirstTimestamp: recs[0].ms, MaxTimestamp: maxTS, ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1,
		NumRecords: int32(len(recs)), Records: records}
	raw := batch.AppendTo(nil)
	binary.BigEndian.PutUint32(raw[8:], uint32(len(raw)-12))
	binary.BigEndian.PutUint32(raw[17:], crc32.Checksum(raw[21:], crc32.MakeTable(crc32.Castagnoli)))

	// Produce v9 names topics; later versions name them by id.
	cl, err := kgo.NewClient(kgo.SeedBrokers(stack.KafkaAddr), kgo.MaxVersions(kversion.V3_0_0()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	req := kmsg.NewPtrProduceRequest()
	req.Acks, req.TimeoutMillis = -1, 10000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = raw
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(context.Background(), cl)
	if err != nil {
		t.Fatal(err)
	}
	if code := resp.Topics[0].Partitions[0].ErrorCode; code != 0 {
		t.Fatalf("produce: %v", kerr.ErrorForCode(code))
	}
}

func decisionRecord(chain, id, metadata string) string {
	return fmt.Sprintf(`{"type":"decision","event_id":"evt-%s","environment":%q,"occurred_at":"2026-11-27T09:00:00Z","decision":{"decision_id":%q,"action":"BLOCK","confidence_score":0.9,"policy_version":"p","user_id":"u-%s","session_id":"s","metadata":%s}}`,
		id, chain, id, id, metadata)
}

// Issue 5.1 and the year 9999/10000 timestamps: records that bypass the
// producer with numbers that canonicalise badly, or timestamps an entry
// cannot hold, are sealed as INVALID entries that read back; the chain
// verifies, the indexer indexes everything after them, and a sealer
// restarted on top of them goes on.
func TestBadNumbersAndTimestampsNeverPoisonTheChain(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cfg := pipeline.Config{Indexers: 1, Sealer: func(c *sealer.Config) { c.BatchMaxRecords = 7 }}
	p := startPipeline(t, cfg)
	<-p.Sealer.Ready() // the topic exists
	now := time.Now().UnixMilli()
	bad := []string{"1e16", "1e+16", "9007199254740992.0", "12345678901234567891.0", "1e20", "0.10000000000000000555",
		"3.14159265358979323846264338327", "1e-400", "9007199254740993"}
	var recs []rawRecord
	for i, n := range bad {
		recs = append(recs, rawRecord{decisionRecord(p.Cfg.Chain, fmt.Sprint("bad", i), `{"x":`+n+`}`), now})
	}
	good := []string{"1e21", "0.1", "9007199254740991", "1E3"}
	for i, n := range good {
		recs = append(recs, rawRecord{decisionRecord(p.Cfg.Chain, fmt.Sprint("good", i), `{"x":`+n+`}`), now})
	}
	const y9999, y10000 = 253402300799999, 253402300800000 // 9999-12-31T23:59:59.999Z, 10000-01-01T00:00:00Z
	recs = append(recs,
		rawRecord{decisionRecord(p.Cfg.Chain, "ts9999", `{}`), y9999},
		rawRecord{decisionRecord(p.Cfg.Chain, "ts10000", `{}`), y10000},
		rawRecord{decisionRecord(p.Cfg.Chain, "tsneg", `{}`), -62167219200001},
		rawRecord{decisionRecord(p.Cfg.Chain, "after", `{}`), now})
	publishAt(t, p.Cfg.Topic, recs...)
	n := uint64(len(recs))
	if err := p.WaitHead(ctx, n); err != nil {
		t.Fatal(err)
	}
	if err := p.WaitIndexed(ctx); err != nil {
		t.Fatal(err)
	}
	rep, err := p.Verify(ctx)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	if rep.Invalid != uint64(len(bad)+2) || rep.Events != uint64(len(good)+2) {
		t.Fatalf("%d invalid and %d events, want %d and %d", rep.Invalid, rep.Events, len(bad)+2, len(good)+2)
	}
	byID := map[string]*shared.Entry{}
	for _, e := range readChain(t, p)[1:] {
		var id string
		if e.Type == shared.EntryEvent {
			id = e.DecisionID()
		} else {
			raw, _ := shared.ParseLine(mustLine(t, e))
			var m struct {
				Decision struct {
					DecisionID string `json:"decision_id"`
				}
			}
			b, _ := decodeB64(raw.Invalid.Raw)
			_ = json.Unmarshal(b, &m)
			id = m.Decision.DecisionID
		}
		byID[id] = e
	}
	for i, lit := range bad {
		e := byID[fmt.Sprint("bad", i)]
		if e == nil || e.Type != shared.EntryInvalid || !strings.Contains(e.Invalid.Reason, "decision.metadata.x") {
			t.Fatalf("%s: sealed as %+v, want INVALID naming decision.metadata.x", lit, e)
		}
	}
	if e := byID["ts9999"]; e.Type != shared.EntryEvent || shared.FormatTime(e.Source.Timestamp) != "9999-12-31T23:59:59.999Z" {
		t.Fatalf("year 9999: sealed as %s at %s, want the event at 9999-12-31T23:59:59.999Z", e.Type, e.Source.Timestamp)
	}
	for _, id := range []string{"ts10000", "tsneg"} {
		if e := byID[id]; e.Type != shared.EntryInvalid || !strings.Contains(e.Invalid.Reason, "outside the years 0000..9999") {
			t.Fatalf("%s: sealed as %s (%v), want INVALID with the timestamp in the reason", id, e.Type, e.Invalid)
		}
	}
	for _, id := range []string{"good0", "good1", "good2", "good3", "ts9999", "after"} {
		if _, err := p.Reader.Decision(ctx, id); err != nil {
			t.Fatalf("decision %s not indexed: %v", id, err)
		}
	}

	// A sealer started on top of these objects recovers and goes on.
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	second := startPipeline(t, p.Cfg)
	publishRaw(t, second, decisionRecord(p.Cfg.Chain, "later", `{"x":1e16}`), decisionRecord(p.Cfg.Chain, "later2", `{}`))
	if err := second.WaitHead(ctx, n+2); err != nil {
		t.Fatal(err)
	}
	if _, err := second.Verify(ctx); err != nil {
		t.Fatalf("verify after the restart: %v", err)
	}
}

func mustLine(t *testing.T, e *shared.Entry) []byte {
	t.Helper()
	l, err := e.Line()
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// Issue 5.1, never stuck on one line: a line an older version sealed under
// looser rules (an integer beyond 2^53-1, hashed and signed) is in the
// latest batch and not yet published. The sealer still recovers its head
// from the signed checkpoint and republishes the line; the indexer records
// it as unindexable where `aegis index anomalies` lists it and indexes what
// follows. The verifier, which is the spec, names the line.
func TestOldVersionLineNeverStopsThePipeline(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cfg := pipeline.Config{Indexers: 1}
	p := startPipeline(t, cfg)
	w := pipeline.NewWorkload(p.Cfg.Chain, p.Cfg.Chain, 10, 0, 3, 11, time.Now())
	publish(t, p, w.Events)
	if err := p.WaitHead(ctx, 10); err != nil {
		t.Fatal(err)
	}
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	head := p.Sealer.Head()

	// What the old sealer did: the record is on the topic, its entry is in
	// S3 with a signed checkpoint, and then it crashed before publishing.
	// The record's Kafka timestamp is the one its entry was sealed with
	// (a sealer checks it against the entry when it republishes).
	ts := time.Now().UTC()
	cl, err := kgo.NewClient(kgo.SeedBrokers(stack.KafkaAddr), kgo.DefaultProduceTopic(p.Cfg.Topic))
	if err != nil {
		t.Fatal(err)
	}
	rec := &kgo.Record{Value: []byte(decisionRecord(p.Cfg.Chain, "old", `{"n":10000000000000000}`)), Timestamp: ts.Truncate(time.Millisecond)}
	err = cl.ProduceSync(ctx, rec).FirstErr()
	cl.Close()
	if err != nil {
		t.Fatal(err)
	}
	offset := endOffset(t, p.Cfg.Topic) - 1
	body := fmt.Sprintf(`{"chain":%q,"event":%s,"prev":%q,"sealed_at":%q,"seq":%d,"source":{"offset":%d,"partition":0,"timestamp":%q,"topic":%q},"type":"event","v":1}`,
		p.Cfg.Chain, canonicalLoose(t, decisionRecord(p.Cfg.Chain, "old", `{"n":10000000000000000}`)), head.Hash, shared.FormatTime(ts),
		head.Seq+1, offset, shared.FormatTime(ts.Truncate(time.Millisecond)), p.Cfg.Topic)
	line, hash := hashLine(t, head.Hash, body)
	if _, err := shared.ParseLine(line); err == nil {
		t.Fatal("the old line reads under today's rules; the test does not test anything")
	}
	e, err := shared.ParseLineLenient(line)
	if err != nil {
		t.Fatalf("the old line does not even read leniently: %v", err)
	}
	store := &archive.Store{S3: p.S3, Bucket: p.Cfg.Bucket}
	key := shared.BatchKey("audit", e)
	if _, err := store.Put(ctx, key, append(line, '\n'), time.Now().Add(24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	signer, err := shared.NewSigner(p.Cfg.SignerKey)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := shared.Checkpoint{Chain: p.Cfg.Chain, Seq: head.Seq + 1, Hash: hash, Offset: offset, Object: key,
		Root: shared.MerkleRoot([]shared.Hash{hash}), Time: ts}.Sign(signer)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Put(ctx, shared.CheckpointKey("audit", p.Cfg.Chain, head.Seq+1), msg, time.Now().Add(24*time.Hour)); err != nil {
		t.Fatal(err)
	}

	second := startPipeline(t, p.Cfg)
	more := pipeline.NewWorkload(p.Cfg.Chain, "more-"+p.Cfg.Chain, 5, 0, 2, 12, time.Now())
	publish(t, second, more.Events)
	if err := second.WaitHead(ctx, head.Seq+1+5); err != nil {
		t.Fatal(err)
	}
	if err := second.WaitIndexed(ctx); err != nil {
		t.Fatal(err)
	}
	for _, d := range more.Decisions {
		if _, err := second.Reader.Decision(ctx, d.Decision.DecisionID); err != nil {
			t.Fatalf("decision %s after the old line not indexed: %v", d.Decision.DecisionID, err)
		}
	}
	as, err := second.Index.Anomalies(ctx, p.Cfg.Chain)
	if err != nil {
		t.Fatal(err)
	}
	if len(as) != 1 || as[0].Kind != indexer.AnomalyUnindexable || as[0].Seq != head.Seq+1 || as[0].Object != key {
		t.Fatalf("anomalies %+v, want the old line recorded as unindexable", as)
	}
	if v := metricValue(t, second, "aegis_indexer_anomalies_total", "unindexable"); v != 1 {
		t.Fatalf("anomalies metric %v, want 1", v)
	}
	_, err = second.Verify(ctx)
	var f *replayer.Failure
	if !errors.As(err, &f) || f.Key != key || f.Line != 1 || f.Seq != head.Seq+1 {
		t.Fatalf("verify: %v, want the old line named", err)
	}
}

// canonicalLoose is the JCS form older versions sealed: integers beyond
// 2^53-1 written out in full.
func canonicalLoose(t *testing.T, record string) string {
	t.Helper()
	c, err := shared.Canonicalize([]byte(strings.Replace(record, "10000000000000000", "1", 1)))
	if err != nil {
		t.Fatal(err)
	}
	return strings.Replace(string(c), `"n":1}`, `"n":10000000000000000}`, 1)
}

// hashLine returns body with its hash inserted (docs/FORMAT.md section 5),
// computed without this implementation's checks.
func hashLine(t *testing.T, prev shared.Hash, body string) ([]byte, shared.Hash) {
	t.Helper()
	h := sha256.New()
	h.Write([]byte(shared.EntryHashPrefix))
	h.Write(prev[:])
	h.Write([]byte(body))
	var sum shared.Hash
	h.Sum(sum[:0])
	i := strings.LastIndex(body, `,"prev":"`)
	return []byte(body[:i] + `,"hash":"` + hex.EncodeToString(sum[:]) + `"` + body[i:]), sum
}

// Issue 5.2: someone with write access to the bucket but not the signing
// key puts a forged object at the chain's next batch key. The sealer does
// not adopt it: it stops with ErrChainForked, counts and logs it, commits
// nothing, and no checkpoint ever covers the forged entry; the real record
// stays on the topic, uncommitted.
func TestForgedObjectAtTheNextKeyIsNeverSigned(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p, err := pipeline.Start(ctx, stack, pipeline.Config{Indexers: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop() // it stops with ErrChainForked, which the test checks
	w := pipeline.NewWorkload(p.Cfg.Chain, p.Cfg.Chain, 11, 0, 3, 13, time.Now())
	publish(t, p, w.Events[:10])
	if err := p.WaitHead(ctx, 10); err != nil {
		t.Fatal(err)
	}
	head := p.Sealer.Head()
	real := w.Events[10]
	forged := *real
	d := *real.Decision
	d.Action = shared.ActionAllow // the attacker's version of the decision
	forged.Decision = &d
	raw, err := forged.Record()
	if err != nil {
		t.Fatal(err)
	}
	// The attacker knows the next seq, offset and prev (from the latest
	// checkpoint) and today's date; both dates around midnight are covered.
	store := &archive.Store{S3: p.S3, Bucket: p.Cfg.Bucket}
	var keys []string
	for _, day := range []time.Time{time.Now().UTC(), time.Now().UTC().Add(24 * time.Hour)} {
		e, err := shared.SealRecord(head, shared.Source{Topic: p.Cfg.Topic, Offset: head.Offset + 1, Timestamp: day}, raw, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		key := shared.BatchKey("audit", e)
		if _, err := store.Put(ctx, key, append(mustLine(t, e), '\n'), time.Now().Add(24*time.Hour)); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, key)
	}
	publish(t, p, w.Events[10:])
	err = p.WaitFor(ctx, func() bool { return false })
	if !errors.Is(err, sealer.ErrChainForked) || !strings.Contains(err.Error(), keys[0]) && !strings.Contains(err.Error(), keys[1]) {
		t.Fatalf("sealer: %v, want ErrChainForked naming the forged object", err)
	}
	if v := metricValue(t, p, "aegis_sealer_forks_total", ""); v != 1 {
		t.Fatalf("forks metric %v, want 1", v)
	}
	cps, err := store.Checkpoints(ctx, p.Cfg.Chain)
	if err != nil {
		t.Fatal(err)
	}
	if last := cps[len(cps)-1]; last != shared.CheckpointKey("audit", p.Cfg.Chain, head.Seq) {
		t.Fatalf("latest checkpoint %s, want the one of seq %d: nothing may sign the forged entry", last, head.Seq)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(stack.KafkaAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	offs, err := kadm.NewClient(cl).FetchOffsets(ctx, "aegis-sealer-"+p.Cfg.Chain)
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := offs.Lookup(p.Cfg.Topic, 0); o.At > head.Offset+1 {
		t.Fatalf("the sealer committed offset %d past the real record at %d", o.At, head.Offset+1)
	}
	// The forged objects were never signed: verify fails (two objects
	// claim the same seq) or at least counts them as unsigned.
	if rep, err := p.Verify(ctx); err == nil && rep.Unsigned == 0 {
		t.Fatalf("verify reports the log with the forged object fully signed: %+v", rep.LogReport)
	}
}

// Issue 5.4: retrying a publish of the same envelope is one event in the
// index; a decision id reused by a new event keeps both reachable and is
// listed as a conflict.
func TestRetriesAndReusedIDsAreVisibleInTheIndex(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p := startPipeline(t, pipeline.Config{Indexers: 1})
	prod, err := p.Producer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	ev := prod.NewDecision(shared.Decision{DecisionID: "dec-retry", Action: shared.ActionBlock, ConfidenceScore: 0.9, PolicyVersion: "p", UserID: "u1", SessionID: "s1"})
	for range 2 { // the caller timed out and retried with the same envelope
		if err := prod.Publish(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	again := *ev
	again.EventID = "another-event-id"
	if err := prod.Publish(ctx, &again); err != nil {
		t.Fatal(err)
	}
	if err := p.WaitHead(ctx, 3); err != nil {
		t.Fatal(err)
	}
	if err := p.WaitIndexed(ctx); err != nil {
		t.Fatal(err)
	}
	d, err := p.Reader.Decision(ctx, "dec-retry")
	if err != nil {
		t.Fatal(err)
	}
	if d.Proof.Seq != 1 || d.EventID != ev.EventID || len(d.Conflicting) != 1 || d.Conflicting[0].EventID != "another-event-id" {
		t.Fatalf("decision %+v; want seq 1, the retry not indexed again, the reused id's event conflicting", d)
	}
	as, err := p.Index.Anomalies(ctx, p.Cfg.Chain)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, a := range as {
		kinds = append(kinds, fmt.Sprintf("%s@%d", a.Kind, a.Seq))
	}
	if strings.Join(kinds, " ") != "duplicate-event@2 decision-id-reused@3" {
		t.Fatalf("anomalies %v, want the retry at seq 2 and the reused decision id at seq 3", kinds)
	}
}

// Issue 5.4: the indexer does not create its table unless asked.
func TestIndexerNeedsItsTableUnlessAsked(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db, err := stack.DynamoDB(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ix, err := indexer.New(ctx, indexer.Config{Brokers: []string{stack.KafkaAddr}, DynamoDB: db, Table: "no-such-table-" + fmt.Sprint(time.Now().UnixNano())})
	if err != nil {
		t.Fatal(err)
	}
	if err := ix.Run(ctx); !errors.Is(err, layout.ErrNoTable) || !strings.Contains(err.Error(), "--create-table") {
		t.Fatalf("indexer on a missing table: %v, want ErrNoTable mentioning --create-table", err)
	}
}

// Issue 5.3 on the real S3: a log cut back behind the checkpoint an auditor
// kept fails, and entries after the last checkpoint are reported unsigned.
func TestKnownCheckpointAndUnsignedTail(t *testing.T) {
	ctx := context.Background()
	p, refs := sealedChain(t)
	full, err := p.Verify(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if full.Unsigned != 0 || len(full.LatestCheckpoint) == 0 {
		t.Fatalf("report %+v: want everything signed and the latest checkpoint", full.LogReport)
	}
	// A copy of the log without its last object and checkpoint: what a
	// truncation leaves.
	store := &archive.Store{S3: p.S3, Bucket: p.Cfg.Bucket}
	cutBucket := stack.Bucket("cut")
	if err := localstack.CreateLockedBucket(ctx, p.S3, cutBucket); err != nil {
		t.Fatal(err)
	}
	copyTo := &archive.Store{S3: p.S3, Bucket: cutBucket}
	last := refs[len(refs)-1]
	l, err := store.Log(ctx, p.Cfg.Chain)
	if err != nil {
		t.Fatal(err)
	}
	dropped := 0
	for _, k := range append(l.Checkpoints, keysOf(l.Batches)...) {
		obj, err := store.Get(ctx, k, "")
		if err != nil {
			t.Fatal(err)
		}
		if cp, err := shared.OpenCheckpoint(obj.Body, mustKey(t, p.Cfg.VerifierKey)); k == last.Key || err == nil && cp.Object == last.Key {
			dropped++
			continue
		}
		if _, err := copyTo.Put(ctx, k, obj.Body, time.Now().Add(24*time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	if dropped != 2 {
		t.Fatalf("dropped %d objects, want the last batch and its checkpoint", dropped)
	}
	q := replayer.Config{S3: p.S3, Bucket: cutBucket, Chain: p.Cfg.Chain, VerifierKey: p.Cfg.VerifierKey}
	rep, err := replayer.Verify(ctx, q)
	if err != nil {
		t.Fatalf("the cut log alone verifies, as S3 alone cannot show a truncation: %v", err)
	}
	q.KnownCheckpoint, q.KnownCheckpointName = full.LatestCheckpoint, "kept.note"
	_, err = replayer.Verify(ctx, q)
	if !errors.Is(err, shared.ErrChainBroken) || !strings.Contains(err.Error(), "does not extend the known checkpoint") {
		t.Fatalf("verify with the kept checkpoint: %v, want the truncation found (cut log ends at %d)", err, rep.Head.Seq)
	}

	// A batch written without its checkpoint (the sealer died between the
	// two) verifies, but its entries are counted as unsigned.
	lastObj, err := store.Get(ctx, last.Key, "")
	if err != nil {
		t.Fatal(err)
	}
	lines, _ := shared.SplitLines(lastObj.Body)
	lastEntry, _ := shared.ParseLine(lines[len(lines)-1])
	head := shared.Head{Chain: lastEntry.Chain, Seq: lastEntry.Seq, Hash: lastEntry.Hash, Offset: lastEntry.Source.Offset}
	var body bytes.Buffer
	var first *shared.Entry
	for i := range 3 {
		e, err := shared.SealRecord(head, shared.Source{Topic: p.Cfg.Topic, Offset: head.Offset + 1, Timestamp: lastEntry.Source.Timestamp},
			[]byte(decisionRecord(p.Cfg.Chain, fmt.Sprint("tail", i), `{}`)), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if first == nil {
			first = e
		}
		body.Write(append(mustLine(t, e), '\n'))
		head = head.Next(e)
	}
	if _, err := store.Put(ctx, shared.BatchKey("audit", first), body.Bytes(), time.Now().Add(24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	rep, err = p.Verify(ctx)
	if err != nil || rep.Unsigned != 3 || rep.CheckpointedSeq != full.Head.Seq {
		t.Fatalf("verify with an unsigned tail: %+v %v, want 3 unsigned after seq %d", rep.LogReport, err, full.Head.Seq)
	}
}

func keysOf(refs []archive.BatchRef) []string {
	var ks []string
	for _, r := range refs {
		ks = append(ks, r.Key)
	}
	return ks
}

func mustKey(t *testing.T, vkey string) shared.VerifierKey {
	t.Helper()
	k, err := shared.ParseVerifierKey(vkey)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// Issue 5.5: verify with the wrong public key names both keys.
func TestWrongVerifierKeyIsNamed(t *testing.T) {
	p, _ := sealedChain(t)
	_, vkey, err := note.GenerateKey(rand.Reader, "auditor-copy")
	if err != nil {
		t.Fatal(err)
	}
	_, err = replayer.Verify(context.Background(), replayer.Config{S3: p.S3, Bucket: p.Cfg.Bucket, Chain: p.Cfg.Chain, VerifierKey: vkey})
	given, signed := mustKey(t, vkey).ID(), mustKey(t, p.Cfg.VerifierKey).ID()
	if err == nil || !strings.Contains(err.Error(), given) || !strings.Contains(err.Error(), signed) {
		t.Fatalf("verify with the wrong key: %v, want both %s and %s named", err, signed, given)
	}
}

func decodeB64(s string) ([]byte, error) {
	return base64.StdEncoding.DecodeString(s)
}
