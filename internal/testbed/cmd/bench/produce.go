package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/aegisai/audit/ingest"
	"github.com/aegisai/audit/internal/platform/httpauth"
	"github.com/aegisai/audit/internal/platform/serve"
	"github.com/aegisai/audit/internal/platform/topics"
	"github.com/aegisai/audit/internal/testbed/localstack"
	"github.com/aegisai/audit/internal/testbed/testcerts"
	"github.com/aegisai/audit/producer"
	"github.com/aegisai/audit/shared"
)

// The producer side (issue 8). Each figure is measured against the raw
// client doing the same I/O in the same run.

const (
	steadyRate    = 1000 // calls/s
	steadySeconds = 10
)

func benchDecision(i int) shared.Decision {
	return shared.Decision{DecisionID: fmt.Sprintf("bench-%d", i), Action: shared.ActionAllow, ConfidenceScore: 0.92,
		PolicyVersion: "policy-2026.11", UserID: fmt.Sprintf("user-%d", i%1000), SessionID: fmt.Sprintf("sess-%d", i%5000),
		Metadata: []byte(`{"ip_country":"DE","amount":129.95}`)}
}

// rawProducer is franz-go configured as the producer library configures it.
func rawProducer(st *localstack.Stack, topic string, opts ...kgo.Opt) (*kgo.Client, error) {
	return kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(st.KafkaAddr), kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(time.Millisecond), kgo.MaxBufferedRecords(11000)}, opts...)...)
}

func newTopic(ctx context.Context, st *localstack.Stack, prefix string) (string, error) {
	topic := localstack.Name(prefix)
	cl, err := kgo.NewClient(kgo.SeedBrokers(st.KafkaAddr))
	if err != nil {
		return "", err
	}
	defer cl.Close()
	return topic, topics.EnsureSingle(ctx, cl, topic)
}

// steady calls call(i) at steadyRate for steadySeconds, each in its own
// goroutine (open loop: a slow call does not slow the next), and returns
// the sorted latencies.
func steady(call func(i int) error) ([]time.Duration, error) {
	lat, err := interleaved(call)
	if err != nil {
		return nil, err
	}
	return lat[0], nil
}

var printRounds = flag.Bool("rounds", false, "print each one-second round's latencies (log_decision_p99, ingest_p99)")

// interleaved measures several ways of making the same call in alternate
// one-second rounds at steadyRate (steadySeconds rounds each, after a
// warm-up round each that is not counted), so that the noise of a shared
// machine falls on all of them alike instead of on whichever runs first
// or last. It returns each one's sorted latencies.
func interleaved(calls ...func(i int) error) ([][]time.Duration, error) {
	lat := make([][]time.Duration, len(calls))
	next := make([]int, len(calls))
	for round := -1; round < steadySeconds; round++ {
		for c, call := range calls {
			got, err := oneSecond(call, &next[c])
			if err != nil {
				return nil, err
			}
			if *printRounds {
				sort.Slice(got, func(i, j int) bool { return got[i] < got[j] })
				fmt.Printf("round %d call %d: p50 %.2f p99 %.2f max %.2f\n", round, c, p50(got), p99(got), float64(got[len(got)-1].Microseconds())/1000)
			}
			if round >= 0 {
				lat[c] = append(lat[c], got...)
			}
		}
	}
	for _, l := range lat {
		sort.Slice(l, func(i, j int) bool { return l[i] < l[j] })
	}
	return lat, nil
}

// oneSecond makes steadyRate calls in one second, steadyRate/100 every
// 10 ms, numbering them from *next on.
func oneSecond(call func(i int) error, next *int) ([]time.Duration, error) {
	var mu sync.Mutex
	var lat []time.Duration
	var failed atomic.Int64
	var firstErr atomic.Pointer[error]
	var wg sync.WaitGroup
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for n := 0; n < steadyRate; {
		<-tick.C
		for range steadyRate / 100 {
			i := *next
			*next++
			n++
			wg.Add(1)
			go func() {
				defer wg.Done()
				start := time.Now()
				if err := call(i); err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, &err)
					return
				}
				d := time.Since(start)
				mu.Lock()
				lat = append(lat, d)
				mu.Unlock()
			}()
		}
	}
	wg.Wait()
	if f := failed.Load(); f > 0 {
		return nil, fmt.Errorf("%d of %d calls failed, first: %v", f, steadyRate, *firstErr.Load())
	}
	return lat, nil
}

