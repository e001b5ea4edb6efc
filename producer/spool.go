package producer

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/aegisai/audit/shared"
)

// ErrSpoolFull means an escalation could not be spooled: the spool holds
// Config.SpoolMaxBytes already. The fail-safe action is still returned.
var ErrSpoolFull = errors.New("escalation spool full")

// spool is the on-disk queue of records Govern could not publish. The
// directory holds
//
//	records    one canonical record per line, appended and fsynced
//	cursor     the byte offset in records up to which lines are published
//	lock       held (flock) by the one producer using the directory
//
// A line is added whole or not at all (a torn last line, from a crash
// during the append, was never reported spooled and is cut off at open).
// Lines are published in order; the cursor moves, fsynced, after Kafka has
// acknowledged them, and both files are emptied once the cursor reaches
// the end. A crash after the acknowledgement and before the cursor moves
// publishes those lines again on the next start, with the same event ids
// and bytes: the index counts such a retry as one event (and lists it as a
// duplicate-event anomaly).
type spool struct {
	dir  string
	max  int64
	mu   sync.Mutex
	f    *os.File // records, opened for append
	lock *os.File
	size int64 // bytes in records
	next int64 // the cursor
	n    int   // lines after the cursor
	// waiting is n, read without mu: every call of the producer asks it
	// (behindSpool), PublishAsync's hot path included.
	waiting atomic.Int64
	// cursorAhead: the records were emptied but the cursor file may still
	// say an offset past 0 (a crash, or a cursor that could not be
	// written, between the two). Records appended over it would be
	// skipped up to that offset at the next start, so append writes the
	// cursor 0 first.
	cursorAhead bool
}

func openSpool(dir string, max int64) (*spool, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("spool dir %s: %w", dir, err)
	}
	lock, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("spool dir %s: %w", dir, err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lock.Close()
		return nil, fmt.Errorf("spool dir %s is in use by another producer (give each its own SpoolDir): %w", dir, err)
	}
	s := &spool{dir: dir, max: max, lock: lock}
	if err := s.load(); err != nil {
		lock.Close()
		return nil, fmt.Errorf("spool dir %s: %w", dir, err)
	}
	return s, nil
}

