package sealer

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/aegisai/audit/internal/testbed/s3mem"
	"github.com/aegisai/audit/shared"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// h30rSealed seals records 0..9 of topic "decisions" in two objects
// (offsets 0-4 and 5-9) and returns the sealer, its store, the records
// and the key of the newest object.
func h30rSealed(t *testing.T) (*Sealer, *s3mem.S3, []*kgo.Record, string) {
	t.Helper()
	ctx := context.Background()
	s, store, clock := unitSealer(t)
	recs := records(0, 10, clock.t)
	var newest string
	for _, job := range [][]*kgo.Record{recs[:5], recs[5:]} {
		st := s.startStage(ctx)
		st.jobs <- sealJob{records: job, upTo: job[len(job)-1].Offset}
		r := <-st.results
		if r.err != nil {
			t.Fatal(r.err)
		}
		st.stop()
		newest = r.refs[len(r.refs)-1].rec.Object
	}
	if h := s.Head(); h.Seq != 10 || h.Offset != 9 {
		t.Fatalf("head %+v", h)
	}
	return s, store, recs, newest
}

// h30rKafka is a kfake cluster whose topic holds recs at their offsets
// (same values and Kafka times); commit >= 0 is committed for the
// sealer's group.
func h30rKafka(t *testing.T, topic, group string, recs []*kgo.Record, commit int64) *kgo.Client {
	t.Helper()
	c, cl := h30rCluster(t, topic, group, recs, commit)
	h30rBrokers = c.ListenAddrs()
	return cl
}

// h30rBrokers are the last cluster's: the sealer's own clients (the
// head record's fetch) dial them.
var h30rBrokers []string

func h30rCluster(t *testing.T, topic, group string, recs []*kgo.Record, commit int64) (*kfake.Cluster, *kgo.Client) {
	t.Helper()
	ctx := context.Background()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, topic))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.DefaultProduceTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	for _, r := range recs {
		out, err := cl.ProduceSync(ctx, &kgo.Record{Value: r.Value, Timestamp: r.Timestamp}).First()
		if err != nil || out.Offset != r.Offset {
			t.Fatalf("produce offset %d: at %v, %v", r.Offset, out, err)
		}
	}
	if commit >= 0 {
		resp, err := kadm.NewClient(cl).CommitOffsets(ctx, group, kadm.Offsets{topic: {0: {Topic: topic, Partition: 0, At: commit, LeaderEpoch: -1}}})
		if err != nil || resp.Error() != nil {
			t.Fatalf("commit %d: %v %v", commit, err, resp.Error())
		}
	}
	return c, cl
}

// A sealer given another --topic than its chain's must stop with
// ErrTopicChanged (FORMAT.md section 6) also when the object the newest
// checkpoint signs cannot be read (a copy of the bucket without it: the
// restore that renames the topic is the very case the check is for).
// headEntry answers ok=false there, and the check is skipped: with the
// group's commit past the head, the start succeeds and the sealer seals
// the records of the other topic onto the chain.
func TestAnotherTopicIsRefusedWhenTheHeadObjectIsUnreadable(t *testing.T) {
	s, store, recs, newest := h30rSealed(t)
	store.Remove("audit", newest) // the copy lacks the newest object
	cfg := s.cfg
	cfg.Topic = "decisions-restored"
	s2, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	more := append(recs, records(10, 2, recs[9].Timestamp.Add(time.Second))...)
	cl := h30rKafka(t, cfg.Topic, s2.cfg.Group, more, 10)
	s2.cfg.Brokers = h30rBrokers
	err = s2.recover(context.Background(), cl)
	if err == nil {
		// What the sealer does next: it seals the other topic's record
		// onto the chain.
		next := more[10:11]
		next[0].Topic = cfg.Topic
		prepared, perr := s2.prepare(next)
		if perr == nil {
			if refs, _, werr := s2.write(context.Background(), next, prepared); werr == nil && len(refs) == 1 {
				e, _ := shared.ParseLine(refs[0].rec.Entry)
				t.Logf("sealed seq %d from topic %s offset %d onto a chain sealed from decisions", e.Seq, e.Source.Topic, e.Source.Offset)
			}
		}
	}
	if !errors.Is(err, ErrTopicChanged) {
		t.Fatalf("start over topic %s of a chain sealed from decisions: %v (head %+v, resetAt %d); want ErrTopicChanged",
			cfg.Topic, err, s2.Head(), s2.resetAt)
	}
}