func p99(lat []time.Duration) float64 {
	return float64(lat[int(0.99*float64(len(lat)-1))].Microseconds()) / 1000
}

func p50(lat []time.Duration) float64 {
	return float64(lat[len(lat)/2].Microseconds()) / 1000
}

// logDecisionP99: ms for LogDecision at a steady 1,000 calls/s; baseline:
// raw ProduceSync of the same bytes (key and value) at the same rate, the
// two in alternate rounds.
func logDecisionP99(ctx context.Context, st *localstack.Stack) (result, error) {
	topic, err := newTopic(ctx, st, "logdecision")
	if err != nil {
		return result{}, err
	}
	prod, err := producer.New(ctx, producer.Config{Brokers: []string{st.KafkaAddr}, Topic: topic, Environment: "bench"})
	if err != nil {
		return result{}, err
	}
	defer prod.Close()
	raw, err := rawProducer(st, topic)
	if err != nil {
		return result{}, err
	}
	defer raw.Close()
	const calls = steadyRate * (steadySeconds + 1)
	raws := make([]*kgo.Record, calls)
	for i := range raws {
		e := prod.NewDecision(benchDecision(i))
		value, err := e.Record()
		if err != nil {
			return result{}, err
		}
		raws[i] = &kgo.Record{Key: []byte(e.EventID), Value: value}
	}
	lat, err := interleaved(
		func(i int) error { _, err := prod.LogDecision(ctx, benchDecision(i)); return err },
		func(i int) error { return raw.ProduceSync(ctx, raws[i]).FirstErr() })
	if err != nil {
		return result{}, err
	}
	fmt.Printf("log_decision: p50 %.2f ms p99 %.2f ms; raw ProduceSync p50 %.2f ms p99 %.2f ms (%d calls each at %d/s, alternate rounds of 1 s)\n",
		p50(lat[0]), p99(lat[0]), p50(lat[1]), p99(lat[1]), len(lat[0]), steadyRate)
	return result{value: p99(lat[0]), baseline: p99(lat[1]), unit: "ms"}, nil
}

// asyncCallers is how many goroutines share the one producer (or raw
// client) in log_decision_async_throughput, as a busy service's handlers
// would.
const asyncCallers = 4

