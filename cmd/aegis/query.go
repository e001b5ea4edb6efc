package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/aegisai/audit/indexer/layout"
	"github.com/aegisai/audit/internal/platform/awsconn"
	"github.com/aegisai/audit/internal/platform/httpauth"
	"github.com/aegisai/audit/internal/platform/serve"
	"github.com/aegisai/audit/query"
	"github.com/aegisai/audit/query/httpapi"
	"github.com/aegisai/audit/replayer"
)

// errNotVerified is returned by get and list --verify when an answer does
// not match the signed log (exit status 1).
var errNotVerified = errors.New("not verified against S3")

// queryCommands are `aegis get`, `aegis list` and `aegis query`: the read
// side of the index.
func (c *common) queryCommands() []*cobra.Command {
	var asJSON, verify bool
	var getLimit int
	var getCursor string
	get := &cobra.Command{
		Use:   "get DECISION-ID",
		Short: "A decision from the index: its history, current state and proof pointers (--verify: checked against S3)",
		Long: `A decision from the DynamoDB index: the decision, a page of its overrides
(oldest first; --limit 1 to 500, default 50; the last line names the
--cursor of the next page), the override that set its current state when it
is on another page, and where each entry is in S3 (seq, object, line, hash).

--verify reads each entry shown from S3 (Object Lock checked), checks it
against its signed checkpoint (--verifier-key-file) and checks that the
index says what the signed entries say, the current state included; it
exits 1 when anything differs.`,
		Args: oneArg,
		RunE: c.runArgs(func(ctx context.Context, _ *zap.Logger, args []string) error {
			rd, ev, err := c.reader(ctx, verify)
			if err != nil {
				return err
			}
			h, err := rd.DecisionPage(ctx, args[0], query.OverridePage{Limit: getLimit, Cursor: getCursor, Latest: verify})
			if err != nil {
				return c.notFound(err)
			}
			var v *verification
			if verify {
				v = verifyHistory(ctx, ev, h)
			}
			if asJSON {
				return json.NewEncoder(c.stdout).Encode(struct {
					*query.History
					Verification *verification `json:"verification,omitempty"`
				}{h, v})
			}
			if err := printHistory(c.stdout, h); err != nil {
				return err
			}
			if v != nil {
				printVerification(c.stdout, v)
				if v.OK {
					fmt.Fprintln(c.stdout, proofScope)
				}
			}
			return v.err()
		}),
	}
	get.Flags().BoolVar(&asJSON, "json", false, "print the answer as one JSON object")
	get.Flags().BoolVar(&verify, "verify", false, "check each entry against S3 and its signed checkpoint")
	get.Flags().IntVar(&getLimit, "limit", query.DefaultLimit, "overrides per page, 1 to 500")
	get.Flags().StringVar(&getCursor, "cursor", "", "the cursor of the overrides' next page, as a previous answer printed")

	var user, session, since, until, cursor string
	var limit int
	list := &cobra.Command{
		Use:   "list --user U | --session S",
		Short: "A user's or a session's decisions from the index, newest first (--verify: each checked against S3)",
		Long: `A user's (--user) or a session's (--session) decisions from the index,
newest first; decisions of the same time by seq. --since (inclusive) and
--until (exclusive) take RFC 3339 times or dates; --limit is the page size
(1 to 500, default 50); the last line names the --cursor of the next page.

--verify checks every decision listed, with its overrides, against S3 and
its signed checkpoint, and exits 1 when any differs.`,
		Args: cobra.NoArgs,
		RunE: c.run(func(ctx context.Context, _ *zap.Logger) error {
			if (user == "") == (session == "") {
				return errors.New("give exactly one of --user and --session")
			}
			rg := query.Range{Limit: limit, Cursor: cursor}
			var err error
			if since != "" {
				if rg.Since, err = query.ParseTime("--since", since); err != nil {
					return err
				}
			}
			if until != "" {
				if rg.Until, err = query.ParseTime("--until", until); err != nil {
					return err
				}
			}
			rd, ev, err := c.reader(ctx, verify)
			if err != nil {
				return err
			}
			var page query.Page
			if user != "" {
				page, err = rd.ByUser(ctx, user, rg)
			} else {
				page, err = rd.BySession(ctx, session, rg)
			}
			if err != nil {
				return asFlag(err)
			}
			var vs []*verification
			if verify {
				for _, d := range page.Decisions {
					h, err := rd.DecisionPage(ctx, d.DecisionID, query.OverridePage{Latest: true})
					if err != nil {
						vs = append(vs, &verification{DecisionID: d.DecisionID, Problems: []string{err.Error()}, Unavailable: awsconn.Unavailable(err)})
						continue
					}
					v := verifyHistory(ctx, ev, h)
					item := listedItem(d, h)
					if why := misplaced(item, user, session, rg); v.OK && why != "" {
						v.OK, v.Problems = false, []string{why}
					} else if diff := listedDiffers(d, item, h); v.OK && len(diff) > 0 {
						v.OK, v.Problems = false, diff
					}
					vs = append(vs, v)
				}
			}
			if asJSON {
				if err := json.NewEncoder(c.stdout).Encode(struct {
					query.Page
					Verification []*verification `json:"verification,omitempty"`
				}{page, vs}); err != nil {
					return err
				}
			} else {
				if len(page.Decisions) == 0 && cursor == "" {
					who := "user " + user
					if session != "" {
						who = "session " + session
					}
					fmt.Fprintf(c.stdout, "no decisions of %s in the index of chain %s (table %s)\n", who, c.chain, c.table)
				} else if err := printPage(c.stdout, page); err != nil {
					return err
				}
				for _, v := range vs {
					printVerification(c.stdout, v)
				}
				if len(vs) > 0 {
					fmt.Fprintln(c.stdout, proofScope)
				}
			}
			var couldNot error
			for _, v := range vs { // a decision found wrong outranks one not checked
				if err := v.err(); err != nil && !v.Unavailable {
					return err
				} else if err != nil && couldNot == nil {
					couldNot = err
				}
			}
			return couldNot
		}),
	}
	list.Flags().StringVar(&user, "user", "", "list this user's decisions")
	list.Flags().StringVar(&session, "session", "", "list this session's decisions")
	list.Flags().StringVar(&since, "since", "", "only decisions at or after this time (RFC 3339 or YYYY-MM-DD)")
	list.Flags().StringVar(&until, "until", "", "only decisions before this time (RFC 3339 or YYYY-MM-DD)")
	list.Flags().IntVar(&limit, "limit", query.DefaultLimit, "page size, 1 to 500")
	list.Flags().StringVar(&cursor, "cursor", "", "the cursor a previous page printed")
	list.Flags().BoolVar(&asJSON, "json", false, "print the page as one JSON object")
	list.Flags().BoolVar(&verify, "verify", false, "check each decision against S3 and its signed checkpoint")

	var addr, tokenFile string
	var tlsFiles serve.TLSFiles
	var maxConns int
	serveCmd := &cobra.Command{
		Use:   "query",
		Short: "Serve the query API (/v1/...), its OpenAPI document and the auditor's page",
		Long: `Serve the read side over HTTP for one chain (--chain):

  GET /v1/decisions/{id}            a decision, its overrides and current state
  GET /v1/decisions/{id}/proof      its evidence bundle, read from S3 and checked
  GET /v1/users/{id}/decisions      a user's decisions (since, until, limit, cursor)
  GET /v1/sessions/{id}/decisions   a session's decisions
  GET /v1/verifier-key              the chain and the checkpoint key trusted
  GET /openapi.json                 the OpenAPI document
  GET /                             the auditor's page (proofs checked in the browser)

and /healthz, /readyz, /metrics on the same address. Data endpoints need a
bearer token of --token-file bound to the chain (format: package httpauth).`,
		Args: cobra.NoArgs,
		RunE: c.run(func(ctx context.Context, log *zap.Logger) error {
			if tokenFile == "" {
				return errors.New("--token-file (AEGIS_TOKEN_FILE) is required")
			}
			tokens, err := httpauth.Load(tokenFile)
			if err != nil {
				return fmt.Errorf("--token-file (AEGIS_TOKEN_FILE): %w", err)
			}
			if !tokens.AnyMay(c.chain, httpauth.Read) {
				return fmt.Errorf("--token-file (AEGIS_TOKEN_FILE) %s: no token may read chain %s (a token's third field names the chains it may use, or *; its fourth, when there is one, record or read): every request would be refused", tokenFile, c.chain)
			}
			warnTokens(log, tokens, tokenFile, "--token-file")
			go tokens.Watch(ctx, tokenFile, tokenReload, log, func(t *httpauth.Tokens) {
				warnTokens(log, t, tokenFile, "--token-file")
				if !t.AnyMay(c.chain, httpauth.Read) {
					log.Error("no token of the token file may read this chain now: every request is refused", zap.String("chain", c.chain))
				}
			})
			tlsCfg, err := c.serveTLS(tlsFiles, log)
			if err != nil {
				return err
			}
			rd, ev, err := c.reader(ctx, true)
			if err != nil {
				return err
			}
			// A service logs what its proofs warn of (a sealed version read
			// under a rewrite, the verification a copy of the bucket calls
			// for) with its other logs, not as a bare line; the anchoring
			// shared by its proofs warns there too.
			ev.Config.Warn = func(msg string) {
				log.Warn("a proof's reading of S3", zap.String("detail", msg))
			}
			if err := ev.Config.ShareAnchors(); err != nil {
				return err
			}
			svc, err := httpapi.New(httpapi.Config{Reader: rd, Evidence: ev, Tokens: tokens, Chain: c.chain,
				VerifierKey: ev.Config.VerifierKey, Metrics: c.registry, Logger: log})
			if err != nil {
				return err
			}
			// As the indexer does: a table that cannot be described (missing,
			// not active, DynamoDB unreachable) stops the service before it
			// listens, instead of after saying it does.
			if err := layout.CheckTable(ctx, rd.DB.(layout.TableAPI), rd.Table); err != nil {
				return err
			}
			srv, err := listenAPI(serve.Options{Addr: addr, Handler: svc.Handler(), Registry: c.registry, Ready: c.readiness,
				WriteTimeout: time.Minute, TLS: tlsCfg, MaxConnections: maxConns, MetricsElsewhere: c.metrics != "", Logger: log}, "--addr",
				", and browsers check the auditor's page's proofs only over HTTPS or on their own machine", log)
			if err != nil {
				return err
			}
			errc := make(chan error, 1)
			go func() { errc <- srv.Serve() }()
			log.Info("query service listening", zap.String("addr", srv.Addr()), zap.String("url", srv.URL()), zap.String("chain", c.chain), zap.String("table", c.table))
			ready := make(chan struct{})
			close(ready)
			c.readyWhen(ready)
			select {
			case err := <-errc:
				return err
			case <-ctx.Done():
			}
			shut, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			return srv.Shutdown(shut)
		}),
	}
	serveCmd.Flags().StringVar(&addr, "addr", "127.0.0.1:8080", "listen address of the API and the page")
	serveCmd.Flags().StringVar(&tokenFile, "token-file", "", "required: bearer tokens, each with the chains it may read and, as a line's fourth field, read (format in the README)")
	apiFlags(serveCmd.Flags(), &tlsFiles, &maxConns)
	aliasFlags(serveCmd, map[string]string{"listen": "addr", "tokens-file": "token-file"})
	return []*cobra.Command{get, list, serveCmd}
}

