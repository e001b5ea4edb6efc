package e2e

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/aegisai/audit/internal/testbed/pipeline"
	"github.com/aegisai/audit/sealer"
)

// Attack 34b (h3): the broker refuses the sealer's transactional id
// (TRANSACTIONAL_ID_AUTHORIZATION_FAILED: an ACL missing or revoked,
// docs/SECURITY.md section 3 gives the sealer Write on it). permanent()
// lists the error as one Run stops on, and README "When things fail" says
// the sealer exits on refused credentials; but fenced() counted it as a
// fence, whose error wraps it with %v, and since 0d378bc a fenced sealer
// starts a new session as a standby: the sealer loops for ever (backoff
// to 30 s), sealing nothing, its process alive.
func TestAttack34bTransactionalIDRefusedStopsTheSealer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.DefaultNumPartitions(1), kfake.GroupMinSessionTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var refused atomic.Int64
	c.ControlKey(int16(kmsg.InitProducerID), func(kr kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		req := kr.(*kmsg.InitProducerIDRequest)
		if req.TransactionalID == nil {
			return nil, nil, false
		}
		refused.Add(1)
		resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
		resp.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
		resp.ProducerID, resp.ProducerEpoch = -1, -1
		return resp, nil, true
	})
	st := *stack
	st.Brokers, st.KafkaAddr, st.Kafka = c.ListenAddrs(), c.ListenAddrs()[0], nil
	lg, obs := newTxnLog(t)
	cfg := pipeline.Config{Indexers: -1, Logger: lg, Sealer: func(c *sealer.Config) {
		c.BatchMaxRecords, c.BatchMaxAge, c.SessionTimeout = 10, 50*time.Millisecond, 3*time.Second
	}}
	p, err := pipeline.Start(ctx, &st, cfg)
	if err != nil {
		t.Fatal(err)
	}
	w := pipeline.NewWorkload(p.Cfg.Chain, p.Cfg.Chain, 10, 0, 10, 39, time.Now())
	publish(t, p, w.Events)
	t.Cleanup(func() { _ = p.Stop() })
	var healthyAt []bool
	for range 20 {
		time.Sleep(time.Second)
		healthyAt = append(healthyAt, p.Sealer.Healthy() == nil)
		if err := p.Err(); err != nil {
			if !errors.Is(err, kerr.TransactionalIDAuthorizationFailed) {
				t.Errorf("the sealer stopped with %v, want TRANSACTIONAL_ID_AUTHORIZATION_FAILED named", err)
			}
			return
		}
	}
	restarts, _, _ := pipeline.MetricValue(p.Metrics, "aegis_sealer_session_restarts_total", "")
	t.Fatalf("after 20 s of a refused transactional id the sealer still runs (README, When things fail: it exits on refused credentials): "+
		"%d InitProducerID refused, %v session restarts, head %d, /readyz healthy each second: %v\nwarnings:\n%s",
		refused.Load(), restarts, p.Sealer.Head().Seq, healthyAt, obs.summary())
}

// Two chains whose sealers are configured with one transactional id:
// each sealer's start fences the other. A fenced sealer starts a new
// session as a standby (0d378bc), which fences the other in turn: both
// chains must still be sealed whole, each event once, and the fences be
// counted (aegis_sealer_fenced_total) and said in an error line naming the
// transactional id, for an operator to find the misconfiguration.
//
// It runs in make test-broker-faults, not make test: in the final
// fresh-clone CI of 2026-12-01 one chain stalled at head 245 of 400 for
// the rest of the 3 minutes, its sealer running without an error, where
// it passes in about 5 s alone (24 of 24 runs, 15 of them beside three
// busy loops). An open defect: the failure now prints both sealers'
// state, counters and error lines to find it with.
func TestTwoChainsSharingATransactionalIDAreSealedAndTheFencesSaid(t *testing.T) {
	longBrokerFaults(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	shared := fmt.Sprintf("aegis-sealer-shared-%d", time.Now().UnixNano())
	type chain struct {
		p   *pipeline.Pipeline
		obs *observer.ObservedLogs
		w   *pipeline.Workload
	}
	start := func(name string, seed int) chain {
		core, obs := observer.New(zap.ErrorLevel)
		p, err := pipeline.Start(ctx, stack, pipeline.Config{Indexers: -1, Logger: zap.New(core).Named(name), Sealer: func(c *sealer.Config) {
			c.TransactionalID = shared
			c.BatchMaxRecords, c.BatchMaxAge, c.SessionTimeout = 5, 50*time.Millisecond, 3*time.Second
		}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = p.Stop() })
		return chain{p, obs, pipeline.NewWorkload(p.Cfg.Chain, p.Cfg.Chain, 400, 0, 5, seed, time.Now())}
	}
	chains := []chain{start("a", 40), start("b", 41)}
	var wg sync.WaitGroup
	for _, c := range chains {
		wg.Go(func() {
			prod, err := c.p.Producer(ctx)
			if err != nil {
				t.Error(err)
				return
			}
			defer prod.Close()
			for i := 0; i < len(c.w.Events); i += 5 {
				if err := prod.Publish(ctx, c.w.Events[i:i+5]...); err != nil {
					t.Error(err)
					return
				}
				time.Sleep(50 * time.Millisecond)
			}
		})
	}
	wg.Wait()
	fences := 0.0
	for _, c := range chains {
		if err := c.p.WaitHead(ctx, uint64(len(c.w.Events))); err != nil {
			var state []string
			for _, o := range chains {
				fenced, _, _ := pipeline.MetricValue(o.p.Metrics, "aegis_sealer_fenced_total", "")
				restarts, _, _ := pipeline.MetricValue(o.p.Metrics, "aegis_sealer_session_restarts_total", "")
				state = append(state, fmt.Sprintf("chain %s: head %d, healthy %v, fenced %v, session restarts %v, error lines:",
					o.p.Cfg.Chain, o.p.Sealer.Head().Seq, o.p.Sealer.Healthy(), fenced, restarts))
				for _, e := range o.obs.All() {
					state = append(state, fmt.Sprintf("  %s %s %v", e.Time.Format("15:04:05.000"), e.Message, e.ContextMap()))
				}
			}
			t.Fatalf("chain %s: head %d of %d: %v (sealer error: %v)\n%s", c.p.Cfg.Chain, c.p.Sealer.Head().Seq, len(c.w.Events), err, c.p.Err(),
				strings.Join(state, "\n"))
		}
		seen := map[string]int{}
		for _, e := range readChain(t, c.p) {
			if id := e.EventID(); id != "" {
				seen[id]++
			}
		}
		for _, ev := range c.w.Events {
			if seen[ev.EventID] != 1 {
				t.Errorf("chain %s: event %s sealed %d times", c.p.Cfg.Chain, ev.EventID, seen[ev.EventID])
			}
		}
		if _, err := c.p.Verify(ctx); err != nil {
			t.Fatalf("chain %s: %v", c.p.Cfg.Chain, err)
		}
		n, _, _ := pipeline.MetricValue(c.p.Metrics, "aegis_sealer_fenced_total", "")
		fences += n
		if n >= 3 && c.obs.FilterMessageSnippet("fenced again and again").FilterField(zap.String("transactional_id", shared)).Len() == 0 {
			t.Errorf("chain %s: fenced %v times, and no error line names transactional id %s", c.p.Cfg.Chain, n, shared)
		}
	}
	if fences == 0 {
		t.Fatalf("two sealers sharing transactional id %s: no fence counted", shared)
	}
	t.Logf("fences counted: %v", fences)
}
