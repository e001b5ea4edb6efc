package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/mod/sumdb/note"

	"github.com/aegisai/audit/archive"
	"github.com/aegisai/audit/internal/platform/topics"
	"github.com/aegisai/audit/internal/testbed/chaos"
	"github.com/aegisai/audit/internal/testbed/localstack"
	"github.com/aegisai/audit/internal/testbed/pipeline"
	"github.com/aegisai/audit/producer"
	"github.com/aegisai/audit/replayer"
	"github.com/aegisai/audit/shared"
)

var benchRecords = 500_000

// sealerRun is one sealer, as a separate aegis process, on its own chain,
// topics and bucket of the stack.
type sealerRun struct {
	st                           *localstack.Stack
	chain, bucket, topic, sealed string
	vkey                         string
	metrics                      string // the sealer's --metrics-addr
	proc                         *chaos.Proc
}

var (
	aegisOnce sync.Once
	aegisBin  string
	aegisErr  error
)

func newSealerRun(ctx context.Context, st *localstack.Stack, extra ...string) (*sealerRun, error) {
	aegisOnce.Do(func() {
		dir, err := os.MkdirTemp("", "aegis-bench-")
		if err != nil {
			aegisErr = err
			return
		}
		aegisBin, aegisErr = chaos.BuildAegis(ctx, dir)
	})
	if aegisErr != nil {
		return nil, aegisErr
	}
	r := &sealerRun{st: st, chain: localstack.Name("bench"), bucket: st.Bucket("bench"), topic: localstack.Name("decisions"), sealed: localstack.Name("sealed")}
	skey, vkey, err := note.GenerateKey(rand.Reader, "aegis-"+r.chain)
	if err != nil {
		return nil, err
	}
	r.vkey = vkey
	dir := filepath.Dir(aegisBin)
	keyFile, pubFile := filepath.Join(dir, r.chain+".key"), filepath.Join(dir, r.chain+".pub")
	if err := os.WriteFile(keyFile, []byte(skey), 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(pubFile, []byte(vkey), 0o644); err != nil {
		return nil, err
	}
	s3c, err := st.S3(ctx)
	if err != nil {
		return nil, err
	}
	if err := localstack.CreateLockedBucket(ctx, s3c, r.bucket); err != nil {
		return nil, err
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(st.KafkaAddr))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	if err := topics.EnsureSingle(ctx, cl, r.topic); err != nil {
		return nil, err
	}
	if _, err := topics.Ensure(ctx, cl, r.sealed, 6); err != nil {
		return nil, err
	}
	// The sealer serves its metrics (and profiler) here: seal_throughput
	// reads its progress from them.
	r.metrics = os.Getenv("AEGIS_METRICS_ADDR")
	if r.metrics == "" {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		r.metrics = l.Addr().String()
		l.Close()
	}
	args := append([]string{aegisBin, "sealer", "--signer-key-file", keyFile, "--retention", "24h", "--identity", "bench",
		"--metrics-addr", r.metrics}, extra...)
	r.proc = &chaos.Proc{Name: "sealer", Args: args, Env: append(append(os.Environ(), st.Env()...),
		"AEGIS_CHAIN="+r.chain, "AEGIS_BUCKET="+r.bucket, "AEGIS_TOPIC="+r.topic,
		"AEGIS_SEALED_TOPIC="+r.sealed, "AEGIS_VERIFIER_KEY_FILE="+pubFile, "AEGIS_LOG_LEVEL=error")}
	return r, nil
}

// head is the seq of the newest signed checkpoint (0 before any).
func (r *sealerRun) head(ctx context.Context) uint64 {
	s3c, err := r.st.S3(ctx)
	if err != nil {
		return 0
	}
	cp, err := replayer.SignedHead(ctx, s3c, r.bucket, "", r.chain, r.vkey)
	if err != nil {
		return 0
	}
	return cp.Seq
}

func (r *sealerRun) waitHead(ctx context.Context, seq uint64) error {
	for r.head(ctx) < seq {
		select {
		case <-ctx.Done():
			return fmt.Errorf("head %d of %d: %w", r.head(context.Background()), seq, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}

// waitCommitted waits until the sealer's own metrics say seq is sealed
// and committed: its head is at seq or past it and no sealed entry waits
// for its transaction (an entry's offset is committed only after its
// object and checkpoint are durable). It returns when the sealer's head
// first moved (its start-up: connecting, recovering the head from S3).
//
// Polling the signed head in S3 every 20 ms instead listed the chain's
// checkpoints each time, work for the S3 server that the raw baseline did
// not have to share the machine with; and each scrape of /metrics costs
// the sealer about 0.8 ms of CPU (its process collector reads /proc), 4%
// of its CPU at 50 scrapes a second. So it polls every 200 ms until the
// head is within a tenth of seq, and every 10 ms after that, which keeps
// the end seen within 10 ms.
func (r *sealerRun) waitCommitted(ctx context.Context, seq uint64) (firstSealed time.Time, err error) {
	for {
		head, uncommitted, err := r.progress(ctx)
		if err == nil && head > 0 && firstSealed.IsZero() {
			firstSealed = time.Now()
		}
		if err == nil && head >= float64(seq) && uncommitted == 0 {
			return firstSealed, nil
		}
		wait := 200 * time.Millisecond
		if head >= 0.9*float64(seq) {
			wait = 10 * time.Millisecond
		}
		select {
		case <-ctx.Done():
			return firstSealed, fmt.Errorf("sealer head %.0f of %d, %.0f uncommitted (%v): %w", head, seq, uncommitted, err, ctx.Err())
		case <-time.After(wait):
		}
	}
}

// progress reads the sealer's head seq and uncommitted entries from its
// /metrics.
func (r *sealerRun) progress(ctx context.Context) (head, uncommitted float64, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+r.metrics+"/metrics", nil)
	if err != nil {
		return 0, 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	var found int
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		name, _, _ = strings.Cut(name, "{")
		var dst *float64
		switch name {
		case "aegis_sealer_head_seq":
			dst = &head
		case "aegis_sealer_uncommitted_entries":
			dst = &uncommitted
		default:
			continue
		}
		if *dst, err = strconv.ParseFloat(value, 64); err != nil {
			return 0, 0, fmt.Errorf("%s: %w", name, err)
		}
		found++
	}
	if found != 2 {
		return 0, 0, fmt.Errorf("the sealer's metrics have no head or uncommitted gauge yet")
	}
	return head, uncommitted, sc.Err()
}

// preload publishes n decisions to the run's topic with a raw client and
// returns their values.
func (r *sealerRun) preload(ctx context.Context, n int) ([][]byte, error) {
	w := pipeline.NewWorkload(r.chain, r.chain, n, 0, 1000, 7, time.Now())
	cl, err := kgo.NewClient(kgo.SeedBrokers(r.st.KafkaAddr), kgo.DefaultProduceTopic(r.topic), kgo.ProducerLinger(5*time.Millisecond))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	values := make([][]byte, len(w.Events))
	for start := 0; start < len(w.Events); start += 10000 {
		recs := make([]*kgo.Record, 0, 10000)
		for i := start; i < min(start+10000, len(w.Events)); i++ {
			v, err := w.Events[i].Record()
			if err != nil {
				return nil, err
			}
			values[i] = v
			recs = append(recs, &kgo.Record{Value: v})
		}
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			return nil, fmt.Errorf("preload: %w", err)
		}
	}
	return values, nil
}

// sealedRSS is the sealer's peak memory in the last seal_throughput run.
var sealedRSS float64

// sealThroughput: decisions/s sealed end to end (in S3 under Object Lock,
// checkpointed, published and committed) from -records pre-loaded
// decisions, by the sealer as its own process. Baseline, same run: the raw
// clients doing the same I/O without the audit logic, concurrently, as the
// sealer overlaps it: consume the records, PUT objects of the same sizes
// and number (and one checkpoint-sized object each) one after the other,
// and produce the same number of records, of the sealed records' size, in
// transactions of the batch size.
func sealThroughput(ctx context.Context, st *localstack.Stack) (result, error) {
	r, err := newSealerRun(ctx, st)
	if err != nil {
		return result{}, err
	}
	values, err := r.preload(ctx, benchRecords)
	if err != nil {
		return result{}, err
	}
	start := time.Now()
	if err := r.proc.Start(); err != nil {
		return result{}, err
	}
	firstSealed, err := r.waitCommitted(ctx, uint64(len(values)))
	if err != nil {
		r.proc.Kill(syscall.SIGTERM)
		return result{}, err
	}
	elapsed := time.Since(start)
	// What the sealer said, checked where it counts: a checkpoint signed
	// by the chain's key covers the last record.
	if err := r.waitHead(ctx, uint64(len(values))); err != nil {
		r.proc.Kill(syscall.SIGTERM)
		return result{}, err
	}
	value := float64(len(values)) / elapsed.Seconds()
	if cpu, err := r.proc.CPU(); err == nil {
		fmt.Printf("seal_throughput: %d decisions in %.1f s (the first sealed %.2f s after the start), the sealer's CPU %.1f s (%.1f µs a decision)\n",
			len(values), elapsed.Seconds(), firstSealed.Sub(start).Seconds(), cpu.Seconds(), cpu.Seconds()/float64(len(values))*1e6)
	}
	sealedRSS = r.proc.Kill(syscall.SIGTERM)

	baseline, err := rawSealIO(ctx, st, r, values)
	if err != nil {
		return result{}, err
	}
	return result{value: value, baseline: baseline, unit: "decisions/s"}, nil
}

// rawSealIO does the sealer's I/O for values with the raw clients and
// returns records/s.
func rawSealIO(ctx context.Context, st *localstack.Stack, r *sealerRun, values [][]byte) (float64, error) {
	const batch = 1000
	pool := rawLines(values)
	s3c, err := st.S3(ctx)
	if err != nil {
		return 0, err
	}
	store := &archive.Store{S3: s3c, Bucket: r.bucket}
	rawTopic := localstack.Name("raw")
	admin, err := kgo.NewClient(kgo.SeedBrokers(st.KafkaAddr))
	if err != nil {
		return 0, err
	}
	_, err = topics.Ensure(ctx, admin, rawTopic, 6)
	admin.Close()
	if err != nil {
		return 0, err
	}
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	start := time.Now()
	wg.Add(3)
	go func() { // consume
		defer wg.Done()
		cl, err := kgo.NewClient(kgo.SeedBrokers(st.KafkaAddr), kgo.ConsumeTopics(r.topic),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
		if err != nil {
			errs <- err
			return
		}
		defer cl.Close()
		for n := 0; n < len(values); {
			f := cl.PollFetches(ctx)
			if err := f.Err0(); err != nil {
				errs <- err
				return
			}
			n += f.NumRecords()
		}
	}()
	go func() { // PUT objects and checkpoints, in order
		defer wg.Done()
		var body []byte
		for j := range batch {
			body = append(append(body, pool[j%len(pool)]...), '\n')
		}
		note := bytes.Repeat([]byte("y"), 420)
		for i := 0; i*batch < len(values); i++ {
			key := fmt.Sprintf("raw/%s/%d/%020d", r.chain, start.UnixNano(), i)
			if _, err := store.Put(ctx, key+".jsonl", body, time.Now().Add(24*time.Hour)); err != nil {
				errs <- err
				return
			}
			if _, err := store.Put(ctx, key+".note", note, time.Now().Add(24*time.Hour)); err != nil {
				errs <- err
				return
			}
		}
	}()
	go func() { // produce in transactions
		defer wg.Done()
		cl, err := kgo.NewClient(kgo.SeedBrokers(st.KafkaAddr), kgo.DefaultProduceTopic(rawTopic), kgo.TransactionalID(rawTopic))
		if err != nil {
			errs <- err
			return
		}
		defer cl.Close()
		for i := 0; i < len(values); i += batch {
			if err := cl.BeginTransaction(); err != nil {
				errs <- err
				return
			}
			recs := make([]*kgo.Record, 0, batch)
			for j := i; j < min(i+batch, len(values)); j++ {
				v := fmt.Appendf(nil, `{"object":"raw/%s/%020d.jsonl","version_id":"%d","line":%d,"checkpoint":%d,"entry":`, r.chain, i, i, j-i+1, i+batch)
				v = append(append(v, pool[j%len(pool)]...), '}')
				recs = append(recs, &kgo.Record{Key: []byte(fmt.Sprint(j)), Value: v})
			}
			if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
				errs <- err
				return
			}
			if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
				errs <- err
				return
			}
		}
	}()
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return 0, err
	}
	return float64(len(values)) / time.Since(start).Seconds(), nil
}

