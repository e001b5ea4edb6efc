package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/aegisai/audit/internal/platform/setting"
	"github.com/aegisai/audit/internal/platform/shown"
	"github.com/aegisai/audit/replayer"
	"github.com/aegisai/audit/shared"
)

// discoverCommand is `aegis discover`: audit discovery straight from S3.
func (c *common) discoverCommand() *cobra.Command {
	var from, to, env, user, session, decision, recordedBy, typ string
	var asJSON, pruned, allowUnsigned bool
	var cmd *cobra.Command // its summary names its filters (filtersNamed)
	cmd = &cobra.Command{
		Use:         "discover --from T --to T",
		Annotations: map[string]string{jsonLines: "true"},
		Short:       "List the entries of a time range straight from S3, verified, reading only that range's days",
		Long: `List the entries whose Kafka timestamp (source.timestamp) is in [--from, --to),
reading only the day prefixes of the range, and verifying every object read
(lines, Object Lock, links, the checkpoint that signs it). Times are RFC 3339
or a date (YYYY-MM-DD, midnight UTC). Output is JSON Lines, one
{"seq","object","line","signed","entry"} per entry, or a table on a terminal.
The days' listing is read as their objects are: memory does not grow with
the range. Entries are written as they are verified: when discover fails
(exit 1) after writing some, those are not the whole answer. Exits 2 when
an entry written is not signed yet ("signed":false: the newest object
before its checkpoint, or one anyone with write access to the bucket
put there) unless --allow-unsigned.`,
		RunE: c.run(func(ctx context.Context, _ *zap.Logger) error {
			vkey, s3c, err := c.archive(ctx)
			if err != nil {
				return err
			}
			cfg := replayer.DiscoverConfig{S3: s3c, Bucket: c.bucket, Prefix: c.prefix, Chain: c.chain, VerifierKey: vkey,
				UserID: user, SessionID: session, DecisionID: decision, RecordedBy: recordedBy, Type: shared.EntryType(typ), Pruned: pruned, Warn: c.warn}
			if env != "" {
				cfg.Chain = env
			}
			if cfg.From, err = parseWhen("--from", from); err != nil {
				return err
			}
			if cfg.To, err = parseWhen("--to", to); err != nil {
				return err
			}
			table := !asJSON && isTerminal(c.stdout)
			var tw *tabwriter.Writer
			if table {
				tw = tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "SEQ\tKAFKA TIME\tTYPE\tDECISION\tRECORDED BY\tWHAT\tSIGNED\tOBJECT:LINE")
			}
			enc := json.NewEncoder(c.stdout)
			rows, written := 0, 0
			rep, err := replayer.Discover(ctx, cfg, func(f replayer.Found) error {
				written++
				if table {
					what, by := summary(f.Entry)
					fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%v\t%s:%d\n", f.Entry.Seq, shared.FormatTime(f.Entry.Source.Timestamp), f.Entry.Type,
						f.Entry.DecisionID(), notStated(by), what, f.Signed, f.Object, f.LineNo)
					if rows++; rows%200 == 0 {
						return tw.Flush() // the table holds its rows until flushed: a block at a time, not the range
					}
					return nil
				}
				return enc.Encode(struct {
					Seq    uint64          `json:"seq"`
					Object string          `json:"object"`
					Line   int             `json:"line"`
					Signed bool            `json:"signed"`
					Entry  json.RawMessage `json:"entry"`
				}{f.Entry.Seq, f.Object, f.LineNo, f.Signed, f.Line})
			})
			if table {
				tw.Flush()
			}
			if errors.Is(err, replayer.ErrNoChain) {
				return fmt.Errorf("%w in bucket %s under prefix %s: check --chain (AEGIS_CHAIN) or --env, --bucket and --prefix", err, c.bucket, c.prefix)
			}
			if err != nil && written > 0 {
				return fmt.Errorf("%w (the %d entries written before this are not the whole answer)", err, written)
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(c.stderr, "%s matched%s, %d read and verified in %s of %s; %d unsigned\n",
				counted(int(rep.Matched), "entry", "entries"), filtersNamed(cmd), rep.Entries, counted(rep.Objects, "object", "objects"),
				counted(rep.Days, "day", "days"), rep.Unsigned)
			if rep.Matched == 0 && recordedBy != "" && !strings.Contains(recordedBy, ":") {
				fmt.Fprintf(c.stderr, "hint: --recorded-by matches the whole value; aegis ingest writes token:<name> (--recorded-by token:%s)\n", recordedBy)
			}
			printPruned(c.stderr, rep.StartObject, rep.StartSeq, rep.PastRetention)
			warnRewritten(c.stderr, rep.Rewritten, rep.FirstRewritten)
			// An entry no checkpoint signs was written beside the signed
			// ones with exit 0 (an outside trial: a script reading the
			// lines took an override anyone with write access can put
			// after the head as verified); aegis verify exits 2 for it.
			if rep.MatchedUnsigned > 0 && !allowUnsigned {
				return fmt.Errorf("%w: %d of the entries written are in the newest object, which no checkpoint signs (\"signed\":false, SIGNED false): the sealer signs it within seconds, "+
					"or anyone with write access to the bucket put it there; discover again later, or pass --allow-unsigned", errUnsigned, rep.MatchedUnsigned)
			}
			return nil
		}),
	}
	// The range and the type are checked with the start-up validation
	// (the chain and the key are by it and by reading the key file).
	c.preflight[cmd] = func(bool) error { // reads no file
		var errs []error
		cfg := replayer.DiscoverConfig{Type: shared.EntryType(typ)}
		var err error
		if from != "" {
			cfg.From, err = parseWhen("--from", from)
			errs = append(errs, err)
		}
		if to != "" {
			cfg.To, err = parseWhen("--to", to)
			errs = append(errs, err)
		}
		for _, p := range setting.Problems(cfg.Check()) {
			if fs := setting.Fields(p); len(fs) == 1 && (fs[0].Field == "Type" || fs[0].Field == "To" && !cfg.From.IsZero() && !cfg.To.IsZero()) {
				errs = append(errs, p)
			}
		}
		return errors.Join(errs...)
	}
	f := cmd.Flags()
	f.StringVar(&from, "from", "", "start of the range, inclusive (RFC 3339 or YYYY-MM-DD)")
	f.StringVar(&to, "to", "", "end of the range, exclusive (RFC 3339 or YYYY-MM-DD)")
	f.StringVar(&env, "env", "", "the environment (chain) to search; default --chain")
	f.StringVar(&user, "user", "", "only decisions of this user, and the overrides of them sealed later in the range")
	f.StringVar(&session, "session", "", "only decisions of this session, and the overrides of them sealed later in the range")
	f.StringVar(&decision, "decision", "", "only this decision and its overrides")
	f.StringVar(&recordedBy, "recorded-by", "", "only events recorded for this (their recorded_by; aegis ingest's are token:<token name>)")
	f.StringVar(&typ, "type", "", "only entries of this type: event or invalid")
	f.BoolVar(&asJSON, "json", false, "JSON Lines even on a terminal")
	f.BoolVar(&pruned, "pruned", false, prunedFlagHelp)
	f.BoolVar(&allowUnsigned, "allow-unsigned", false, "exit 0 even when entries written are not signed by a checkpoint yet")
	return cmd
}

