// Package replayer serves auditors and recovery from the bytes in S3 alone:
// Verify recomputes the whole chain and checks every object's lock and every
// checkpoint signature against a trusted key.
//
// Invariants: nothing read from the index or Kafka is trusted; the first
// broken place is reported exactly (object, line, seq, what is wrong); memory
// is bounded by the number of objects fetched ahead, not the log's size.
package replayer

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"go.uber.org/zap"

	"github.com/aegisai/audit/archive"
	"github.com/aegisai/audit/shared"
)

// ErrVerifyFailed is wrapped by every *Failure.
var ErrVerifyFailed = shared.ErrVerifyFailed

// ErrRewritten is wrapped when a key of the chain was written again or
// deleted after it was sealed (it holds more than one version).
var ErrRewritten = errors.New("sealed object written over or deleted")

// Failure is the first broken place found by Verify: object, line, seq and
// what is wrong.
type Failure = shared.Failure

// Config configures Verify.
type Config struct {
	// S3, Bucket, Prefix locate the log (Prefix default "audit").
	S3     archive.S3API
	Bucket string
	Prefix string
	// Chain is the chain to verify (required).
	Chain string
	// VerifierKey is the trusted checkpoint key, or the keyset of a chain whose key was rotated (docs/FORMAT.md section 7.4; ParseKeyset) (required). The key recorded
	// in the genesis entry is never trusted in its place.
	VerifierKey string
	// KnownCheckpoint is a signed checkpoint the auditor kept from an earlier
	// run (optional). Verification fails unless the chain in S3 extends it,
	// which catches a log cut back together with its checkpoints.
	KnownCheckpoint []byte
	// KnownCheckpointName names it in messages (a file name). Default
	// "known checkpoint".
	KnownCheckpointName string
	// Parallelism is how many objects are fetched and parsed ahead. Default 8.
	Parallelism int
	// Progress, if set, is called after each object with the objects done,
	// the objects in all and the entries verified.
	Progress func(done, total int, entries uint64)
	// Now is the clock that retention is checked against. Default time.Now.
	Now func() time.Time
	// Logger defaults to zap.NewNop().
	Logger *zap.Logger
}