// reader returns the index reader of the chain and, with evidence, what
// proves answers from S3 (which needs --verifier-key-file).
func (c *common) reader(ctx context.Context, evidence bool) (*query.Reader, *query.Evidence, error) {
	db, err := awsconn.DynamoDB(ctx, c.dynamo)
	if err != nil {
		return nil, nil, err
	}
	rd := &query.Reader{DB: db, Table: c.table, Chain: c.chain}
	if !evidence {
		return rd, nil, nil
	}
	vkey, s3c, err := c.archive(ctx)
	if err != nil {
		return nil, nil, err
	}
	cfg := replayer.ProveConfig{S3: s3c, Bucket: c.bucket, Prefix: c.prefix, Chain: c.chain, VerifierKey: vkey, Warn: c.warn}
	// A server proves many answers: one verification of the whole chain,
	// if a copy of the bucket calls for one (replayer.ShareAnchors).
	if err := cfg.ShareAnchors(); err != nil {
		return nil, nil, err
	}
	return rd, &query.Evidence{Config: cfg}, nil
}

// notFound adds to a decision not found what an operator needs to see a
// wrong setting: the table asked, and the chains that do hold the id.
func (c *common) notFound(err error) error {
	var nf *query.NotFoundError
	if !errors.As(err, &nf) {
		return asFlag(err)
	}
	other := ""
	if len(nf.OtherChains) > 0 {
		other = fmt.Sprintf("; chain %s holds a decision with this id: check --chain (AEGIS_CHAIN)", strings.Join(nf.OtherChains, ", "))
	}
	return fmt.Errorf("%w (table %s, --chain %s)%s", err, c.table, c.chain, other)
}

