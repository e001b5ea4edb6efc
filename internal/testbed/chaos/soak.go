package chaos

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/aegisai/audit/archive"
	"github.com/aegisai/audit/internal/testbed/localstack"
	"github.com/aegisai/audit/replayer"
	"github.com/aegisai/audit/shared"
)

// SoakOptions configures a soak run: every long-running role as its own
// aegis process (a sealer, two indexers, ingest, query) under a steady
// load of HTTP requests for Duration, each process's resources sampled
// from its /metrics, then the counts of what was recorded.
type SoakOptions struct {
	// Duration is how long the load runs. Default 30 minutes.
	Duration time.Duration
	// Rate is the decisions sent to ingest per second (a tenth of them
	// are then overridden, one in a hundred asks for a sealed receipt).
	// Default 200.
	Rate int
	// Every is how often each process is sampled. Default 10s.
	Every time.Duration
	// Aegis is the aegis binary (built into a temporary directory when
	// empty).
	Aegis string
	// Log receives progress lines (nil: none); ProcessLog the processes'
	// output (nil: discarded).
	Log, ProcessLog *os.File
}

// Resources is one sample of a process, read from its /metrics.
type Resources struct {
	At         time.Duration // since the load started
	Goroutines float64       // go_goroutines
	HeapInuse  float64       // go_memstats_heap_inuse_bytes
	RSS        float64       // process_resident_memory_bytes
	FDs        float64       // process_open_fds
}

// SoakReport is what a soak run counted and sampled.
type SoakReport struct {
	// Answers counts ingest's answers by status code, and Refused the
	// load's requests that got no answer (a transport error).
	Answers map[int]int
	Refused int
	// Rate is the decisions a second asked for, Sent those sent and
	// Skipped those not sent because 64 requests were in flight: the rate
	// the processes were measured at is Sent over Load, not Rate.
	Rate, Sent, Skipped int
	// Events are the distinct event ids ingest answered 201 with; Sealed
	// those found in the verified chain, Duplicated those found more than
	// once.
	Events, Sealed, Duplicated int
	// DuplicatedDecisions are the decisions answered 201 sealed more than
	// once under different event ids, Unacknowledged the events in the
	// chain whose id no answer 201 gave.
	DuplicatedDecisions, Unacknowledged int
	// Decisions are the decisions answered 201, Indexed those found in
	// the index.
	Decisions, Indexed int
	// Reads counts query's answers by status code. Unread counts the reads
	// answered 404 that query still did not answer 200 once everything
	// was indexed.
	Reads  map[int]int
	Unread int
	// States counts the decisions read back through query once everything
	// was indexed (a sample: every overridden one up to 200, and 300 spread
	// over the run), and WrongStates lists those whose answer was not the
	// one the load made: its own id, ALLOW with no override, or BLOCK with
	// the one override answered 201.
	States      int
	WrongStates []string
	// Receipts counts the Sealed-mode answers 201, and BadReceipts lists
	// those whose receipt S3 does not bear out (replayer.VerifyReceipt:
	// the entry at its object and line, under a checkpoint at its seq,
	// signed with the chain's key) or that had none.
	Receipts    int
	BadReceipts []string
	// Verify is the chain's verification ("OK ..." or the failure).
	Verify string
	// Samples are each process's samples, by name; Unsampled counts the
	// samples that failed (the process did not answer its /metrics, or not
	// with every resource), and Exited names the processes that were no
	// longer running when the counts were taken.
	Samples   map[string][]Resources
	Unsampled map[string]int
	// DiskLow says why the load was stopped early: the local servers'
	// disk ran low (dynalite's files grow by tens of KB an event here).
	DiskLow string
	Exited  []string
	// CPU is the CPU time each process used while the load ran, and Load
	// how long that was.
	CPU  map[string]time.Duration
	Load time.Duration
}

// soakProcs are the processes sampled, in the order reported.
var soakProcs = []string{"sealer", "indexer-0", "indexer-1", "ingest", "query"}

// Growth judges one process's samples. The first quarter (start-up and
// warm-up: pools filling) is left out; a resource that keeps growing shows
// as its level in the last eighth of the run above its level in the first
// quarter after the warm-up by more than the slack. A level is a value a
// window stays at, not a peak, so that one burst (a few dozen requests in
// flight at a sample, a pause that lets the heap overshoot) neither cries
// wolf late nor hides a leak early: goroutines, open files and resident
// memory take the median of the window, the heap in use its lowest value
// (its floor after collections). Comparing the first window with the last
// one spans three quarters of the judged run (halves spanned one half),
// and a short last window still sees a leak that only starts late. Slacks:
// goroutines and open files a fifth, at least 20; the heap a fifth and 8
// MiB; resident memory a tenth and 16 MiB. It returns one line for each
// resource that grew past its slack, and nothing for too few samples
// (fewer than 8) to tell.
func Growth(samples []Resources) []string {
	if len(samples) < 8 {
		return nil
	}
	first, last := growthWindows(samples)
	var grew []string
	for _, c := range growthResources {
		a, b := c.level(first), c.level(last)
		if b > a+c.slack(a) {
			grew = append(grew, fmt.Sprintf("%s grew from "+c.format+" to "+c.format, c.name, a/c.unit, b/c.unit))
		}
	}
	return grew
}

