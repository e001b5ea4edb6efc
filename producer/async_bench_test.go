package producer

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/aegisai/audit/shared"
)

// BenchmarkPublishAsync and BenchmarkRawProduce compare the async path with
// franz-go alone on an in-process kfake broker (`make bench` measures the
// same against the local stack).
func benchBroker(b *testing.B) (*kfake.Cluster, *Producer) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.DefaultNumPartitions(1))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(c.Close)
	p, err := New(context.Background(), Config{Brokers: c.ListenAddrs(), Environment: "bench", Topic: "t"})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(p.Close)
	return c, p
}

func benchEvents(p *Producer, n int) []*shared.Envelope {
	out := make([]*shared.Envelope, n)
	for i := range out {
		out[i] = p.NewDecision(shared.Decision{DecisionID: fmt.Sprint("d-", i), Action: shared.ActionAllow, ConfidenceScore: 0.92,
			PolicyVersion: "p", UserID: "u", SessionID: "s", Metadata: []byte(`{"ip_country":"DE","amount":129.95}`)})
	}
	return out
}

// rawClient is franz-go configured as the producer configures its client.
func rawClient(b *testing.B, c *kfake.Cluster) *kgo.Client {
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.DefaultProduceTopic("t"), kgo.ProducerLinger(time.Millisecond),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.MaxBufferedRecords(11000))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(cl.Close)
	return cl
}

func BenchmarkPublishAsync(b *testing.B) {
	_, p := benchBroker(b)
	events := benchEvents(p, b.N)
	b.ResetTimer()
	start := time.Now()
	for _, e := range events {
		if err := p.PublishAsync(context.Background(), e, func(*shared.Receipt, error) {}); err != nil {
			b.Fatal(err)
		}
	}
	if err := p.Flush(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
}

func BenchmarkRawProduce(b *testing.B) {
	c, p := benchBroker(b)
	events := benchEvents(p, b.N)
	values := make([][]byte, len(events))
	for i, e := range events {
		values[i], _ = e.Record()
	}
	cl := rawClient(b, c)
	b.ResetTimer()
	start := time.Now()
	for i, v := range values {
		cl.Produce(context.Background(), &kgo.Record{Key: []byte(events[i].EventID), Value: v}, func(*kgo.Record, error) {})
	}
	if err := cl.Flush(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
}

// BenchmarkLogDecision and BenchmarkRawProduceSync compare one synchronous
// call, one at a time, with franz-go's ProduceSync of the same record.
func BenchmarkLogDecision(b *testing.B) {
	_, p := benchBroker(b)
	d := benchEvents(p, 1)[0].Decision
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := p.LogDecision(context.Background(), *d); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRawProduceSync(b *testing.B) {
	c, p := benchBroker(b)
	e := benchEvents(p, 1)[0]
	value, err := e.Record()
	if err != nil {
		b.Fatal(err)
	}
	cl := rawClient(b, c)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := cl.ProduceSync(context.Background(), &kgo.Record{Key: []byte(e.EventID), Value: value}).FirstErr(); err != nil {
			b.Fatal(err)
		}
	}
}