// logDecisionAsyncThroughput: decisions/s through PublishAsync from one
// producer shared by asyncCallers goroutines (envelopes built beforehand;
// validation and canonical encoding counted); baseline: raw Produce of the
// same bytes by as many goroutines on one client, both then flushed. It
// also prints the validation alone (the same goroutines writing each
// envelope's canonical record, no Kafka) and the process CPU time per
// decision of each phase, which a shared machine's load inflates less
// than the wall clock.
func logDecisionAsyncThroughput(ctx context.Context, st *localstack.Stack) (result, error) {
	const n = 200_000
	topic, err := newTopic(ctx, st, "async")
	if err != nil {
		return result{}, err
	}
	prod, err := producer.New(ctx, producer.Config{Brokers: []string{st.KafkaAddr}, Topic: topic, Environment: "bench"})
	if err != nil {
		return result{}, err
	}
	defer prod.Close()
	events := make([]*shared.Envelope, n)
	for i := range events {
		events[i] = prod.NewDecision(benchDecision(i))
	}
	var failed atomic.Int64
	count := func(_ *shared.Receipt, err error) {
		if err != nil {
			failed.Add(1)
		}
	}
	// run calls send(i) for every i, split among asyncCallers goroutines,
	// and returns the rate and the CPU time per call.
	run := func(send func(i int) error, flush func(context.Context) error) (perSecond float64, cpu time.Duration, err error) {
		cpu0, start := cpuTime(), time.Now()
		var wg sync.WaitGroup
		errs := make(chan error, asyncCallers)
		for c := range asyncCallers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := c; i < n; i += asyncCallers {
					if err := send(i); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		if err := <-errs; err != nil {
			return 0, 0, err
		}
		if err := flush(ctx); err != nil {
			return 0, 0, err
		}
		return float64(n) / time.Since(start).Seconds(), (cpuTime() - cpu0) / n, nil
	}
	values := make([][]byte, n)
	validated, validateCPU, err := run(func(i int) (err error) { values[i], err = events[i].Record(); return err },
		func(context.Context) error { return nil })
	if err != nil {
		return result{}, err
	}
	value, cpu, err := run(func(i int) error { return prod.PublishAsync(ctx, events[i], count) }, prod.Flush)
	if err != nil {
		return result{}, err
	}
	if f := failed.Load(); f > 0 {
		return result{}, fmt.Errorf("%d async events failed", f)
	}
	raw, err := rawProducer(st, topic)
	if err != nil {
		return result{}, err
	}
	defer raw.Close()
	// The floor: raw Produce of each envelope written by the cheapest
	// encoding there is (floorRecord: no check at all, the metadata as
	// given), in the same goroutines. No library that takes an envelope
	// and writes its record can be faster on this machine; its ratio to
	// the raw baseline bounds log_decision_async_throughput's. It runs
	// before and after the raw baseline (the in-process broker holds every
	// record, so later phases may pay more), and the higher is printed.
	var floor, floorCPU float64
	floorRun := func() error {
		v, c, err := run(func(i int) error {
			raw.Produce(ctx, &kgo.Record{Key: []byte(events[i].EventID), Value: floorRecord(events[i])}, func(_ *kgo.Record, err error) { count(nil, err) })
			return nil
		}, raw.Flush)
		if err == nil && v > floor {
			floor, floorCPU = v, us(c)
		}
		return err
	}
	if err := floorRun(); err != nil {
		return result{}, err
	}
	base, rawCPU, err := run(func(i int) error {
		raw.Produce(ctx, &kgo.Record{Key: []byte(events[i].EventID), Value: values[i]}, func(_ *kgo.Record, err error) { count(nil, err) })
		return nil
	}, raw.Flush)
	if err != nil {
		return result{}, err
	}
	if err := floorRun(); err != nil {
		return result{}, err
	}
	if f := failed.Load(); f > 0 {
		return result{}, fmt.Errorf("%d raw or floor records failed", f)
	}
	fmt.Printf("log_decision_async: floor (raw Produce after the cheapest encoding, no checks) %.0f/s, %.2f µs CPU each: ratio %.3f to raw\n",
		floor, floorCPU, floor/base)
	fmt.Printf("log_decision_async: PublishAsync %.0f/s, %.2f µs CPU each; raw Produce %.0f/s, %.2f µs CPU each; "+
		"validation alone (canonical record, no Kafka) %.0f/s, %.2f µs CPU each (%d decisions, %d callers)\n",
		value, us(cpu), base, us(rawCPU), validated, us(validateCPU), n, asyncCallers)
	return result{value: value, baseline: base, unit: "decisions/s"}, nil
}

// floorRecord writes a decision envelope's members in canonical order
// with nothing checked and nothing escaped (the benchmark's strings need
// no escaping) and its metadata as given: the least any library that
// takes an envelope must do to publish its record.
func floorRecord(e *shared.Envelope) []byte {
	d := e.Decision
	b := make([]byte, 0, 384)
	b = append(append(append(b, `{"decision":{"action":"`...), d.Action...), `","confidence_score":`...)
	b = strconv.AppendFloat(b, d.ConfidenceScore, 'f', -1, 64)
	b = append(append(append(b, `,"decision_id":"`...), d.DecisionID...), '"')
	b = append(append(b, `,"metadata":`...), d.Metadata...)
	b = append(append(append(b, `,"policy_version":"`...), d.PolicyVersion...), '"')
	b = append(append(append(b, `,"session_id":"`...), d.SessionID...), '"')
	b = append(append(append(b, `,"user_id":"`...), d.UserID...), `"}`...)
	b = append(append(append(b, `,"environment":"`...), e.Environment...), '"')
	b = append(append(append(b, `,"event_id":"`...), e.EventID...), '"')
	b = e.OccurredAt.AppendFormat(append(b, `,"occurred_at":"`...), time.RFC3339Nano)
	return append(b, `","type":"decision"}`...)
}

// cpuTime is the CPU time this process (callers, Kafka client, the
// in-process broker, the garbage collector) has used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func us(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1000 }

// batchCounter counts the records and batches a Kafka client wrote.
type batchCounter struct{ records, batches atomic.Int64 }

func (c *batchCounter) OnProduceBatchWritten(_ kgo.BrokerMetadata, _ string, _ int32, m kgo.ProduceBatchMetrics) {
	c.records.Add(int64(m.NumRecords))
	c.batches.Add(1)
}

// perBatch is the mean number of records a batch since the last call.
func (c *batchCounter) perBatch() float64 {
	r, b := c.records.Swap(0), c.batches.Swap(0)
	return float64(r) / float64(max(b, 1))
}

// ingestServers starts the ingest service and a raw handler (read the body,
// ProduceSync it, answer 201; no auth, no validation) on loopback. The
// counters count what each one's Kafka client wrote.
func ingestServers(ctx context.Context, st *localstack.Stack) (svcURL, rawURL, token string, stop func(), counters [2]*batchCounter, err error) {
	counters = [2]*batchCounter{{}, {}}
	svc, topic, token, prod, err := ingestService(ctx, st, kgo.WithHooks(counters[0]))
	if err != nil {
		return
	}
	s1, err := serve.Listen(serve.Options{Addr: "127.0.0.1:0", Handler: svc.Handler()})
	if err != nil {
		return
	}
	raw, err := rawProducer(st, topic, kgo.WithHooks(counters[1]))
	if err != nil {
		return
	}
	s2, err := serve.Listen(serve.Options{Addr: "127.0.0.1:0", Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err == nil {
			err = raw.ProduceSync(r.Context(), &kgo.Record{Value: body}).FirstErr()
		}
		if err != nil {
			w.WriteHeader(503)
			return
		}
		w.WriteHeader(201)
		io.WriteString(w, `{"ok":true}`)
	})})
	if err != nil {
		return
	}
	go s1.Serve()
	go s2.Serve()
	return "http://" + s1.Addr(), "http://" + s2.Addr(), token, func() {
		s1.Shutdown(context.Background())
		s2.Shutdown(context.Background())
		prod.Close()
		raw.Close()
	}, counters, nil
}