// Control for the test above: with the head object readable, the check
// fires.
func TestAnotherTopicIsRefusedWhenTheHeadObjectIsReadable(t *testing.T) {
	s, _, recs, _ := h30rSealed(t)
	cfg := s.cfg
	cfg.Topic = "decisions-restored"
	s2, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	cl := h30rKafka(t, cfg.Topic, s2.cfg.Group, recs, 10)
	s2.cfg.Brokers = h30rBrokers
	if err := s2.recover(context.Background(), cl); !errors.Is(err, ErrTopicChanged) {
		t.Fatalf("control: %v", err)
	}
}

// A group without a committed offset is to seal on (7c4c312), and the
// head object unreadable is to be sealed on from the checkpoint
// (headEntry, followHandOver: "sealing goes on from it"). With a commit
// past the head it does; without one, loadUncommitted's walk reads the
// same object and fails the start, every session, for good.
func TestNoCommitAndAnUnreadableHeadObjectSealsOn(t *testing.T) {
	for _, tc := range []struct {
		name   string
		commit int64
	}{{"commit past the head", 10}, {"no commit", -1}} {
		t.Run(tc.name, func(t *testing.T) {
			s, store, recs, newest := h30rSealed(t)
			store.Remove("audit", newest)
			s2, err := startedOver(t, s.cfg, recs, tc.commit)
			if err != nil {
				t.Fatalf("start: %v (head %+v)", err, s2.Head())
			}
			// Where the group starts (without a commit): past the
			// records whose entries cannot be published again, never
			// at one of them (ErrInconsistent at the first poll).
			if tc.commit < 0 {
				s2.mu.Lock()
				_, ok := s2.pending[0]
				s2.mu.Unlock()
				if s2.resetAt < 0 && !ok {
					t.Fatalf("the group starts at the topic's start (offset 0), whose entry is not among the uncommitted: ErrInconsistent at the first poll")
				}
			}
		})
	}
}

// The topic's start moving during the start: retention (or a
// DeleteRecords) takes the head's record between checkHeadRecord's
// ListStartOffsets and its fetch. The fetch client's reset takes it to
// the log start, the record after the head's, and the start fails with
// ErrTopicLost (an ErrInconsistent: Run returns, the sealer stops for
// good) where the topic only dropped records the chain sealed. The
// ListOffsets answer is held at the start before the deletion, as a
// broker answers in that window.
func TestTheTopicsStartMovingDuringTheStartIsNoTopicLost(t *testing.T) {
	s, _, recs, _ := h30rSealed(t)
	s2, err := New(context.Background(), s.cfg)
	if err != nil {
		t.Fatal(err)
	}
	more := append(recs, records(10, 2, recs[9].Timestamp.Add(time.Second))...)
	c, cl := h30rCluster(t, "decisions", s2.cfg.Group, more, 10)
	s2.cfg.Brokers = c.ListenAddrs()
	// Retention took the records below 10 (the head's, 9, among them).
	del, err := kadm.NewClient(cl).DeleteRecords(context.Background(), kadm.Offsets{"decisions": {0: {Topic: "decisions", Partition: 0, At: 10}}})
	if err != nil || del.Error() != nil {
		t.Fatalf("delete records: %v %v", err, del.Error())
	}
	// ... just after the first start listing answered 0.
	c.ControlKey(int16(kmsg.ListOffsets), func(kr kmsg.Request) (kmsg.Response, error, bool) {
		req := kr.(*kmsg.ListOffsetsRequest)
		if len(req.Topics) != 1 || len(req.Topics[0].Partitions) != 1 || req.Topics[0].Partitions[0].Timestamp != -2 {
			return nil, nil, false
		}
		resp := req.ResponseKind().(*kmsg.ListOffsetsResponse)
		rt := kmsg.NewListOffsetsResponseTopic()
		rt.Topic = req.Topics[0].Topic
		rp := kmsg.NewListOffsetsResponseTopicPartition()
		rp.Partition, rp.Offset, rp.Timestamp, rp.LeaderEpoch = 0, 0, -1, req.Topics[0].Partitions[0].CurrentLeaderEpoch
		rt.Partitions = append(rt.Partitions, rp)
		resp.Topics = append(resp.Topics, rt)
		return resp, nil, true
	})
	if err := s2.recover(context.Background(), cl); err != nil {
		t.Fatalf("start while the topic's start moved past the head: %v (inconsistent: %v)", err, errors.Is(err, ErrInconsistent))
	}
}

