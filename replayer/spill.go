package replayer

import (
	"bufio"
	"cmp"
	"container/heap"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"syscall"
	"time"

	"github.com/aegisai/audit/indexer"
	"github.com/aegisai/audit/internal/platform/setting"
)

// This file holds what index check writes to disk so that its memory is
// bounded by its settings, not by the range it checks: a private scratch
// folder, and sorted runs of item-key records merged in key-hash order.

// scratch is a check's private folder for spilled data: made on first use
// with os.MkdirTemp (mode 0700) under parent (os.TempDir() when empty),
// each file in it created anew with mode 0600, all of it removed by
// remove. Only the check's own user (and root) can read what is in it.
// The check holds the folder's lock file locked while it runs, so that a
// later check can tell a folder left by a check that was killed (its lock
// free) from one in use, and remove it.
type scratch struct {
	parent string
	dir    string
	lock   *os.File
	files  int
}

// scratchPattern names scratch folders (os.MkdirTemp's pattern).
const scratchPattern = "aegis-check-"

// lockName is the file of a scratch folder its check holds locked.
const lockName = "lock"

// staleUnlocked is how old a scratch folder without a lock file (made by
// a check older than the lock, or killed between making the folder and
// its lock) must be before another check removes it.
const staleUnlocked = 24 * time.Hour

// make makes the folder, if it is not made yet: at the start of a check,
// so that a TempDir that cannot hold it fails the check before it reads
// anything rather than when its keys first spill. It then removes the
// folders that checks killed earlier left in the same parent.
func (s *scratch) make() error {
	if s.dir != "" {
		return nil
	}
	dir, err := os.MkdirTemp(s.parent, scratchPattern)
	if err != nil {
		return setting.Errorf("TempDir", "%q cannot hold the check's scratch folder: %v", s.parent, err)
	}
	lock, err := lockFolder(dir)
	if err != nil {
		os.RemoveAll(dir)
		return setting.Errorf("TempDir", "%q cannot hold the check's scratch folder: %v", s.parent, err)
	}
	s.dir, s.lock = dir, lock
	removeStaleScratch(filepath.Dir(dir), dir)
	return nil
}

// lockFolder makes dir's lock file and locks it. The file is locked under
// another name and then renamed, so that no other check ever finds the
// lock file unlocked while this one is starting.
func lockFolder(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, lockName+".new"), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock the scratch folder: %w", err)
	}
	if err := os.Rename(f.Name(), filepath.Join(dir, lockName)); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// scratchFile matches the names of the files a check makes in its folder
// (create's "<what>-NNNNNN", the lock): a folder holding anything else is
// not a check's, whatever its name, and is never removed.
var scratchFile = regexp.MustCompile(`^((s3-keys|table-items|differences)-[0-9]{6,}|lock|lock\.new)$`)

// removeStaleScratch removes the scratch folders under parent, other than
// own, that a check of this user made (mode 0700, only a check's files in
// it) and that no running check holds: their lock can be taken (its check
// is gone), or they have no lock file and are older than staleUnlocked.
// It never fails a check: what it cannot remove stays.
func removeStaleScratch(parent, own string) {
	found, _ := filepath.Glob(filepath.Join(parent, scratchPattern+"*"))
	for _, dir := range found {
		if dir == own {
			continue
		}
		fi, err := os.Lstat(dir)
		st, ok := statOf(fi)
		if err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o700 || !ok || int(st.Uid) != os.Getuid() || !onlyScratchFiles(dir) {
			continue
		}
		f, err := os.Open(filepath.Join(dir, lockName))
		if errors.Is(err, os.ErrNotExist) {
			if time.Since(fi.ModTime()) > staleUnlocked {
				os.RemoveAll(dir)
			}
			continue
		}
		if err != nil {
			continue
		}
		if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil {
			os.RemoveAll(dir)
		}
		f.Close()
	}
}

// onlyScratchFiles reports whether every entry of dir is a file a check
// makes (scratchFile), none of them a folder or a link.
func onlyScratchFiles(dir string) bool {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, e := range entries {
		if !e.Type().IsRegular() || !scratchFile.MatchString(e.Name()) {
			return false
		}
	}
	return true
}

