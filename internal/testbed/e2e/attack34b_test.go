package e2e

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

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
