package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aegisai/audit/internal/testbed/pipeline"
	"github.com/aegisai/audit/replayer"
	"github.com/aegisai/audit/sealer"
	"github.com/aegisai/audit/shared"
)

// mustTime reads an RFC 3339 time.
func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	ts, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

// Issue 6: discovery by time range reads only the days of the range and
// returns exactly the entries whose Kafka timestamps fall in it, for ranges
// that start and end mid-day and span midnight, a month's end and a year's
// end; every object holds one day.
func TestDiscoverFindsExactlyTheRange(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p := startPipeline(t, pipeline.Config{Indexers: -1, Sealer: func(c *sealer.Config) { c.BatchMaxRecords = 4 }})
	<-p.Sealer.Ready()
	at := func(s string) time.Time { return mustTime(t, s) }
	stamps := []string{
		"2026-12-30T12:00:00Z", "2026-12-31T08:00:00Z", "2026-12-31T23:59:59.999Z", "2027-01-01T00:00:00Z", "2027-01-01T00:00:00.001Z",
		"2027-01-01T13:00:00Z", "2027-01-30T12:00:00Z", "2027-01-31T23:59:59.999Z", "2027-02-01T00:00:00Z", "2027-02-01T06:00:00Z",
		"2027-02-28T23:59:59Z", "2027-03-01T00:00:01Z", "2027-03-01T12:00:00Z", "2027-03-02T00:00:00Z",
	}
	var recs []rawRecord
	for i, s := range stamps {
		user := "u-even"
		if i%2 == 1 {
			user = "u-odd"
		}
		// Whom each was recorded for: a token that leaked, another, none.
		by := [...]string{`"recorded_by":"token:leaked",`, `"recorded_by":"token:other",`, ``}[i%3]
		rec := fmt.Sprintf(`{"type":"decision","event_id":"evt-%d","environment":%q,%s"occurred_at":"2026-11-27T09:00:00Z","decision":{"decision_id":"dec-%d","action":"ALLOW","confidence_score":0.5,"policy_version":"p","user_id":%q,"session_id":"s"}}`,
			i, p.Cfg.Chain, by, i, user)
		recs = append(recs, rawRecord{rec, at(s).UnixMilli()})
	}
	publishAt(t, p.Cfg.Topic, recs...)
	if err := p.WaitHead(ctx, uint64(len(stamps))); err != nil {
		t.Fatal(err)
	}
	rep, err := p.Verify(ctx)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	if rep.Objects < 10 {
		t.Fatalf("%d objects: the sealer did not start a new object at each date", rep.Objects)
	}
	for _, tc := range []struct {
		from, to string
		user     string
		want     []int
		days     int
		by       string
	}{
		{"2026-12-31T12:00:00Z", "2027-01-01T12:00:00Z", "", []int{2, 3, 4}, 2, ""},
		{"2027-01-31T12:00:00Z", "2027-02-01T03:00:00Z", "", []int{7, 8}, 2, ""},
		{"2027-02-28T12:00:00Z", "2027-03-01T12:00:00Z", "", []int{10, 11}, 2, ""},
		{"2027-02-28T12:00:00Z", "2027-03-01T12:00:00.001Z", "", []int{10, 11, 12}, 2, ""},
		{"2027-01-01T00:00:00Z", "2027-01-01T00:00:00.001Z", "", []int{3}, 1, ""},
		{"2026-12-01T00:00:00Z", "2027-04-01T00:00:00Z", "u-odd", []int{1, 3, 5, 7, 9, 11, 13}, 121, ""},
		{"2027-03-02T00:00:00Z", "2027-03-03T00:00:00Z", "", []int{13}, 1, ""},
		{"2027-03-03T00:00:00Z", "2027-03-05T00:00:00Z", "", nil, 2, ""},
		// What one credential recorded, and with a user as well.
		{"2026-12-01T00:00:00Z", "2027-04-01T00:00:00Z", "", []int{0, 3, 6, 9, 12}, 121, "token:leaked"},
		{"2026-12-01T00:00:00Z", "2027-04-01T00:00:00Z", "u-odd", []int{3, 9}, 121, "token:leaked"},
		{"2026-12-01T00:00:00Z", "2027-04-01T00:00:00Z", "", nil, 121, "token:leak"},
	} {
		t.Run(tc.from+"/"+tc.to+tc.user+tc.by, func(t *testing.T) {
			var got []int
			drep, err := replayer.Discover(ctx, replayer.DiscoverConfig{S3: p.S3, Bucket: p.Cfg.Bucket, Chain: p.Cfg.Chain, VerifierKey: p.Cfg.VerifierKey,
				From: at(tc.from), To: at(tc.to), UserID: tc.user, RecordedBy: tc.by}, func(f replayer.Found) error {
				if !f.Signed {
					return fmt.Errorf("seq %d not signed", f.Entry.Seq)
				}
				var n int
				fmt.Sscanf(strings.TrimPrefix(f.Entry.DecisionID(), "dec-"), "%d", &n)
				got = append(got, n)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) && !(len(got) == 0 && len(tc.want) == 0) {
				t.Fatalf("found %v, want %v", got, tc.want)
			}
			if drep.Days != tc.days {
				t.Fatalf("listed %d days, want %d", drep.Days, tc.days)
			}
		})
	}
	// A filter on type finds nothing invalid, and a broken range is refused.
	_, err = replayer.Discover(ctx, replayer.DiscoverConfig{S3: p.S3, Bucket: p.Cfg.Bucket, Chain: p.Cfg.Chain, VerifierKey: p.Cfg.VerifierKey,
		From: at(stamps[1]), To: at(stamps[0])}, func(replayer.Found) error { return nil })
	if err == nil {
		t.Fatal("a range ending before it starts was accepted")
	}
	var n int
	_, err = replayer.Discover(ctx, replayer.DiscoverConfig{S3: p.S3, Bucket: p.Cfg.Bucket, Chain: p.Cfg.Chain, VerifierKey: p.Cfg.VerifierKey,
		From: at(stamps[0]), To: at("2027-04-01T00:00:00Z"), Type: shared.EntryInvalid}, func(replayer.Found) error { n++; return nil })
	if err != nil || n != 0 {
		t.Fatalf("invalid entries: %d, %v", n, err)
	}
}

// An access request by user (GDPR Art. 15) gets what was made of the
// user's decisions too: the overrides in the range of the decisions the
// filter matched earlier in it. An override names its decision, not the
// user, so discover --user had left out every human review and fail-safe
// escalation of them (found by an operator's trial). An override of
// another user's decision, or of one decided before the range, is not
// kept.
func TestDiscoverByUserFindsTheOverridesOfTheUsersDecisions(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p := startPipeline(t, pipeline.Config{Indexers: -1, Sealer: func(c *sealer.Config) { c.BatchMaxRecords = 3 }})
	<-p.Sealer.Ready()
	base := mustTime(t, "2027-05-10T08:00:00Z")
	decision := func(n int, user, session string) string {
		return fmt.Sprintf(`{"type":"decision","event_id":"evt-d%d","environment":%q,"occurred_at":"2027-05-10T08:00:00Z","decision":{"decision_id":"dec-%d","action":"ALLOW","confidence_score":0.5,"policy_version":"p","user_id":%q,"session_id":%q}}`,
			n, p.Cfg.Chain, n, user, session)
	}
	override := func(n, of int) string {
		return fmt.Sprintf(`{"type":"override","event_id":"evt-o%d","environment":%q,"occurred_at":"2027-05-10T08:00:00Z","override":{"decision_id":"dec-%d","reviewer_id":"analyst-7","new_action":"BLOCK","reason":"review"}}`,
			n, p.Cfg.Chain, of)
	}
	// Seq order: dec-1 (u1, before the range), dec-2 (u1), dec-3 (u2),
	// overrides of dec-1, dec-2, dec-3, dec-4 (u1, not yet decided), then
	// dec-4 (u1), and another override of dec-2 past the range's end.
	events := []string{decision(1, "u1", "s1"), decision(2, "u1", "s1"), decision(3, "u2", "s1"),
		override(1, 1), override(2, 2), override(3, 3), override(4, 4), decision(4, "u1", "s2"), override(5, 2)}
	var recs []rawRecord
	for i, e := range events {
		recs = append(recs, rawRecord{e, base.Add(time.Duration(i) * time.Minute).UnixMilli()})
	}
	publishAt(t, p.Cfg.Topic, recs...)
	if err := p.WaitHead(ctx, uint64(len(events))); err != nil {
		t.Fatal(err)
	}
	from, to := base.Add(time.Minute), base.Add(8*time.Minute) // dec-2 to dec-4
	for _, tc := range []struct {
		user, session string
		want          string
	}{
		{"u1", "", "[evt-d2 evt-o2 evt-d4]"},
		{"u2", "", "[evt-d3 evt-o3]"},
		{"", "s1", "[evt-d2 evt-d3 evt-o2 evt-o3]"},
		{"u1", "s2", "[evt-d4]"},
		{"nobody", "", "[]"},
	} {
		t.Run(tc.user+"/"+tc.session, func(t *testing.T) {
			var got []string
			_, err := replayer.Discover(ctx, replayer.DiscoverConfig{S3: p.S3, Bucket: p.Cfg.Bucket, Chain: p.Cfg.Chain, VerifierKey: p.Cfg.VerifierKey,
				From: from, To: to, UserID: tc.user, SessionID: tc.session}, func(f replayer.Found) error {
				env, err := f.Entry.Envelope()
				if err != nil {
					return err
				}
				got = append(got, env.EventID)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != tc.want {
				t.Fatalf("found %v, want %s", got, tc.want)
			}
		})
	}
}
