package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/aegisai/audit/internal/platform/topics"
	"github.com/aegisai/audit/shared"
)

func init() {
	roles["aegis rotate-key"] = roleSettings{
		Shared:   []string{"kafka", "chain", "topic"},
		Required: []string{"chain", "brokers", "new-verifier-key-file"},
	}
}

// rotateKeyCommand publishes a key-change request on the chain's decisions
// topic. The sealer seals it in order: as a KEY entry that hands the
// checkpoints over to the new key from the next seq on, if it holds that
// key staged (--next-signer-key-file); as an INVALID entry otherwise.
func (c *common) rotateKeyCommand() *cobra.Command {
	var newKF string
	cmd := &cobra.Command{
		Use:   "rotate-key",
		Short: "Ask the chain's sealer to hand its checkpoints over to a staged key (docs/SECURITY.md)",
		Long: `Publish a key-change request for --new-verifier-key-file on the chain's
decisions topic. A sealer that holds the key's private half staged
(--next-signer-key-file) seals it as a key entry at seq R: the retiring
key signs the checkpoint of R, the new key every later one. A sealer
without it seals the request as an invalid entry and goes on.
Then aegis verify with the old keyset names R and prints the new keyset.`,
		RunE: c.run(func(ctx context.Context, log *zap.Logger) error {
			text, err := readKey("--new-verifier-key-file", newKF)
			if err != nil {
				return err
			}
			next, err := shared.ParseVerifierKey(text)
			if err != nil {
				return fmt.Errorf("--new-verifier-key-file %s: %w", newKF, err)
			}
			kafka, err := c.kafkaConnect(ctx)
			if err != nil {
				return err
			}
			topic := c.decisionsTopic()
			cl, err := kgo.NewClient(append(kafka, kgo.RequiredAcks(kgo.AllISRAcks()))...)
			if err != nil {
				return fmt.Errorf("kafka client: %w", err)
			}
			defer cl.Close()
			rec := &kgo.Record{Topic: topic, Value: shared.KeyChangeRequest(c.chain, next)}
			if err := cl.ProduceSync(ctx, rec).FirstErr(); err != nil {
				return fmt.Errorf("publish the key-change request to %s: %w", topic, err)
			}
			log.Info("key-change request published", zap.String("topic", topic), zap.Int64("offset", rec.Offset), zap.String("new_key", next.ID()))
			fmt.Fprintf(c.stdout, "key-change request to %s published on %s at offset %d; the sealer hands over if it holds the key staged.\n"+
				"R, the seq of the hand-over (the KEY entry), is known once it is sealed: aegis verify with the old key names it and prints the keyset to save; the sealer logs it\n",
				next.ID(), topic, rec.Offset)
			return nil
		}),
	}
	cmd.Flags().StringVar(&newKF, "new-verifier-key-file", "", "the staged key's public (verifier) key file, from aegis keygen")
	return cmd
}

// decisionsTopic is --topic, or the chain's decisions topic by default.
func (c *common) decisionsTopic() string {
	if c.topic != "" {
		return c.topic
	}
	return topics.Decisions(c.chain)
}
