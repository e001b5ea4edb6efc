// Package chaos kills the pipeline's processes under load and counts what
// survived: the sealer and indexers run as separate `aegis` processes
// against a local stack, a producer publishes a steady load, and the
// sealer or an indexer is killed with SIGKILL at random moments and
// restarted. At the end every acknowledged decision must be in S3 once, the
// sealed topic must hold every entry once for read-committed readers, the
// index must hold every decision, and the chain must verify. `make chaos`
// runs it; a short run is part of `make test`.
package chaos

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/mod/sumdb/note"

	"github.com/aegisai/audit/archive"
	"github.com/aegisai/audit/indexer"
	"github.com/aegisai/audit/indexer/layout"
	"github.com/aegisai/audit/internal/platform/topics"
	"github.com/aegisai/audit/internal/testbed/localstack"
	"github.com/aegisai/audit/producer"
	"github.com/aegisai/audit/replayer"
	"github.com/aegisai/audit/shared"
)

// Options configures a run.
type Options struct {
	// Kills is how many processes are killed. Default 20.
	Kills int
	// Rate is the decisions published per second. Default 1000.
	Rate int
	// TakeoverBound is the longest a restarted sealer may take to seal
	// again; a longer takeover fails the run. Default 2s.
	TakeoverBound time.Duration
	// Aegis is the aegis binary (built into a temporary directory when
	// empty, from the repository at localstack.FindRoot).
	Aegis string
	// Log receives progress lines (nil: none); ProcessLog the processes'
	// output (nil: discarded).
	Log, ProcessLog *os.File
}

// Report is what a run counted.
type Report struct {
	Acknowledged, Sealed, Duplicated, Missing int
	// Published counts sealed-topic records (read committed); Republished
	// those of an entry published before.
	Published, Republished int
	// Indexed counts acknowledged decisions found in the index.
	Indexed int
	// Verify is the verification's result ("OK ..." or the failure).
	Verify string
	// SealerKills, IndexerKills count the kills; Takeovers are the times
	// from each sealer kill to the next checkpoint of its restart.
	SealerKills, IndexerKills int
	Takeovers                 []time.Duration
	// Rejoins are the times from each indexer kill until the group is
	// stable again with the restarted indexer (its --identity's client
	// id) assigned partitions; -1 when that did not happen in 2 minutes.
	Rejoins []time.Duration
}

// Failed says what is wrong with the report, or "" when nothing is.
func (r Report) Failed(bound time.Duration) string {
	var bad []string
	if r.Duplicated > 0 || r.Missing > 0 || r.Sealed != r.Acknowledged {
		bad = append(bad, fmt.Sprintf("%d acknowledged, %d sealed, %d duplicated, %d missing", r.Acknowledged, r.Sealed, r.Duplicated, r.Missing))
	}
	if r.Republished > 0 {
		bad = append(bad, fmt.Sprintf("%d entries published twice to the sealed topic", r.Republished))
	}
	if r.Indexed != r.Acknowledged {
		bad = append(bad, fmt.Sprintf("%d of %d decisions indexed", r.Indexed, r.Acknowledged))
	}
	if !strings.HasPrefix(r.Verify, "OK") {
		bad = append(bad, "verify: "+r.Verify)
	}
	for _, d := range r.Rejoins {
		if d < 0 {
			bad = append(bad, "a restarted indexer was not given partitions in 2 minutes")
			break
		}
	}
	for _, d := range r.Takeovers {
		if d > bound {
			bad = append(bad, fmt.Sprintf("a takeover took %s (bound %s)", d.Round(time.Millisecond), bound))
			break
		}
	}
	return strings.Join(bad, "; ")
}

// String is the report in a few lines.
func (r Report) String() string {
	return fmt.Sprintf("acknowledged %d, sealed %d, duplicated %d, missing %d; sealed topic %d records, %d republished; indexed %d\n"+
		"kills: sealer %d, indexer %d; sealer takeovers: %s; indexers given partitions again: %s\nverify: %s",
		r.Acknowledged, r.Sealed, r.Duplicated, r.Missing, r.Published, r.Republished, r.Indexed,
		r.SealerKills, r.IndexerKills, durations(r.Takeovers), durations(r.Rejoins), r.Verify)
}