// statOf is fi's system stat (ok false when fi is nil or has none).
func statOf(fi os.FileInfo) (*syscall.Stat_t, bool) {
	if fi == nil {
		return nil, false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return st, ok
}

// create makes a new file of the folder, named after what it holds.
func (s *scratch) create(what string) (*os.File, error) {
	if err := s.make(); err != nil {
		return nil, err
	}
	s.files++
	f, err := os.OpenFile(filepath.Join(s.dir, fmt.Sprintf("%s-%06d", what, s.files)), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("scratch file: %w", err)
	}
	return f, nil
}

// remove deletes the folder and everything in it.
func (s *scratch) remove() error {
	if s.dir == "" {
		return nil
	}
	err := os.RemoveAll(s.dir)
	s.lock.Close() // after the removal: no other check takes the folder while it is removed
	s.dir, s.lock = "", nil
	if err != nil {
		return fmt.Errorf("remove the scratch folder: %w", err)
	}
	return nil
}

// keyRecord is an item key as index check sorts it: the key's 128-bit
// hash (keyHash), and for a table item its seq and key (zero for a key an
// S3 entry produced, where only the hash is needed).
type keyRecord struct {
	sum [2]uint64
	seq uint64
	key indexer.ItemKey
}

func compareSums(a, b [2]uint64) int {
	if c := cmp.Compare(a[0], b[0]); c != 0 {
		return c
	}
	return cmp.Compare(a[1], b[1])
}

// maxKeyPart bounds a key part read back from a run: DynamoDB's keys are
// at most 2,048 (partition) and 1,024 (sort) bytes, so anything longer
// is a damaged file, refused rather than allocated.
const maxKeyPart = 4096

// A run file is a sequence of records sorted by sum, each: sum[0] and
// sum[1] (8 bytes each, big-endian), then seq, len(PK), PK, len(SK), SK
// (lengths and seq as uvarints). A key an S3 entry produced costs 19
// bytes.

// runWriter writes one run, records given in order.
type runWriter struct {
	f   *os.File
	w   *bufio.Writer
	buf []byte
}

func newRunWriter(tmp *scratch, what string) (*runWriter, error) {
	f, err := tmp.create(what)
	if err != nil {
		return nil, err
	}
	return &runWriter{f: f, w: bufio.NewWriterSize(f, 64<<10)}, nil
}

func (w *runWriter) put(r keyRecord) error {
	b := w.buf[:0]
	b = binary.BigEndian.AppendUint64(b, r.sum[0])
	b = binary.BigEndian.AppendUint64(b, r.sum[1])
	b = binary.AppendUvarint(b, r.seq)
	b = binary.AppendUvarint(b, uint64(len(r.key.PK)))
	b = append(b, r.key.PK...)
	b = binary.AppendUvarint(b, uint64(len(r.key.SK)))
	b = append(b, r.key.SK...)
	w.buf = b
	_, err := w.w.Write(b)
	return err
}

// finish flushes and closes the run and returns its path.
func (w *runWriter) finish() (string, error) {
	err := w.w.Flush()
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("write run %s: %w", w.f.Name(), err)
	}
	return w.f.Name(), nil
}

// abort closes the run after a failure; the scratch folder's removal
// deletes it.
func (w *runWriter) abort() { w.f.Close() }

// writeRun sorts recs by sum and writes them as a new run.
func writeRun(tmp *scratch, what string, recs []keyRecord) (string, error) {
	slices.SortFunc(recs, func(a, b keyRecord) int { return compareSums(a.sum, b.sum) })
	w, err := newRunWriter(tmp, what)
	if err != nil {
		return "", err
	}
	for _, r := range recs {
		if err := w.put(r); err != nil {
			w.abort()
			return "", fmt.Errorf("write run: %w", err)
		}
	}
	return w.finish()
}

// runReader reads one run back.
type runReader struct {
	f   *os.File
	r   *bufio.Reader
	cur keyRecord
}

func openRun(path string) (*runReader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open run: %w", err)
	}
	return &runReader{f: f, r: bufio.NewReaderSize(f, 16<<10)}, nil
}

// next reads the next record into cur; false at the end of the run.
func (r *runReader) next() (bool, error) {
	var sum [16]byte
	if _, err := io.ReadFull(r.r, sum[:]); err != nil {
		if err == io.EOF {
			return false, nil
		}
		return false, r.damaged(err)
	}
	seq, err := binary.ReadUvarint(r.r)
	if err != nil {
		return false, r.damaged(err)
	}
	pk, err := r.part()
	if err != nil {
		return false, err
	}
	sk, err := r.part()
	if err != nil {
		return false, err
	}
	r.cur = keyRecord{sum: [2]uint64{binary.BigEndian.Uint64(sum[:8]), binary.BigEndian.Uint64(sum[8:])}, seq: seq, key: indexer.ItemKey{PK: pk, SK: sk}}
	return true, nil
}

func (r *runReader) part() (string, error) {
	n, err := binary.ReadUvarint(r.r)
	if err != nil {
		return "", r.damaged(err)
	}
	if n > maxKeyPart {
		return "", r.damaged(fmt.Errorf("a key part of %d bytes (at most %d)", n, maxKeyPart))
	}
	if n == 0 {
		return "", nil
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r.r, b); err != nil {
		return "", r.damaged(err)
	}
	return string(b), nil
}