// rawLines makes lines for the raw baseline as large and as compressible
// as sealed lines: each holds a preloaded record and, for the entry's own
// members (chain, seq, hashes, times: about 420 bytes), random hex. Constant
// filler would be compressed to almost nothing by the Kafka client and
// make the baseline's produce far cheaper than the sealer's. 2,000 of them
// are cycled, so no batch repeats a line.
func rawLines(values [][]byte) [][]byte {
	pool := make([][]byte, 2000)
	fill := make([]byte, 210)
	for k := range pool {
		rand.Read(fill)
		line := append([]byte(`{"event":`), values[k%len(values)]...)
		line = append(line, `,"members":"`...)
		line = hex.AppendEncode(line, fill)
		pool[k] = append(line, `"}`...)
	}
	return pool
}

// sealerRSS: peak resident memory of the sealer process during
// seal_throughput (run it first), MiB; baseline: the same process sealing
// a hundredth of the records.
func sealerRSS(ctx context.Context, st *localstack.Stack) (result, error) {
	if sealedRSS == 0 {
		if _, err := sealThroughput(ctx, st); err != nil {
			return result{}, err
		}
	}
	big := sealedRSS
	saved := benchRecords
	benchRecords /= 100
	_, err := sealThroughput(ctx, st)
	benchRecords = saved
	if err != nil {
		return result{}, err
	}
	return result{value: big, baseline: sealedRSS, unit: "MiB"}, nil
}