// growthWindows are the windows Growth compares: after the first quarter of
// samples, the first quarter of the rest and its last eighth (at least one
// sample each).
func growthWindows(samples []Resources) (first, last []Resources) {
	rest := samples[len(samples)/4:]
	return rest[:max(1, len(rest)/4)], rest[len(rest)-max(1, len(rest)/8):]
}

// growthResource is one resource Growth judges.
type growthResource struct {
	name   string
	f      func(Resources) float64
	lowest bool // the window's lowest value, else its median
	slack  func(float64) float64
	unit   float64
	format string
}

// level is the value the window stays at: its lowest or its median.
func (c growthResource) level(window []Resources) float64 {
	vs := make([]float64, len(window))
	for i, r := range window {
		vs[i] = c.f(r)
	}
	sort.Float64s(vs)
	if c.lowest {
		return vs[0]
	}
	if n := len(vs); n%2 == 0 {
		return (vs[n/2-1] + vs[n/2]) / 2
	}
	return vs[len(vs)/2]
}

const mib = 1 << 20

var growthResources = []growthResource{
	{"goroutines", func(r Resources) float64 { return r.Goroutines }, false, func(v float64) float64 { return math.Max(20, v/5) }, 1, "%.0f"},
	{"open files", func(r Resources) float64 { return r.FDs }, false, func(v float64) float64 { return math.Max(20, v/5) }, 1, "%.0f"},
	{"heap in use (lowest)", func(r Resources) float64 { return r.HeapInuse }, true, func(v float64) float64 { return v/5 + 8*mib }, mib, "%.1f MiB"},
	{"resident memory", func(r Resources) float64 { return r.RSS }, false, func(v float64) float64 { return v/10 + 16*mib }, mib, "%.1f MiB"},
}

// Failed says what is wrong with the report, or "" when nothing is.
func (r SoakReport) Failed() string {
	var bad []string
	if r.DiskLow != "" {
		bad = append(bad, r.DiskLow)
	}
	if r.Events == 0 || r.Sealed != r.Events || r.Duplicated > 0 || r.DuplicatedDecisions > 0 {
		bad = append(bad, fmt.Sprintf("%d events answered 201, %d sealed, %d duplicated, %d decisions sealed under more than one event id",
			r.Events, r.Sealed, r.Duplicated, r.DuplicatedDecisions))
	}
	// Nothing answered otherwise than 201 may be sealed, unless ingest was
	// left without an answer or answered 503 (an escalation is recorded
	// then), failures of their own below.
	if r.Unacknowledged > 0 {
		bad = append(bad, fmt.Sprintf("%d events sealed that no answer 201 gave", r.Unacknowledged))
	}
	// An answer 201 without an event id, or with one another 201 already
	// gave, would leave an acknowledged event out of the count above.
	if n := r.Answers[http.StatusCreated]; n != r.Events {
		bad = append(bad, fmt.Sprintf("%d answers 201 gave %d distinct event ids", n, r.Events))
	}
	if r.Indexed != r.Decisions {
		bad = append(bad, fmt.Sprintf("%d of %d decisions indexed", r.Indexed, r.Decisions))
	}
	if !strings.HasPrefix(r.Verify, "OK") {
		bad = append(bad, "verify: "+r.Verify)
	}
	for code, n := range r.Answers {
		if code >= 500 {
			bad = append(bad, fmt.Sprintf("ingest answered %d %d times", code, n))
		}
	}
	if r.Refused > 0 {
		bad = append(bad, fmt.Sprintf("%d requests to ingest got no answer", r.Refused))
	}
	for code, n := range r.Reads {
		// 404: a decision answered 201 but not indexed yet (ids read are
		// a while old, so only a lagging index gives them); each is read
		// again once everything is indexed (Unread).
		if code != http.StatusOK && code != http.StatusNotFound {
			bad = append(bad, fmt.Sprintf("query answered %d %d times", code, n))
		}
	}
	if len(r.BadReceipts) > 0 {
		bad = append(bad, fmt.Sprintf("%d of %d sealed receipts do not verify, first %s", len(r.BadReceipts), r.Receipts, r.BadReceipts[0]))
	}
	if len(r.WrongStates) > 0 {
		bad = append(bad, fmt.Sprintf("%d of %d decisions read back wrong, first %s", len(r.WrongStates), r.States, r.WrongStates[0]))
	}
	if r.Unread > 0 {
		bad = append(bad, fmt.Sprintf("%d reads answered 404 still not found once everything was indexed", r.Unread))
	}
	// A process that crashed (out of memory, say) is the end a leak comes
	// to: its samples stop, and its work may pass to another (an indexer's
	// partitions to the other), so no count shows it.
	for _, name := range r.Exited {
		bad = append(bad, name+" exited during the soak")
	}
	for _, name := range soakProcs {
		if len(r.Samples[name]) == 0 {
			bad = append(bad, name+" was never sampled")
		}
		if n := r.Unsampled[name]; n > 0 {
			bad = append(bad, fmt.Sprintf("%s could not be sampled %d times", name, n))
		}
		for _, g := range Growth(r.Samples[name]) {
			bad = append(bad, name+": "+g)
		}
	}
	return strings.Join(bad, "; ")
}