// asFlag names a bad parameter of the read side by the flag that gave it
// (--limit, not limit); other errors are returned as they are.
func asFlag(err error) error {
	var pe *query.ParamError
	if !errors.As(err, &pe) {
		return err
	}
	switch pe.Field {
	case "limit", "cursor", "since", "until":
		return fmt.Errorf("--%s (AEGIS_%s): %s", pe.Field, envName(pe.Field), pe.Reason)
	}
	return err
}

// verification is what --verify found for one decision.
type verification struct {
	DecisionID string `json:"decision_id"`
	OK         bool   `json:"ok"`
	// Unavailable: S3 could not be reached, so nothing was checked.
	Unavailable bool     `json:"unavailable,omitempty"`
	Entries     int      `json:"entries"`
	Problems    []string `json:"problems,omitempty"`
}

func verifyHistory(ctx context.Context, ev *query.Evidence, h *query.History) *verification {
	v := &verification{DecisionID: h.DecisionID, Entries: len(h.Refs())}
	if err := ev.Verify(ctx, h); err != nil {
		v.Problems, v.Unavailable = []string{err.Error()}, awsconn.Unavailable(err)
		return v
	}
	v.OK = true
	return v
}

// misplaced says why a verified decision event does not belong to the
// list it was in ("" when it does): someone who edits the table's view
// keys (not the attributes --verify compares) can list a genuine decision
// under another user or session, or in a time range it is not in. item is
// the decision event the row is (listedItem): of a reused decision id,
// the later events may be another user's, session's or time than the
// first, and are listed as theirs (nil: listedDiffers says so).
func misplaced(item *query.Decision, user, session string, rg query.Range) string {
	if item == nil {
		return ""
	}
	switch {
	case user != "" && item.UserID != user:
		return fmt.Sprintf("listed under user %q; the signed entry is of user %q", user, item.UserID)
	case session != "" && item.SessionID != session:
		return fmt.Sprintf("listed under session %q; the signed entry is of session %q", session, item.SessionID)
	case !rg.Since.IsZero() && item.OccurredAt.Before(rg.Since), !rg.Until.IsZero() && !item.OccurredAt.Before(rg.Until):
		var bounds []string
		if !rg.Since.IsZero() {
			bounds = append(bounds, "--since "+rg.Since.Format(time.RFC3339Nano))
		}
		if !rg.Until.IsZero() {
			bounds = append(bounds, "--until "+rg.Until.Format(time.RFC3339Nano))
		}
		return fmt.Sprintf("listed in the range %s; the signed entry occurred at %s", strings.Join(bounds, " "), item.OccurredAt.Format(time.RFC3339Nano))
	}
	return ""
}

