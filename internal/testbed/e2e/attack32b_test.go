package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/aegisai/audit/internal/testbed/pipeline"
	"github.com/aegisai/audit/sealer"
)

// TestAttack32bStandbyLagIsNotAStaleHeadsBacklog: a standby sealer (the
// group assigns the partition to the other member) fetches nothing, so
// watchTopicEnd lists the topic's end for it every 5 s; its head is the
// one it recovered at its start, and the active one seals on. Its
// aegis_sealer_lag_records must not count the records the active sealer
// sealed since: AegisSealerBacklog is max by (chain) over both pods.
func TestAttack32bStandbyLagIsNotAStaleHeadsBacklog(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cfg := pipeline.Config{Indexers: -1, Sealer: func(c *sealer.Config) { c.TransactionalID = "active-" + c.Chain; c.BatchMaxRecords = 30 }}
	active := startPipeline(t, cfg)
	scfg := active.Cfg
	scfg.Sealer = func(c *sealer.Config) { c.TransactionalID = "standby-" + c.Chain; c.BatchMaxRecords = 30 }
	standby := startPipeline(t, scfg)
	// The group settles before any record: the standby fetches nothing.
	time.Sleep(4 * time.Second)

	w := pipeline.NewWorkload(active.Cfg.Chain, active.Cfg.Chain, 200, 10, 10, 9, time.Now())
	publish(t, active, w.Events)
	both := func() uint64 { return max(active.Sealer.Head().Seq, standby.Sealer.Head().Seq) }
	if err := active.WaitFor(ctx, func() bool { return both() >= uint64(len(w.Events)) }); err != nil {
		t.Fatal(err)
	}
	owner, other := active, standby
	if standby.Sealer.Stats().Sealed > 0 {
		owner, other = standby, active
	}
	// A few of watchTopicEnd's probes.
	time.Sleep(12 * time.Second)
	if lag := metricValue(t, owner, "aegis_sealer_lag_records", ""); lag != 0 {
		t.Errorf("the active sealer's lag %v on a caught-up chain", lag)
	}
	if lag := metricValue(t, other, "aegis_sealer_lag_records", ""); lag != 0 {
		t.Errorf("the standby's aegis_sealer_lag_records is %v on a caught-up chain (head seq %d: the one it read at its start): "+
			"AegisSealerBacklog (max by chain) counts records the active sealer sealed", lag, other.Sealer.Head().Seq)
		t.Logf("owner stats %+v, other stats %+v", owner.Sealer.Stats(), other.Sealer.Stats())
	}
}
