package producer

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/aegisai/audit/shared"
)

// Partitions added to the decisions topic after a producer started
// (someone allowed to alter the topic, or an operator "scaling" it): the
// producer checked one partition at its start, then spread its records
// over the new ones by their keys (the event ids), where the sealer,
// which seals partition 0 alone, never seals them: acknowledged, and lost
// to the chain. Every record goes to partition 0 (hostile-producer
// attack 33).
func TestRecordsGoToPartitionZeroWhateverTheTopicGrewTo(t *testing.T) {
	c := testBroker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := New(ctx, Config{Brokers: c.ListenAddrs(), Environment: "prod", Topic: "t",
		Kafka: []kgo.Opt{kgo.MetadataMinAge(100 * time.Millisecond), kgo.MetadataMaxAge(500 * time.Millisecond)}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	admin, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if _, err := kadm.NewClient(admin).CreatePartitions(ctx, 2, "t"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second) // the producer's client sees three partitions
	const n = 30
	var batch []*shared.Envelope
	for i := range n {
		e := &shared.Envelope{Type: shared.TypeDecision, EventID: fmt.Sprint("e", i), Environment: "prod", OccurredAt: time.Now(),
			Decision: &shared.Decision{DecisionID: fmt.Sprint("d", i), Action: shared.ActionAllow, ConfidenceScore: 0.5, PolicyVersion: "p", UserID: "u", SessionID: "s"}}
		if i < n/2 {
			if _, err := p.Log(ctx, e); err != nil {
				t.Fatal(err)
			}
			continue
		}
		batch = append(batch, e)
	}
	if err := p.Publish(ctx, batch...); err != nil {
		t.Fatal(err)
	}
	for _, r := range topicRecords(ctx, t, c, "t", n) {
		if r.Partition != 0 {
			t.Fatalf("event %s went to partition %d of the decisions topic, which no sealer seals", r.Key, r.Partition)
		}
	}
}
