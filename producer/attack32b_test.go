package producer

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAttack32bSpoolEmptiedByACrashKeepsWhatIsSpooledAfter: advance empties
// the records and dies before it writes the cursor 0 (a SIGKILL, a power
// cut); the next start reads the old cursor as 0 (nothing waits), and
// escalations are spooled again (Kafka still out of reach). At the start
// after that, the old cursor, still in its file, must not skip them.
func TestAttack32bSpoolEmptiedByACrashKeepsWhatIsSpooledAfter(t *testing.T) {
	dir := t.TempDir()
	s, err := openSpool(dir, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.append([][]byte{[]byte(`{"n":1}`), []byte(`{"n":2}`)}); err != nil {
		t.Fatal(err)
	}
	_, next, _ := s.peek(1)
	if err := s.advance(next, 1); err != nil { // the cursor file says 8
		t.Fatal(err)
	}
	s.close()
	if err := os.Truncate(filepath.Join(dir, "records"), 0); err != nil { // the next advance, killed before the cursor
		t.Fatal(err)
	}
	s, err = openSpool(dir, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.append([][]byte{[]byte(`{"n":3}`), []byte(`{"n":4}`)}); err != nil {
		t.Fatal(err)
	}
	s.close()
	s, err = openSpool(dir, 1<<20)
	if err != nil {
		t.Fatalf("the start after: %v", err)
	}
	defer s.close()
	if got := strings.Join(lines(t, s), " "); got != `{"n":3} {"n":4}` {
		t.Fatalf("escalations spooled after a crash that emptied the spool, at the start after: %s, want {\"n\":3} {\"n\":4}", got)
	}
}

// TestAttack32bSpoolWhoseCursorCannotBeSavedKeepsWhatIsSpooledAfter: the
// replay publishes the last records, advance empties the file, and the
// cursor 0 cannot be written (a full disk); the spool is empty in memory
// and takes new escalations. When the disk has room again and the process
// restarts, they must all still be there.
func TestAttack32bSpoolWhoseCursorCannotBeSavedKeepsWhatIsSpooledAfter(t *testing.T) {
	dir := t.TempDir()
	s, err := openSpool(dir, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.append([][]byte{[]byte(`{"n":1}`), []byte(`{"n":2}`)}); err != nil {
		t.Fatal(err)
	}
	_, next, _ := s.peek(1)
	if err := s.advance(next, 1); err != nil { // the cursor file says 8
		t.Fatal(err)
	}
	blocker := filepath.Join(dir, "cursor.tmp")
	if err := os.Mkdir(blocker, 0o700); err != nil { // the cursor cannot be written
		t.Fatal(err)
	}
	_, next, _ = s.peek(1)
	if err := s.advance(next, 1); err == nil {
		t.Fatal("the cursor was written")
	}
	appendErr := s.append([][]byte{[]byte(`{"n":3}`), []byte(`{"n":4}`)})
	s.close()
	if err := os.Remove(blocker); err != nil {
		t.Fatal(err)
	}
	s, err = openSpool(dir, 1<<20)
	if err != nil {
		t.Fatalf("the start after: %v", err)
	}
	defer s.close()
	got := strings.Join(lines(t, s), " ")
	if appendErr == nil && got != `{"n":3} {"n":4}` {
		t.Fatalf("escalations the spool took after a cursor it could not save, at the next start: %q, want {\"n\":3} {\"n\":4}", got)
	}
}
