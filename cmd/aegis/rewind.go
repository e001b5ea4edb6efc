package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/aegisai/audit/archive"
	"github.com/aegisai/audit/replayer"
)

func init() {
	roles["aegis rewind-sealer"] = roleSettings{
		Shared:   []string{"kafka", "chain", "topic", "s3", "bucket", "prefix", "verifier-key-file"},
		Required: []string{"chain", "brokers", "bucket", "verifier-key-file"},
	}
}

// errRewindRefused is a rewind the command will not make (sealers still
// in the group, records the topic no longer holds): exit 1, nothing
// changed.
var errRewindRefused = errors.New("not rewound")

// rewindSealerCommand is `aegis rewind-sealer`: after the bucket is
// restored from a backup older than the sealer group's committed offset,
// the sealer stops (sealer.ErrCommitPastHead) rather than skip the
// acknowledged records the restored chain lacks; this sets the group's
// offset to the record after S3's signed head, so they are sealed again.
// It did not exist: the README sent operators to kafka-consumer-groups.sh,
// which the local stack (kfake) and many managed Kafkas do not give them.
func (c *common) rewindSealerCommand() *cobra.Command {
	var group string
	var execute bool
	cmd := &cobra.Command{
		Use:   "rewind-sealer",
		Short: "After a restore from an older backup: set the sealer group's offset to the record after S3's signed head",
		Long: `After the bucket is restored from a backup older than what the sealer
sealed, the sealer stops with "the sealer's group committed records the
chain does not hold" rather than skip them. This reads S3's signed head
(the newest checkpoint that verifies with --verifier-key-file), and sets
the sealer group's committed offset of the decisions topic's partition 0
to the head's record + 1, so that the sealers, started again, seal those
records again from the restored head (same records, same order, same
seqs), then the rest.

Without --execute it only says what it would do. It changes nothing and
exits 1 while any member is in the group (stop every sealer of the chain
first), and when the topic no longer holds the records after the head
(retention deleted them: they cannot be sealed again), and when the bucket
lacks the object of the head's checkpoint (restore it first). When the group's
offset is not past the head's record + 1 there is nothing to rewind (exit 0).`,
		RunE: c.run(func(ctx context.Context, log *zap.Logger) error {
			vkey, s3c, err := c.archive(ctx)
			if err != nil {
				return err
			}
			kafka, err := c.kafkaConnect(ctx)
			if err != nil {
				return err
			}
			topic := c.decisionsTopic()
			if group == "" {
				group = "aegis-sealer-" + c.chain
			}
			head, err := replayer.SignedHead(ctx, s3c, c.bucket, c.prefix, c.chain, vkey)
			if err != nil {
				return fmt.Errorf("read S3's signed head of chain %s: %w", c.chain, err)
			}
			to := head.Offset + 1
			cl, err := kgo.NewClient(kafka...)
			if err != nil {
				return fmt.Errorf("kafka client: %w", err)
			}
			defer cl.Close()
			adm := kadm.NewClient(cl)
			at, err := committedOffset(ctx, adm, group, topic)
			if err != nil {
				return err
			}
			fmt.Fprintf(c.stdout, "chain %s: S3's signed head is seq %d, sealed from %s:0 offset %d; group %s has committed offset %s\n",
				c.chain, head.Seq, topic, head.Offset, group, offsetName(at))
			if at < 0 {
				fmt.Fprintln(c.stdout, "nothing to rewind: without a committed offset the sealers read the topic from its start and pass over what the chain holds; nothing was changed")
				return nil
			}
			if at <= to {
				fmt.Fprintf(c.stdout, "nothing to rewind: the sealers go on from offset %d, at or before the head's record + 1 (%d); nothing was changed\n", at, to)
				return nil
			}
			// The head's checkpoint vouches for its object, which must be
			// there: a restore from a copy that holds the newest
			// checkpoint and not (yet) its object (S3 Replication keeps
			// no order between keys; a copy that listed the objects
			// before the checkpoints) was rewound to the record after
			// it, the sealers sealed on past the hole, the records of
			// that object were never sealed again, and every verifier
			// refused the chain from there on, for good (outside trial
			// h7, TestH7RewindRefusesAHeadWhoseObjectIsMissing).
			store := &archive.Store{S3: s3c, Bucket: c.bucket, Prefix: c.prefix}
			ids, err := store.SealedVersions(ctx, head.Object)
			if err != nil {
				return fmt.Errorf("list the versions of %s, the object of S3's signed head (seq %d): %w", head.Object, head.Seq, err)
			}
			if len(ids) == 0 {
				return fmt.Errorf("%w: S3's signed head, the checkpoint of seq %d, signs object %s, which s3://%s does not hold: "+
					"the sealers would seal on after seq %d and the entries of that object would never be sealed again (a hole no verifier accepts); "+
					"restore that object from the backup first (aegis verify names every object missing), or restore the bucket without the checkpoints whose objects the backup lacks",
					errRewindRefused, head.Seq, head.Object, c.bucket, head.Seq)
			}
			groups, err := adm.DescribeGroups(ctx, group)
			if err != nil {
				return fmt.Errorf("describe group %s: %w", group, err)
			}
			if g, ok := groups[group]; ok && g.Err == nil && len(g.Members) > 0 {
				hosts := make([]string, 0, len(g.Members))
				for _, m := range g.Members {
					hosts = append(hosts, m.ClientID+"@"+m.ClientHost)
				}
				return fmt.Errorf("%w: group %s has %d member(s) (%v): stop every sealer of chain %s first, then run this again", errRewindRefused, group, len(g.Members), hosts, c.chain)
			}
			starts, err := adm.ListStartOffsets(ctx, topic)
			if err != nil {
				return fmt.Errorf("list the start offset of topic %s: %w", topic, err)
			}
			if s, ok := starts.Lookup(topic, 0); ok && s.Err == nil && s.Offset > to {
				return fmt.Errorf("%w: topic %s starts at offset %d now (its retention deleted the records before it), after the head's record + 1 (%d): records %d to %d cannot be sealed again; "+
					"the chain can only go on without them (docs/LIMITS.md)", errRewindRefused, topic, s.Offset, to, to, s.Offset-1)
			}
			fmt.Fprintf(c.stdout, "records %d to %d of %s:0 were consumed by the sealers, but the chain in S3 does not hold them (a bucket restored from an older backup?)\n", to, at-1, topic)
			if !execute {
				fmt.Fprintf(c.stdout, "dry run: nothing was changed; with --execute the group's offset is set to %d, and the sealers, started again, seal those records from seq %d\n", to, head.Seq+1)
				return nil
			}
			var set kadm.Offsets
			set.Add(kadm.Offset{Topic: topic, Partition: 0, At: to, LeaderEpoch: -1})
			resp, err := adm.CommitOffsets(ctx, group, set)
			if err == nil {
				err = resp.Error()
			}
			if errors.Is(err, kerr.UnknownMemberID) || errors.Is(err, kerr.IllegalGeneration) || errors.Is(err, kerr.RebalanceInProgress) {
				return fmt.Errorf("%w: a sealer joined group %s meanwhile (%w): stop every sealer of chain %s, then run this again", errRewindRefused, group, err, c.chain)
			}
			if err != nil {
				return fmt.Errorf("set group %s's offset of %s:0 to %d: %w", group, topic, to, err)
			}
			log.Info("sealer group rewound to the record after S3's signed head", zap.String("group", group), zap.String("topic", topic),
				zap.Int64("from", at), zap.Int64("to", to), zap.Uint64("head_seq", head.Seq))
			fmt.Fprintf(c.stdout, "group %s's offset of %s:0 set to %d (was %d): start the sealers; they seal those records again from seq %d, then run aegis index check (README, \"When things fail\")\n",
				group, topic, to, at, head.Seq+1)
			return nil
		}),
	}
	cmd.Flags().StringVar(&group, "group", "", "consumer group of the chain's sealers (default aegis-sealer-<chain>)")
	cmd.Flags().BoolVar(&execute, "execute", false, "set the offset (without it: say what would be done, change nothing)")
	return cmd
}

// committedOffset is group's committed offset of topic's partition 0, -1
// when it has none.
func committedOffset(ctx context.Context, adm *kadm.Client, group, topic string) (int64, error) {
	offsets, err := adm.FetchOffsets(ctx, group)
	if errors.Is(err, kerr.GroupIDNotFound) {
		return -1, nil
	}
	if err != nil {
		return 0, fmt.Errorf("fetch the committed offsets of group %s: %w", group, err)
	}
	if o, ok := offsets.Lookup(topic, 0); ok && o.Err == nil && o.At >= 0 {
		return o.At, nil
	}
	return -1, nil
}

// offsetName is a committed offset as said to the operator.
func offsetName(at int64) string {
	if at < 0 {
		return "none"
	}
	return fmt.Sprint(at)
}
