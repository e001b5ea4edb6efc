package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/aegisai/audit/internal/testbed/localstack"
	"github.com/aegisai/audit/producer"
	"github.com/aegisai/audit/shared"
)

func endOffset(t *testing.T, topic string) int64 {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(stack.KafkaAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	o, ok := ends.Lookup(topic, 0)
	if !ok || o.Err != nil {
		t.Fatalf("end offset of %s: %v", topic, o.Err)
	}
	return o.Offset
}

func TestProducerRefusesBadInputBeforePublishing(t *testing.T) {
	ctx := context.Background()
	topic := localstack.Name("decisions")
	p, err := producer.New(ctx, producer.Config{Brokers: []string{stack.KafkaAddr}, Topic: topic, Environment: "prod"})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	good := shared.Decision{DecisionID: "d1", Action: shared.ActionBlock, ConfidenceScore: 0.97, PolicyVersion: "p", UserID: "u", SessionID: "s"}
	bad := []shared.Decision{
		{Action: shared.ActionBlock, ConfidenceScore: 0.5, PolicyVersion: "p", UserID: "u", SessionID: "s"},
		{DecisionID: "d", Action: "PERHAPS", ConfidenceScore: 0.5, PolicyVersion: "p", UserID: "u", SessionID: "s"},
		{DecisionID: "d", Action: shared.ActionAllow, ConfidenceScore: 1.2, PolicyVersion: "p", UserID: "u", SessionID: "s"},
		{DecisionID: "d", Action: shared.ActionAllow, ConfidenceScore: 0.2, PolicyVersion: "p", UserID: "u", SessionID: "s",
			Metadata: json.RawMessage(`{"x":"` + string(make([]byte, shared.MaxMetadataBytes)) + `"}`)},
	}
	for i, d := range bad {
		if _, err := p.LogDecision(ctx, d); !errors.Is(err, shared.ErrInvalidEvent) {
			t.Fatalf("bad decision %d: got %v, want ErrInvalidEvent", i, err)
		}
	}
	if _, err := p.LogOverride(ctx, shared.Override{DecisionID: "d1", ReviewerID: "r", NewAction: shared.ActionAllow}); !errors.Is(err, shared.ErrInvalidEvent) {
		t.Fatalf("override without a reason: got %v", err)
	}
	if n := endOffset(t, topic); n != 0 {
		t.Fatalf("%d records published for refused input", n)
	}
	r, err := p.LogDecision(ctx, good)
	if err != nil || r.EventID == "" || r.Durability != shared.DurabilityDurable {
		t.Fatalf("good decision: %+v, %v", r, err)
	}
	if n := endOffset(t, topic); n != 1 {
		t.Fatalf("after one good decision the topic has %d records", n)
	}
}

func TestProducerFailsWithinItsDeadline(t *testing.T) {
	ctx := context.Background()
	topic := localstack.Name("decisions")
	p, err := producer.New(ctx, producer.Config{Brokers: []string{stack.KafkaAddr}, Topic: topic, Environment: "prod", Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	stack.NeedsInProcessKafka(t)
	// Every produce request now goes unanswered, as with a broker that hangs.
	stopHolding := make(chan struct{})
	defer close(stopHolding)
	stack.Kafka.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		select {
		case <-stopHolding:
			stack.Kafka.DropControl()
			return nil, nil, false
		default:
		}
		stack.Kafka.KeepControl()
		stack.Kafka.SleepControl(func() { <-stopHolding })
		return nil, nil, false
	})
	start := time.Now()
	_, err = p.LogDecision(ctx, shared.Decision{DecisionID: "d", Action: shared.ActionAllow, ConfidenceScore: 0.5, PolicyVersion: "p", UserID: "u", SessionID: "s"})
	took := time.Since(start)
	if !errors.Is(err, producer.ErrAuditUnavailable) {
		t.Fatalf("got %v, want ErrAuditUnavailable", err)
	}
	if took > 10*time.Second {
		t.Fatalf("took %s with a 1s deadline: the caller was left waiting", took)
	}
	t.Logf("failed after %s: %v", took, err)
}