// String is the report: the counts, then a line for each process with its
// resources' levels in the first window Growth compares and in the last
// one (see Growth; nothing below the 8 samples it needs to judge), and the
// CPU it used while the load ran, per event answered 201 (with the
// requests refused, the lookups and the background work in it).
func (r SoakReport) String() string {
	var b strings.Builder
	if secs := r.Load.Seconds(); secs > 0 {
		fmt.Fprintf(&b, "load: %d decisions sent in %s (%.0f a second of the %d asked), %d skipped with 64 in flight\n",
			r.Sent, r.Load.Round(time.Second), float64(r.Sent)/secs, r.Rate, r.Skipped)
	}
	fmt.Fprintf(&b, "ingest answers %s, no answer %d; query answers %s; decisions read back at the end %d, wrong %d; sealed receipts %d, not verified %d\n",
		codes(r.Answers), r.Refused, codes(r.Reads), r.States, len(r.WrongStates), r.Receipts, len(r.BadReceipts))
	fmt.Fprintf(&b, "events answered 201 %d, sealed %d, duplicated %d; sealed without a 201 %d; decisions %d, indexed %d, sealed twice %d\nverify: %s\n",
		r.Events, r.Sealed, r.Duplicated, r.Unacknowledged, r.Decisions, r.Indexed, r.DuplicatedDecisions, r.Verify)
	fmt.Fprintf(&b, "%-10s %8s %22s %22s %24s %18s %22s\n", "process", "samples", "goroutines", "open files", "heap in use MiB (low)", "RSS MiB (median)", "CPU (core, µs/event)")
	for _, name := range soakProcs {
		s := r.Samples[name]
		if len(s) < 8 {
			fmt.Fprintf(&b, "%-10s %8d  too few samples to judge growth\n", name, len(s))
			continue
		}
		first, last := growthWindows(s)
		span := func(c growthResource) string {
			return fmt.Sprintf("%.1f -> %.1f", c.level(first)/c.unit, c.level(last)/c.unit)
		}
		// At a low rate the work every process does each second whatever
		// the load (batches, polls, ingest's reading of the sealed topic
		// for receipts) is most of its CPU an event: both are shown.
		perEvent := "-"
		if r.Events > 0 && r.Load > 0 {
			perEvent = fmt.Sprintf("%.1f%%, %.0f", 100*r.CPU[name].Seconds()/r.Load.Seconds(), float64(r.CPU[name].Microseconds())/float64(r.Events))
		}
		fmt.Fprintf(&b, "%-10s %8d %22s %22s %24s %18s %22s\n", name, len(s),
			span(growthResources[0]), span(growthResources[1]), span(growthResources[2]), span(growthResources[3]), perEvent)
	}
	return strings.TrimRight(b.String(), "\n")
}

// CSV is every sample: process, seconds since the load started,
// goroutines, open files, heap in use and resident memory in bytes.
func (r SoakReport) CSV() string {
	var b strings.Builder
	b.WriteString("process,seconds,goroutines,open_files,heap_inuse_bytes,rss_bytes\n")
	for _, name := range soakProcs {
		for _, s := range r.Samples[name] {
			fmt.Fprintf(&b, "%s,%.1f,%.0f,%.0f,%.0f,%.0f\n", name, s.At.Seconds(), s.Goroutines, s.FDs, s.HeapInuse, s.RSS)
		}
	}
	return b.String()
}