func (c *Config) validate() (shared.Keyset, error) {
	var errs []error
	if c.S3 == nil {
		errs = append(errs, errors.New("S3 is required"))
	}
	if c.Bucket == "" {
		errs = append(errs, errors.New("Bucket is required"))
	}
	if !shared.ValidIdentifier(c.Chain) {
		errs = append(errs, fmt.Errorf("Chain %q is not a valid chain id", c.Chain))
	}
	trusted, err := shared.ParseKeyset(c.VerifierKey)
	if err != nil {
		errs = append(errs, fmt.Errorf("VerifierKey: %w", err))
	}
	if err := errors.Join(errs...); err != nil {
		return trusted, fmt.Errorf("verify config: %w", err)
	}
	if c.Prefix == "" {
		c.Prefix = "audit"
	}
	if c.Parallelism <= 0 {
		c.Parallelism = 8
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	if c.KnownCheckpointName == "" {
		c.KnownCheckpointName = "known checkpoint"
	}
	return trusted, nil
}

// Report summarises a successful verification.
type Report struct {
	shared.LogReport
	// LatestCheckpoint is the signed note of the latest checkpoint, for the
	// auditor to keep and hand back as KnownCheckpoint next time.
	LatestCheckpoint []byte
	// Known is the known checkpoint the chain was checked to extend (zero
	// when none was given).
	Known shared.Checkpoint
}

// Verify reads the chain from S3 and checks it end to end under every rule
// of docs/FORMAT.md. It returns a *Failure for the first broken place.
// Entries after the latest checkpoint verify but are counted in
// Report.Unsigned: the caller decides whether that is acceptable.
func Verify(ctx context.Context, cfg Config) (Report, error) {
	var rep Report
	trusted, err := cfg.validate()
	if err != nil {
		return rep, err
	}
	store := &archive.Store{S3: cfg.S3, Bucket: cfg.Bucket, Prefix: cfg.Prefix}
	log, err := store.Log(ctx, cfg.Chain)
	if err != nil {
		return rep, err
	}
	if len(log.Strays) > 0 {
		return rep, &Failure{Key: log.Strays[0], Reason: fmt.Sprintf("object in the chain's folders is not a genesis, batch or checkpoint key of chain %s (%d such objects)", cfg.Chain, len(log.Strays)), Err: shared.ErrChainBroken}
	}
	// A key deleted after sealing hides its object: say so before anything
	// else. A key written again is read as it is now, so that a changed
	// line is named; the extra versions are reported after, if nothing else
	// is wrong.
	rewritten := map[string]archive.Rewritten{}
	for _, r := range log.Rewritten {
		if r.DeleteMarker {
			return rep, rewrittenFailure(r, len(log.Rewritten))
		}
		rewritten[r.Key] = r
	}
	note := func(err error) error {
		var f *Failure
		if errors.As(err, &f) {
			if r, ok := rewritten[f.Key]; ok {
				f.Reason += fmt.Sprintf(" (the key holds %d versions: %s, newest first; it was written again after it was sealed)", len(r.Versions), strings.Join(r.Versions, ", "))
				f.Err = errors.Join(f.Err, ErrRewritten)
			}
		}
		return err
	}
	seqs := make([]uint64, 0, len(log.Checkpoints)+1)
	for _, k := range log.Checkpoints {
		seq, _ := shared.ParseCheckpointKey(cfg.Prefix, cfg.Chain, k)
		seqs = append(seqs, seq)
	}
	if cfg.KnownCheckpoint != nil {
		known, err := trusted.Open(cfg.KnownCheckpoint)
		if err != nil {
			return rep, &Failure{Key: cfg.KnownCheckpointName, Reason: err.Error(), Err: err}
		}
		seqs = append(seqs, known.Seq)
	}
	lv := shared.NewLogVerifier(cfg.Prefix, cfg.Chain, trusted, seqs)
	done, entries := 0, uint64(0)

	// One pipeline fetches objects and checkpoints ahead, in parallel: each
	// checkpoint right after the object that holds its seq (by the keys),
	// so that checking it waits for nothing. The verdict is the same as
	// checking every object first and then every checkpoint: the first
	// broken object wins; a broken checkpoint is kept and reported only if
	// every object verifies. A checkpoint is checked once the chain has
	// passed its seq (it signs the last entry of an object before the next
	// object's first seq, or fails either way).
	var latest []byte
	var cpFailure error
	// Each object is followed by (about) one small checkpoint: twice the
	// items in flight keeps Parallelism objects ahead.
	items := interleave(log.Batches, log.Checkpoints, seqs[:len(log.Checkpoints)])
	err = fetchInOrder(ctx, items, 2*cfg.Parallelism, func(ctx context.Context, it logItem) (*batchResult, error) {
		if it.checkpoint != "" {
			obj, err := store.GetLocked(ctx, it.checkpoint)
			if err != nil {
				return nil, err
			}
			return &batchResult{checkpoint: obj}, nil
		}
		return readBatch(ctx, store, it.batch, cfg.Now())
	}, func(it logItem, b *batchResult) error {
		if it.checkpoint != "" {
			if cpFailure != nil {
				return nil
			}
			if f := checkLock(b.checkpoint, cfg.Now()); f != "" {
				cpFailure = &Failure{Key: it.checkpoint, Reason: f, Err: ErrVerifyFailed}
			} else if _, err := lv.Checkpoint(it.checkpoint, b.checkpoint.Body); err != nil {
				cpFailure = note(err)
			} else {
				latest = b.checkpoint.Body
			}
			return nil
		}
		if b.failure != nil {
			return note(b.failure)
		}
		err := lv.Object(it.batch.Key, b.entries)
		var f *Failure
		if errors.As(err, &f) && f.Key == it.batch.Key {
			f.Version = b.version
		}
		if err == nil && cfg.Progress != nil {
			done++
			entries += uint64(len(b.entries))
			cfg.Progress(done, len(log.Batches), entries)
		}
		return note(err)
	})
	if err == nil {
		err = cpFailure
	}
	if err != nil {
		return rep, err
	}
	if cfg.KnownCheckpoint != nil {
		if rep.Known, err = lv.Extends(cfg.KnownCheckpointName, cfg.KnownCheckpoint); err != nil {
			return rep, err
		}
	}
	rep.LogReport, err = lv.Report()
	rep.LatestCheckpoint = latest
	if err == nil && len(log.Rewritten) > 0 {
		return rep, rewrittenFailure(log.Rewritten[0], len(log.Rewritten))
	}
	return rep, err
}

func rewrittenFailure(r archive.Rewritten, n int) *Failure {
	reason := fmt.Sprintf("the key holds %d versions (%s, newest first): it was written again after it was sealed", len(r.Versions), strings.Join(r.Versions, ", "))
	if r.DeleteMarker {
		reason = fmt.Sprintf("a delete marker (version %s) hides the sealed object: it was deleted after it was sealed", r.Versions[0])
	}
	return &Failure{Key: r.Key, Version: r.Versions[0], Reason: fmt.Sprintf("%s (%d such keys)", reason, n), Err: ErrRewritten}
}

type batchResult struct {
	entries []*shared.Entry
	lines   [][]byte
	version string
	failure *Failure
	// checkpoint is a checkpoint object, for a checkpoint item.
	checkpoint *archive.Object
}

// logItem is one object to verify: a batch, or a checkpoint (by key).
type logItem struct {
	batch      archive.BatchRef
	checkpoint string
}

// interleave lists batches in order, each followed by the checkpoints
// (oldest first, cpSeqs[i] the seq of checkpoints[i]) whose seq is before
// the next batch's first seq; the rest follow the last batch.
func interleave(batches []archive.BatchRef, checkpoints []string, cpSeqs []uint64) []logItem {
	items := make([]logItem, 0, len(batches)+len(checkpoints))
	c := 0
	for i, b := range batches {
		items = append(items, logItem{batch: b})
		for c < len(checkpoints) && (i == len(batches)-1 || cpSeqs[c] < batches[i+1].FirstSeq) {
			items = append(items, logItem{checkpoint: checkpoints[c]})
			c++
		}
	}
	for ; c < len(checkpoints); c++ {
		items = append(items, logItem{checkpoint: checkpoints[c]})
	}
	return items
}

// readBatch fetches one object and checks everything it can prove alone:
// Object Lock, stored checksum, and each line on its own.
func readBatch(ctx context.Context, store *archive.Store, ref archive.BatchRef, now time.Time) (*batchResult, error) {
	obj, err := store.GetLocked(ctx, ref.Key)
	if errors.Is(err, archive.ErrTooLarge) { // not a batch the sealer wrote
		return &batchResult{failure: &Failure{Key: ref.Key, Reason: err.Error(), Err: ErrVerifyFailed}}, nil
	}
	if err != nil {
		return nil, err
	}
	fail := func(reason string) (*batchResult, error) {
		return &batchResult{failure: &Failure{Key: ref.Key, Version: obj.VersionID, Reason: reason, Err: ErrVerifyFailed}}, nil
	}
	// Lines first, so that a changed byte is named by its line.
	entries, lines, err := shared.ParseObject(ref.Key, ref.FirstSeq, obj.Body)
	var f *Failure
	if errors.As(err, &f) {
		f.Version = obj.VersionID
		return &batchResult{failure: f}, nil
	}
	if err != nil {
		return nil, err
	}
	if f := checkLock(obj, now); f != "" {
		return fail(f)
	}
	if obj.ChecksumSHA256 != "" {
		sum := sha256.Sum256(obj.Body)
		if got := base64.StdEncoding.EncodeToString(sum[:]); got != obj.ChecksumSHA256 {
			return fail(fmt.Sprintf("object bytes hash to SHA-256 %s, the stored checksum is %s", got, obj.ChecksumSHA256))
		}
	}
	return &batchResult{entries: entries, lines: lines, version: obj.VersionID}, nil
}

func checkLock(obj *archive.Object, now time.Time) string {
	if obj.LockMode != types.ObjectLockModeCompliance {
		return fmt.Sprintf("object lock mode is %q, want COMPLIANCE", obj.LockMode)
	}
	if !obj.RetainUntil.After(now) {
		return fmt.Sprintf("object lock retention ended at %s", obj.RetainUntil.UTC().Format(time.RFC3339))
	}
	return ""
}

// fetchInOrder runs fetch for refs with at most n in flight and hands the
// results to use in order. It stops at the first error.
func fetchInOrder[K, R any](ctx context.Context, refs []K, n int,
	fetch func(context.Context, K) (R, error), use func(K, R) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		r   R
		err error
	}
	slots := make(chan chan result, n)
	go func() {
		defer close(slots)
		for _, ref := range refs {
			ch := make(chan result, 1)
			select {
			case slots <- ch:
			case <-ctx.Done():
				return
			}
			go func() {
				r, err := fetch(ctx, ref)
				ch <- result{r, err}
			}()
		}
	}()
	i := 0
	for ch := range slots {
		res := <-ch
		if res.err != nil {
			return res.err
		}
		if err := use(refs[i], res.r); err != nil {
			return err
		}
		i++
	}
	return ctx.Err()
}
