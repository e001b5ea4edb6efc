package main

import (
	"context"
	"encoding/json"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/aegisai/audit/indexer"
	"github.com/aegisai/audit/internal/awsconn"
)

// indexCommand is `aegis index`: looking at the DynamoDB index.
func (c *common) indexCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "index", Short: "Look at the DynamoDB index"}
	var asJSON bool
	anomalies := &cobra.Command{
		Use:   "anomalies",
		Short: "List where the index differs from a plain copy of S3: duplicate or conflicting events, unindexable records",
		RunE: c.run(func(ctx context.Context, _ *zap.Logger) error {
			db, err := awsconn.DynamoDB(ctx, c.dynamo)
			if err != nil {
				return err
			}
			x := &indexer.Index{DB: db, Table: c.table}
			var all []indexer.Anomaly
			for _, chain := range []string{c.chain, indexer.UnknownChain} {
				as, err := x.Anomalies(ctx, chain)
				if err != nil {
					return err
				}
				all = append(all, as...)
			}
			if asJSON {
				enc := json.NewEncoder(c.stdout)
				for _, a := range all {
					if err := enc.Encode(a); err != nil {
						return err
					}
				}
				return nil
			}
			if len(all) == 0 {
				fmt.Fprintf(c.stdout, "no anomalies recorded for chain %s\n", c.chain)
				return nil
			}
			w := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "KIND\tCHAIN\tSEQ\tOTHER SEQ\tOBJECT:LINE\tDETAIL")
			for _, a := range all {
				fmt.Fprintf(w, "%s\t%s\t%d\t%d\t%s:%d\t%s\n", a.Kind, a.Chain, a.Seq, a.OtherSeq, a.Object, a.Line, a.Detail)
			}
			return w.Flush()
		}),
	}
	anomalies.Flags().BoolVar(&asJSON, "json", false, "one JSON object per line")
	cmd.AddCommand(anomalies)
	return cmd
}