// A group WITH a commit whose walk back stops before it (checkpoints the
// sealer does not take: here the genesis's and the first batch's do not
// verify, as a retired key's range on a copy of the bucket). 7c4c312
// starts a group without a commit after them (resetAt); a group whose
// commit lies among them resumes there, at a record whose entry is not
// among the uncommitted: ErrInconsistent at the first poll, every session.
func TestACommitAmongCheckpointsNotTakenSealsOn(t *testing.T) {
	for _, tc := range []struct {
		name   string
		commit int64
	}{{"no commit", -1}, {"commit at 3", 3}} {
		t.Run(tc.name, func(t *testing.T) {
			s, store, recs, _ := h30rSealed(t)
			for _, seq := range []uint64{0, 5} {
				key := shared.CheckpointKey("audit", "unit", seq)
				if _, ok := store.Objects("audit")[key]; !ok {
					t.Fatalf("no checkpoint at %s", key)
				}
				store.Remove("audit", key)
				store.PutVersion("audit", key, []byte("not a checkpoint\n"))
			}
			s2, err := startedOver(t, s.cfg, recs, tc.commit)
			if err != nil {
				t.Fatalf("start: %v", err)
			}
			if from, err := firstPoll(t, s2, recs, tc.commit); err != nil {
				t.Fatalf("the group resumes at offset %d (commit %d, resetAt %d; %d entries uncommitted): %v (inconsistent: %v)",
					from, tc.commit, s2.resetAt, s2.Uncommitted(), err, errors.Is(err, ErrInconsistent))
			}
		})
	}
}

// A chain whose first record is past the topic's start (its group had a
// commit there when the chain began: a new bucket for the chain over the
// same topic and group) and whose group later has no commit (Kafka
// dropped it after the sealer was down past offsets.retention.minutes,
// the case 7c4c312 is for): the walk reaches the genesis, so resetAt
// stays -1 and the group starts at the topic's start, below the chain's
// first record, which no entry was sealed from: ErrInconsistent at the
// first poll, every session.
func TestNoCommitAndAChainThatBeganPastTheTopicsStartSealsOn(t *testing.T) {
	ctx := context.Background()
	s, _, clock := unitSealer(t)
	recs := records(0, 10, clock.t)
	for _, job := range [][]*kgo.Record{recs[3:6], recs[6:]} {
		st := s.startStage(ctx)
		st.jobs <- sealJob{records: job, upTo: job[len(job)-1].Offset}
		if r := <-st.results; r.err != nil {
			t.Fatal(r.err)
		}
		st.stop()
	}
	s2, err := New(ctx, s.cfg)
	if err != nil {
		t.Fatal(err)
	}
	cl := h30rKafka(t, "decisions", s2.cfg.Group, recs, -1)
	s2.cfg.Brokers = h30rBrokers
	if err := s2.recover(ctx, cl); err != nil {
		t.Fatalf("start: %v", err)
	}
	if from, err := firstPoll(t, s2, recs, -1); err != nil {
		t.Fatalf("the group starts at offset %d (resetAt %d; %d entries uncommitted, the chain's first from offset 3): %v (inconsistent: %v)",
			from, s2.resetAt, s2.Uncommitted(), err, errors.Is(err, ErrInconsistent))
	}
}

// firstPoll writes, as the sealer's first poll would, the records from
// where its group resumes: its commit, else resetAt, else the topic's
// start (offset 0 here). It returns that offset and write's error.
func firstPoll(t *testing.T, s *Sealer, recs []*kgo.Record, commit int64) (int64, error) {
	t.Helper()
	from := commit
	if from < 0 {
		from = max(s.resetAt, 0)
	}
	polled := recs[from:]
	prepared, err := s.prepare(polled)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = s.write(context.Background(), polled, prepared)
	return from, err
}

// startedOver is a new sealer of cfg's chain whose start (recover) ran
// over a cluster whose topic "decisions" holds recs (commit >= 0
// committed for its group); it returns the start's error.
func startedOver(t *testing.T, cfg Config, recs []*kgo.Record, commit int64) (*Sealer, error) {
	t.Helper()
	s, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	cl := h30rKafka(t, "decisions", s.cfg.Group, recs, commit)
	s.cfg.Brokers = h30rBrokers
	return s, s.recover(context.Background(), cl)
}
