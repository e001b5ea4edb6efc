package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/aegisai/audit/internal/platform/awsconn"
	"github.com/aegisai/audit/internal/platform/shown"
	"github.com/aegisai/audit/query"
	"github.com/aegisai/audit/replayer"
	"github.com/aegisai/audit/shared"
)

// proveCommands are `aegis prove` and `aegis verify-proof`.
func (c *common) proveCommands() []*cobra.Command {
	var out string
	prove := &cobra.Command{
		Use:   "prove DECISION-ID",
		Short: "Write the evidence bundle of one decision: its entries, Merkle paths and signed checkpoints (docs/FORMAT.md section 11)",
		Long: `Write the evidence bundle of one decision: the decision and every
override the index holds. The index (DynamoDB) says where
its entries are; everything in the bundle is read from S3 and checked
(Object Lock, lines, checkpoint signature and root) before it is written.
The bundle verifies offline with aegis verify-proof and the verifier key.`,
		Args: oneArg,
		RunE: c.runArgs(func(ctx context.Context, _ *zap.Logger, args []string) error {
			vkey, s3c, err := c.archive(ctx)
			if err != nil {
				return err
			}
			db, err := awsconn.DynamoDB(ctx, c.dynamo)
			if err != nil {
				return err
			}
			h, err := (&query.Reader{DB: db, Table: c.table, Chain: c.chain}).WholeHistory(ctx, args[0])
			if err != nil {
				return c.notFound(err)
			}
			ev := &query.Evidence{Config: replayer.ProveConfig{S3: s3c, Bucket: c.bucket, Prefix: c.prefix, Chain: c.chain, VerifierKey: vkey, Warn: c.warn}}
			bundle, rep, err := ev.Prove(ctx, h)
			if err != nil {
				return err
			}
			if out == "" || out == "-" {
				_, err = c.rawStdout.Write(bundle) // its signed bytes, as they are
				return err
			}
			if err := writeFileAtomic(out, bundle); err != nil {
				return err
			}
			fmt.Fprintf(c.stdout, "wrote %s: %d entries of decision %s (%d bytes): the decision and every override the index holds\n", out, len(rep.Entries), args[0], len(bundle))
			return nil
		}),
	}
	prove.Flags().StringVar(&out, "out", "", "write the bundle to this file (default: standard output)")

	verify := &cobra.Command{
		Use:   "verify-proof BUNDLE",
		Short: "Verify an evidence bundle offline with the chain's verifier key",
		Args:  oneArg,
		RunE: func(cmd *cobra.Command, args []string) error {
			vkey, err := readKey("--verifier-key-file", c.verifierKF)
			if err != nil {
				return err
			}
			trusted, err := shared.ParseKeyset(vkey)
			if err != nil {
				return fmt.Errorf("--verifier-key-file %s: %w", c.verifierKF, err)
			}
			raw, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			if err := notABundle(raw); err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			rep, err := shared.VerifyBundle(raw, trusted)
			if err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			// One key may sign several chains (FORMAT.md section 11): the
			// chain is part of what the bundle proves.
			if c.chain != "" && rep.Chain != c.chain {
				return fmt.Errorf("%s: the bundle verifies, but it proves decision %s of chain %s, not of --chain %s%s", args[0],
					shown.String(rep.DecisionID), rep.Chain, shown.String(c.chain), variableNote("chain", c.chain))
			}
			fmt.Fprintf(c.stdout, "OK decision %s of chain %s: %s, now %s; %d entries, signed by %s\n",
				rep.DecisionID, rep.Chain, rep.Action, rep.CurrentAction, len(rep.Entries), rep.Entries[len(rep.Entries)-1].KeyID)
			for _, pe := range rep.Entries {
				var what string
				switch env := pe.Envelope; {
				case env.Decision != nil:
					what = fmt.Sprintf("decision %s by policy %s", env.Decision.Action, env.Decision.PolicyVersion)
				case env.Override != nil:
					what = fmt.Sprintf("override to %s by %s", env.Override.NewAction, env.Override.ReviewerID)
				}
				if pe.Envelope.RecordedBy != "" { // before the text a caller wrote, which could imitate it
					what = fmt.Sprintf("(recorded by %s) %s", pe.Envelope.RecordedBy, what)
				}
				retired := ""
				if pe.Retired {
					retired = " by the retired key " + pe.KeyID
				}
				fmt.Fprintf(c.stdout, "  seq %d %s, %s in %s, checkpoint seq %d signed %s%s\n", pe.Entry.Seq, what,
					shared.FormatTime(pe.Envelope.OccurredAt), pe.Object, pe.Checkpoint.Seq, shared.FormatTime(pe.Checkpoint.Time), retired)
			}
			// Every retired key that signs an entry is named (FORMAT.md
			// section 11 and 7.4: a verifier of bundles reports which
			// entries a retired key signs), not the first one alone: after
			// two rotations a bundle can hold entries of two retired keys,
			// and each key's keeping since its retirement is its own.
			var retiredKeys []string
			for _, pe := range rep.Entries {
				if pe.Retired && !slices.Contains(retiredKeys, pe.KeyID) {
					retiredKeys = append(retiredKeys, pe.KeyID)
				}
			}
			slices.Sort(retiredKeys)
			switch len(retiredKeys) {
			case 0:
			case 1:
				fmt.Fprintf(c.stdout, retiredScope, retiredKeys[0])
			default:
				fmt.Fprintf(c.stdout, retiredScopeMany, strings.Join(retiredKeys, ", "))
			}
			fmt.Fprintln(c.stdout, proofScope)
			return nil
		},
	}
	var receiptOut string
	receipt := &cobra.Command{
		Use:   "verify-receipt RECEIPT",
		Short: "Check a Sealed-mode receipt (JSON from the producer or ingest) against S3 and the signed checkpoint",
		Long: `Check a Sealed-mode receipt against S3. Nothing in the receipt is trusted
but where to look: the object is read and verified, its checkpoint checked
with the verifier key, and the entry's seq, hash, event id and checkpoint
must be what the receipt says. --out writes the entry's evidence bundle,
which aegis verify-proof checks offline: a decision's receipt only (a
bundle holds the decision's entry; aegis prove DECISION writes one with
its overrides). Exit 0: the receipt holds.`,
		Args: oneArg,
		RunE: c.runArgs(func(ctx context.Context, _ *zap.Logger, args []string) error {
			raw, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			r, err := parseReceipt(raw)
			if err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			vkey, s3c, err := c.archive(ctx)
			if err != nil {
				return err
			}
			bundle, rep, err := replayer.VerifyReceipt(ctx, replayer.ProveConfig{S3: s3c, Bucket: c.bucket, Prefix: c.prefix, Chain: c.chain, VerifierKey: vkey, Warn: c.warn}, r)
			if err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			if receiptOut != "" && bundle != nil {
				if err := writeFileAtomic(receiptOut, bundle); err != nil {
					return err
				}
			}
			pe := rep.Entries[0]
			what := "decision " + r.DecisionID
			if pe.Envelope != nil && pe.Envelope.Override != nil {
				what = fmt.Sprintf("override of decision %s to %s by %s", r.DecisionID, pe.Envelope.Override.NewAction, pe.Envelope.Override.ReviewerID)
			}
			fmt.Fprintf(c.stdout, "OK event %s (%s) is seq %d of chain %s in %s line %d, signed by checkpoint seq %d at %s\n",
				r.EventID, what, r.Seq, r.Chain, r.Object, r.Line, pe.Checkpoint.Seq, shared.FormatTime(pe.Checkpoint.Time))
			if pe.Envelope != nil && pe.Envelope.RecordedBy != "" {
				fmt.Fprintf(c.stdout, "recorded by %s\n", pe.Envelope.RecordedBy)
			}
			if receiptOut != "" && bundle == nil {
				return fmt.Errorf("--out: the receipt holds, but an override's receipt has no evidence bundle of its own (a bundle holds the decision's entry, which the receipt does not point at): aegis prove %s writes the decision's, with its overrides", r.DecisionID)
			}
			return nil
		}),
	}
	receipt.Flags().StringVar(&receiptOut, "out", "", "also write the entry's evidence bundle to this file")
	return []*cobra.Command{prove, verify, receipt}
}

// retiredScope is printed under a verified bundle with entries a retired
// key signs (docs/FORMAT.md section 11): offline, its thief could have
// signed them.
const retiredScope = "  (%s, which signs entries here, is retired: a bundle signed by a retired key is worth what the key's keeping since its retirement is; " +
	"to rule out one signed with a stolen retired key, verify the whole chain with aegis verify, which refuses forged objects, then find the entries in it with aegis discover)\n"

// retiredScopeMany is retiredScope for entries signed by several retired
// keys.
const retiredScopeMany = "  (%s, which sign entries here, are retired: a bundle signed by a retired key is worth what the key's keeping since its retirement is; " +
	"to rule out one signed with a stolen retired key, verify the whole chain with aegis verify, which refuses forged objects, then find the entries in it with aegis discover)\n"

// proofScope is what a proof cannot show, printed under every verified
// answer (docs/FORMAT.md section 11): the current state it gives is that of
// the overrides it holds.
const proofScope = "  (a proof shows the entries it holds are in the signed log, not that no other override exists: " +
	"aegis index check compares the index with S3, and aegis discover --decision ID --from DAY --to NOW lists every entry of a decision in a range)"