// listedItem is the decision event of h that a listed row is, by seq: the
// decision, or one of its conflicting decisions (a reused decision id,
// each of whose events is listed); nil when it is none of them.
func listedItem(row query.Decision, h *query.History) *query.Decision {
	if row.Proof.Seq == h.Proof.Seq {
		return &h.Decision
	}
	for i := range h.Conflicting {
		if h.Conflicting[i].Proof.Seq == row.Proof.Seq {
			return &h.Conflicting[i]
		}
	}
	return nil
}

// listedDiffers compares a listed row with item, the decision event of
// the history --verify proved that it is (nil when they agree). The row
// is read from a user's or session's view, the history from the
// decision's own items, and only the history is checked against S3: a
// row that shows what the proof does not (a current state the decision's
// overrides contradict, which a table editor sets on the item, or a stale
// view) must not pass as verified.
func listedDiffers(row query.Decision, item *query.Decision, h *query.History) []string {
	if item == nil {
		return []string{fmt.Sprintf("the row listed (seq %d) is none of the decision events of %s the index answers", row.Proof.Seq, h.DecisionID)}
	}
	var diff []string
	add := func(name string, listed, verified any, same bool) {
		if !same {
			diff = append(diff, fmt.Sprintf("%s (listed %q, verified %q)", name, fmt.Sprint(listed), fmt.Sprint(verified)))
		}
	}
	add("event_id", row.EventID, item.EventID, row.EventID == item.EventID)
	add("environment", row.Environment, item.Environment, row.Environment == item.Environment)
	add("occurred_at", row.OccurredAt.Format(time.RFC3339Nano), item.OccurredAt.Format(time.RFC3339Nano), row.OccurredAt.Equal(item.OccurredAt))
	add("action", row.Action, item.Action, row.Action == item.Action)
	add("confidence_score", row.ConfidenceScore, item.ConfidenceScore, row.ConfidenceScore == item.ConfidenceScore)
	add("policy_version", row.PolicyVersion, item.PolicyVersion, row.PolicyVersion == item.PolicyVersion)
	add("user_id", row.UserID, item.UserID, row.UserID == item.UserID)
	add("session_id", row.SessionID, item.SessionID, row.SessionID == item.SessionID)
	add("metadata", string(row.Metadata), string(item.Metadata), string(row.Metadata) == string(item.Metadata))
	add("recorded_by", row.RecordedBy, item.RecordedBy, row.RecordedBy == item.RecordedBy)
	add("proof", row.Proof, item.Proof, row.Proof == item.Proof)
	// The decision's current state is what the proof checked (h's, which
	// the page of overrides may have raised above the item's). A
	// conflicting decision's item keeps a state of its own (its action,
	// or the latest override of the id by seq), which no proof checks:
	// it is compared with that item as read by id.
	cur, curSeq := h.CurrentAction, h.CurrentSeq
	if item != &h.Decision {
		cur, curSeq = item.CurrentAction, item.CurrentSeq
	}
	add("current_action", row.CurrentAction, cur, row.CurrentAction == cur)
	add("current_seq", row.CurrentSeq, curSeq, row.CurrentSeq == curSeq)
	if len(diff) == 0 {
		return nil
	}
	return []string{"the row listed differs from the decision verified in " + strings.Join(diff, ", ") +
		" (an override indexed between the two reads shows so too: list again)"}
}