// sealLatency publishes a steady 5,000 decisions/s through the producer
// library for 20s and measures, for each, the time from the publish call
// to its entry on the sealed topic (read committed: after S3, checkpoint
// and transaction).
func sealLatency(ctx context.Context, st *localstack.Stack) ([]time.Duration, error) {
	r, err := newSealerRun(ctx, st)
	if err != nil {
		return nil, err
	}
	if err := r.proc.Start(); err != nil {
		return nil, err
	}
	defer r.proc.Kill(syscall.SIGTERM)
	prod, err := producer.New(ctx, producer.Config{Brokers: []string{st.KafkaAddr}, Topic: r.topic, Environment: r.chain})
	if err != nil {
		return nil, err
	}
	defer prod.Close()
	if err := r.waitHead(ctx, 0); err != nil {
		return nil, err
	}
	cons, err := kgo.NewClient(kgo.SeedBrokers(st.KafkaAddr), kgo.ConsumeTopics(r.sealed),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.FetchMaxWait(50*time.Millisecond))
	if err != nil {
		return nil, err
	}
	defer cons.Close()
	var mu sync.Mutex
	sent := map[string]time.Time{}
	var lat []time.Duration
	const rate, seconds = 5000, 20
	done := make(chan struct{})
	go func() {
		defer close(done)
		for len(lat) < rate*seconds && ctx.Err() == nil {
			f := cons.PollFetches(ctx)
			now := time.Now()
			f.EachRecord(func(rec *kgo.Record) {
				var sr shared.SealedRecord
				if json.Unmarshal(rec.Value, &sr) != nil {
					return
				}
				e, err := shared.ParseLine(sr.Entry)
				if err != nil {
					return
				}
				mu.Lock()
				if t, ok := sent[e.EventID()]; ok {
					lat = append(lat, now.Sub(t))
				}
				mu.Unlock()
			})
		}
	}()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for i := 0; i < rate*seconds/50; i++ {
		<-tick.C
		evs := make([]*shared.Envelope, 50)
		now := time.Now()
		mu.Lock()
		for j := range evs {
			evs[j] = prod.NewDecision(shared.Decision{DecisionID: fmt.Sprintf("d-%d-%d", i, j), Action: shared.ActionAllow,
				ConfidenceScore: 0.5, PolicyVersion: "p", UserID: "u", SessionID: "s"})
			sent[evs[j].EventID] = now
		}
		mu.Unlock()
		go prod.Publish(ctx, evs...)
	}
	select {
	case <-done:
	case <-time.After(60 * time.Second):
	}
	mu.Lock()
	defer mu.Unlock()
	if len(lat) < rate*seconds*9/10 {
		return nil, fmt.Errorf("only %d of %d decisions seen sealed", len(lat), rate*seconds)
	}
	out := append([]time.Duration(nil), lat...)
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out, nil
}