func (r *runReader) damaged(err error) error {
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("read run %s: %w", r.f.Name(), err)
}

// runMerge yields the records of several runs in sum order (a k-way
// merge: one record of each run in memory).
type runMerge struct{ h runHeap }

type runHeap []*runReader

func (h runHeap) Len() int           { return len(h) }
func (h runHeap) Less(i, j int) bool { return compareSums(h[i].cur.sum, h[j].cur.sum) < 0 }
func (h runHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *runHeap) Push(x any)        { *h = append(*h, x.(*runReader)) }
func (h *runHeap) Pop() any {
	old := *h
	r := old[len(old)-1]
	*h = old[:len(old)-1]
	return r
}

func mergeRuns(paths []string) (*runMerge, error) {
	m := &runMerge{}
	for _, p := range paths {
		r, err := openRun(p)
		if err != nil {
			m.close()
			return nil, err
		}
		ok, err := r.next()
		if err != nil || !ok {
			r.f.Close()
			if err != nil {
				m.close()
				return nil, err
			}
			continue
		}
		m.h = append(m.h, r)
	}
	heap.Init(&m.h)
	return m, nil
}

// next returns the next record in sum order; false when every run is read.
func (m *runMerge) next() (keyRecord, bool, error) {
	if len(m.h) == 0 {
		return keyRecord{}, false, nil
	}
	r := m.h[0]
	rec := r.cur
	ok, err := r.next()
	if err != nil {
		return rec, false, err
	}
	if ok {
		heap.Fix(&m.h, 0)
	} else {
		heap.Pop(&m.h)
		r.f.Close()
	}
	return rec, true, nil
}

func (m *runMerge) close() {
	for _, r := range m.h {
		r.f.Close()
	}
	m.h = nil
}

// compactRuns merges runs, fanIn at a time, into fewer, longer runs until
// at most fanIn are left, so that a merge never holds more than fanIn
// files open. Each run merged is deleted.
func compactRuns(tmp *scratch, what string, runs []string, fanIn int) ([]string, error) {
	for len(runs) > fanIn {
		group := runs[:fanIn]
		m, err := mergeRuns(group)
		if err != nil {
			return nil, err
		}
		w, err := newRunWriter(tmp, what)
		if err != nil {
			m.close()
			return nil, err
		}
		for {
			rec, ok, err := m.next()
			if err == nil && ok {
				err = w.put(rec)
			}
			if err != nil {
				m.close()
				w.abort()
				return nil, err
			}
			if !ok {
				break
			}
		}
		merged, err := w.finish()
		if err != nil {
			return nil, err
		}
		for _, p := range group {
			os.Remove(p)
		}
		runs = append(runs[fanIn:], merged)
	}
	return runs, nil
}

// diffLog keeps the differences a check found, for Rebuild with
// OnlyMissing to mend after the check: one JSON object a line in a file
// of the scratch folder, so that a check of a table that lost most of its
// items holds them on disk (a JSON line each), not in memory.
type diffLog struct {
	f   *os.File
	w   *bufio.Writer
	enc *json.Encoder
}

func newDiffLog(tmp *scratch) (*diffLog, error) {
	f, err := tmp.create("differences")
	if err != nil {
		return nil, err
	}
	w := bufio.NewWriterSize(f, 64<<10)
	return &diffLog{f: f, w: w, enc: json.NewEncoder(w)}, nil
}

func (l *diffLog) add(d indexer.Difference) error {
	if err := l.enc.Encode(d); err != nil {
		return fmt.Errorf("keep a difference in %s: %w", l.f.Name(), err)
	}
	return nil
}

// each gives fn every difference kept, in the order they were added.
func (l *diffLog) each(fn func(indexer.Difference) error) error {
	if err := l.w.Flush(); err != nil {
		return fmt.Errorf("keep the differences in %s: %w", l.f.Name(), err)
	}
	if _, err := l.f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("read the differences in %s: %w", l.f.Name(), err)
	}
	dec := json.NewDecoder(bufio.NewReaderSize(l.f, 64<<10))
	dec.DisallowUnknownFields()
	for {
		var d indexer.Difference
		if err := dec.Decode(&d); err == io.EOF {
			break
		} else if err != nil {
			return fmt.Errorf("read the differences in %s: %w", l.f.Name(), err)
		}
		if err := fn(d); err != nil {
			return err
		}
	}
	_, err := l.f.Seek(0, io.SeekEnd)
	return err
}

func (l *diffLog) close() { l.f.Close() }
