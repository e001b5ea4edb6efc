// Package produce holds the end-to-end tests of the producer side: the
// producer library (Govern, Sealed mode, async) and the ingest service, on
// a stack of their own, since some of them stop the Kafka broker.
package produce

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/aegisai/audit/internal/testbed/localstack"
	"github.com/aegisai/audit/internal/testbed/pipeline"
	"github.com/aegisai/audit/producer"
	"github.com/aegisai/audit/replayer"
	"github.com/aegisai/audit/shared"
)

var stack *localstack.Stack

func TestMain(m *testing.M) { os.Exit(localstack.RunTests(m, &stack)) }

// metric is the value of a counter or gauge in reg (with the label value
// given, if any); 0 when there is none.
func metric(t *testing.T, reg *prometheus.Registry, name, label string) float64 {
	t.Helper()
	v, _, err := pipeline.MetricValue(reg, name, label)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// holdProduce makes the broker hold every produce request, as one that
// hangs would, until release is called.
func holdProduce(t *testing.T) (release func()) {
	t.Helper()
	stop := make(chan struct{})
	stack.Kafka.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		select {
		case <-stop:
			stack.Kafka.DropControl()
			return nil, nil, false
		default:
		}
		stack.Kafka.KeepControl()
		stack.Kafka.SleepControl(func() { <-stop })
		return nil, nil, false
	})
	var once sync.Once
	release = func() { once.Do(func() { close(stop) }) }
	t.Cleanup(release)
	return release
}

func decision(id string, action shared.Action) shared.Decision {
	return shared.Decision{DecisionID: id, Action: action, ConfidenceScore: 0.9, PolicyVersion: "policy-1", UserID: "user-1", SessionID: "sess-1"}
}