// ReadSamples reads the samples of a CSV that CSV wrote, by process.
func ReadSamples(r io.Reader) (map[string][]Resources, error) {
	out := map[string][]Resources{}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		f := strings.Split(sc.Text(), ",")
		if n == 1 && len(f) > 0 && f[0] == "process" {
			continue
		}
		if len(f) != 6 {
			return nil, fmt.Errorf("line %d: %d fields, want 6", n, len(f))
		}
		var v [5]float64
		for i := range v {
			var err error
			if v[i], err = strconv.ParseFloat(f[i+1], 64); err != nil {
				return nil, fmt.Errorf("line %d: %w", n, err)
			}
		}
		out[f[0]] = append(out[f[0]], Resources{At: time.Duration(v[0] * float64(time.Second)), Goroutines: v[1], FDs: v[2], HeapInuse: v[3], RSS: v[4]})
	}
	return out, sc.Err()
}

func codes(m map[int]int) string {
	var ks []int
	for k := range m {
		ks = append(ks, k)
	}
	sort.Ints(ks)
	var parts []string
	for _, k := range ks {
		parts = append(parts, fmt.Sprintf("%d: %d", k, m[k]))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// Soak runs the soak against st.
func Soak(ctx context.Context, st *localstack.Stack, o SoakOptions) (SoakReport, error) {
	rep := SoakReport{Answers: map[int]int{}, Reads: map[int]int{}, Samples: map[string][]Resources{}, Unsampled: map[string]int{},
		CPU: map[string]time.Duration{}}
	if o.Duration == 0 {
		o.Duration = 30 * time.Minute
	}
	if o.Rate == 0 {
		o.Rate = 200
	}
	if o.Every == 0 {
		o.Every = 10 * time.Second
	}
	logf := func(format string, args ...any) {
		if o.Log != nil {
			fmt.Fprintf(o.Log, "soak: "+format+"\n", args...)
		}
	}
	r, err := newRig(ctx, st, "soak", o.Aegis)
	if err != nil {
		return rep, err
	}
	defer r.close()
	chain, bucket, table, group, vkey, s3c, db, env := r.chain, r.names.bucket, r.names.table, r.names.group, r.vkey, r.s3c, r.db, r.env
	tokenFile := filepath.Join(r.dir, "tokens")
	recordToken, readToken := randomToken(), randomToken()
	tokens := fmt.Sprintf("soak-load %s %s record\nsoak-reader %s %s read\n", recordToken, chain, readToken, chain)
	if err := os.WriteFile(tokenFile, []byte(tokens), 0o600); err != nil {
		return rep, err
	}
	addrs := map[string]string{} // name: its /metrics address
	procs := map[string]*Proc{}
	port := func() (string, error) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return "", err
		}
		defer l.Close()
		return l.Addr().String(), nil
	}
	var ingestAddr, queryAddr string
	if ingestAddr, err = port(); err == nil {
		queryAddr, err = port()
	}
	if err != nil {
		return rep, err
	}
	args := map[string][]string{
		"sealer":    {"sealer", "--signer-key-file", r.keyFile, "--identity", "soak-sealer", "--batch-max-age", "200ms", "--retention", "24h"},
		"indexer-0": {"indexer", "--group", group, "--identity", "indexer-0"},
		"indexer-1": {"indexer", "--group", group, "--identity", "indexer-1"},
		"ingest":    {"ingest", "--tokens-file", tokenFile, "--listen", ingestAddr, "--spool-dir", filepath.Join(r.dir, "spool")},
		"query":     {"query", "--token-file", tokenFile, "--addr", queryAddr},
	}
	for _, name := range soakProcs {
		addr, err := port()
		if err != nil {
			return rep, err
		}
		addrs[name] = addr
		p := &Proc{Name: name, Env: env, Log: o.ProcessLog, Args: append(append([]string{r.aegis}, args[name]...), "--metrics-addr", addr)}
		if err := p.Start(); err != nil {
			return rep, err
		}
		defer p.Kill(syscall.SIGTERM)
		procs[name] = p
	}
	for _, name := range soakProcs {
		if err := waitReady(ctx, "http://"+addrs[name]+"/readyz", time.Minute); err != nil {
			return rep, fmt.Errorf("%s: %w", name, err)
		}
	}
	logf("every role runs; load of %d decisions a second for %s", o.Rate, o.Duration)

	var l load
	l.ingest, l.query, l.record, l.read, l.chain = "http://"+ingestAddr, "http://"+queryAddr, recordToken, readToken, chain
	l.answers, l.reads, l.events, l.notFound, l.overridden = map[int]int{}, map[int]int{}, map[string]bool{}, map[string]bool{}, map[string]bool{}
	l.lag = 10 * time.Second
	l.keep = &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	l.fresh = &http.Client{Timeout: time.Minute, Transport: &http.Transport{DisableKeepAlives: true}}
	loadCtx, stopLoad := context.WithTimeout(ctx, o.Duration)
	defer stopLoad()
	cpu := func() map[string]time.Duration {
		m := map[string]time.Duration{}
		for name, p := range procs {
			m[name], _ = p.CPU()
		}
		return m
	}
	diskDir := st.S3DataDir // the local servers' state, dynalite's among it
	if diskDir == "" {
		diskDir = os.TempDir()
	}
	cpu0, started := cpu(), time.Now()
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); l.send(loadCtx, o.Rate) }()
	go func() { defer wg.Done(); l.lookups(loadCtx) }()
	go func() {
		defer wg.Done()
		tick := time.NewTicker(o.Every)
		defer tick.Stop()
		for {
			for _, name := range soakProcs {
				if r, err := scrape(ctx, "http://"+addrs[name]+"/metrics"); err == nil {
					r.At = time.Since(started)
					rep.Samples[name] = append(rep.Samples[name], r)
				} else if ctx.Err() == nil {
					rep.Unsampled[name]++
					logf("%s: %v", name, err)
				}
			}
			if free, err := freeBytes(diskDir); err == nil && free < minFreeDisk {
				rep.DiskLow = fmt.Sprintf("%s: %.1f GiB free on the local servers' disk (%s), under %.0f GiB: the load was stopped",
					time.Since(started).Round(time.Second), float64(free)/(1<<30), diskDir, float64(minFreeDisk)/(1<<30))
				logf("%s", rep.DiskLow)
				stopLoad()
			}
			select {
			case <-loadCtx.Done():
				return
			case <-tick.C:
			}
			if s := rep.Samples["ingest"]; len(s) > 0 {
				l.mu.Lock()
				logf("%s: %d events recorded; ingest %.0f goroutines, %.1f MiB in use", time.Since(started).Round(time.Second), len(l.events),
					s[len(s)-1].Goroutines, s[len(s)-1].HeapInuse/(1<<20))
				l.mu.Unlock()
			}
		}
	}()
	wg.Wait()
	l.inflight.Wait()
	rep.Load = time.Since(started)
	for name, used := range cpu() {
		rep.CPU[name] = used - cpu0[name]
	}
	l.mu.Lock()
	rep.Answers, rep.Reads, rep.Refused = l.answers, l.reads, int(l.refused.Load())
	rep.Rate, rep.Sent, rep.Skipped = o.Rate, int(l.n.Load()), int(l.skipped.Load())
	rep.Events, rep.Decisions = len(l.events), len(l.decisions)
	events, decisions := l.events, map[string]bool{}
	for _, id := range l.decisions {
		decisions[id] = true
	}
	l.mu.Unlock()
	logf("load stopped: %d events answered 201; waiting for the pipeline to catch up", rep.Events)

	// Everything answered 201 must be sealed once and every decision
	// indexed; wait while either moves.
	moved, giveUp := time.Now(), time.Now().Add(30*time.Minute)
	for time.Since(moved) < time.Minute && time.Now().Before(giveUp) && ctx.Err() == nil {
		c := countEvents(ctx, s3c, bucket, chain, vkey, events, decisions, started.Add(-24*time.Hour))
		indexed, err := countIndexed(ctx, db, table, decisions)
		if err != nil {
			indexed = rep.Indexed
		}
		if c.found > rep.Sealed || indexed > rep.Indexed {
			moved = time.Now()
		}
		rep.Sealed, rep.Duplicated, rep.Verify, rep.Indexed = c.found, c.duplicated, c.verdict, indexed
		rep.DuplicatedDecisions, rep.Unacknowledged = c.duplicatedDecisions, c.unacknowledged
		if rep.Sealed >= rep.Events && rep.Indexed >= rep.Decisions {
			break
		}
		time.Sleep(2 * time.Second)
	}
	if err := ctx.Err(); err != nil {
		return rep, fmt.Errorf("time ran out while the pipeline caught up (%d of %d events sealed, %d of %d decisions indexed): %w",
			rep.Sealed, rep.Events, rep.Indexed, rep.Decisions, err)
	}
	// A 404 was let pass as an index lagging behind: now that it has
	// caught up, what answered 404 must be found.
	rep.Unread = l.reread(ctx)
	rep.States, rep.WrongStates = l.checkStates(ctx)
	rep.Receipts, rep.BadReceipts = l.checkReceipts(ctx, replayer.ProveConfig{S3: s3c, Bucket: bucket, Chain: chain, VerifierKey: vkey})
	for _, name := range soakProcs {
		if procs[name].exited() {
			rep.Exited = append(rep.Exited, name)
		}
	}
	return rep, nil
}