// ingestService is the ingest service of a new topic, recording with the
// token it returns.
func ingestService(ctx context.Context, st *localstack.Stack, opts ...kgo.Opt) (*ingest.Service, string, string, *producer.Producer, error) {
	topic, err := newTopic(ctx, st, "ingest")
	if err != nil {
		return nil, "", "", nil, err
	}
	prod, err := producer.New(ctx, producer.Config{Brokers: []string{st.KafkaAddr}, Topic: topic, Environment: "bench", Kafka: opts})
	if err != nil {
		return nil, "", "", nil, err
	}
	token := "bench-token-0123456789"
	tokens, err := httpauth.Parse(strings.NewReader("bench "+token+" bench record\n"), "bench")
	if err != nil {
		prod.Close()
		return nil, "", "", nil, err
	}
	svc, err := ingest.New(ingest.Config{Recorders: map[string]ingest.Recorder{"bench": prod}, Tokens: tokens})
	if err != nil {
		prod.Close()
		return nil, "", "", nil, err
	}
	return svc, topic, token, prod, nil
}

var ingestClient = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256, MaxConnsPerHost: 256}}

func postDecision(url, token string, i int) error {
	return postDecisionWith(ingestClient, url, token, i)
}

func postDecisionWith(client *http.Client, url, token string, i int) error {
	body := fmt.Sprintf(`{"environment":"bench","decision":{"decision_id":"bench-%d","action":"ALLOW","confidence_score":0.92,`+
		`"policy_version":"policy-2026.11","user_id":"user-%d","session_id":"sess-%d","metadata":{"ip_country":"DE","amount":129.95}}}`, i, i%1000, i%5000)
	req, _ := http.NewRequest("POST", url+"/v1/decisions", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 201 {
		return fmt.Errorf("%d %s", resp.StatusCode, bytes.TrimSpace(b))
	}
	return nil
}

// ingestP99: ms for POST /v1/decisions at 1,000 requests/s over loopback;
// baseline: the raw handler at the same rate, the two in alternate rounds.
func ingestP99(ctx context.Context, st *localstack.Stack) (result, error) {
	svc, raw, token, stop, _, err := ingestServers(ctx, st)
	if err != nil {
		return result{}, err
	}
	defer stop()
	lat, err := interleaved(func(i int) error { return postDecision(svc, token, i) }, func(i int) error { return postDecision(raw, token, i) })
	if err != nil {
		return result{}, err
	}
	fmt.Printf("ingest: p50 %.2f ms p99 %.2f ms; raw handler p50 %.2f ms p99 %.2f ms (%d requests each at %d/s, alternate rounds of 1 s)\n",
		p50(lat[0]), p99(lat[0]), p50(lat[1]), p99(lat[1]), len(lat[0]), steadyRate)
	return result{value: p99(lat[0]), baseline: p99(lat[1]), unit: "ms"}, nil
}

// ingestTLSP99: ms for POST /v1/decisions over HTTPS (--tls-cert-file: an
// ECDSA P-256 certificate, TLS 1.3, keep-alive connections) at 1,000
// requests/s; baseline: the same service over plain HTTP, the two in
// alternate rounds. The ratio is what TLS costs a request (no goal).
func ingestTLSP99(ctx context.Context, st *localstack.Stack) (result, error) {
	svc, _, token, prod, err := ingestService(ctx, st)
	if err != nil {
		return result{}, err
	}
	defer prod.Close()
	dir, err := os.MkdirTemp("", "aegis-bench-tls-")
	if err != nil {
		return result{}, err
	}
	defer os.RemoveAll(dir)
	var t benchT
	ca := testcerts.NewCA(t)
	cert := ca.Server(t, dir, "ingest.bench", 1)
	cfg, err := serve.TLSFiles{Cert: cert.CertFile, Key: cert.KeyFile}.Config(nil, func(s string) string { return "--" + s })
	if err != nil {
		return result{}, err
	}
	secure, err := serve.Listen(serve.Options{Addr: "127.0.0.1:0", Handler: svc.Handler(), TLS: cfg})
	if err != nil {
		return result{}, err
	}
	plain, err := serve.Listen(serve.Options{Addr: "127.0.0.1:0", Handler: svc.Handler()})
	if err != nil {
		return result{}, err
	}
	go secure.Serve()
	go plain.Serve()
	defer secure.Shutdown(context.Background())
	defer plain.Shutdown(context.Background())
	tlsClient := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256, MaxConnsPerHost: 256,
		TLSClientConfig: &tls.Config{RootCAs: ca.Pool(), ServerName: "ingest.bench"}, ForceAttemptHTTP2: false}}
	lat, err := interleaved(func(i int) error { return postDecisionWith(tlsClient, secure.URL(), token, i) },
		func(i int) error { return postDecision(plain.URL(), token, i) })
	if err != nil {
		return result{}, err
	}
	fmt.Printf("ingest over TLS: p50 %.2f ms p99 %.2f ms; over plain HTTP p50 %.2f ms p99 %.2f ms (%d requests each at %d/s, alternate rounds of 1 s)\n",
		p50(lat[0]), p99(lat[0]), p50(lat[1]), p99(lat[1]), len(lat[0]), steadyRate)
	return result{value: p99(lat[0]), baseline: p99(lat[1]), unit: "ms"}, nil
}

