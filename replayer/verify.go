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
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"go.uber.org/zap"
	"golang.org/x/mod/sumdb/note"

	"github.com/aegisai/audit/archive"
	"github.com/aegisai/audit/shared"
)

// ErrVerifyFailed is wrapped by every *Failure.
var ErrVerifyFailed = errors.New("audit log verification failed")

// Failure is the first broken place found by Verify.
type Failure struct {
	// Key is the object; Line is the 1-based line (0: the object as a whole).
	Key  string
	Line int
	// Seq is the entry's seq when known (HasSeq).
	Seq    uint64
	HasSeq bool
	// Reason says what is wrong.
	Reason string
	Err    error
}

func (f *Failure) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%v: object %s", ErrVerifyFailed, f.Key)
	if f.Line > 0 {
		fmt.Fprintf(&b, " line %d", f.Line)
	}
	if f.HasSeq {
		fmt.Fprintf(&b, " seq %d", f.Seq)
	}
	fmt.Fprintf(&b, ": %s", f.Reason)
	return b.String()
}

// Unwrap returns ErrVerifyFailed and the cause, for errors.Is.
func (f *Failure) Unwrap() []error { return []error{ErrVerifyFailed, f.Err} }

// Config configures Verify.
type Config struct {
	// S3, Bucket, Prefix locate the log (Prefix default "audit").
	S3     archive.S3API
	Bucket string
	Prefix string
	// Chain is the chain to verify (required).
	Chain string
	// VerifierKey is the trusted checkpoint key (required). The key recorded
	// in the genesis entry is never trusted in its place.
	VerifierKey string
	// Parallelism is how many objects are fetched and parsed ahead. Default 8.
	Parallelism int
	// Now is the clock that retention is checked against. Default time.Now.
	Now func() time.Time
	// Logger defaults to zap.NewNop().
	Logger *zap.Logger
}

// Report summarises a successful verification.
type Report struct {
	Objects     int
	Entries     uint64
	Events      uint64
	Invalid     uint64
	Checkpoints int
	// Head is the last entry of the chain.
	Head shared.Head
	// CheckpointedSeq is the seq of the latest checkpoint; entries after it
	// are verified but not yet signed (a batch being sealed).
	CheckpointedSeq uint64
}