var latencies []time.Duration

func percentile(p float64) benchmark {
	return func(ctx context.Context, st *localstack.Stack) (result, error) {
		if latencies == nil {
			l, err := sealLatency(ctx, st)
			if err != nil {
				return result{}, err
			}
			latencies = l
		}
		v := latencies[int(p*float64(len(latencies)-1))]
		// Baseline: the batch age limit, the longest a record waits for its
		// batch under light load.
		return result{value: float64(v.Microseconds()) / 1000, baseline: 1000, unit: "ms"}, nil
	}
}

// steadyLoad publishes 1,000 decisions/s to the run's topic through the
// producer library until the returned stop is called.
func (r *sealerRun) steadyLoad(ctx context.Context) (stop func(), err error) {
	prod, err := producer.New(ctx, producer.Config{Brokers: []string{r.st.KafkaAddr}, Topic: r.topic, Environment: r.chain})
	if err != nil {
		return nil, err
	}
	loadCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for i := 0; loadCtx.Err() == nil; i++ {
			<-tick.C
			evs := make([]*shared.Envelope, 10)
			for j := range evs {
				evs[j] = prod.NewDecision(shared.Decision{DecisionID: fmt.Sprintf("d-%d-%d", i, j), Action: shared.ActionAllow,
					ConfidenceScore: 0.5, PolicyVersion: "p", UserID: "u", SessionID: "s"})
			}
			_ = prod.Publish(loadCtx, evs...)
		}
	}()
	return func() { cancel(); <-done; prod.Close() }, nil
}