// benchT stands for a test where testcerts wants one: a failure stops the
// program.
type benchT struct{}

func (benchT) Helper()           {}
func (benchT) Fatal(args ...any) { panic(fmt.Sprint(args...)) }

// ingestThroughput: requests/s answered 201 by 64 concurrent clients;
// baseline: the raw handler alike. The two alternate in rounds of one
// second (ten counted each, after a warm-up round each), so that the load
// of other processes on a shared machine, and the broker's log growing,
// fall on both alike instead of on whichever runs second. It also prints
// the process CPU time per request of each (clients, server, Kafka client
// and broker, the garbage collector: all in this process) and the records
// per Kafka batch of each.
func ingestThroughput(ctx context.Context, st *localstack.Stack) (result, error) {
	svc, raw, token, stop, batches, err := ingestServers(ctx, st)
	if err != nil {
		return result{}, err
	}
	defer stop()
	sides := []*saturation{{name: "ingest", url: svc}, {name: "raw", url: raw}}
	for round := -1; round < ingestRounds; round++ {
		for _, side := range sides {
			if err := side.round(token, round); err != nil {
				return result{}, fmt.Errorf("%s: %w", side.name, err)
			}
			if round < 0 {
				batches[0].perBatch() // the warm-up's batches are not counted
				batches[1].perBatch()
			}
		}
	}
	value, base := sides[0].rate(), sides[1].rate()
	fmt.Printf("ingest_throughput: service %.0f/s, %.1f µs CPU a request, %.1f records a Kafka batch; "+
		"raw handler %.0f/s, %.1f µs CPU a request, %.1f records a batch (64 clients, %d alternate rounds of 1 s each)\n",
		value, us(sides[0].cpuPerRequest()), batches[0].perBatch(), base, us(sides[1].cpuPerRequest()), batches[1].perBatch(), ingestRounds)
	return result{value: value, baseline: base, unit: "requests/s"}, nil
}

// ingestRounds is how many one-second rounds ingest_throughput counts for
// each side.
const ingestRounds = 10

// saturation is one side of ingest_throughput: what its counted rounds
// added up to.
type saturation struct {
	name, url string
	next      atomic.Int64 // the next request's number
	requests  int64
	elapsed   time.Duration
	cpu       time.Duration
}

func (s *saturation) rate() float64 { return float64(s.requests) / s.elapsed.Seconds() }