// load is the soak's traffic and what it was answered.
type load struct {
	ingest, query, record, read, chain string
	keep, fresh                        *http.Client
	lag                                time.Duration // lookups read decisions answered this long ago
	inflight                           sync.WaitGroup
	refused                            atomic.Int64
	n                                  atomic.Int64
	skipped                            atomic.Int64

	mu        sync.Mutex
	answers   map[int]int
	reads     map[int]int
	events    map[string]bool // event ids answered 201
	decisions []string        // decision ids answered 201
	answered  []time.Time     // when each of decisions was answered
	notFound  map[string]bool // query paths answered 404
	// overridden are the decisions whose override was answered 201.
	overridden map[string]bool
	// receipts are the receipts of the requests answered 201 in Sealed
	// mode.
	receipts []shared.Receipt
}

// send posts rate decisions a second to ingest until ctx ends, at most 64
// at once (a tick whose requests find no room skips them: the soak
// measures the processes at a steady load, not ingest's limit). Of every
// hundred decisions, ten are overridden once answered, one asks for a
// sealed receipt, and five go over a new connection; two requests are
// refused on purpose (a bad field, an unknown token).
func (l *load) send(ctx context.Context, rate int) {
	room := make(chan struct{}, 64)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		for range max(1, rate/50) {
			select {
			case room <- struct{}{}:
			default:
				l.skipped.Add(1)
				continue
			}
			i := l.n.Add(1)
			l.inflight.Add(1)
			go func() {
				defer func() { <-room; l.inflight.Done() }()
				l.decide(i)
			}()
		}
	}
}