// printPruned says where a pruned chain that remains starts, when a
// reader's scope held its start (object "" otherwise), and how many
// objects past their retention it read.
func printPruned(w io.Writer, object string, seq uint64, pastRetention int) {
	if object != "" {
		fmt.Fprintf(w, "pruned: the chain that remains starts at seq %d (%s); seqs 0 to %d were deleted. "+
			"Where it starts is taken from the checkpoints that remain; aegis verify --pruned checks the whole chain\n", seq, object, seq-1)
	}
	if pastRetention > 0 {
		fmt.Fprintf(w, "pruned: %s past their Object Lock retention read: the ones pruning deletes next\n", counted(pastRetention, "object", "objects"))
	}
}

// parseWhen reads an RFC 3339 time or a date.
func parseWhen(flag, s string) (time.Time, error) {
	flag = fmt.Sprintf("%s (AEGIS_%s)", flag, envName(strings.TrimPrefix(flag, "--")))
	if s == "" {
		return time.Time{}, fmt.Errorf("%s is required", flag)
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	t, err := time.Parse("2006-01-02", s)
	if err != nil {
		return t, fmt.Errorf("%s %q: want RFC 3339 (2026-11-27T09:00:00Z) or a date (2026-11-27)", flag, s)
	}
	return t, nil
}

// summary is one entry in a few words, and whom it was recorded for
// (shown in a column of its own, before text a caller wrote).
func summary(e *shared.Entry) (what, recordedBy string) {
	if e.Type == shared.EntryInvalid {
		return "invalid: " + clipText(e.Invalid.Reason, 60), ""
	}
	env, err := e.Envelope()
	if err != nil {
		return "", ""
	}
	switch {
	case env.Decision != nil:
		return fmt.Sprintf("%s user %s session %s", env.Decision.Action, env.Decision.UserID, env.Decision.SessionID), env.RecordedBy
	case env.Override != nil:
		return fmt.Sprintf("override to %s by %s", env.Override.NewAction, env.Override.ReviewerID), env.RecordedBy
	}
	return string(env.Type), env.RecordedBy
}

// clipText cuts s to n bytes for a table cell, at a character boundary.
func clipText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.TrimSpace(shared.ClipUTF8(s, n)) + "…"
}

// isTerminal reports whether w is a terminal (a character device), seen
// through the countingWriter every command's standard output is wrapped in
// (discover never printed its table before it looked through it).
func isTerminal(w io.Writer) bool {
	if sw, ok := w.(*shown.Writer); ok {
		w = sw.W
	}
	if cw, ok := w.(*countingWriter); ok {
		w = cw.w
	}
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// variableNote is " (AEGIS_<FLAG> is set)" when that variable holds value,
// else "": a variable exported for another command applies as if the flag
// were given (envFlags sets it, so Flags().Changed cannot tell them apart),
// and a message about the setting names where it came from.
func variableNote(flag, value string) string {
	name := "AEGIS_" + envName(flag)
	if v, ok := os.LookupEnv(name); ok && v == value {
		return " (" + name + " is set)"
	}
	return ""
}

// filtersNamed names the filters of discover that are set, and which
// variable set those not given on the command line: a variable exported
// for another command (AEGIS_USER) filters silently otherwise.
func filtersNamed(cmd *cobra.Command) string {
	var set []string
	for _, name := range []string{"user", "session", "decision", "recorded-by", "type"} {
		f := cmd.Flags().Lookup(name)
		if f == nil || f.Value.String() == "" {
			continue
		}
		set = append(set, fmt.Sprintf("--%s %s%s", name, shown.String(f.Value.String()), variableNote(name, f.Value.String())))
	}
	if len(set) == 0 {
		return ""
	}
	return " " + strings.Join(set, ", ")
}
