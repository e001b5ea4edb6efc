package e2e

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/mod/sumdb/note"

	"github.com/aegisai/audit/internal/platform/topics"
	"github.com/aegisai/audit/internal/testbed/chaos"
	"github.com/aegisai/audit/internal/testbed/localstack"
	"github.com/aegisai/audit/producer"
	"github.com/aegisai/audit/replayer"
	"github.com/aegisai/audit/shared"
)

// Attack 34d: a fenced sealer no longer exits (0d378bc): it starts a new
// session as a standby, rejoining the group without evicting the member
// of its own identity, and initialises its producer only when assigned
// the partition. These tests run the sealers as `aegis sealer` processes
// (the binary built from this tree) that are frozen (SIGSTOP), resumed
// and killed (SIGKILL), under a steady load, and then check what README
// ("Running the roles yourself", "When things fail") promises: every
// acknowledged decision sealed exactly once, aegis verify passing, each
// entry published once to the sealed topic (read committed), and a
// sealer left that seals.

var attack34dBuild struct {
	once sync.Once
	path string
	err  error
}

// attack34dAegis builds bin/aegis from this tree once per test binary.
func attack34dAegis(t *testing.T) string {
	t.Helper()
	attack34dBuild.once.Do(func() {
		dir, err := os.MkdirTemp("", "aegis-attack34d-")
		if err != nil {
			attack34dBuild.err = err
			return
		}
		attack34dBuild.path, attack34dBuild.err = chaos.BuildAegis(context.Background(), dir)
	})
	if attack34dBuild.err != nil {
		t.Fatal(attack34dBuild.err)
	}
	return attack34dBuild.path
}

// sealerRig is a chain for sealer processes: bucket, topics, keys and the
// environment each process is given.
type sealerRig struct {
	t                                  *testing.T
	aegis, dir                         string
	chain, bucket, topic, sealed, vkey string
	keyFile                            string
	s3c                                *s3.Client
	env                                []string
}