func (l *load) decide(i int64) {
	id := fmt.Sprintf("%s-dec-%d", l.chain, i)
	body := fmt.Sprintf(`{"environment":%q,"decision":{"decision_id":%q,"action":"ALLOW","confidence_score":0.5,`+
		`"policy_version":"soak-1","user_id":"user-%d","session_id":"sess-%d","metadata":{"n":%d}}}`, l.chain, id, i%500, i%2000, i)
	client, path, token := l.keep, "/v1/decisions", l.record
	switch {
	case i%100 == 7:
		path += "?durability=sealed"
	case i%100 == 13:
		body = strings.Replace(body, `"confidence_score":0.5`, `"confidence_score":1.5`, 1) // 400
	case i%100 == 17:
		token = randomToken() // 401
	}
	if i%20 == 3 {
		client = l.fresh
	}
	if !l.post(client, path, token, body, true) || i%10 != 1 {
		return
	}
	if l.post(l.keep, "/v1/overrides", l.record, fmt.Sprintf(`{"environment":%q,"override":{"decision_id":%q,"reviewer_id":"soak-analyst",`+
		`"new_action":"BLOCK","reason":"soak override %d"}}`, l.chain, id, i), false) {
		l.mu.Lock()
		l.overridden[id] = true
		l.mu.Unlock()
	}
}