// sealerTakeover: seconds from SIGKILL of the sealer to the next checkpoint
// of a restarted one (same identity), under a steady 1,000 decisions/s,
// median of 10. Baseline: the group session timeout it does not wait for.
func sealerTakeover(ctx context.Context, st *localstack.Stack) (result, error) {
	r, err := newSealerRun(ctx, st, "--batch-max-age", "200ms")
	if err != nil {
		return result{}, err
	}
	if err := r.proc.Start(); err != nil {
		return result{}, err
	}
	defer r.proc.Kill(syscall.SIGTERM)
	stop, err := r.steadyLoad(ctx)
	if err != nil {
		return result{}, err
	}
	defer stop()
	var took []time.Duration
	for range 10 {
		time.Sleep(time.Second)
		before := r.head(ctx)
		killed := time.Now()
		r.proc.Kill(syscall.SIGKILL)
		if err := r.proc.Start(); err != nil {
			return result{}, err
		}
		if err := r.waitHead(ctx, before+1); err != nil {
			return result{}, err
		}
		took = append(took, time.Since(killed))
	}
	sort.Slice(took, func(i, j int) bool { return took[i] < took[j] })
	fmt.Printf("sealer_takeover_sigkill: %v\n", took)
	return result{value: took[len(took)/2].Seconds(), baseline: 3, unit: "s"}, nil
}