// load reads the cursor, cuts a torn last line, and counts the lines left.
func (s *spool) load() error {
	f, err := os.OpenFile(filepath.Join(s.dir, "records"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return err
	}
	data, err := io.ReadAll(f)
	if err != nil {
		f.Close()
		return err
	}
	whole := int64(bytes.LastIndexByte(data, '\n') + 1)
	if whole < int64(len(data)) {
		if err := f.Truncate(whole); err != nil {
			f.Close()
			return err
		}
	}
	if _, err := f.Seek(whole, io.SeekStart); err != nil {
		f.Close()
		return err
	}
	s.f, s.size = f, whole
	if c, err := os.ReadFile(filepath.Join(s.dir, "cursor")); err == nil {
		n, perr := strconv.ParseInt(string(bytes.TrimSpace(c)), 10, 64)
		if perr == nil && n >= 0 && whole == 0 {
			// advance empties the records before it writes the cursor 0:
			// a crash between the two leaves an old cursor past an empty
			// file, and nothing waits. (Before, the spool, and with it
			// aegis ingest, refused to start until the file was removed.)
			// The file still says the old cursor: append writes 0 before
			// records go over it.
			s.cursorAhead = n > 0
			n = 0
		}
		if perr != nil || n < 0 || n > whole || (n > 0 && data[n-1] != '\n') {
			return fmt.Errorf("cursor %q does not point at a line of records (%d bytes): fix or remove the cursor file", c, whole)
		}
		s.next = n
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	s.n = bytes.Count(data[s.next:whole], []byte{'\n'})
	s.waiting.Store(int64(s.n))
	return nil
}

// checkEnvironment refuses a spool whose waiting records belong to
// another chain than env, naming the chain and the count.
func (s *spool) checkEnvironment(env string) error {
	s.mu.Lock()
	from, to := s.next, s.size
	s.mu.Unlock()
	r := bufio.NewReader(io.NewSectionReader(s.f, from, to-from))
	foreign, other := 0, ""
	for {
		line, err := r.ReadBytes('\n')
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("spool dir %s: %w", s.dir, err)
		}
		var rec struct {
			Environment string `json:"environment"`
		}
		if json.Unmarshal(line, &rec) == nil && rec.Environment != env {
			foreign++
			if other == "" {
				other = rec.Environment
			}
		}
	}
	if foreign > 0 {
		return fmt.Errorf("spool dir %s holds %d escalation records of chain %q, and this producer records chain %q: published here they would be sealed as invalid entries of %q and lost to %q; start a producer of chain %q with this SpoolDir to publish them, and give this one its own SpoolDir",
			s.dir, foreign, other, env, env, other, other)
	}
	return nil
}

// append adds records, all or none, durably.
func (s *spool) append(records [][]byte) error {
	var buf []byte
	for _, r := range records {
		if bytes.IndexByte(r, '\n') >= 0 {
			return fmt.Errorf("spool: a record holds a newline") // canonical JSON never does
		}
		buf = append(append(buf, r...), '\n')
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.size-s.next+int64(len(buf)) > s.max {
		return fmt.Errorf("%w: %d bytes waiting, limit %d", ErrSpoolFull, s.size-s.next, s.max)
	}
	if s.cursorAhead {
		// Before, the records appended here were read from the old
		// cursor at the next start: those before it were skipped without
		// a word (TestAttack32bSpoolEmptiedByACrashKeepsWhatIsSpooledAfter).
		if err := writeFileSync(filepath.Join(s.dir, "cursor"), []byte("0\n")); err != nil {
			return fmt.Errorf("spool: the cursor of the emptied records cannot be saved, so records cannot be added safely: %w", err)
		}
		s.cursorAhead = false
	}
	if _, err := s.f.Write(buf); err != nil {
		// Cut what may have been written, so no partial line stays.
		_ = s.f.Truncate(s.size)
		_, _ = s.f.Seek(s.size, io.SeekStart)
		return fmt.Errorf("spool: %w", err)
	}
	if err := s.f.Sync(); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	s.size += int64(len(buf))
	s.n += len(records)
	s.waiting.Store(int64(s.n))
	return nil
}

// peek returns up to max lines after the cursor and the cursor after them.
func (s *spool) peek(max int) ([][]byte, int64, error) {
	s.mu.Lock()
	from, to := s.next, s.size
	s.mu.Unlock()
	if from == to {
		return nil, from, nil
	}
	r := bufio.NewReader(io.NewSectionReader(s.f, from, to-from))
	var out [][]byte
	next := from
	for len(out) < max {
		line, err := r.ReadBytes('\n')
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, from, err
		}
		next += int64(len(line))
		out = append(out, line[:len(line)-1])
	}
	return out, next, nil
}

// advance moves the cursor past n published lines, durably; at the end of
// the records it empties both files. The lines are published whatever it
// returns: the spool is past them in memory first, so that a cursor that
// cannot be written (a full disk) does not send them again at every round
// of the replay, only at the next start, as after a crash.
func (s *spool) advance(next int64, n int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	defer func() { s.waiting.Store(int64(s.n)) }() // under mu, on every return
	s.next, s.n = next, s.n-n
	if next == s.size {
		if err := s.f.Truncate(0); err != nil {
			return err
		}
		// The records are gone: whatever the cursor file says from here
		// on, nothing waits (load reads an old cursor so too).
		s.size, s.next, s.n = 0, 0, 0
		s.cursorAhead = true // until the cursor 0 is written
		if _, err := s.f.Seek(0, io.SeekStart); err != nil {
			return err
		}
		if err := s.f.Sync(); err != nil {
			return err
		}
	}
	if err := writeFileSync(filepath.Join(s.dir, "cursor"), []byte(strconv.FormatInt(s.next, 10)+"\n")); err != nil {
		return err
	}
	s.cursorAhead = false
	return nil
}

func (s *spool) records() int { return int(s.waiting.Load()) }

func (s *spool) close() {
	s.f.Close()
	s.lock.Close()
}

// writeFileSync replaces path with data atomically and durably.
func writeFileSync(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// spoolRetry is how often the spool is retried while the broker is away.
var spoolRetry = time.Second

// replaySpool publishes the spool in order whenever it holds records,
// until ctx ends. Before each round it flushes the client, so that every
// record a call gave up on has its late outcome: a spooled record the
// client delivered after all is not published again.
func (p *Producer) replaySpool(ctx context.Context) {
	defer p.bg.Done()
	for {
		err := p.replayOnce(ctx)
		if err == nil {
			continue
		}
		if err != errSpoolEmpty && ctx.Err() == nil {
			p.cfg.Logger.Warn("the spool could not be published yet; retrying", zap.Int("records", p.spool.records()), zap.Error(err))
		}
		select {
		case <-ctx.Done():
			return
		case <-p.replayNow:
		case <-time.After(spoolRetry):
		}
	}
}

// behindSpool holds a call that publishes directly until the escalations
// spooled before it are published, within the call's time (ctx and
// Config.Timeout). Published before them, its event would be sealed
// before an earlier escalation, which, latest by seq (FORMAT.md 11), would
// then set the decision's state over a reviewer's later override (found by
// an outside trial: "now CHALLENGE" after the reviewer's BLOCK). A call
// held past its time fails as the audit trail unavailable; Govern then
// spools its escalation behind the others.
func (p *Producer) behindSpool(ctx context.Context) error {
	if p.spool == nil || p.spool.records() == 0 {
		return nil
	}
	// After Close the replay has stopped: nothing would drain the spool,
	// and the call waited its whole Timeout to fail as unavailable rather
	// than with ErrClosed at once (TestAttack33cACallAfterCloseWithASpoolFailsAtOnceWithErrClosed).
	p.mu.RLock()
	closed := p.closed
	p.mu.RUnlock()
	if closed {
		return ErrClosed
	}
	select {
	case p.replayNow <- struct{}{}:
	default:
	}
	ctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	for {
		n := p.spool.records()
		if n == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			p.m.failed.Inc()
			return fmt.Errorf("%w: %d spooled escalations are not published yet, and an event published now would be sealed before them: %v",
				ErrAuditUnavailable, n, ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
}

var errSpoolEmpty = errors.New("spool empty")

// replayOnce publishes up to 500 spooled records.
func (p *Producer) replayOnce(ctx context.Context) error {
	lines, next, err := p.spool.peek(500)
	if err != nil {
		return err
	}
	if len(lines) == 0 {
		return errSpoolEmpty
	}
	if err := p.Ready(); err != nil {
		return err
	}
	fctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	if err := p.cl.Flush(fctx); err != nil {
		return fmt.Errorf("flush the records calls gave up on: %w", err)
	}
	// Flush returns once the client is done with every record; the calls
	// that gave up on some keep their late outcomes a moment later.
	for p.settling.Load() > 0 {
		select {
		case <-fctx.Done():
			return fmt.Errorf("wait for the outcomes of %d calls given up on: %w", p.settling.Load(), fctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
	var recs []*kgo.Record
	skipped := 0
	for _, l := range lines {
		// The spooled bytes are the producer's own canonical records; the
		// key is the event id, as for every record.
		id := spooledEventID(l)
		if p.late.delivered(string(id)) {
			skipped++
			continue
		}
		recs = append(recs, &kgo.Record{Key: id, Value: l})
	}
	if len(recs) > 0 {
		if err := p.produce(ctx, recs); err != nil {
			return err
		}
	}
	if err := p.spool.advance(next, len(lines)); err != nil {
		// Published: said so, and not published again by this process.
		// Before, the round failed and the next one sent the same records
		// again, every second while the spool's disk was full.
		p.cfg.Logger.Warn("spooled escalations published, but the spool's cursor could not be saved: they are published again at the next start unless a later round saves it (is the spool's disk full?)",
			zap.String("spool_dir", p.spool.dir), zap.Int("records", len(recs)), zap.Error(err))
	}
	p.m.replayed.Add(float64(len(recs)))
	p.m.spooled.Set(float64(p.spool.records()))
	p.cfg.Logger.Info("spooled escalations published", zap.Int("records", len(recs)),
		zap.Int("delivered_by_the_client_already", skipped), zap.Int("left", p.spool.records()))
	return nil
}

// spooledEventID reads the event id of a spooled record for its Kafka key.
func spooledEventID(record []byte) []byte {
	if env, _, err := shared.ParseRecord(record); err == nil {
		return []byte(env.EventID)
	}
	return nil
}
