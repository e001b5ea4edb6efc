// Package e2e runs the whole pipeline against the real local servers.
package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/aegisai/audit/archive"
	"github.com/aegisai/audit/internal/testbed/localstack"
	"github.com/aegisai/audit/internal/testbed/pipeline"
	"github.com/aegisai/audit/query"
	"github.com/aegisai/audit/sealer"
	"github.com/aegisai/audit/shared"
)

var stack *localstack.Stack

func TestMain(m *testing.M) {
	code := localstack.RunTests(m, &stack)
	for _, built := range []string{kafkaBuild.path, attack34dBuild.path} {
		if built != "" {
			os.RemoveAll(filepath.Dir(built))
		}
	}
	os.Exit(code)
}

func startPipeline(t *testing.T, cfg pipeline.Config) *pipeline.Pipeline {
	t.Helper()
	return pipeline.ForTest(t, stack, cfg)
}

func publish(t *testing.T, p *pipeline.Pipeline, events []*shared.Envelope) {
	t.Helper()
	ctx := context.Background()
	prod, err := p.Producer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	for len(events) > 0 {
		n := min(len(events), 500)
		if err := prod.Publish(ctx, events[:n]...); err != nil {
			t.Fatal(err)
		}
		events = events[n:]
	}
}

// publishRaw writes records that bypass the producer's validation, as a
// misbehaving service might.
func publishRaw(t *testing.T, p *pipeline.Pipeline, values ...string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(stack.KafkaAddr), kgo.DefaultProduceTopic(p.Cfg.Topic))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for _, v := range values {
		if err := cl.ProduceSync(context.Background(), &kgo.Record{Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
}

// readChain returns every entry in S3 in chain order, and checks each
// object's lock on the way.
func readChain(t *testing.T, p *pipeline.Pipeline) []*shared.Entry {
	t.Helper()
	ctx := context.Background()
	st := &archive.Store{S3: p.S3, Bucket: p.Cfg.Bucket}
	refs, err := st.Batches(ctx, p.Cfg.Chain)
	if err != nil {
		t.Fatal(err)
	}
	var all []*shared.Entry
	for _, ref := range refs {
		obj, err := st.Get(ctx, ref.Key, "")
		if err != nil {
			t.Fatal(err)
		}
		head, err := st.Head(ctx, ref.Key, obj.VersionID)
		if err != nil {
			t.Fatal(err)
		}
		if head.LockMode != types.ObjectLockModeCompliance || !head.RetainUntil.After(time.Now().Add(23*time.Hour)) {
			t.Fatalf("%s: lock %q until %v, want COMPLIANCE for a day", ref.Key, head.LockMode, head.RetainUntil)
		}
		entries, _, err := shared.ParseObject(ref.Key, ref.FirstSeq, obj.Body)
		if err != nil {
			t.Fatalf("%s: %v", ref.Key, err)
		}
		all = append(all, entries...)
	}
	return all
}

func TestPipelineSealsIndexesAndVerifies(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	p := startPipeline(t, pipeline.Config{Sealer: func(c *sealer.Config) { c.BatchMaxRecords = 150 }})
	w := pipeline.NewWorkload(p.Cfg.Chain, p.Cfg.Chain, 1000, 120, 40, 1, time.Now())
	publish(t, p, w.Events[:600])
	publishRaw(t, p, "this is not json", `{"type":"decision","event_id":"x"}`)
	publish(t, p, w.Events[600:])
	total := int64(len(w.Events) + 2)

	if err := p.WaitSealed(ctx, total); err != nil {
		t.Fatalf("waiting for %d sealed: %v (stats %+v)", total, err, p.Sealer.Stats())
	}
	if err := p.WaitIndexed(ctx); err != nil {
		t.Fatalf("waiting for %d indexed: %v", total, err)
	}

	rep, err := p.Verify(ctx)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	if rep.Entries != uint64(total)+1 || rep.Events != uint64(len(w.Events)) || rep.Invalid != 2 {
		t.Fatalf("report %+v: want %d entries (%d events, 2 invalid, genesis)", rep, total+1, len(w.Events))
	}
	if rep.Objects < 3 {
		t.Fatalf("only %d objects: batching by count did not close batches", rep.Objects)
	}

	// Each event is in S3 exactly once, in publish order.
	entries := readChain(t, p)
	seen := map[string]int{}
	var order []string
	for _, e := range entries {
		switch e.Type {
		case shared.EntryEvent:
			env, err := e.Envelope()
			if err != nil {
				t.Fatal(err)
			}
			seen[env.EventID]++
			order = append(order, env.EventID)
		case shared.EntryInvalid:
			if e.Invalid.Reason == "" || e.Invalid.Raw == "" {
				t.Fatalf("invalid entry seq %d lacks reason or raw bytes: %+v", e.Seq, e.Invalid)
			}
		}
	}
	for i, ev := range w.Events {
		if seen[ev.EventID] != 1 {
			t.Fatalf("event %s sealed %d times, want once", ev.EventID, seen[ev.EventID])
		}
		if order[i] != ev.EventID {
			t.Fatalf("event %d is %s in the chain, published as %s", i, order[i], ev.EventID)
		}
	}

	// Every decision is found by id (with its current action), by user and by session.
	overridden := map[string]shared.Action{}
	for _, o := range w.Overrides {
		overridden[o.Override.DecisionID] = o.Override.NewAction
	}
	byUser := map[string]map[string]bool{}
	bySession := map[string]map[string]bool{}
	for _, d := range w.Decisions {
		got, err := p.Reader.Decision(ctx, d.Decision.DecisionID)
		if err != nil {
			t.Fatalf("decision %s: %v", d.Decision.DecisionID, err)
		}
		want := d.Decision.Action
		if a, ok := overridden[d.Decision.DecisionID]; ok {
			want = a
			if len(got.Overrides) != 1 {
				t.Fatalf("decision %s: %d overrides, want 1", d.Decision.DecisionID, len(got.Overrides))
			}
		}
		if got.CurrentAction != string(want) || got.Action != string(d.Decision.Action) || got.Proof.Object == "" || got.Proof.Hash == "" {
			t.Fatalf("decision %s: %+v, want action %s current %s with a proof pointer", d.Decision.DecisionID, got, d.Decision.Action, want)
		}
		add := func(m map[string]map[string]bool, k string) {
			if m[k] == nil {
				m[k] = map[string]bool{}
			}
			m[k][d.Decision.DecisionID] = true
		}
		add(byUser, d.Decision.UserID)
		add(bySession, d.Decision.SessionID)
	}
	check := func(view string, want map[string]map[string]bool, page func(string, string) ([]string, string, error)) {
		for k, ids := range want {
			got := map[string]bool{}
			cursor := ""
			for {
				page, next, err := page(k, cursor)
				if err != nil {
					t.Fatalf("%s %s: %v", view, k, err)
				}
				for _, id := range page {
					got[id] = true
				}
				if next == "" {
					break
				}
				cursor = next
			}
			if len(got) != len(ids) {
				t.Fatalf("%s %s: %d decisions, want %d", view, k, len(got), len(ids))
			}
			for id := range ids {
				if !got[id] {
					t.Fatalf("%s %s: decision %s missing", view, k, id)
				}
			}
		}
	}
	check("user", byUser, func(k, c string) ([]string, string, error) {
		pg, err := p.Reader.ByUser(ctx, k, query.Range{Limit: 7, Cursor: c})
		return pg.IDs(), pg.Next, err
	})
	check("session", bySession, func(k, c string) ([]string, string, error) {
		pg, err := p.Reader.BySession(ctx, k, query.Range{Limit: 7, Cursor: c})
		return pg.IDs(), pg.Next, err
	})
	hw, ok, err := p.Index.HighWater(ctx, p.Cfg.Chain)
	if err != nil || !ok || hw != rep.Head.Seq {
		t.Fatalf("index high-water %d (%v, %v), want the S3 head %d", hw, ok, err, rep.Head.Seq)
	}

	// What an operator sees agrees with what the auditor sees.
	for _, m := range []struct {
		name, label string
		want        float64
	}{
		{"aegis_sealer_head_seq", "", float64(rep.Head.Seq)},
		{"aegis_sealer_entries_total", "event", float64(rep.Events)},
		{"aegis_sealer_entries_total", "invalid", 2},
		{"aegis_sealer_batches_total", "written", float64(rep.Objects - 1)}, // all but genesis
		{"aegis_sealer_uncommitted_entries", "", 0},
	} {
		if got := metricValue(t, p, m.name, m.label); got != m.want {
			t.Errorf("metric %s{%s} = %v, want %v", m.name, m.label, got, m.want)
		}
	}
}

// metricValue reads a counter or gauge from the pipeline's registry; label
// selects the series whose non-chain label has that value.
func metricValue(t *testing.T, p *pipeline.Pipeline, name, label string) float64 {
	t.Helper()
	v, found, err := pipeline.MetricValue(p.Metrics, name, label)
	if err != nil {
		t.Fatal(err)
	}
	if !found {
		t.Fatalf("metric %s{%s} not found", name, label)
	}
	return v
}

func TestFlippedByteIsFoundAndNamed(t *testing.T) {
	if stack.S3DataDir == "" {
		t.Skip("flips a byte on the S3 server's disk: needs the native stack (the containers path has no data dir)")
	}
	p, refs := sealedChain(t)
	victim := refs[2].Key
	path := filepath.Join(stack.S3DataDir, p.Cfg.Bucket, filepath.FromSlash(victim))
	body, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Flip one byte inside the user id of the third line: still valid JSON,
	// so only the hash can catch it.
	lines := strings.SplitAfter(string(body), "\n")
	at := len(lines[0]) + len(lines[1]) + strings.Index(lines[2], `"user_id":"`) + len(`"user_id":"`)
	body[at] ^= 0x01
	if err := os.WriteFile(path, body, 0o644); err != nil {
		t.Fatal(err)
	}
	wantFailure(t, p, victim, 3, shared.ErrBadEntry)
}