func newSealerRig(ctx context.Context, t *testing.T) *sealerRig {
	t.Helper()
	r := &sealerRig{t: t, aegis: attack34dAegis(t), dir: t.TempDir(), chain: localstack.Name("a34d")}
	r.bucket, r.topic, r.sealed = stack.Bucket("a34d"), localstack.Name("decisions"), localstack.Name("sealed")
	skey, vkey, err := note.GenerateKey(rand.Reader, "aegis-"+r.chain)
	if err != nil {
		t.Fatal(err)
	}
	r.vkey, r.keyFile = vkey, filepath.Join(r.dir, "chain.key")
	pub := filepath.Join(r.dir, "chain.pub")
	if err := os.WriteFile(r.keyFile, []byte(skey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pub, []byte(vkey+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if r.s3c, err = stack.S3(ctx); err != nil {
		t.Fatal(err)
	}
	if err := localstack.CreateLockedBucket(ctx, r.s3c, r.bucket); err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(stack.KafkaAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := topics.EnsureSingle(ctx, cl, r.topic); err != nil {
		t.Fatal(err)
	}
	if _, err := topics.Ensure(ctx, cl, r.sealed, 6); err != nil {
		t.Fatal(err)
	}
	r.env = append(append(os.Environ(), stack.Env()...),
		"AEGIS_CHAIN="+r.chain, "AEGIS_BUCKET="+r.bucket, "AEGIS_TOPIC="+r.topic, "AEGIS_SEALED_TOPIC="+r.sealed,
		"AEGIS_VERIFIER_KEY_FILE="+pub, "AEGIS_LOG_LEVEL=info")
	return r
}

// sealerProc is one `aegis sealer` process, restartable, with its log
// (every run's, appended) and metrics address.
type sealerProc struct {
	r        *sealerRig
	name     string
	identity string
	metrics  string
	logPath  string
	mu       sync.Mutex
	cmd      *exec.Cmd
	done     chan struct{}
	exitErr  error
}

func (r *sealerRig) sealer(name, identity string) *sealerProc {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		r.t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	p := &sealerProc{r: r, name: name, identity: identity, metrics: addr, logPath: filepath.Join(r.dir, name+".log")}
	p.start()
	r.t.Cleanup(func() { p.signal(syscall.SIGCONT); p.stop(syscall.SIGKILL) })
	return p
}

func (p *sealerProc) start() {
	p.r.t.Helper()
	f, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		p.r.t.Fatal(err)
	}
	cmd := exec.Command(p.r.aegis, "sealer", "--signer-key-file", p.r.keyFile, "--identity", p.identity,
		"--batch-max-age", "100ms", "--batch-max-records", "50", "--retention", "24h", "--metrics-addr", p.metrics)
	cmd.Env = p.r.env
	cmd.Stdout, cmd.Stderr = f, f
	if err := localstack.StartChild(cmd); err != nil {
		f.Close()
		p.r.t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		err := cmd.Wait()
		f.Close()
		p.mu.Lock()
		p.exitErr = err
		p.mu.Unlock()
		close(done)
	}()
	p.mu.Lock()
	p.cmd, p.done, p.exitErr = cmd, done, nil
	p.mu.Unlock()
}

func (p *sealerProc) signal(sig syscall.Signal) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil && p.cmd.Process != nil {
		_ = p.cmd.Process.Signal(sig)
	}
}

// stop sends sig and waits for the process to end.
func (p *sealerProc) stop(sig syscall.Signal) {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-done:
	case <-time.After(40 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

// exited says whether the process ended, and how.
func (p *sealerProc) exited() (bool, error) {
	p.mu.Lock()
	done := p.done
	p.mu.Unlock()
	select {
	case <-done:
		p.mu.Lock()
		defer p.mu.Unlock()
		return true, p.exitErr
	default:
		return false, nil
	}
}

// metric is the value of a metric of the running process (-1: unknown).
func (p *sealerProc) metric(name string) float64 {
	cl := http.Client{Timeout: 2 * time.Second}
	resp, err := cl.Get("http://" + p.metrics + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, name+"{") || strings.HasPrefix(line, name+" ") {
			f := strings.Fields(line)
			v, err := strconv.ParseFloat(f[len(f)-1], 64)
			if err == nil {
				return v
			}
		}
	}
	return -1
}

// logCount counts the lines of the process's log (every run) holding s.
func (p *sealerProc) logCount(s string) int {
	b, _ := os.ReadFile(p.logPath)
	return strings.Count(string(b), s)
}

// logLines returns the lines of the process's log holding any of ss.
func (p *sealerProc) logLines(ss ...string) []string {
	b, _ := os.ReadFile(p.logPath)
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		for _, s := range ss {
			if strings.Contains(l, s) {
				out = append(out, l)
				break
			}
		}
	}
	return out
}

// owner returns the client id and member id of the group member assigned
// the decisions topic's partition ("" when none is, or the group is
// rebalancing).
func (r *sealerRig) owner(ctx context.Context) (clientID, memberID string) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(stack.KafkaAddr))
	if err != nil {
		return "", ""
	}
	defer cl.Close()
	group := "aegis-sealer-" + r.chain
	described, err := kadm.NewClient(cl).DescribeGroups(ctx, group)
	if err != nil {
		return "", ""
	}
	g := described[group]
	if g.State != "Stable" {
		return "", ""
	}
	for _, m := range g.Members {
		if c, ok := m.Assigned.AsConsumer(); ok {
			for _, tp := range c.Topics {
				if tp.Topic == r.topic && len(tp.Partitions) > 0 {
					return m.ClientID, m.MemberID
				}
			}
		}
	}
	return "", ""
}