// durations is "median M, worst W (each in order)", or "none".
func durations(ds []time.Duration) string {
	if len(ds) == 0 {
		return "none"
	}
	sorted := append([]time.Duration(nil), ds...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
	var parts []string
	for _, d := range ds {
		parts = append(parts, d.Round(time.Millisecond).String())
	}
	return fmt.Sprintf("median %s, worst %s (%s)", sorted[len(sorted)/2].Round(time.Millisecond),
		sorted[len(sorted)-1].Round(time.Millisecond), strings.Join(parts, " "))
}

// Proc is one aegis process that can be killed and restarted.
type Proc struct {
	Name string
	Args []string
	Env  []string
	Log  *os.File
	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// Start starts the process (again).
func (p *Proc) Start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	cmd := exec.Command(p.Args[0], p.Args[1:]...)
	cmd.Env = p.Env
	if p.Log != nil {
		cmd.Stdout, cmd.Stderr = p.Log, p.Log
	}
	if err := localstack.StartChild(cmd); err != nil {
		return fmt.Errorf("start %s: %w", p.Name, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	p.cmd, p.done = cmd, done
	return nil
}

// Kill sends sig and waits for the process to end; it returns the
// process's peak resident memory in MiB until the signal (0 if unknown).
func (p *Proc) Kill(sig syscall.Signal) float64 {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	peak, _ := PeakRSS(fmt.Sprintf("/proc/%d/status", cmd.Process.Pid))
	_ = cmd.Process.Signal(sig)
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
	return peak
}

// CPU returns the CPU time the running process has used so far (Linux).
func (p *Proc) CPU() (time.Duration, error) {
	p.mu.Lock()
	cmd := p.cmd
	p.mu.Unlock()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	// The fields after the command name (which may hold spaces) in
	// parentheses: utime and stime are the 12th and 13th, in clock ticks
	// (100 a second on Linux).
	_, rest, ok := strings.Cut(string(b), ") ")
	f := strings.Fields(rest)
	if !ok || len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected %q", cmd.Process.Pid, b)
	}
	var utime, stime int64
	if _, err := fmt.Sscan(f[11], &utime); err != nil {
		return 0, err
	}
	if _, err := fmt.Sscan(f[12], &stime); err != nil {
		return 0, err
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond, nil
}

// PeakRSS reads the peak resident memory (VmHWM), in MiB, from a Linux
// /proc/<pid>/status file. The peak the kernel reports to a parent when
// its child exits (rusage's Maxrss) is no use here: Go starts a child in
// the parent's address space until it execs, so that figure includes the
// parent's own memory.
func PeakRSS(statusFile string) (float64, error) {
	b, err := os.ReadFile(statusFile)
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kib float64
			if _, err := fmt.Sscanf(strings.TrimSpace(v), "%f kB", &kib); err != nil {
				return 0, fmt.Errorf("%s: VmHWM %q: %w", statusFile, v, err)
			}
			return kib / 1024, nil
		}
	}
	return 0, fmt.Errorf("%s has no VmHWM", statusFile)
}

// BuildAegis builds the aegis binary of this repository into dir.
func BuildAegis(ctx context.Context, dir string) (string, error) {
	root, err := localstack.FindRoot()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "aegis")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/aegis")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build aegis: %v: %s", err, out)
	}
	return bin, nil
}

