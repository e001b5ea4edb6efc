package pipeline

import (
	crand "crypto/rand"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/aegisai/audit/shared"
)

// Workload is a realistic, reproducible sample: login-risk decisions over
// many users and sessions, and overrides of some of them by reviewers.
type Workload struct {
	Events    []*shared.Envelope
	Decisions []*shared.Envelope
	Overrides []*shared.Envelope
}

// NewWorkload builds decisions and overrides for chain from seed, with ids
// starting with idPrefix; every override and every third decision state
// whom they were recorded for (recorded_by). Events are
// spread over the hour before start, in time order; each override follows
// its decision.
func NewWorkload(chain, idPrefix string, decisions, overrides, users, seed int, start time.Time) *Workload {
	r := rand.New(rand.NewPCG(uint64(seed), 42))
	w := &Workload{}
	actions := []shared.Action{shared.ActionAllow, shared.ActionAllow, shared.ActionAllow, shared.ActionChallenge, shared.ActionBlock, shared.ActionReview}
	countries := []string{"DE", "FR", "US", "BR", "JP", "IN", "ZA"}
	sessions := map[int]int{}
	t := start.Add(-time.Hour).UTC()
	step := time.Hour / time.Duration(decisions+overrides+1)
	overrideEvery, owed := 0, 0
	if overrides > 0 {
		overrideEvery = decisions / overrides
	}
	for i := range decisions {
		t = t.Add(step)
		u := r.IntN(users)
		if r.IntN(4) == 0 {
			sessions[u]++
		}
		meta, _ := json.Marshal(map[string]any{
			"ip_country": countries[r.IntN(len(countries))], "device": fmt.Sprintf("dev-%04d", r.IntN(5000)),
			"signals": map[string]any{"velocity": r.IntN(50), "new_device": r.IntN(2) == 1},
			"model":   "login-risk-v7",
		})
		d := &shared.Envelope{
			Type: shared.TypeDecision, EventID: fmt.Sprintf("%s-evt-%06d", idPrefix, i), Environment: chain, OccurredAt: t,
			Decision: &shared.Decision{
				DecisionID: fmt.Sprintf("%s-dec-%06d", idPrefix, i), Action: actions[r.IntN(len(actions))],
				ConfidenceScore: float64(r.IntN(1001)) / 1000, PolicyVersion: "policy-2026.11",
				UserID: fmt.Sprintf("user-%05d", u), SessionID: fmt.Sprintf("%s-sess-%05d-%03d", idPrefix, u, sessions[u]),
				Metadata: meta,
			},
		}
		if i%3 == 0 { // some services state whom they record for, some do not
			d.RecordedBy = "loginrisk"
		}
		w.Events = append(w.Events, d)
		w.Decisions = append(w.Decisions, d)
		// Reviewers override decisions that stopped a customer: every
		// overrideEvery decisions one is owed, given to the next such one.
		if overrideEvery > 0 && i%overrideEvery == overrideEvery-1 {
			owed++
		}
		if owed > 0 && d.Decision.Action != shared.ActionAllow && len(w.Overrides) < overrides {
			owed--
			t = t.Add(step)
			o := &shared.Envelope{
				Type: shared.TypeOverride, EventID: fmt.Sprintf("%s-ovr-%06d", idPrefix, len(w.Overrides)), Environment: chain, OccurredAt: t,
				Override: &shared.Override{
					DecisionID: d.Decision.DecisionID, ReviewerID: fmt.Sprintf("reviewer-%02d", r.IntN(12)),
					NewAction: shared.ActionAllow, Reason: "customer verified identity by phone",
				},
				RecordedBy: "token:review-console",
			}
			w.Events = append(w.Events, o)
			w.Overrides = append(w.Overrides, o)
		}
	}
	return w
}

// SealInMemory seals records (each must be a valid event of chain) after a
// new genesis, as the sealer would, without Kafka or S3: sealed records
// name one object, the batch key of seq 1 under "audit" (the indexer
// refuses records that point elsewhere), and lines from 1. Source
// timestamps are start plus one second per record.
func SealInMemory(chain string, records [][]byte, start time.Time) ([]*shared.Entry, []*shared.SealedRecord, error) {
	_, vkey, err := note.GenerateKey(crand.Reader, "k")
	if err != nil {
		return nil, nil, err
	}
	g, err := shared.NewGenesis(chain, start, "k", vkey)
	if err != nil {
		return nil, nil, err
	}
	head := shared.Head{Chain: chain, Hash: g.Hash, Offset: -1}
	entries := make([]*shared.Entry, 0, len(records))
	recs := make([]*shared.SealedRecord, 0, len(records))
	var object string
	for i, raw := range records {
		ts := start.Add(time.Duration(i) * time.Second)
		e, err := shared.SealRecord(head, shared.Source{Topic: "decisions", Offset: int64(i), Timestamp: ts}, raw, ts)
		if err != nil {
			return nil, nil, err
		}
		if e.Type != shared.EntryEvent {
			return nil, nil, fmt.Errorf("record %d sealed as %s: %s", i, e.Type, e.Invalid.Reason)
		}
		line, _ := e.Line()
		entries = append(entries, e)
		if i == 0 {
			object = shared.BatchKey("audit", e)
		}
		recs = append(recs, &shared.SealedRecord{Object: object, Line: i + 1, Entry: line})
		head = head.Next(e)
	}
	return entries, recs, nil
}