// Verify reads the chain from S3 and checks it end to end. It returns a
// *Failure for the first broken place.
func Verify(ctx context.Context, cfg Config) (Report, error) {
	if cfg.Prefix == "" {
		cfg.Prefix = "audit"
	}
	if cfg.Parallelism <= 0 {
		cfg.Parallelism = 8
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	var rep Report
	trusted, err := note.NewVerifier(cfg.VerifierKey)
	if err != nil {
		return rep, fmt.Errorf("verifier key: %w", err)
	}
	store := &archive.Store{S3: cfg.S3, Bucket: cfg.Bucket, Prefix: cfg.Prefix}
	refs, cpKeys, err := store.Log(ctx, cfg.Chain)
	if err != nil {
		return rep, err
	}
	if len(refs) == 0 {
		return rep, &Failure{Key: shared.GenesisKey(cfg.Prefix, cfg.Chain), Reason: "no objects: the chain has no genesis", Err: shared.ErrChainBroken}
	}
	// Checkpoint seqs are in their keys; remember the chain's hash at each.
	wanted := map[uint64]shared.Hash{}
	for _, k := range cpKeys {
		seq, err := checkpointSeq(k)
		if err != nil {
			return rep, &Failure{Key: k, Reason: err.Error(), Err: shared.ErrBadCheckpoint}
		}
		wanted[seq] = shared.Hash{}
	}

	chain := shared.NewVerifier(cfg.Chain)
	err = fetchInOrder(ctx, refs, cfg.Parallelism, func(ctx context.Context, ref archive.BatchRef) (*batchResult, error) {
		return readBatch(ctx, store, ref, cfg.Now())
	}, func(ref archive.BatchRef, b *batchResult) error {
		if b.failure != nil {
			return b.failure
		}
		for i, e := range b.entries {
			if err := chain.Add(e); err != nil {
				return &Failure{Key: ref.Key, Line: i + 1, Seq: e.Seq, HasSeq: true, Reason: err.Error(), Err: err}
			}
			if _, ok := wanted[e.Seq]; ok {
				wanted[e.Seq] = e.Hash
			}
			switch e.Type {
			case shared.EntryEvent:
				rep.Events++
			case shared.EntryInvalid:
				rep.Invalid++
			}
		}
		if want := shared.BatchKey(cfg.Prefix, b.entries[0]); want != ref.Key {
			return &Failure{Key: ref.Key, Line: 1, Seq: b.entries[0].Seq, HasSeq: true,
				Reason: fmt.Sprintf("object is stored at the wrong key; its first entry belongs at %s", want), Err: shared.ErrChainBroken}
		}
		rep.Objects++
		rep.Entries += uint64(len(b.entries))
		return nil
	})
	if err != nil {
		return rep, err
	}
	rep.Head = chain.Head()

	// Checkpoints are fetched ahead in parallel like the batches.
	err = fetchInOrder(ctx, cpKeys, cfg.Parallelism, func(ctx context.Context, k string) (*archive.Object, error) {
		obj, err := store.Get(ctx, k, "")
		if err != nil {
			return nil, err
		}
		head, err := store.Head(ctx, k, obj.VersionID) // lock state is only on HEAD
		if err != nil {
			return nil, err
		}
		head.Body = obj.Body
		return head, nil
	}, func(k string, obj *archive.Object) error {
		if f := checkLock(obj, cfg.Now()); f != "" {
			return &Failure{Key: k, Reason: f, Err: ErrVerifyFailed}
		}
		cp, err := shared.OpenCheckpoint(obj.Body, trusted)
		if err != nil {
			return &Failure{Key: k, Reason: err.Error(), Err: err}
		}
		if cp.Chain != cfg.Chain || shared.CheckpointKey(cfg.Prefix, cp.Chain, cp.Seq) != k {
			return &Failure{Key: k, Seq: cp.Seq, HasSeq: true, Reason: "checkpoint is stored under another chain or seq than it signs", Err: shared.ErrBadCheckpoint}
		}
		if cp.Seq > rep.Head.Seq {
			return &Failure{Key: k, Seq: cp.Seq, HasSeq: true,
				Reason: fmt.Sprintf("checkpoint signs seq %d but the chain in S3 ends at seq %d: entries are missing", cp.Seq, rep.Head.Seq), Err: shared.ErrChainBroken}
		}
		if got := wanted[cp.Seq]; got != cp.Hash {
			return &Failure{Key: k, Seq: cp.Seq, HasSeq: true,
				Reason: fmt.Sprintf("checkpoint signs hash %s but the chain has %s at that seq", cp.Hash, got), Err: shared.ErrChainBroken}
		}
		rep.Checkpoints++
		rep.CheckpointedSeq = max(rep.CheckpointedSeq, cp.Seq)
		return nil
	})
	if err != nil {
		return rep, err
	}
	if rep.Checkpoints == 0 {
		return rep, &Failure{Key: shared.CheckpointPrefix(cfg.Prefix, cfg.Chain), Reason: "no signed checkpoint", Err: shared.ErrBadCheckpoint}
	}
	return rep, nil
}

type batchResult struct {
	entries []*shared.Entry
	failure *Failure
}

// readBatch fetches one object and checks everything it can prove alone:
// Object Lock, stored checksum, and each line's canonical form and hash.
func readBatch(ctx context.Context, store *archive.Store, ref archive.BatchRef, now time.Time) (*batchResult, error) {
	obj, err := store.Get(ctx, ref.Key, "")
	if err != nil {
		return nil, err
	}
	fail := func(line int, reason string, err error) (*batchResult, error) {
		return &batchResult{failure: &Failure{Key: ref.Key, Line: line, Reason: reason, Err: err}}, nil
	}
	entries, _, err := archive.ParseBatch(obj.Body)
	var le *archive.LineError
	switch {
	case errors.As(err, &le):
		// The line cannot be trusted to say its seq; report the seq its
		// position implies.
		return &batchResult{failure: &Failure{Key: ref.Key, Line: le.Line, Seq: ref.FirstSeq + uint64(le.Line-1), HasSeq: true,
			Reason: le.Err.Error() + " (seq from the line's position)", Err: le.Err}}, nil
	case err != nil:
		return fail(0, err.Error(), shared.ErrBadEntry)
	}
	head, err := store.Head(ctx, ref.Key, obj.VersionID)
	if err != nil {
		return nil, err
	}
	if f := checkLock(head, now); f != "" {
		return fail(0, f, ErrVerifyFailed)
	}
	if head.ChecksumSHA256 != "" {
		sum := sha256.Sum256(obj.Body)
		if got := base64.StdEncoding.EncodeToString(sum[:]); got != head.ChecksumSHA256 {
			return fail(0, fmt.Sprintf("object bytes hash to SHA-256 %s, the stored checksum is %s", got, head.ChecksumSHA256), ErrVerifyFailed)
		}
	}
	return &batchResult{entries: entries}, nil
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

func checkpointSeq(key string) (uint64, error) {
	base := key[strings.LastIndex(key, "/")+1:]
	digits, ok := strings.CutSuffix(base, ".note")
	if !ok || len(digits) != 20 {
		return 0, fmt.Errorf("not a checkpoint key")
	}
	return strconv.ParseUint(digits, 10, 64)
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