// Run runs the chaos test against st.
func Run(ctx context.Context, st *localstack.Stack, o Options) (Report, error) {
	var rep Report
	if o.Kills == 0 {
		o.Kills = 20
	}
	if o.Rate == 0 {
		o.Rate = 1000
	}
	if o.TakeoverBound == 0 {
		o.TakeoverBound = 2 * time.Second
	}
	logf := func(format string, args ...any) {
		if o.Log != nil {
			fmt.Fprintf(o.Log, "chaos: "+format+"\n", args...)
		}
	}
	r, err := newRig(ctx, st, "chaos", o.Aegis)
	if err != nil {
		return rep, err
	}
	defer r.close()
	chain, names, vkey, s3c, db := r.chain, r.names, r.vkey, r.s3c, r.db
	cl, err := kgo.NewClient(kgo.SeedBrokers(st.KafkaAddr))
	if err != nil {
		return rep, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl) // describes the indexer group after each indexer kill
	env := r.env
	sealer := &Proc{Name: "sealer", Env: env, Log: o.ProcessLog, Args: []string{r.aegis, "sealer", "--signer-key-file", r.keyFile,
		"--identity", "chaos-sealer", "--batch-max-age", "200ms", "--retention", "24h"}}
	var indexers []*Proc
	for i := range 2 {
		indexers = append(indexers, &Proc{Name: fmt.Sprintf("indexer-%d", i), Env: env, Log: o.ProcessLog,
			Args: []string{r.aegis, "indexer", "--group", names.group, "--identity", indexerIdentity(i)}})
	}
	for _, p := range append([]*Proc{sealer}, indexers...) {
		if err := p.Start(); err != nil {
			return rep, err
		}
		defer p.Kill(syscall.SIGTERM)
	}

	// A steady load; only what the producer acknowledged must be sealed.
	prod, err := producer.New(ctx, producer.Config{Brokers: []string{st.KafkaAddr}, Topic: names.topic, Environment: chain})
	if err != nil {
		return rep, err
	}
	defer prod.Close()
	var ackMu sync.Mutex
	acked := map[string]bool{}
	loadCtx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	var loadWG sync.WaitGroup
	loadWG.Add(1)
	go func() {
		defer loadWG.Done()
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		n := 0
		for loadCtx.Err() == nil {
			<-tick.C
			var evs []*shared.Envelope
			for range max(1, o.Rate/100) {
				n++
				evs = append(evs, prod.NewDecision(shared.Decision{DecisionID: fmt.Sprintf("%s-dec-%d", chain, n), Action: shared.ActionAllow,
					ConfidenceScore: 0.5, PolicyVersion: "p", UserID: fmt.Sprintf("u%d", n%100), SessionID: "s"}))
			}
			if err := prod.Publish(loadCtx, evs...); err == nil {
				ackMu.Lock()
				for _, e := range evs {
					acked[e.Decision.DecisionID] = true
				}
				ackMu.Unlock()
			}
		}
	}()

	headSeq := func() uint64 {
		cp, err := replayer.SignedHead(ctx, s3c, names.bucket, "", chain, vkey)
		if err != nil {
			return 0
		}
		return cp.Seq
	}
	for k := range o.Kills {
		time.Sleep(time.Duration(500+randInt(2500)) * time.Millisecond)
		if k%4 == 3 {
			i := randInt(len(indexers))
			p := indexers[i]
			clientID := indexer.ClientID(names.group, indexerIdentity(i))
			before := memberIDs(ctx, adm, names.group, clientID)
			killed := time.Now()
			p.Kill(syscall.SIGKILL)
			rep.IndexerKills++
			if err := p.Start(); err != nil {
				return rep, err
			}
			took := rejoined(ctx, adm, names.group, clientID, before, killed)
			rep.Rejoins = append(rep.Rejoins, took)
			logf("kill %d: %s, given partitions again after %s", k+1, p.Name, took.Round(time.Millisecond))
			continue
		}
		before := headSeq()
		killed := time.Now()
		sealer.Kill(syscall.SIGKILL)
		rep.SealerKills++
		if err := sealer.Start(); err != nil {
			return rep, err
		}
		// Takeover: the restarted sealer's first new checkpoint.
		took := time.Duration(-1)
		for time.Since(killed) < 2*time.Minute {
			if headSeq() > before {
				took = time.Since(killed)
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if took < 0 {
			return rep, fmt.Errorf("kill %d: the restarted sealer sealed nothing in 2 minutes", k+1)
		}
		rep.Takeovers = append(rep.Takeovers, took)
		logf("kill %d: sealer, sealing again after %s", k+1, took.Round(time.Millisecond))
	}
	stopLoad()
	loadWG.Wait()
	ackMu.Lock()
	rep.Acknowledged = len(acked)
	ackMu.Unlock()
	logf("load stopped: %d decisions acknowledged; waiting for the pipeline to catch up", rep.Acknowledged)

	// Wait until everything acknowledged is sealed and indexed, or give up.
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		count, err := countSealed(ctx, s3c, names.bucket, chain, vkey, acked, &rep)
		if err == nil && count >= rep.Acknowledged {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	// The indexers may be slower than the load (dynalite: a few hundred
	// decisions a second): wait while the index moves, and give up when it
	// has not moved for a minute (a stall) or after 30 minutes.
	moved, giveUp := time.Now(), time.Now().Add(30*time.Minute)
	for time.Since(moved) < time.Minute && time.Now().Before(giveUp) && ctx.Err() == nil {
		if n, err := countIndexed(ctx, db, names.table, acked); err == nil {
			if n > rep.Indexed {
				rep.Indexed, moved = n, time.Now()
			}
			if n >= rep.Acknowledged {
				break
			}
		}
		time.Sleep(2 * time.Second)
	}
	if rep.Indexed < rep.Acknowledged {
		logf("the index stopped at %d of %d decisions: nothing more was indexed for %s", rep.Indexed, rep.Acknowledged, time.Since(moved).Round(time.Second))
	}
	// The final figures, on a log that no longer moves.
	if _, err := countSealed(ctx, s3c, names.bucket, chain, vkey, acked, &rep); err != nil {
		logf("final verification: %v", err)
	}
	if err := countPublished(ctx, st.KafkaAddr, names.sealed, &rep); err != nil {
		return rep, err
	}
	return rep, nil
}

// rig is what a run of the pipeline's processes stands on: a folder, the
// aegis binary, a chain and its checkpoint keys, a bucket with Object
// Lock, a table, the decisions and sealed topics, and the environment
// every process is given.
type rig struct {
	dir, aegis       string
	chain, vkey      string
	keyFile, pubFile string
	names            struct{ bucket, table, topic, sealed, group string }
	s3c              *s3.Client
	db               *dynamodb.Client
	env              []string
}

// newRig makes a rig on st for a run called name (aegis: the binary to
// run, built into the rig's folder when empty); close removes the folder.
func newRig(ctx context.Context, st *localstack.Stack, name, aegis string) (*rig, error) {
	dir, err := os.MkdirTemp("", "aegis-"+name+"-")
	if err != nil {
		return nil, err
	}
	r := &rig{dir: dir, aegis: aegis, chain: localstack.Name(name)}
	fail := func(err error) (*rig, error) { r.close(); return nil, err }
	if r.aegis == "" {
		if r.aegis, err = BuildAegis(ctx, dir); err != nil {
			return fail(err)
		}
	}
	r.names.bucket, r.names.table, r.names.topic, r.names.sealed, r.names.group =
		st.Bucket(name), localstack.Name(name), localstack.Name("decisions"), localstack.Name("sealed"), localstack.Name("indexers")
	skey, vkey, err := note.GenerateKey(rand.Reader, "aegis-"+r.chain)
	if err != nil {
		return fail(err)
	}
	r.vkey, r.keyFile, r.pubFile = vkey, filepath.Join(dir, "chain.key"), filepath.Join(dir, "chain.pub")
	if err := os.WriteFile(r.keyFile, []byte(skey+"\n"), 0o600); err != nil {
		return fail(err)
	}
	if err := os.WriteFile(r.pubFile, []byte(vkey+"\n"), 0o644); err != nil {
		return fail(err)
	}
	if r.s3c, err = st.S3(ctx); err != nil {
		return fail(err)
	}
	if r.db, err = st.DynamoDB(ctx); err != nil {
		return fail(err)
	}
	if err := localstack.CreateLockedBucket(ctx, r.s3c, r.names.bucket); err != nil {
		return fail(err)
	}
	if err := layout.EnsureTable(ctx, r.db, r.names.table); err != nil {
		return fail(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(st.KafkaAddr))
	if err != nil {
		return fail(err)
	}
	err = topics.EnsureSingle(ctx, cl, r.names.topic)
	if err == nil {
		_, err = topics.Ensure(ctx, cl, r.names.sealed, 6)
	}
	cl.Close()
	if err != nil {
		return fail(err)
	}
	r.env = append(append(os.Environ(), st.Env()...),
		"AEGIS_CHAIN="+r.chain, "AEGIS_BUCKET="+r.names.bucket, "AEGIS_TABLE="+r.names.table,
		"AEGIS_TOPIC="+r.names.topic, "AEGIS_SEALED_TOPIC="+r.names.sealed, "AEGIS_VERIFIER_KEY_FILE="+r.pubFile, "AEGIS_LOG_LEVEL=warn")
	return r, nil
}

func (r *rig) close() { os.RemoveAll(r.dir) }

// indexerIdentity is the --identity of the harness's indexer i.
func indexerIdentity(i int) string { return fmt.Sprintf("indexer-%d", i) }

// memberIDs are the ids of the group's members with clientID.
func memberIDs(ctx context.Context, adm *kadm.Client, group, clientID string) map[string]bool {
	ids := map[string]bool{}
	if described, err := adm.DescribeGroups(ctx, group); err == nil {
		for _, m := range described[group].Members {
			if m.ClientID == clientID {
				ids[m.MemberID] = true
			}
		}
	}
	return ids
}

// rejoined waits until the group is stable with a new member of clientID
// (not one of dead, the killed process's) assigned partitions, and
// returns the time since killed (-1 after 2 minutes).
func rejoined(ctx context.Context, adm *kadm.Client, group, clientID string, dead map[string]bool, killed time.Time) time.Duration {
	for time.Since(killed) < 2*time.Minute && ctx.Err() == nil {
		if described, err := adm.DescribeGroups(ctx, group); err == nil {
			if g := described[group]; g.Err == nil && g.State == "Stable" {
				for _, m := range g.Members {
					if c, ok := m.Assigned.AsConsumer(); ok && m.ClientID == clientID && !dead[m.MemberID] && len(c.Topics) > 0 {
						return time.Since(killed)
					}
				}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return -1
}

// countSealed verifies the chain and counts the acknowledged decisions in
// it (filling Sealed, Duplicated, Missing and Verify).
func countSealed(ctx context.Context, s3c archive.S3API, bucket, chain, vkey string, acked map[string]bool, rep *Report) (int, error) {
	v, err := replayer.Verify(ctx, replayer.Config{S3: s3c, Bucket: bucket, Chain: chain, VerifierKey: vkey})
	if err != nil {
		rep.Verify = err.Error()
		return 0, err
	}
	rep.Verify = fmt.Sprintf("OK: %d entries, head seq %d, %d unsigned", v.Entries, v.Head.Seq, v.Unsigned)
	seen := map[string]int{}
	_, err = replayer.Discover(ctx, replayer.DiscoverConfig{S3: s3c, Bucket: bucket, Chain: chain, VerifierKey: vkey,
		From: time.Unix(0, 0), To: time.Now().Add(48 * time.Hour)}, func(f replayer.Found) error {
		if f.Entry.Type == shared.EntryEvent {
			seen[f.Entry.DecisionID()]++
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	rep.Sealed, rep.Duplicated, rep.Missing = 0, 0, 0
	for id, n := range seen {
		if acked[id] {
			rep.Sealed++
		}
		if n > 1 {
			rep.Duplicated++
		}
	}
	for id := range acked {
		if seen[id] == 0 {
			rep.Missing++
		}
	}
	return rep.Sealed, nil
}

// countIndexed counts the acknowledged decisions in the index.
func countIndexed(ctx context.Context, db *dynamodb.Client, table string, acked map[string]bool) (int, error) {
	n := 0
	p := dynamodb.NewScanPaginator(db, &dynamodb.ScanInput{TableName: aws.String(table), ProjectionExpression: aws.String("decision_id, SK")})
	seen := map[string]bool{}
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return 0, err
		}
		for _, it := range page.Items {
			var k struct {
				ID string `dynamodbav:"decision_id"`
				SK string `dynamodbav:"SK"`
			}
			if err := attributevalue.UnmarshalMap(it, &k); err == nil && strings.HasPrefix(k.SK, "SK#DECISION#") && acked[k.ID] && !seen[k.ID] {
				seen[k.ID] = true
				n++
			}
		}
	}
	return n, nil
}

// countPublished reads the sealed topic as a read-committed consumer and
// counts its records and the entries published more than once.
func countPublished(ctx context.Context, broker, topic string, rep *Report) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if err != nil {
		return err
	}
	defer cl.Close()
	seen := map[string]bool{}
	idle := time.Now()
	for time.Since(idle) < 3*time.Second {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		fetches := cl.PollFetches(pctx)
		cancel()
		fetches.EachRecord(func(r *kgo.Record) {
			idle = time.Now()
			rep.Published++
			var rec shared.SealedRecord
			if json.Unmarshal(r.Value, &rec) != nil {
				return
			}
			e, err := shared.ParseLine(rec.Entry)
			if err != nil {
				return
			}
			key := e.Hash.String()
			if seen[key] {
				rep.Republished++
			}
			seen[key] = true
		})
	}
	return nil
}

func randInt(n int) int {
	v, _ := rand.Int(rand.Reader, big.NewInt(int64(n)))
	return int(v.Int64())
}