// sealedEvents reads the chain from S3 (verified) and returns its event
// entries' envelopes in seq order.
func sealedEvents(t *testing.T, p *pipeline.Pipeline) []*shared.Envelope {
	t.Helper()
	ctx := context.Background()
	var out []*shared.Envelope
	_, err := replayer.Discover(ctx, replayer.DiscoverConfig{S3: p.S3, Bucket: p.Cfg.Bucket, Chain: p.Cfg.Chain, VerifierKey: p.Cfg.VerifierKey,
		From: time.Now().Add(-24 * time.Hour), To: time.Now().Add(time.Hour)}, func(f replayer.Found) error {
		if env, err := f.Entry.Envelope(); err == nil && f.Entry.Type == shared.EntryEvent {
			out = append(out, env)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// With the broker stopped, a Durable call fails within its deadline,
// Govern returns the fail-safe action (never a weaker one), and once the
// broker is back the spooled record of each escalation (the decision,
// then the override that escalated it) is sealed in order, exactly once.
func TestGovernFailsSafeWhileTheBrokerIsDownAndRecordsItAfter(t *testing.T) {
	stack.NeedsInProcessKafka(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	p := pipeline.ForTest(t, stack, pipeline.Config{Indexers: -1})
	reg := prometheus.NewRegistry()
	prod, err := p.Producer(ctx, func(c *producer.Config) {
		c.Timeout, c.SpoolDir, c.Metrics = time.Second, t.TempDir(), reg
	})
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	pol := producer.Policy{FailSafe: shared.ActionChallenge}
	before := prod.Govern(ctx, decision("before", shared.ActionAllow), pol)
	if !before.Audited || before.Escalated || before.Decision.Action != shared.ActionAllow {
		t.Fatalf("with the broker up: %+v", before)
	}

	<-p.Sealer.Ready()
	if err := stack.StopKafka(); err != nil {
		t.Fatal(err)
	}
	restarted := false
	defer func() {
		if !restarted {
			stack.StartKafka()
		}
	}()
	start := time.Now()
	_, err = prod.LogDecision(ctx, decision("lost", shared.ActionAllow))
	if took := time.Since(start); !errors.Is(err, producer.ErrAuditUnavailable) || took > 10*time.Second {
		t.Fatalf("LogDecision with the broker down: %v after %s, want ErrAuditUnavailable within the 1s deadline", err, took)
	}
	governed := []struct {
		id        string
		action    shared.Action
		want      shared.Action
		escalated bool
	}{
		{"down-1", shared.ActionAllow, shared.ActionChallenge, true},
		{"down-2", shared.ActionBlock, shared.ActionBlock, false}, // never weakened
		{"down-3", shared.ActionAllow, shared.ActionChallenge, true},
	}
	for _, g := range governed {
		out := prod.Govern(ctx, decision(g.id, g.action), pol)
		if out.Audited || out.Decision.Action != g.want || out.Escalated != g.escalated || !out.Spooled || !errors.Is(out.Err, producer.ErrAuditUnavailable) {
			t.Fatalf("Govern %s with the broker down: %+v", g.id, out)
		}
	}
	if n := metric(t, reg, "aegis_producer_escalations_total", "unavailable"); n != 3 {
		t.Errorf("escalations counted: %v, want 3", n)
	}
	if n := metric(t, reg, "aegis_producer_spool_records", ""); n != 5 {
		t.Errorf("spooled records: %v, want 5 (3 decisions, 2 overrides)", n)
	}

	// The sealer says it cannot seal (its /readyz) once the outage lasts.
	if err := p.WaitFor(ctx, func() bool { return p.Sealer.Healthy() != nil }); err != nil {
		t.Fatalf("the sealer still says it is healthy %s into the broker's outage", time.Since(start).Round(time.Second))
	}
	t.Logf("the sealer during the outage: %v", p.Sealer.Healthy())

	if err := stack.StartKafka(); err != nil {
		t.Fatal(err)
	}
	restarted = true
	// The decisions the calls gave up on and each escalation, once each.
	// "lost" (a LogDecision that failed) may be recorded too: the client
	// delivers what it holds when the broker is back, which is what "not
	// confirmed" allows.
	want := []string{"before/decision/ALLOW", "lost/decision/ALLOW", "down-1/decision/ALLOW", "down-2/decision/BLOCK", "down-3/decision/ALLOW",
		"down-1/override/CHALLENGE", "down-3/override/CHALLENGE"}
	var got []string
	err = p.WaitFor(ctx, func() bool {
		got = got[:0]
		for _, env := range sealedEvents(t, p) {
			action := ""
			if env.Decision != nil {
				action = string(env.Decision.Action)
			} else {
				action = string(env.Override.NewAction)
			}
			got = append(got, fmt.Sprintf("%s/%s/%s", env.DecisionID(), env.Type, action))
		}
		return len(got) >= len(want)-1
	})
	if err != nil {
		t.Fatalf("sealed after the broker came back: %v (%v)", got, err)
	}
	time.Sleep(time.Second) // anything sealed twice would show by now
	got = got[:0]
	for _, env := range sealedEvents(t, p) {
		action := string(env.Type)
		if env.Decision != nil {
			action += "/" + string(env.Decision.Action)
		} else {
			action += "/" + string(env.Override.NewAction)
			if env.Override.ReviewerID != "aegis-failsafe" {
				t.Errorf("escalation recorded by %q", env.Override.ReviewerID)
			}
		}
		got = append(got, env.DecisionID()+"/"+action)
	}
	if err := inEscalationOrder(got, want, "lost/decision/ALLOW"); err != nil {
		t.Fatalf("sealed %v\nwant   %v, or an order the spool allows: %v", got, want, err)
	}
	if n := metric(t, reg, "aegis_producer_spool_records", ""); n != 0 {
		t.Errorf("spool holds %v records after the replay", n)
	}
	// And Govern goes through again.
	if out := prod.Govern(ctx, decision("after", shared.ActionAllow), pol); !out.Audited {
		t.Fatalf("after the outage: %+v", out)
	}
	if err := p.Sealer.Healthy(); err != nil {
		t.Fatalf("the sealer after the outage: %v", err)
	}
}

// A Sealed-mode receipt names the entry the replayer finds in S3 under its
// signed checkpoint; a receipt altered in any field does not verify.
func TestSealedReceiptIsWhatTheReplayerVerifies(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p := pipeline.ForTest(t, stack, pipeline.Config{Indexers: -1})
	prod, err := p.Producer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	// Some traffic around it, so that the entry is not alone in its object.
	if err := prod.Publish(ctx, prod.NewDecision(decision("x-1", shared.ActionAllow)), prod.NewDecision(decision("x-2", shared.ActionBlock))); err != nil {
		t.Fatal(err)
	}
	var receipts []*shared.Receipt
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := prod.LogDecision(ctx, decision(fmt.Sprintf("sealed-%d", i), shared.ActionChallenge), producer.WithDurability(producer.Sealed))
			if err != nil {
				t.Errorf("sealed call %d: %v", i, err)
				return
			}
			mu.Lock()
			receipts = append(receipts, r)
			mu.Unlock()
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	cfg := replayer.ProveConfig{S3: p.S3, Bucket: p.Cfg.Bucket, Chain: p.Cfg.Chain, VerifierKey: p.Cfg.VerifierKey}
	for _, r := range receipts {
		if r.Durability != shared.DurabilitySealed || r.Chain != p.Cfg.Chain {
			t.Fatalf("receipt %+v", r)
		}
		bundle, rep, err := replayer.VerifyReceipt(ctx, cfg, r)
		if err != nil {
			t.Fatalf("receipt %+v does not verify: %v", r, err)
		}
		if rep.Entries[0].Envelope.EventID != r.EventID || len(bundle) == 0 {
			t.Fatalf("proved %v", rep.Entries[0].Envelope)
		}
	}
	// An override's receipt holds too (it was refused: "no entry is the
	// decision itself", found by an outside trial): its entry is proved,
	// and there is no bundle of its own (a bundle holds the decision).
	ovr, err := prod.LogOverride(ctx, shared.Override{DecisionID: receipts[0].DecisionID, ReviewerID: "analyst-1", NewAction: shared.ActionBlock,
		Reason: "second look"}, producer.WithDurability(producer.Sealed))
	if err != nil {
		t.Fatal(err)
	}
	bundle, rep, err := replayer.VerifyReceipt(ctx, cfg, ovr)
	if err != nil || bundle != nil || rep.CurrentAction != shared.ActionBlock || rep.Entries[0].Envelope.EventID != ovr.EventID {
		t.Fatalf("the override's receipt: %v (bundle %d bytes, current action %s), want its entry proved and no bundle", err, len(bundle), rep.CurrentAction)
	}
	wrong := *ovr
	wrong.DecisionID = receipts[1].DecisionID
	if _, _, err := replayer.VerifyReceipt(ctx, cfg, &wrong); err == nil {
		t.Fatal("an override's receipt naming another decision verifies")
	}
	r := receipts[0]
	other := receipts[1]
	for name, alter := range map[string]func(*shared.Receipt){
		"entry hash":     func(x *shared.Receipt) { x.EntryHash = other.EntryHash },
		"seq":            func(x *shared.Receipt) { x.Seq = other.Seq },
		"line":           func(x *shared.Receipt) { x.Line++ },
		"event id":       func(x *shared.Receipt) { x.EventID = other.EventID },
		"decision id":    func(x *shared.Receipt) { x.DecisionID = other.DecisionID },
		"checkpoint seq": func(x *shared.Receipt) { x.CheckpointSeq++ },
		"object":         func(x *shared.Receipt) { x.Object += ".x" },
		"durability":     func(x *shared.Receipt) { x.Durability = shared.DurabilityDurable },
		"chain":          func(x *shared.Receipt) { x.Chain = "other" },
	} {
		bad := *r
		alter(&bad)
		_, _, err := replayer.VerifyReceipt(ctx, cfg, &bad)
		if err == nil {
			t.Errorf("a receipt with another %s verifies", name)
		} else if strings.Contains(err.Error(), "index") {
			// The receipt was wrong, not the index: a message sending
			// its holder to aegis index check misleads them.
			t.Errorf("a receipt with another %s: %v", name, err)
		}
	}
}

// Async: every event handed over is confirmed through its callback, in
// order on the topic, Flush waits for all, and the window bounds what is
// in flight (back-pressure) when the broker does not answer.
func TestAsyncPublishesInOrderWithBackPressure(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p := pipeline.ForTest(t, stack, pipeline.Config{Indexers: -1})
	prod, err := p.Producer(ctx, func(c *producer.Config) { c.MaxInFlight = 100 })
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	const n = 3000
	var mu sync.Mutex
	confirmed := map[string]bool{}
	var sent []string
	for i := range n {
		e := prod.NewDecision(decision(fmt.Sprintf("async-%d", i), shared.ActionAllow))
		sent = append(sent, e.EventID)
		err := prod.PublishAsync(ctx, e, func(r *shared.Receipt, err error) {
			mu.Lock()
			defer mu.Unlock()
			if err != nil || confirmed[r.EventID] {
				t.Errorf("callback for %s: %v (again: %v)", r.EventID, err, confirmed[r.EventID])
			}
			confirmed[r.EventID] = true
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := prod.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	if len(confirmed) != n {
		t.Fatalf("%d of %d confirmed after Flush", len(confirmed), n)
	}
	mu.Unlock()
	if err := p.WaitHead(ctx, n); err != nil {
		t.Fatal(err)
	}
	events := sealedEvents(t, p)
	if len(events) != n {
		t.Fatalf("%d events sealed, want %d", len(events), n)
	}
	for i, env := range events {
		if env.EventID != sent[i] {
			t.Fatalf("event %d sealed is %s, sent %s", i, env.EventID, sent[i])
		}
	}
	// Invalid events are refused at once, and never reach the callback.
	bad := prod.NewDecision(decision("bad", "PERHAPS"))
	if err := prod.PublishAsync(ctx, bad, func(*shared.Receipt, error) { t.Error("callback for a refused event") }); !errors.Is(err, shared.ErrInvalidEvent) {
		t.Fatalf("invalid async event: %v", err)
	}
}

// The window: with the broker holding every produce request, at most
// MaxInFlight events are handed over and the next call waits until its
// context ends.
func TestAsyncWindowPushesBack(t *testing.T) {
	stack.NeedsInProcessKafka(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p := pipeline.ForTest(t, stack, pipeline.Config{Indexers: -1})
	prod, err := p.Producer(ctx, func(c *producer.Config) { c.MaxInFlight = 10; c.Timeout = 2 * time.Second })
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	release := holdProduce(t)
	var failed sync.WaitGroup
	for i := range 10 {
		failed.Add(1)
		err := prod.PublishAsync(ctx, prod.NewDecision(decision(fmt.Sprintf("held-%d", i), shared.ActionAllow)), func(_ *shared.Receipt, err error) {
			failed.Done()
		})
		if err != nil {
			t.Fatalf("event %d within the window: %v", i, err)
		}
	}
	wctx, wcancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer wcancel()
	err = prod.PublishAsync(wctx, prod.NewDecision(decision("held-11", shared.ActionAllow)), func(*shared.Receipt, error) {})
	if !errors.Is(err, producer.ErrAuditUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("the 11th event with 10 in flight: %v, want to wait and fail with the context", err)
	}
	release()
	failed.Wait() // every callback runs, whatever the outcome
}

// inEscalationOrder checks that got (id/type/action of each event sealed,
// in seq order) holds want's events once each, optional perhaps not at
// all, and in an order the spool allows: the decisions in the order of the
// calls, each override after its decision. The client's held records and
// the spool's may interleave: the client delivers a record it held
// through the outage, or fails it once its delivery timeout (a second
// here) is found past when the broker is back, and then the spool
// publishes it, right before its escalation (seen in CI on a loaded
// machine: down-1's decision and override before down-2's decision).
func inEscalationOrder(got, want []string, optional string) error {
	at := map[string]int{}
	decisionAt := map[string]int{} // by decision id
	for i, g := range got {
		if _, twice := at[g]; twice {
			return fmt.Errorf("%s sealed twice", g)
		}
		at[g] = i
		if id, rest, _ := strings.Cut(g, "/"); strings.HasPrefix(rest, "decision/") {
			decisionAt[id] = i
		}
	}
	lastDecision := -1
	for _, w := range want {
		i, ok := at[w]
		if !ok {
			if w == optional {
				continue
			}
			return fmt.Errorf("%s not sealed", w)
		}
		delete(at, w)
		id, rest, _ := strings.Cut(w, "/")
		switch {
		case strings.HasPrefix(rest, "decision/"):
			if i < lastDecision {
				return fmt.Errorf("%s sealed before a decision called earlier", w)
			}
			lastDecision = i
		case i < decisionAt[id]:
			return fmt.Errorf("%s sealed before its decision", w)
		}
	}
	for g := range at {
		return fmt.Errorf("%s sealed, not wanted", g)
	}
	return nil
}

// The check of the escalations' order passes the orders the spool allows
// and fails the others.
func TestInEscalationOrder(t *testing.T) {
	want := []string{"b/decision/ALLOW", "l/decision/ALLOW", "d1/decision/ALLOW", "d2/decision/BLOCK", "d1/override/CHALLENGE"}
	for _, tc := range []struct {
		got []string
		ok  bool
	}{
		{[]string{"b/decision/ALLOW", "l/decision/ALLOW", "d1/decision/ALLOW", "d2/decision/BLOCK", "d1/override/CHALLENGE"}, true},
		{[]string{"b/decision/ALLOW", "l/decision/ALLOW", "d1/decision/ALLOW", "d1/override/CHALLENGE", "d2/decision/BLOCK"}, true},
		{[]string{"b/decision/ALLOW", "d1/decision/ALLOW", "d1/override/CHALLENGE", "d2/decision/BLOCK"}, true}, // "l" is optional
		{[]string{"b/decision/ALLOW", "l/decision/ALLOW", "d1/override/CHALLENGE", "d1/decision/ALLOW", "d2/decision/BLOCK"}, false},
		{[]string{"b/decision/ALLOW", "l/decision/ALLOW", "d2/decision/BLOCK", "d1/decision/ALLOW", "d1/override/CHALLENGE"}, false},
		{[]string{"b/decision/ALLOW", "l/decision/ALLOW", "d1/decision/ALLOW", "d2/decision/BLOCK"}, false},
		{[]string{"b/decision/ALLOW", "l/decision/ALLOW", "d1/decision/ALLOW", "d1/decision/ALLOW", "d2/decision/BLOCK", "d1/override/CHALLENGE"}, false},
		{[]string{"b/decision/ALLOW", "l/decision/ALLOW", "d1/decision/ALLOW", "d2/decision/BLOCK", "d1/override/CHALLENGE", "x/decision/ALLOW"}, false},
	} {
		if err := inEscalationOrder(tc.got, want, "l/decision/ALLOW"); (err == nil) != tc.ok {
			t.Errorf("%v: %v, want ok %v", tc.got, err, tc.ok)
		}
	}
}
