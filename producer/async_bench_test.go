package producer

import (
	"context"
	"fmt"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/aegisai/audit/shared"
)

// The benchmarks here compare the producer with franz-go alone on an
// in-process kfake broker (`make bench` measures the same against the
// local stack). Besides ns/op, which on a shared machine is mostly the
// other processes' load, each reports cpu-ns/op: the CPU time the whole
// process (callers, client, broker, garbage collector) spent per event,
// which waiting for a core does not inflate.

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

func benchEvents(p *Producer, n int) []*shared.Envelope {
	return benchEventsWith(p, n, `{"ip_country":"DE","amount":129.95}`)
}

func benchEventsWith(p *Producer, n int, metadata string) []*shared.Envelope {
	out := make([]*shared.Envelope, n)
	for i := range out {
		out[i] = p.NewDecision(shared.Decision{DecisionID: fmt.Sprint("d-", i), Action: shared.ActionAllow, ConfidenceScore: 0.92,
			PolicyVersion: "p", UserID: "u", SessionID: "s", Metadata: []byte(metadata)})
	}
	return out
}

// cpuTime is the CPU time the process has used so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// measure runs f (b.N events) and reports events/s and cpu-ns/op.
func measure(b *testing.B, f func()) {
	b.ReportAllocs()
	b.ResetTimer()
	cpu, start := cpuTime(b), time.Now()
	f()
	b.StopTimer()
	b.ReportMetric(float64(cpuTime(b)-cpu)/float64(b.N), "cpu-ns/op")
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
}

// callers splits 0..n-1 among k goroutines, as a busy service's handlers
// share one producer (make bench's log_decision_async_throughput uses 4).
func callers(k, n int, send func(i int)) {
	var wg sync.WaitGroup
	for c := range k {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := c; i < n; i += k {
				send(i)
			}
		}()
	}
	wg.Wait()
}

func benchPublishAsync(b *testing.B, k int) {
	_, p := benchBroker(b)
	events := benchEvents(p, b.N)
	measure(b, func() {
		callers(k, b.N, func(i int) {
			if err := p.PublishAsync(context.Background(), events[i], func(*shared.Receipt, error) {}); err != nil {
				b.Error(err)
			}
		})
		if err := p.Flush(context.Background()); err != nil {
			b.Fatal(err)
		}
	})
}

func benchRawProduce(b *testing.B, k int) {
	c, p := benchBroker(b)
	events := benchEvents(p, b.N)
	values := make([][]byte, len(events))
	for i, e := range events {
		values[i], _ = e.Record()
	}
	cl := rawClient(b, c)
	measure(b, func() {
		callers(k, b.N, func(i int) {
			cl.Produce(context.Background(), &kgo.Record{Key: []byte(events[i].EventID), Value: values[i]}, func(*kgo.Record, error) {})
		})
		if err := cl.Flush(context.Background()); err != nil {
			b.Fatal(err)
		}
	})
}

func BenchmarkPublishAsync(b *testing.B)  { benchPublishAsync(b, 1) }
func BenchmarkPublishAsync4(b *testing.B) { benchPublishAsync(b, 4) }
func BenchmarkRawProduce(b *testing.B)    { benchRawProduce(b, 1) }
func BenchmarkRawProduce4(b *testing.B)   { benchRawProduce(b, 4) }

// BenchmarkValidate is the producer's own work per event alone, no
// Kafka: check the envelope under the sealer's rules and write its
// canonical bytes. It is the part of PublishAsync's cost that reading
// hostile input asks for.
func BenchmarkValidate(b *testing.B) {
	_, p := benchBroker(b)
	benchValidate(b, p, benchEvents(p, b.N))
}

// BenchmarkValidateCanonicalMetadata is BenchmarkValidate with metadata in
// canonical form already (sorted members, as json.Marshal writes a map):
// it is checked in one pass and used as it is.
func BenchmarkValidateCanonicalMetadata(b *testing.B) {
	_, p := benchBroker(b)
	benchValidate(b, p, benchEventsWith(p, b.N, `{"amount":129.95,"ip_country":"DE"}`))
}

func benchValidate(b *testing.B, p *Producer, events []*shared.Envelope) {
	measure(b, func() {
		for _, e := range events {
			if _, err := p.value(e); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkLogDecision and BenchmarkRawProduceSync compare one synchronous
// call, one at a time, with franz-go's ProduceSync of the same record.
func BenchmarkLogDecision(b *testing.B) {
	_, p := benchBroker(b)
	d := benchEvents(p, 1)[0].Decision
	measure(b, func() {
		for range b.N {
			if _, err := p.LogDecision(context.Background(), *d); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkRawProduceSync(b *testing.B) {
	c, p := benchBroker(b)
	e := benchEvents(p, 1)[0]
	value, err := e.Record()
	if err != nil {
		b.Fatal(err)
	}
	cl := rawClient(b, c)
	measure(b, func() {
		for range b.N {
			if err := cl.ProduceSync(context.Background(), &kgo.Record{Key: []byte(e.EventID), Value: value}).FirstErr(); err != nil {
				b.Fatal(err)
			}
		}
	})
}
