package httpapi_test

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/aegisai/audit/query"
	"github.com/aegisai/audit/shared"
)

// Ids may begin or end with a space (docs/FORMAT.md section 4: any
// character but C0 controls). The page's "Next overrides" and "More"
// buttons asked for the search field's value trimmed, not the id shown:
// the next page of decision "spaced " was asked of decision "spaced",
// with a cursor of the other decision's (400: from another query), and
// likewise a user's next page.
func TestThePagesNextPagesAreOfTheIDShown(t *testing.T) {
	f := setup(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const id, user = " spaced decision ", " spaced user "
	prod, err := f.p.Producer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	d := prod.NewDecision(shared.Decision{DecisionID: id, Action: shared.ActionBlock, ConfidenceScore: 0.5, PolicyVersion: "p", UserID: user, SessionID: "s"})
	other := prod.NewDecision(shared.Decision{DecisionID: "other of" + id, Action: shared.ActionAllow, ConfidenceScore: 0.5, PolicyVersion: "p", UserID: user, SessionID: "s"})
	other.OccurredAt = d.OccurredAt.Add(time.Second)
	events := []*shared.Envelope{d, other}
	for i, action := range []shared.Action{shared.ActionAllow, shared.ActionReview} {
		o := prod.NewOverride(shared.Override{DecisionID: id, ReviewerID: "r", NewAction: action, Reason: "again"})
		o.OccurredAt = d.OccurredAt.Add(time.Duration(i+2) * time.Second)
		events = append(events, o)
	}
	if err := prod.Publish(ctx, events...); err != nil {
		t.Fatal(err)
	}
	for {
		h, herr := f.p.Reader.Decision(ctx, id)
		pg, perr := f.p.Reader.ByUser(ctx, user, query.Range{})
		if herr == nil && perr == nil && len(h.Overrides) == 2 && h.CurrentAction == string(shared.ActionReview) && len(pg.Decisions) == 2 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("not indexed: %v %v", herr, perr)
		case <-time.After(100 * time.Millisecond):
		}
	}

	p := openPage(t, f)
	p.open("#decision=" + url.PathEscape(id))
	if v, checks := p.verdict("verdict", "checks"); v != "pass" {
		t.Fatalf("the decision: verdict %s: %s", v, checks)
	}
	p.eval(`document.getElementById("limit").value = "1"`)
	p.eval(`window.dispatchEvent(new HashChangeEvent("hashchange"))`)
	poll[bool](p, `document.querySelector("#history tbody").textContent.includes("(current; on a later page)")`)
	if v, checks := p.verdict("verdict", "checks"); v != "pass" {
		t.Fatalf("the first page of one override: verdict %s: %s", v, checks)
	}
	p.eval(`document.getElementById("verdict").dataset.verdict = "pending"`)
	p.run(chromedp.Click(chromedp.ID("overrides-more")))
	// The verdict, or the status of a request refused (its verdict stays
	// pending).
	v := poll[string](p, `(v => v === "pass" || v === "fail" ? v : null)(document.getElementById("verdict").dataset.verdict) || `+
		`(s => s && s !== "reading…" ? "status" : null)(document.getElementById("status").textContent)`)
	if status := p.text("#status"); v != "pass" || status != "" || !strings.Contains(p.text("#history tbody"), "override to REVIEW") ||
		strings.Contains(p.text("#history tbody"), "override to ALLOW") {
		t.Fatalf("the second page of the overrides of %q: verdict %s, status %q; history %s", id, v, status, p.text("#history tbody"))
	}

	p.open("#user=" + url.PathEscape(user))
	p.eval(`document.getElementById("limit").value = "1"`)
	p.eval(`window.dispatchEvent(new HashChangeEvent("hashchange"))`)
	poll[bool](p, `document.querySelectorAll("#list tbody tr").length === 1`)
	p.run(chromedp.Click(chromedp.ID("more")))
	got := poll[string](p, `(s => s && s !== "reading…" ? s : null)(document.getElementById("status").textContent)`)
	if rows := p.text("#list tbody"); got != "2 decisions" || !strings.Contains(rows, "other of"+id) || strings.Count(rows, id) != 2 {
		t.Fatalf("the next page of user %q: status %q, rows %s", user, got, rows)
	}

	// The search box looks the id up as typed: trimmed, it looked up
	// decision "spaced decision", another whose id looks the same.
	p.eval(`document.getElementById("verdict").dataset.verdict = "pending"`)
	p.eval(`document.getElementById("kind").value = "decision", document.getElementById("q").value = " spaced decision ", document.getElementById("search").requestSubmit()`)
	if v, checks := p.verdict("verdict", "checks"); v != "pass" || poll[string](p, `location.hash`) != "#decision=%20spaced%20decision%20" {
		t.Fatalf("the spaced id searched: verdict %s (%s), hash %s", v, checks, poll[string](p, `location.hash`))
	}
	p.eval(`document.getElementById("status").textContent = "", document.getElementById("q").value = "spaced decision", document.getElementById("search").requestSubmit()`)
	if got := poll[string](p, `(s => s && s !== "reading…" ? s : null)(document.getElementById("status").textContent)`); !strings.Contains(got, "not") {
		t.Fatalf("the id without its spaces: status %q, want it not found", got)
	}
}
