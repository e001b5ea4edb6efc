package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/aegisai/audit/indexer"
	"github.com/aegisai/audit/internal/testbed/pipeline"
	"github.com/aegisai/audit/shared"
)

// Anyone who can write the sealed topic (a leaked credential, a role given
// Write by mistake) publishes records whose object key is hundreds of
// kilobytes: one that does not even hold an entry, and one that copies a
// real sealed line under a key that is not where the sealer stores it. The
// index must refuse both as unindexable anomalies that fit in an item, and
// go on: before, the first made an anomaly item over DynamoDB's 400 KB
// limit and the second a decision item over it, a write the table refuses
// for good, which stopped the indexer (and every indexer of the group that
// took the partition over) for everything after them.
func TestHostileSealedRecordsNeverStopTheIndexer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	p := startPipeline(t, pipeline.Config{Indexers: 1})
	w := pipeline.NewWorkload(p.Cfg.Chain, p.Cfg.Chain, 6, 0, 3, 21, time.Now())
	publish(t, p, w.Events)
	if err := p.WaitHead(ctx, 6); err != nil {
		t.Fatal(err)
	}
	real := readChain(t, p)[3]
	huge := "audit/" + strings.Repeat("k", 420<<10)
	copied := shared.SealedRecord{Object: huge + "/year=2026/month=11/day=27/env=" + p.Cfg.Chain + "/00000000000000000003.jsonl",
		Line: 1, Entry: mustLine(t, real)}
	elsewhere := shared.SealedRecord{Object: "audit/year=2026/month=11/day=27/env=" + p.Cfg.Chain + "/00000000000000000001.jsonl",
		Line: 1, Entry: mustLine(t, real)} // seq 3 is not line 1 of an object starting at seq 1
	cl, err := kgo.NewClient(kgo.SeedBrokers(stack.KafkaAddr), kgo.ProducerBatchMaxBytes(2<<20))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for _, v := range [][]byte{
		[]byte(fmt.Sprintf(`{"object":%q,"line":1,"entry":{}}`, huge)),
		copied.Encode(),
		elsewhere.Encode(),
	} {
		// Keyed like the sealer keys the line's decision, so that the
		// records after it on its partition wait behind it.
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: p.Cfg.SealedTopic, Key: []byte(real.DecisionID()), Value: v}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	more := pipeline.NewWorkload(p.Cfg.Chain, "after-"+p.Cfg.Chain, 8, 0, 3, 22, time.Now())
	publish(t, p, more.Events)
	if err := p.WaitHead(ctx, 14); err != nil {
		t.Fatal(err)
	}
	if err := p.WaitIndexed(ctx); err != nil {
		t.Fatalf("the indexer did not index past the hostile records: %v", err)
	}
	for _, d := range more.Decisions {
		if _, err := p.Reader.Decision(ctx, d.Decision.DecisionID); err != nil {
			t.Fatalf("decision %s after the hostile records not indexed: %v", d.Decision.DecisionID, err)
		}
	}
	h, err := p.Reader.Decision(ctx, real.DecisionID())
	if err != nil {
		t.Fatal(err)
	}
	if want := shared.BatchKey("audit", readChain(t, p)[1]); h.Proof.Seq != real.Seq || len(h.Proof.Object) > shared.MaxObjectKey {
		t.Fatalf("decision %s points at %.80s seq %d, want its own entry (an object like %s)", real.DecisionID(), h.Proof.Object, h.Proof.Seq, want)
	}
	unknown, err := p.Index.Anomalies(ctx, indexer.UnknownChain)
	if err != nil {
		t.Fatal(err)
	}
	own, err := p.Index.Anomalies(ctx, p.Cfg.Chain)
	if err != nil {
		t.Fatal(err)
	}
	if len(unknown) != 1 || len(own) != 2 {
		t.Fatalf("%d anomalies of no chain, %d of the chain; want the first record and the two copies", len(unknown), len(own))
	}
	for _, a := range append(unknown, own...) {
		if a.Kind != indexer.AnomalyUnindexable || len(a.Object) > shared.MaxObjectKey || len(a.Detail) > 4096 {
			t.Fatalf("anomaly %s, object of %d bytes, detail of %d; want unindexable, bounded", a.Kind, len(a.Object), len(a.Detail))
		}
	}
}
