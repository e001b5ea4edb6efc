package producer

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/aegisai/audit/shared"
)

func TestNewRefusesIncompleteConfig(t *testing.T) {
	for _, cfg := range []Config{
		{Environment: "prod"},
		{Brokers: []string{"127.0.0.1:1"}},
		{Brokers: []string{"127.0.0.1:1"}, Environment: "has space"},
	} {
		if p, err := New(context.Background(), cfg); err == nil {
			p.Close()
			t.Errorf("config %+v accepted", cfg)
		}
	}
}

func TestStricterNeverWeakens(t *testing.T) {
	for _, c := range []struct{ a, b, want shared.Action }{
		{shared.ActionAllow, shared.ActionChallenge, shared.ActionChallenge},
		{shared.ActionBlock, shared.ActionChallenge, shared.ActionBlock},
		{shared.ActionChallenge, shared.ActionReview, shared.ActionReview},
		{shared.ActionReview, shared.ActionBlock, shared.ActionBlock},
		{shared.ActionAllow, "NEW", "NEW"},
		{"NEW", shared.ActionAllow, "NEW"},
	} {
		if got := Stricter(c.a, c.b); got != c.want {
			t.Errorf("Stricter(%s, %s) = %s, want %s", c.a, c.b, got, c.want)
		}
	}
}

func TestClipReasonKeepsUTF8(t *testing.T) {
	long := strings.Repeat("é", shared.MaxReasonLen)
	got := clipReason(long)
	if len(got) > shared.MaxReasonLen || !utf8.ValidString(got) || !strings.HasSuffix(got, "...") {
		t.Errorf("clipped to %d bytes, valid %v", len(got), utf8.ValidString(got))
	}
	if clipReason("short") != "short" {
		t.Error("a short reason was changed")
	}
}

func lines(t *testing.T, s *spool) []string {
	t.Helper()
	got, _, err := s.peek(1000)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range got {
		out = append(out, string(l))
	}
	return out
}

func TestSpoolKeepsOrderAcrossRestartsAndCutsATornLine(t *testing.T) {
	dir := t.TempDir()
	s, err := openSpool(dir, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.append([][]byte{[]byte(`{"n":1}`), []byte(`{"n":2}`)}); err != nil {
		t.Fatal(err)
	}
	if err := s.append([][]byte{[]byte(`{"n":3}`)}); err != nil {
		t.Fatal(err)
	}
	// A second producer may not use the same directory.
	if _, err := openSpool(dir, 1<<20); err == nil || !strings.Contains(err.Error(), "in use by another producer") {
		t.Fatalf("second open: %v", err)
	}
	// Two published: the cursor moves past them.
	_, next, _ := s.peek(2)
	if err := s.advance(next, 2); err != nil {
		t.Fatal(err)
	}
	s.close()
	// A crash mid-append left half a line.
	f, _ := os.OpenFile(filepath.Join(dir, "records"), os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"n":4`)
	f.Close()

	s, err = openSpool(dir, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if got := lines(t, s); strings.Join(got, " ") != `{"n":3}` || s.records() != 1 {
		t.Fatalf("after restart: %v (%d records)", got, s.records())
	}
	if err := s.append([][]byte{[]byte(`{"n":5}`)}); err != nil {
		t.Fatal(err)
	}
	if got := lines(t, s); strings.Join(got, " ") != `{"n":3} {"n":5}` {
		t.Fatalf("after append: %v", got)
	}
	_, next, _ = s.peek(10)
	if err := s.advance(next, 2); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(filepath.Join(dir, "records")); st.Size() != 0 || s.records() != 0 {
		t.Fatalf("spool not emptied: %d bytes, %d records", st.Size(), s.records())
	}
	s.close()
}

func TestSpoolIsBounded(t *testing.T) {
	s, err := openSpool(t.TempDir(), 20)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	if err := s.append([][]byte{[]byte(`{"n":1}`), []byte(`{"n":2}`)}); err != nil {
		t.Fatal(err)
	}
	// All or nothing: 16 bytes + 8 would pass the limit.
	if err := s.append([][]byte{[]byte(`{"n":3}`)}); !errors.Is(err, ErrSpoolFull) {
		t.Fatalf("over the limit: %v", err)
	}
	if s.records() != 2 {
		t.Fatalf("%d records after a refused append", s.records())
	}
}

func TestSpoolRefusesABadCursor(t *testing.T) {
	dir := t.TempDir()
	s, err := openSpool(dir, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	s.append([][]byte{[]byte(`{"n":1}`)})
	s.close()
	os.WriteFile(filepath.Join(dir, "cursor"), []byte("3\n"), 0o600)
	if _, err := openSpool(dir, 1<<20); err == nil || !strings.Contains(err.Error(), "does not point at a line") {
		t.Fatalf("cursor inside a line: %v", err)
	}
}

// advance empties the records, then writes the cursor 0: a crash between
// the two (a SIGKILL, a power cut) left the cursor of the last advance
// past an empty records file, and openSpool refused it ("fix or remove
// the cursor file"), so aegis ingest did not start again until someone
// removed the file by hand. Nothing waits in an empty spool.
func TestSpoolOpensAfterACrashWhileItWasEmptied(t *testing.T) {
	dir := t.TempDir()
	s, err := openSpool(dir, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.append([][]byte{[]byte(`{"n":1}`), []byte(`{"n":2}`)}); err != nil {
		t.Fatal(err)
	}
	_, next, _ := s.peek(1)
	if err := s.advance(next, 1); err != nil { // the cursor is past {"n":1}
		t.Fatal(err)
	}
	s.close()
	// The second advance emptied the records and died before the cursor.
	if err := os.Truncate(filepath.Join(dir, "records"), 0); err != nil {
		t.Fatal(err)
	}
	s, err = openSpool(dir, 1<<20)
	if err != nil {
		t.Fatalf("a spool emptied before its cursor was written does not open: %v", err)
	}
	defer s.close()
	if got := lines(t, s); len(got) != 0 || s.records() != 0 {
		t.Fatalf("after the restart: %v (%d records), want none", got, s.records())
	}
	if err := s.append([][]byte{[]byte(`{"n":3}`)}); err != nil {
		t.Fatal(err)
	}
	if got := lines(t, s); strings.Join(got, " ") != `{"n":3}` || s.records() != 1 {
		t.Fatalf("after an append: %v (%d records)", got, s.records())
	}
}

// A call after Close is an audit trail unavailable to its caller, whose
// fail-safe keys on ErrAuditUnavailable.
func TestACallAfterCloseIsUnavailable(t *testing.T) {
	c := testBroker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, err := New(ctx, Config{Brokers: c.ListenAddrs(), Environment: "prod"})
	if err != nil {
		t.Fatal(err)
	}
	p.Close()
	d := shared.Decision{DecisionID: "d1", Action: shared.ActionAllow, ConfidenceScore: 0.5, PolicyVersion: "p", UserID: "u", SessionID: "s"}
	if _, err := p.LogDecision(ctx, d); !errors.Is(err, ErrClosed) || !errors.Is(err, ErrAuditUnavailable) {
		t.Fatalf("LogDecision after Close: %v, want ErrClosed, an ErrAuditUnavailable", err)
	}
	if err := p.PublishAsync(ctx, p.NewDecision(d), nil); !errors.Is(err, ErrAuditUnavailable) {
		t.Fatalf("PublishAsync after Close: %v", err)
	}
}