// activeSealer waits until the sealer group has two stable members and
// returns the identity of the one assigned the partition.
func (r *sealerRun) activeSealer(ctx context.Context) (string, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(r.st.KafkaAddr))
	if err != nil {
		return "", err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	group := "aegis-sealer-" + r.chain
	for ctx.Err() == nil {
		time.Sleep(100 * time.Millisecond)
		d, err := adm.DescribeGroups(ctx, group)
		if err != nil || d[group].State != "Stable" || len(d[group].Members) != 2 {
			continue
		}
		for _, m := range d[group].Members {
			if c, ok := m.Assigned.AsConsumer(); ok && len(c.Topics) > 0 && len(c.Topics[0].Partitions) > 0 {
				return strings.TrimPrefix(m.ClientID, "aegis-sealer/"+r.chain+"/"), nil
			}
		}
	}
	return "", ctx.Err()
}

// standbyTakeover: seconds from sig to the active sealer until a standby
// (a second sealer with another identity, already running) seals the next
// batch, under a steady 1,000 decisions/s, median of 10. The killed sealer
// comes back as the next standby. Which of the two is active is read from
// the group's assignment before each kill. With SIGTERM the
// active sealer seals what it holds and leaves the group before it exits;
// only checkpoints after its exit count as the standby's. Baseline: the
// group session timeout (3 s), which a SIGKILL has to wait for and a
// SIGTERM does not.
func standbyTakeover(sig syscall.Signal) benchmark {
	return func(ctx context.Context, st *localstack.Stack) (result, error) {
		r, err := newSealerRun(ctx, st, "--batch-max-age", "200ms")
		if err != nil {
			return result{}, err
		}
		// The standby serves its metrics elsewhere: on the active's
		// address it would not start.
		standby := &chaos.Proc{Name: "standby", Env: r.proc.Env,
			Args: append(append([]string(nil), r.proc.Args...), "--identity", "standby", "--metrics-addr", "127.0.0.1:0")}
		if dir := os.Getenv("BENCH_LOG_DIR"); dir != "" {
			for _, p := range []*chaos.Proc{r.proc, standby} {
				p.Env = append(p.Env, "AEGIS_LOG_LEVEL=info")
				if p.Log, err = os.Create(filepath.Join(dir, p.Name+".log")); err != nil {
					return result{}, err
				}
			}
		}
		if err := r.proc.Start(); err != nil {
			return result{}, err
		}
		if err := r.waitHead(ctx, 0); err != nil {
			return result{}, err
		}
		stop, err := r.steadyLoad(ctx)
		if err != nil {
			return result{}, err
		}
		defer stop()
		if err := r.waitHead(ctx, 1); err != nil {
			return result{}, err
		}
		if err := standby.Start(); err != nil {
			return result{}, err
		}
		procs := map[string]*chaos.Proc{"bench": r.proc, "standby": standby}
		defer func() {
			for _, p := range procs {
				p.Kill(syscall.SIGTERM)
			}
		}()
		var took []time.Duration
		for range 10 {
			// Wait until both are members and find the one assigned the
			// partition: the group may give it to either.
			active, err := r.activeSealer(ctx)
			if err != nil {
				return result{}, err
			}
			killed := time.Now()
			procs[active].Kill(sig) // returns once the process has exited
			before := r.head(ctx)
			wctx, cancel := context.WithTimeout(ctx, time.Minute)
			err = r.waitHead(wctx, before+1)
			cancel()
			if err != nil {
				return result{}, fmt.Errorf("no takeover after %v of %s: %w", sig, active, err)
			}
			took = append(took, time.Since(killed))
			if err := procs[active].Start(); err != nil {
				return result{}, err
			}
		}
		sort.Slice(took, func(i, j int) bool { return took[i] < took[j] })
		fmt.Printf("sealer_takeover_standby (%v): %v\n", sig, took)
		return result{value: took[len(took)/2].Seconds(), baseline: 3, unit: "s"}, nil
	}
}