// post sends one event and records the answer; it reports a 201.
func (l *load) post(client *http.Client, path, token, body string, decision bool) bool {
	req, err := http.NewRequest(http.MethodPost, l.ingest+path, strings.NewReader(body))
	if err != nil {
		return false
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	res, err := client.Do(req)
	if err != nil {
		l.refused.Add(1)
		return false
	}
	defer res.Body.Close()
	var ans struct {
		EventID string          `json:"event_id"`
		Receipt *shared.Receipt `json:"receipt"`
	}
	data, _ := io.ReadAll(res.Body)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.answers[res.StatusCode]++
	if res.StatusCode != http.StatusCreated || json.Unmarshal(data, &ans) != nil || ans.EventID == "" {
		return false
	}
	l.events[ans.EventID] = true
	if strings.Contains(path, "durability=sealed") {
		// Kept even without a receipt: checkReceipts says so.
		if ans.Receipt == nil {
			ans.Receipt = &shared.Receipt{EventID: ans.EventID}
		}
		l.receipts = append(l.receipts, *ans.Receipt)
	}
	if decision {
		var d struct {
			Decision struct {
				ID string `json:"decision_id"`
			} `json:"decision"`
		}
		_ = json.Unmarshal([]byte(body), &d)
		l.decisions = append(l.decisions, d.Decision.ID)
		l.answered = append(l.answered, time.Now())
	}
	return true
}

// lookups reads what was recorded through query until ctx ends: a
// decision every 50 ms, a user's decisions every 200 ms, a decision's
// proof (read from S3 and checked) every 2 s. A decision answered 201 may
// not be indexed yet, so only ids answered a while ago (l.lag; by time,
// not by count, so that a slow ingest does not leave nothing old enough
// to read) are read.
func (l *load) lookups(ctx context.Context) {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for n := 0; ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		l.mu.Lock()
		before := time.Now().Add(-l.lag)
		k := sort.Search(len(l.answered), func(i int) bool { return l.answered[i].After(before) })
		var id string
		if k > 0 {
			id = l.decisions[k-1-n%min(k, 1000)]
		}
		l.mu.Unlock()
		if id == "" {
			continue
		}
		path := "/v1/decisions/" + id
		switch {
		case n%40 == 0:
			path += "/proof"
		case n%4 == 0:
			var i int64
			fmt.Sscanf(id[strings.LastIndex(id, "-")+1:], "%d", &i)
			path = fmt.Sprintf("/v1/users/user-%d/decisions?limit=20", i%500)
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, l.query+path, nil)
		req.Header.Set("Authorization", "Bearer "+l.read)
		res, err := l.keep.Do(req)
		if err != nil {
			if ctx.Err() == nil {
				l.mu.Lock()
				l.reads[0]++
				l.mu.Unlock()
			}
			continue
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		l.mu.Lock()
		l.reads[res.StatusCode]++
		if res.StatusCode == http.StatusNotFound {
			l.notFound[path] = true
		}
		l.mu.Unlock()
	}
}

// reread reads again through query each path that answered 404 and
// counts those that still do not answer 200.
func (l *load) reread(ctx context.Context) int {
	l.mu.Lock()
	paths := make([]string, 0, len(l.notFound))
	for p := range l.notFound {
		paths = append(paths, p)
	}
	l.mu.Unlock()
	unread := 0
	for _, p := range paths {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, l.query+p, nil)
		if err != nil {
			unread++
			continue
		}
		req.Header.Set("Authorization", "Bearer "+l.read)
		res, err := l.keep.Do(req)
		if err != nil {
			unread++
			continue
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			unread++
		}
	}
	return unread
}

// checkReceipts verifies every Sealed-mode receipt against S3.
func (l *load) checkReceipts(ctx context.Context, cfg replayer.ProveConfig) (int, []string) {
	l.mu.Lock()
	receipts := append([]shared.Receipt(nil), l.receipts...)
	l.mu.Unlock()
	var bad []string
	for _, r := range receipts {
		if r.Durability != shared.DurabilitySealed {
			bad = append(bad, fmt.Sprintf("event %s: answered 201 in Sealed mode with durability %q", r.EventID, r.Durability))
			continue
		}
		if _, _, err := replayer.VerifyReceipt(ctx, cfg, &r); err != nil {
			bad = append(bad, err.Error())
		}
	}
	return len(receipts), bad
}

// checkStates reads decisions back through query once everything is
// indexed and returns how many it read and what was wrong with each that
// was not what the load made of it (the loss counts see a decision
// indexed, not what the index says of it).
func (l *load) checkStates(ctx context.Context) (int, []string) {
	l.mu.Lock()
	var ids []string
	for id := range l.overridden {
		if len(ids) == 200 {
			break
		}
		ids = append(ids, id)
	}
	for i := 0; i < len(l.decisions); i += max(1, len(l.decisions)/300) {
		ids = append(ids, l.decisions[i])
	}
	want := map[string]bool{} // id: overridden
	for _, id := range ids {
		want[id] = l.overridden[id]
	}
	l.mu.Unlock()
	var wrong []string
	for id, overridden := range want {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, l.query+"/v1/decisions/"+id, nil)
		if err != nil {
			return len(want), append(wrong, err.Error())
		}
		req.Header.Set("Authorization", "Bearer "+l.read)
		var got struct {
			DecisionID    string            `json:"decision_id"`
			Action        string            `json:"action"`
			CurrentAction string            `json:"current_action"`
			Overrides     []json.RawMessage `json:"overrides"`
		}
		res, err := l.keep.Do(req)
		if err == nil {
			if res.StatusCode != http.StatusOK {
				err = fmt.Errorf("answered %s", res.Status)
			} else {
				err = json.NewDecoder(res.Body).Decode(&got)
			}
			res.Body.Close()
		}
		wantAction, wantOverrides := "ALLOW", 0
		if overridden {
			wantAction, wantOverrides = "BLOCK", 1
		}
		switch {
		case err != nil:
			wrong = append(wrong, fmt.Sprintf("%s: %v", id, err))
		case got.DecisionID != id || got.Action != "ALLOW" || got.CurrentAction != wantAction || len(got.Overrides) != wantOverrides:
			wrong = append(wrong, fmt.Sprintf("%s: decision %s, action %s, current %s, %d overrides; want current %s and %d overrides",
				id, got.DecisionID, got.Action, got.CurrentAction, len(got.Overrides), wantAction, wantOverrides))
		}
	}
	return len(want), wrong
}