func (v *verification) err() error {
	if v == nil || v.OK {
		return nil
	}
	if v.Unavailable {
		return fmt.Errorf("decision %s: %w: %s", v.DecisionID, errUnavailable, strings.Join(v.Problems, "; "))
	}
	return fmt.Errorf("decision %s: %w: %s", v.DecisionID, errNotVerified, strings.Join(v.Problems, "; "))
}

func printVerification(w io.Writer, v *verification) {
	if v.OK {
		fmt.Fprintf(w, "verified %s: %d entries read from S3, signed by a trusted checkpoint, and the index says what they say\n", v.DecisionID, v.Entries)
		return
	}
	if v.Unavailable {
		fmt.Fprintf(w, "COULD NOT VERIFY %s (S3 could not be reached: nothing was checked, nothing found wrong): %s\n", v.DecisionID, strings.Join(v.Problems, "; "))
		return
	}
	fmt.Fprintf(w, "NOT VERIFIED %s: %s\n", v.DecisionID, strings.Join(v.Problems, "; "))
}

func printHistory(out io.Writer, h *query.History) error {
	now := "as decided"
	if h.CurrentSeq != h.Proof.Seq {
		now = fmt.Sprintf("by the override at seq %d", h.CurrentSeq)
	}
	fmt.Fprintf(out, "decision %s (chain %s): %s, now %s (%s)\n", h.DecisionID, h.Environment, h.Action, h.CurrentAction, now)
	fmt.Fprintf(out, "user %s, session %s, policy %s, confidence %g, occurred %s, event %s\n",
		h.UserID, h.SessionID, h.PolicyVersion, h.ConfidenceScore, h.OccurredAt.Format(time.RFC3339Nano), h.EventID)
	if len(h.Metadata) > 0 {
		fmt.Fprintf(out, "metadata %s\n", h.Metadata)
	}
	if h.RecordedBy != "" {
		fmt.Fprintf(out, "recorded by %s\n", h.RecordedBy)
	}
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	// RECORDED BY has a column of its own: after a reviewer id, text a
	// caller wrote, it could be imitated.
	fmt.Fprintln(w, "SEQ\tOCCURRED AT\tWHAT\tBY\tRECORDED BY\tREASON\tS3 OBJECT:LINE\tENTRY HASH")
	type row struct {
		p                        query.Proof
		at, what, by, rec, cause string
	}
	rows := []row{{h.Proof, h.OccurredAt.Format(time.RFC3339Nano), "decision " + h.Action, "policy " + h.PolicyVersion, h.RecordedBy, ""}}
	for _, c := range h.Conflicting {
		rows = append(rows, row{c.Proof, c.OccurredAt.Format(time.RFC3339Nano), "conflicting decision " + c.Action, "event " + c.EventID, c.RecordedBy, "decision id reused"})
	}
	for _, o := range h.Overrides {
		rows = append(rows, row{o.Proof, o.OccurredAt.Format(time.RFC3339Nano), "override to " + o.NewAction, o.ReviewerID, o.RecordedBy, o.Reason})
	}
	if o := h.CurrentOverride; o != nil {
		rows = append(rows, row{o.Proof, o.OccurredAt.Format(time.RFC3339Nano), "override to " + o.NewAction + " (current; on a later page)", o.ReviewerID, o.RecordedBy, o.Reason})
	}
	for _, r := range rows {
		fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\t%s:%d\t%s\n", r.p.Seq, r.at, r.what, r.by, notStated(r.rec), oneLine(r.cause), r.p.Object, r.p.Line, r.p.Hash)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if h.Next != "" {
		fmt.Fprintf(out, "more overrides: --cursor %s\n", h.Next)
	}
	return nil
}

// notStated shows an event's recorded_by, "-" when it has none.
func notStated(recordedBy string) string {
	if recordedBy == "" {
		return "-"
	}
	return recordedBy
}

func printPage(out io.Writer, p query.Page) error {
	if len(p.Decisions) == 0 {
		fmt.Fprintln(out, "no decisions")
		return nil
	}
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "OCCURRED AT\tDECISION\tACTION\tNOW\tUSER\tSESSION\tRECORDED BY\tSEQ\tS3 OBJECT:LINE")
	for _, d := range p.Decisions {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s:%d\n", d.OccurredAt.Format(time.RFC3339Nano), d.DecisionID, d.Action, d.CurrentAction,
			d.UserID, d.SessionID, notStated(d.RecordedBy), d.Proof.Seq, d.Proof.Object, d.Proof.Line)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if p.Next != "" {
		fmt.Fprintf(out, "more: --cursor %s\n", p.Next)
	}
	return nil
}

// oneLine keeps a free-text field on its table row.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