// waitOwner waits until a stable group assigns the partition to one of
// procs, and returns it (nil after limit).
func (r *sealerRig) waitOwner(ctx context.Context, limit time.Duration, procs ...*sealerProc) *sealerProc {
	end := time.Now().Add(limit)
	for time.Now().Before(end) {
		if id, _ := r.owner(ctx); id != "" {
			for _, p := range procs {
				if id == "aegis-sealer/"+r.chain+"/"+p.identity {
					return p
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return nil
}

// signedHead is the seq of the chain's newest signed checkpoint (0: none).
func (r *sealerRig) signedHead(ctx context.Context) uint64 {
	cp, err := replayer.SignedHead(ctx, r.s3c, r.bucket, "", r.chain, r.vkey)
	if err != nil {
		return 0
	}
	return cp.Seq
}

// a34dLoad publishes decisions at a steady rate and keeps what the
// producer acknowledged.
type a34dLoad struct {
	mu     sync.Mutex
	acked  map[string]bool
	n      int
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func (r *sealerRig) startLoad(ctx context.Context, perTick int) *a34dLoad {
	r.t.Helper()
	prod, err := producer.New(ctx, producer.Config{Brokers: []string{stack.KafkaAddr}, Topic: r.topic, Environment: r.chain})
	if err != nil {
		r.t.Fatal(err)
	}
	lctx, cancel := context.WithCancel(ctx)
	l := &a34dLoad{acked: map[string]bool{}, cancel: cancel}
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		defer prod.Close()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for lctx.Err() == nil {
			select {
			case <-tick.C:
			case <-lctx.Done():
				return
			}
			var evs []*shared.Envelope
			for range perTick {
				l.n++
				evs = append(evs, prod.NewDecision(shared.Decision{DecisionID: fmt.Sprintf("%s-dec-%d", r.chain, l.n), Action: shared.ActionAllow,
					ConfidenceScore: 0.5, PolicyVersion: "p", UserID: fmt.Sprintf("u%d", l.n%50), SessionID: "s"}))
			}
			pctx, pcancel := context.WithTimeout(lctx, 10*time.Second)
			err := prod.Publish(pctx, evs...)
			pcancel()
			if err == nil {
				l.mu.Lock()
				for _, e := range evs {
					l.acked[e.Decision.DecisionID] = true
				}
				l.mu.Unlock()
			}
		}
	}()
	return l
}

// stop stops the load and returns what was acknowledged.
func (l *a34dLoad) stop() map[string]bool {
	l.cancel()
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.acked
}

func (l *a34dLoad) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.acked)
}

// a34dCount is what the chain and the sealed topic hold.
type a34dCount struct {
	verify                        string
	verified                      bool
	sealed, duplicated, missing   int
	published, republishedEntries int
}

func (c a34dCount) String() string {
	return fmt.Sprintf("verify: %s; acknowledged decisions sealed %d, sealed twice or more %d, missing %d; sealed topic %d records, %d entries published more than once",
		c.verify, c.sealed, c.duplicated, c.missing, c.published, c.republishedEntries)
}

// count verifies the chain and counts the acknowledged decisions in it.
func (r *sealerRig) count(ctx context.Context, acked map[string]bool) a34dCount {
	var c a34dCount
	v, err := replayer.Verify(ctx, replayer.Config{S3: r.s3c, Bucket: r.bucket, Chain: r.chain, VerifierKey: r.vkey})
	if err != nil {
		c.verify = err.Error()
		return c
	}
	c.verified = true
	c.verify = fmt.Sprintf("OK: %d entries, head seq %d, %d unsigned", v.Entries, v.Head.Seq, v.Unsigned)
	seen := map[string]int{}
	_, err = replayer.Discover(ctx, replayer.DiscoverConfig{S3: r.s3c, Bucket: r.bucket, Chain: r.chain, VerifierKey: r.vkey,
		From: time.Unix(0, 0), To: time.Now().Add(48 * time.Hour)}, func(f replayer.Found) error {
		if f.Entry.Type == shared.EntryEvent {
			seen[f.Entry.DecisionID()]++
		}
		return nil
	})
	if err != nil {
		c.verify += "; discover: " + err.Error()
		c.verified = false
		return c
	}
	for id, n := range seen {
		if acked[id] {
			c.sealed++
		}
		if n > 1 {
			c.duplicated++
		}
	}
	for id := range acked {
		if seen[id] == 0 {
			c.missing++
		}
	}
	// The sealed topic, read committed.
	cl, err := kgo.NewClient(kgo.SeedBrokers(stack.KafkaAddr), kgo.ConsumeTopics(r.sealed),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if err != nil {
		r.t.Fatal(err)
	}
	defer cl.Close()
	seqs := map[uint64]int{}
	for {
		pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		fs := cl.PollFetches(pctx)
		cancel()
		if fs.NumRecords() == 0 {
			break
		}
		fs.EachRecord(func(rec *kgo.Record) {
			c.published++
			var sr shared.SealedRecord
			if json.Unmarshal(rec.Value, &sr) != nil {
				return
			}
			if e, err := shared.ParseLineLenient(sr.Entry); err == nil {
				seqs[e.Seq]++
			}
		})
	}
	for _, n := range seqs {
		if n > 1 {
			c.republishedEntries++
		}
	}
	return c
}

// settle waits until the chain holds every acknowledged decision (or the
// limit passes) and counts.
func (r *sealerRig) settle(ctx context.Context, acked map[string]bool, limit time.Duration) a34dCount {
	end := time.Now().Add(limit)
	var c a34dCount
	for {
		c = r.count(ctx, acked)
		if c.verified && c.sealed >= len(acked) {
			time.Sleep(2 * time.Second)
			return r.count(ctx, acked) // once more, on a chain that no longer moves
		}
		if time.Now().After(end) {
			return c
		}
		time.Sleep(time.Second)
	}
}

// report logs each process's fences and sessions and its log lines
// about them.
func (r *sealerRig) report(procs ...*sealerProc) {
	for _, p := range procs {
		ex, err := p.exited()
		r.t.Logf("%s (identity %s): exited %v (%v); fenced_total %v, session_restarts %v, lines 'sealer fenced' %d, 'starting a new session' %d, 'removed the group member' %d, 'batch key taken' (adopted) %d, 'transaction' warnings %d",
			p.name, p.identity, ex, err, p.metric("aegis_sealer_fenced_total"), p.metric("aegis_sealer_session_restarts_total"),
			p.logCount("sealer fenced"), p.logCount("starting a new session"), p.logCount("removed the group member"),
			p.logCount("batch key taken"), p.logCount("transaction"))
	}
}

func (r *sealerRig) dumpLogs(procs ...*sealerProc) {
	for _, p := range procs {
		lines := p.logLines(`"level":"warn"`, `"level":"error"`, "sealer running", "removed the group member", "assigned again")
		if len(lines) > 60 {
			lines = append(lines[:20], append([]string{"..."}, lines[len(lines)-40:]...)...)
		}
		r.t.Logf("%s log (warn, error, sessions):\n%s", p.name, strings.Join(lines, "\n"))
	}
}

func a34dName(p *sealerProc) string {
	if p == nil {
		return "nobody"
	}
	return p.name
}

// a34dCheck fails the test on anything lost, duplicated, republished, an
// unverifiable chain, or a sealer process that exited.
func a34dCheck(t *testing.T, c a34dCount, acked map[string]bool, procs ...*sealerProc) {
	t.Helper()
	t.Logf("acknowledged %d; %s", len(acked), c)
	if !c.verified {
		t.Errorf("aegis verify fails: %s", c.verify)
	}
	if c.sealed != len(acked) || c.missing > 0 || c.duplicated > 0 {
		t.Errorf("%d acknowledged decisions, %d sealed, %d missing, %d sealed more than once", len(acked), c.sealed, c.missing, c.duplicated)
	}
	if c.republishedEntries > 0 {
		t.Errorf("%d entries published more than once to the sealed topic (read committed)", c.republishedEntries)
	}
	for _, p := range procs {
		if ex, err := p.exited(); ex {
			t.Errorf("sealer %s exited: %v (README: a fenced sealer starts a new session as a standby)", p.name, err)
		}
	}
}

// The active sealer frozen (SIGSTOP) under load past its 3 s session
// timeout, the standby taking over and sealing, then the frozen one
// resumed: it must seal nothing twice, fork nothing, lose nothing, and
// neither fence the new active sealer nor start a ping-pong between them.
// Four times, whichever is active each time.
func TestAttack34dAZombieResumedAfterATakeover(t *testing.T) {
	longBrokerFaults(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	r := newSealerRig(ctx, t)
	a := r.sealer("a", "zombie-a")
	b := r.sealer("b", "zombie-b")
	if r.waitOwner(ctx, 30*time.Second, a, b) == nil {
		t.Fatal("no sealer was assigned the partition")
	}
	load := r.startLoad(ctx, 5)
	for i := range 4 {
		time.Sleep(time.Duration(1300+700*(i%2)) * time.Millisecond)
		act := r.waitOwner(ctx, 20*time.Second, a, b)
		if act == nil {
			r.report(a, b)
			r.dumpLogs(a, b)
			t.Fatalf("freeze %d: no sealer holds the partition", i)
		}
		other := a
		if act == a {
			other = b
		}
		before := r.signedHead(ctx)
		act.signal(syscall.SIGSTOP)
		t.Logf("freeze %d: %s frozen at signed head %d, %d acknowledged", i, act.name, before, load.count())
		took := time.Now()
		for r.waitOwner(ctx, time.Second, other) == nil || r.signedHead(ctx) <= before+50 {
			if time.Since(took) > 30*time.Second {
				act.signal(syscall.SIGCONT)
				r.report(a, b)
				r.dumpLogs(a, b)
				t.Fatalf("freeze %d: %s did not take over and seal within 30 s", i, other.name)
			}
		}
		t.Logf("freeze %d: %s took over and sealed (signed head %d) after %s", i, other.name, r.signedHead(ctx), time.Since(took).Round(time.Millisecond))
		act.signal(syscall.SIGCONT)
		time.Sleep(4 * time.Second)
		if owner := r.waitOwner(ctx, 10*time.Second, a, b); owner != other {
			t.Errorf("freeze %d: 4 s after %s resumed the partition is %s's, not %s's, which took over", i, act.name, a34dName(owner), other.name)
		}
	}
	acked := load.stop()
	c := r.settle(ctx, acked, 90*time.Second)
	r.report(a, b)
	if t.Failed() || c.sealed != len(acked) {
		r.dumpLogs(a, b)
	}
	a34dCheck(t, c, acked, a, b)
	// Each freeze fences the frozen one once at most; more is a ping-pong.
	if f := a.metric("aegis_sealer_fenced_total") + b.metric("aegis_sealer_fenced_total"); f > 4 {
		t.Errorf("%v fences for 4 freezes: the sealers fence each other", f)
	}
}

// Two processes with the same --identity (the misconfiguration README,
// "Running the roles yourself", warns of): the second evicts the first's
// member at its start. Before 0d378bc the one fenced exited; now both
// stay. They must not fence each other for ever, one must seal, and the
// chain must be whole; when the one sealing is killed, the other takes
// over.
func TestAttack34dTwoSealersWithOneIdentity(t *testing.T) {
	longBrokerFaults(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	r := newSealerRig(ctx, t)
	a := r.sealer("a", "same")
	if r.waitOwner(ctx, 30*time.Second, a) == nil {
		t.Fatal("the first sealer was not assigned the partition")
	}
	load := r.startLoad(ctx, 5)
	time.Sleep(3 * time.Second)
	b := r.sealer("b", "same")
	time.Sleep(10 * time.Second)
	f1 := a.metric("aegis_sealer_fenced_total") + b.metric("aegis_sealer_fenced_total")
	h1 := r.signedHead(ctx)
	time.Sleep(10 * time.Second)
	f2 := a.metric("aegis_sealer_fenced_total") + b.metric("aegis_sealer_fenced_total")
	h2 := r.signedHead(ctx)
	t.Logf("fences 10 s after the second start %v, 20 s after %v; signed head %d then %d", f1, f2, h1, h2)
	if f2 > f1 {
		t.Errorf("the two sealers keep fencing each other: %v fences, then %v 10 s later", f1, f2)
	}
	if h2 <= h1 {
		t.Errorf("nothing sealed in 10 s with both running (signed head %d, then %d)", h1, h2)
	}
	// Kill the one that seals (the one whose entries count grows).
	active, standby := a, b
	ha1, hb1 := a.metric("aegis_sealer_head_seq"), b.metric("aegis_sealer_head_seq")
	time.Sleep(2 * time.Second)
	ha2, hb2 := a.metric("aegis_sealer_head_seq"), b.metric("aegis_sealer_head_seq")
	if hb2-hb1 > ha2-ha1 {
		active, standby = b, a
	}
	t.Logf("heads: a %v→%v, b %v→%v: killing %s", ha1, ha2, hb1, hb2, active.name)
	before := r.signedHead(ctx)
	active.stop(syscall.SIGKILL)
	took := time.Now()
	for r.signedHead(ctx) <= before+50 {
		if time.Since(took) > 30*time.Second {
			r.report(a, b)
			r.dumpLogs(a, b)
			t.Fatalf("%s, left alone, did not seal within 30 s of the other's kill", standby.name)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("%s sealed on %s after the other's kill", standby.name, time.Since(took).Round(time.Millisecond))
	acked := load.stop()
	c := r.settle(ctx, acked, 90*time.Second)
	r.report(a, b)
	if t.Failed() || c.sealed != len(acked) {
		r.dumpLogs(a, b)
	}
	a34dCheck(t, c, acked, standby)
}

// The active sealer killed (SIGKILL) and restarted with its identity,
// six times, with two standbys of other identities: every acknowledged
// decision sealed exactly once, verify passes (make chaos, shorter, with
// standbys).
func TestAttack34dKilledRepeatedlyWithTwoStandbys(t *testing.T) {
	longBrokerFaults(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	r := newSealerRig(ctx, t)
	procs := []*sealerProc{r.sealer("a", "kill-a"), r.sealer("b", "kill-b"), r.sealer("c", "kill-c")}
	if r.waitOwner(ctx, 30*time.Second, procs...) == nil {
		t.Fatal("no sealer was assigned the partition")
	}
	load := r.startLoad(ctx, 5)
	for i := range 6 {
		time.Sleep(time.Duration(1000+500*(i%3)) * time.Millisecond)
		act := r.waitOwner(ctx, 20*time.Second, procs...)
		if act == nil {
			r.report(procs...)
			r.dumpLogs(procs...)
			t.Fatalf("kill %d: no sealer holds the partition", i)
		}
		before := r.signedHead(ctx)
		act.stop(syscall.SIGKILL)
		act.start()
		took := time.Now()
		for r.signedHead(ctx) <= before+20 {
			if time.Since(took) > 30*time.Second {
				r.report(procs...)
				r.dumpLogs(procs...)
				t.Fatalf("kill %d of %s: nothing sealed within 30 s", i, act.name)
			}
			time.Sleep(50 * time.Millisecond)
		}
		owner := r.waitOwner(ctx, 10*time.Second, procs...)
		t.Logf("kill %d: %s killed and restarted; sealing again after %s (partition now %s's)", i, act.name, time.Since(took).Round(time.Millisecond), a34dName(owner))
	}
	acked := load.stop()
	c := r.settle(ctx, acked, 90*time.Second)
	r.report(procs...)
	if t.Failed() || c.sealed != len(acked) {
		r.dumpLogs(procs...)
	}
	a34dCheck(t, c, acked, procs...)
}

// The active sealer frozen (SIGSTOP) and, taken for dead, replaced by a
// process with its identity (a StatefulSet's pod started again on
// another node while the first is partitioned): the new one evicts the
// frozen one's member and seals; the frozen one resumes, is fenced, and
// must stay a standby that neither fences the new one nor seals anything
// twice. Then the new one is killed, and the resumed one takes over.
func TestAttack34dAZombieReplacedUnderItsOwnIdentity(t *testing.T) {
	longBrokerFaults(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	r := newSealerRig(ctx, t)
	a := r.sealer("a", "pod-0")
	if r.waitOwner(ctx, 30*time.Second, a) == nil {
		t.Fatal("the sealer was not assigned the partition")
	}
	load := r.startLoad(ctx, 5)
	time.Sleep(3 * time.Second)
	before := r.signedHead(ctx)
	a.signal(syscall.SIGSTOP)
	a2 := r.sealer("a2", "pod-0")
	took := time.Now()
	for r.signedHead(ctx) <= before+50 {
		if time.Since(took) > 30*time.Second {
			a.signal(syscall.SIGCONT)
			r.report(a, a2)
			r.dumpLogs(a, a2)
			t.Fatal("the replacement did not seal within 30 s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("the replacement sealed after %s", time.Since(took).Round(time.Millisecond))
	time.Sleep(2 * time.Second)
	a.signal(syscall.SIGCONT)
	time.Sleep(8 * time.Second)
	h1 := a2.metric("aegis_sealer_head_seq")
	time.Sleep(2 * time.Second)
	h2 := a2.metric("aegis_sealer_head_seq")
	t.Logf("after the resume: the replacement's head %v then %v; fences: a %v, a2 %v", h1, h2, a.metric("aegis_sealer_fenced_total"), a2.metric("aegis_sealer_fenced_total"))
	if f := a2.metric("aegis_sealer_fenced_total"); f > 0 {
		t.Errorf("the resumed zombie fenced the replacement %v times", f)
	}
	before = r.signedHead(ctx)
	a2.stop(syscall.SIGKILL)
	took = time.Now()
	for r.signedHead(ctx) <= before+50 {
		if time.Since(took) > 30*time.Second {
			r.report(a, a2)
			r.dumpLogs(a, a2)
			t.Fatal("the resumed sealer did not take over within 30 s of the replacement's kill")
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("the resumed sealer took over after %s", time.Since(took).Round(time.Millisecond))
	acked := load.stop()
	c := r.settle(ctx, acked, 90*time.Second)
	r.report(a, a2)
	if t.Failed() || c.sealed != len(acked) {
		r.dumpLogs(a, a2)
	}
	a34dCheck(t, c, acked, a)
}