// chainCount is what countEvents found in the chain.
type chainCount struct {
	found, duplicated   int // events of ids in the chain; of those, found more than once
	duplicatedDecisions int // decisions answered 201 sealed under more than one event id
	unacknowledged      int // events in the chain whose id no 201 gave
	verdict             string
}

// countEvents verifies the chain and counts the events of ids in it: how
// many are there, and how many more than once; and the decisions of
// decisions sealed more than once under other event ids, and the events
// sealed that no answer 201 gave (a request answered 400 or 401 is
// published nothing). Only the day folders from from on are searched
// (every event of the soak is stamped after it): Discover lists each day
// of its range, and from 1970 on that was some 20,000 listings on each
// pass of the wait for the pipeline.
func countEvents(ctx context.Context, s3c archive.S3API, bucket, chain, vkey string, ids, decisions map[string]bool, from time.Time) chainCount {
	v, err := replayer.Verify(ctx, replayer.Config{S3: s3c, Bucket: bucket, Chain: chain, VerifierKey: vkey})
	if err != nil {
		return chainCount{verdict: err.Error()}
	}
	c := chainCount{verdict: fmt.Sprintf("OK: %d entries, head seq %d, %d unsigned", v.Entries, v.Head.Seq, v.Unsigned)}
	seen, decided := map[string]int{}, map[string]int{}
	_, err = replayer.Discover(ctx, replayer.DiscoverConfig{S3: s3c, Bucket: bucket, Chain: chain, VerifierKey: vkey,
		From: from, To: time.Now().Add(48 * time.Hour)}, func(f replayer.Found) error {
		if f.Entry.Type != shared.EntryEvent {
			return nil
		}
		e, err := f.Entry.Envelope()
		switch {
		case err != nil:
			return nil
		case !ids[e.EventID]:
			c.unacknowledged++
			return nil
		}
		seen[e.EventID]++
		if e.Type == shared.TypeDecision && decisions[e.DecisionID()] {
			decided[e.DecisionID()]++
		}
		return nil
	})
	if err != nil {
		return chainCount{verdict: "discover: " + err.Error()}
	}
	for _, n := range seen {
		c.found++
		if n > 1 {
			c.duplicated++
		}
	}
	for _, n := range decided {
		if n > 1 {
			c.duplicatedDecisions++
		}
	}
	return c
}

// exited says whether the process has ended.
func (p *Proc) exited() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// minFreeDisk is the free space below which the soak stops its load: a
// full disk stops Kafka, S3 and DynamoDB alike (ingest answers 503, and
// everything else on the machine fails too). A 45-minute run at 300
// decisions a second filled 64 GB, nearly all of it dynalite's files.
const minFreeDisk = 4 << 30

// freeBytes is the space left for an unprivileged writer on dir's
// filesystem.
func freeBytes(dir string) (uint64, error) {
	var fs syscall.Statfs_t
	if err := syscall.Statfs(dir, &fs); err != nil {
		return 0, err
	}
	return fs.Bavail * uint64(fs.Bsize), nil
}

// scrapeClient reads /metrics and /readyz: a process that takes 10 s to
// answer either is counted as not sampled (a failure of the soak), not
// waited on until the run's end.
var scrapeClient = &http.Client{Timeout: 10 * time.Second}

// scrape reads the resources of a process from its Prometheus text.
func scrape(ctx context.Context, url string) (Resources, error) {
	var r Resources
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return r, err
	}
	res, err := scrapeClient.Do(req)
	if err != nil {
		return r, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return r, fmt.Errorf("%s: %s", url, res.Status)
	}
	want := map[string]*float64{"go_goroutines": &r.Goroutines, "go_memstats_heap_inuse_bytes": &r.HeapInuse,
		"process_resident_memory_bytes": &r.RSS, "process_open_fds": &r.FDs}
	found := 0
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		name, value, ok := bytes.Cut(sc.Bytes(), []byte(" "))
		if p := want[string(name)]; ok && p != nil {
			if v, err := strconv.ParseFloat(string(value), 64); err == nil {
				*p = v
				found++
			}
		}
	}
	if err := sc.Err(); err != nil {
		return r, err
	}
	if found < len(want) {
		return r, fmt.Errorf("%s: %d of the %d resources sampled", url, found, len(want))
	}
	return r, nil
}

// waitReady waits for url to answer 200.
func waitReady(ctx context.Context, url string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		res, err := scrapeClient.Do(req)
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready at %s after %s (%v)", url, limit, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func randomToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