func (s *saturation) cpuPerRequest() time.Duration { return s.cpu / time.Duration(max(s.requests, 1)) }

// round runs 64 clients posting decisions for one second (each finishes
// the request it has started) and, unless it is the warm-up (round -1),
// adds the requests answered 201, the time and the process CPU time to s.
func (s *saturation) round(token string, round int) error {
	stop, err := profileRound(s.name, round)
	if err != nil {
		return err
	}
	defer stop()
	var n atomic.Int64
	var firstErr atomic.Pointer[error]
	cpu0, start := cpuTime(), time.Now()
	deadline := start.Add(time.Second)
	var wg sync.WaitGroup
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				if err := postDecision(s.url, token, int(s.next.Add(1))); err != nil {
					firstErr.CompareAndSwap(nil, &err)
					return
				}
				n.Add(1)
			}
		}()
	}
	wg.Wait()
	if e := firstErr.Load(); e != nil {
		return *e
	}
	if round >= 0 {
		s.requests += n.Load()
		s.elapsed += time.Since(start)
		s.cpu += cpuTime() - cpu0
	}
	return nil
}

var ingestProfile = flag.String("ingest-cpuprofile", "", "ingest_throughput: write a CPU profile of the whole process during each "+
	"counted round to PREFIX.ingest.<round>.prof or PREFIX.raw.<round>.prof (`go tool pprof` merges the files of one side)")

// profileRound starts a CPU profile of a counted round when
// -ingest-cpuprofile is set (the whole-run -cpuprofile must then be off:
// one profile at a time), and returns what stops it.
func profileRound(side string, round int) (stop func(), err error) {
	if *ingestProfile == "" || round < 0 {
		return func() {}, nil
	}
	f, err := os.Create(fmt.Sprintf("%s.%s.%d.prof", *ingestProfile, side, round))
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("-ingest-cpuprofile: %w", err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// sealedReceiptP99: ms from call to receipt in Sealed mode at 1,000
// calls/s with the sealer's default batching (a batch closes at 1,000
// entries or 1 s), the sealer as its own process. Baseline: the batch age
// limit, as for seal_latency. sealed_receipt_p99_age100ms is the same
// with --batch-max-age 100ms (baseline 100), the trade of more, smaller
// objects for latency.
func sealedReceiptP99(ctx context.Context, st *localstack.Stack) (result, error) {
	return sealedReceipt(ctx, st, time.Second)
}

func sealedReceiptP99Age100ms(ctx context.Context, st *localstack.Stack) (result, error) {
	return sealedReceipt(ctx, st, 100*time.Millisecond)
}

func sealedReceipt(ctx context.Context, st *localstack.Stack, maxAge time.Duration) (result, error) {
	var extra []string
	if maxAge != time.Second {
		extra = []string{"--batch-max-age", maxAge.String()}
	}
	r, err := newSealerRun(ctx, st, extra...)
	if err != nil {
		return result{}, err
	}
	if err := r.proc.Start(); err != nil {
		return result{}, err
	}
	defer r.proc.Kill(syscall.SIGTERM)
	if err := r.waitHead(ctx, 0); err != nil {
		return result{}, err
	}
	prod, err := producer.New(ctx, producer.Config{Brokers: []string{st.KafkaAddr}, Topic: r.topic, SealedTopic: r.sealed, Environment: r.chain})
	if err != nil {
		return result{}, err
	}
	defer prod.Close()
	lat, err := steady(func(i int) error {
		_, err := prod.LogDecision(ctx, benchDecision(i), producer.WithDurability(producer.Sealed))
		return err
	})
	if err != nil {
		return result{}, err
	}
	fmt.Printf("sealed_receipt: p50 %.1f ms p99 %.1f ms (%d calls at %d/s, batches of at most 1000 entries or %s)\n",
		p50(lat), p99(lat), len(lat), steadyRate, maxAge)
	return result{value: p99(lat), baseline: float64(maxAge.Milliseconds()), unit: "ms"}, nil
}

func init() {
	benchmarks["log_decision_p99"] = logDecisionP99
	benchmarks["log_decision_async_throughput"] = logDecisionAsyncThroughput
	benchmarks["ingest_p99"] = ingestP99
	benchmarks["ingest_throughput"] = ingestThroughput
	benchmarks["ingest_tls_p99"] = ingestTLSP99
	benchmarks["sealed_receipt_p99"] = sealedReceiptP99
	benchmarks["sealed_receipt_p99_age100ms"] = sealedReceiptP99Age100ms
}
