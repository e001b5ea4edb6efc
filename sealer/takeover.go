package sealer

import (
	"context"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/aegisai/audit/internal/platform/topics"
)

// Taking over after a crash. A sealer killed with SIGKILL leaves its group
// member behind until the session timeout; its open transaction stays open
// too. A restarted sealer must not wait for either:
//
//   - Every sealer of a chain uses the same transactional id. The one that
//     is assigned the partition initialises its transactional producer at
//     once (onAssigned), before the group fetches its offset: that fences
//     the dead one and aborts its open transaction, whose pending offset
//     commit would otherwise hold the offset fetch until the transaction
//     times out. A standby does not initialise it before it is assigned
//     the partition, or it would fence the active sealer by starting.
//   - A sealer that starts removes the group member its own identity left
//     (same Kafka client id: the previous run on this host), so the group
//     rebalances and assigns it the partition at once.
//   - A standby (another identity) takes over when the dead member's
//     session expires (Config.SessionTimeout), or at once when the active
//     sealer stops with SIGTERM, since it then leaves the group.
//
// Whoever is assigned the partition recovers the head from S3 first, so
// nothing is sealed twice and nothing is skipped.

// onAssigned runs when the group assigns partitions, before it fetches
// their offsets: it initialises the transactional producer (fencing a dead
// predecessor) and has the run loop recover from S3.
func (s *Sealer) onAssigned(ctx context.Context, cl *kgo.Client, assigned map[string][]int32) {
	if len(assigned) == 0 {
		return
	}
	if len(assigned[s.cfg.Topic]) > 0 && s.lost.Load() {
		s.renew.Store(true) // the run loop starts a new session
		return
	}
	if _, _, err := cl.ProducerID(ctx); err != nil {
		s.initErr.Store(&err)
	}
	s.reassigned.Store(true)
	if len(assigned[s.cfg.Topic]) > 0 {
		s.owns.Store(true)
	}
}

// onRevoked runs when the group takes the partition away (revoked, or lost
// with the session): this sealer is a standby from then on. Its head stays
// where it last sealed or recovered while the one assigned seals on, so
// its lag is 0 until it is assigned again (watchTopicEnd): it kept the
// last fetch's count against its own head, which the active sealer's
// batches never moved, and AegisSealerBacklog is max by chain over both.
func (s *Sealer) onRevoked(_ context.Context, _ *kgo.Client, revoked map[string][]int32) {
	if len(revoked[s.cfg.Topic]) == 0 {
		return
	}
	s.owns.Store(false)
	s.lost.Store(true)
	s.mu.Lock()
	s.topicEnd = -1
	s.m.lag.Set(0)
	s.mu.Unlock()
}

// clientID is the sealer's Kafka client id: its chain and identity.
func (s *Sealer) clientID() string { return "aegis-sealer/" + s.cfg.Chain + "/" + s.cfg.Identity }

// evictPredecessor removes the members of the sealer group that carry this
// sealer's client id: a previous run that died without leaving. Failing to
// is not fatal: the member then expires with its session.
func (s *Sealer) evictPredecessor(ctx context.Context, admin *kgo.Client) {
	n, err := topics.EvictClient(ctx, admin, s.cfg.Group, s.clientID())
	if err != nil {
		s.log.Warn("could not remove the group member of this sealer's previous run; it expires with its session", zap.Error(err))
	}
	if n == 0 {
		return
	}
	s.log.Info("removed the group member a previous run of this sealer left behind (killed?), so the partition is reassigned at once; "+
		"if a sealer with the same identity is still running, it is fenced now: give each running sealer its own --identity",
		zap.String("client_id", s.clientID()), zap.Int("members", n))
}
