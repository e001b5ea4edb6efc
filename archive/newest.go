package archive

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/aegisai/audit/shared"
)

// A CheckpointWalk hands out a chain's checkpoint keys newest first,
// reading a few listing pages however long the chain: what a sealer
// starting (or taking over) and `aegis index status` need, the newest
// signed checkpoint and the few before it. Listing the whole folder to
// take its end, as they did, costs a request per 1,000 objects of the
// chain and holds every key.
//
// S3 lists keys in ascending order only, but a checkpoint key is its seq
// in 20 zero-padded digits, so the listing's order is the seqs' and a
// listing that starts after the key of a seq finds the next seq. The walk
// bounds the newest seq by probes (each a request for the first checkpoint
// key after a seq: galloping up from the first page's last key, then
// halving the gap down to a window of seqs sized from the first page's
// spacing of keys: about 2·log2(head / window) of them), then lists the
// windows of seqs below the last key handed out, probing past the empty
// ones (checkpointsBelow). Every request but the
// windows' asks for 8 keys: a listing server's cost grows with the keys it
// returns (versitygw's posix backend: about 70 µs a key). Keys of the folder that are not
// checkpoint keys are passed over, as Checkpoints does.
type CheckpointWalk struct {
	s       *Store
	chain   string
	below   uint64   // the seq every key still to come is below
	span    uint64   // the span of seqs a window lists
	buf     []string // keys listed, newest first, not handed out yet
	started bool
	done    bool
}

// NewestCheckpoints starts a walk of chain's checkpoint keys, newest first.
func (s *Store) NewestCheckpoints(chain string) *CheckpointWalk {
	return &CheckpointWalk{s: s, chain: chain}
}

// probePage is the page size of a probe: it wants one checkpoint key, and
// a few more cover keys that are not.
const probePage = 8

// Next returns the next checkpoint key, newer ones first; ok is false once
// there is none. A failed call can be made again: the walk moves on only
// when a call succeeds.
func (w *CheckpointWalk) Next(ctx context.Context) (key string, ok bool, err error) {
	if len(w.buf) == 0 && !w.done {
		if err := w.fill(ctx); err != nil {
			return "", false, err
		}
	}
	if len(w.buf) == 0 {
		return "", false, nil
	}
	key, w.buf = w.buf[0], w.buf[1:]
	return key, true, nil
}

func (w *CheckpointWalk) fill(ctx context.Context) error {
	below := w.below
	if !w.started {
		keys, _, more, err := w.s.checkpointPage(ctx, w.chain, "", probePage)
		if err != nil {
			return err
		}
		if !more { // the whole folder in one small page: a young chain
			w.buf, w.started, w.done = reversed(keys), true, true
			return nil
		}
		top, span, ok, err := w.s.newestCheckpointBound(ctx, w.chain, keys)
		if err != nil {
			return err
		}
		w.started, w.span = true, span
		if !ok {
			w.done = true
			return nil
		}
		below = top + 1 // seqs end at 2^53 − 1: no overflow
	}
	if below == 0 {
		w.done = true
		return nil
	}
	keys, err := w.s.checkpointsBelow(ctx, w.chain, below, w.span)
	if err != nil {
		return err
	}
	if len(keys) == 0 {
		w.done = true
		return nil
	}
	seq, _ := shared.ParseCheckpointKey(w.s.prefix(), w.chain, keys[len(keys)-1])
	w.buf, w.below = keys, seq
	return nil
}

// checkpointPage lists one page of the chain's checkpoint folder from the
// first key after startAfter (all: ""), at most max keys (0: the server's
// page). It returns the page's checkpoint keys in order, the last key
// listed (a checkpoint key or not), and whether more follow.
func (s *Store) checkpointPage(ctx context.Context, chain, startAfter string, max int32) (keys []string, last string, more bool, err error) {
	prefix := shared.CheckpointPrefix(s.prefix(), chain)
	in := &s3.ListObjectsV2Input{Bucket: aws.String(s.Bucket), Prefix: aws.String(prefix)}
	if startAfter != "" {
		in.StartAfter = aws.String(startAfter)
	}
	if max > 0 {
		in.MaxKeys = aws.Int32(max)
	}
	page, err := s.S3.ListObjectsV2(ctx, in)
	if err != nil {
		return nil, "", false, fmt.Errorf("list s3://%s/%s: %w", s.Bucket, prefix, err)
	}
	for _, o := range page.Contents {
		k := aws.ToString(o.Key)
		if k <= startAfter && startAfter != "" {
			continue // a server that does not honour StartAfter
		}
		last = k
		if _, ok := shared.ParseCheckpointKey(s.prefix(), chain, k); ok {
			keys = append(keys, k)
		}
	}
	return keys, last, aws.ToBool(page.IsTruncated) && last != "", nil
}

// firstCheckpointFrom returns the smallest checkpoint seq at least from,
// listing pages of probePage keys until it finds one (ok false: none).
func (s *Store) firstCheckpointFrom(ctx context.Context, chain string, from uint64) (uint64, bool, error) {
	after := ""
	if from > 0 {
		after = shared.CheckpointKey(s.prefix(), chain, from-1)
	}
	for {
		keys, last, more, err := s.checkpointPage(ctx, chain, after, probePage)
		if err != nil {
			return 0, false, err
		}
		if len(keys) > 0 {
			seq, _ := shared.ParseCheckpointKey(s.prefix(), chain, keys[0])
			return seq, true, nil
		}
		if !more {
			return 0, false, nil
		}
		after = last // a page of keys that are not checkpoint keys: go on after them
	}
}

// newestCheckpointBound returns a seq no checkpoint of the chain is past,
// and the span of seqs below it to list first, when the first page (first,
// its checkpoint keys) did not hold the whole folder; ok is false when the
// folder holds no checkpoint. The span is the first page's spacing of
// checkpoints times checkpointWindowKeys (at least checkpointWindow): the
// bound is searched down to that span, which then holds a few dozen keys
// if the chain's objects kept their size.
func (s *Store) newestCheckpointBound(ctx context.Context, chain string, first []string) (bound, span uint64, ok bool, err error) {
	var lo uint64 // a seq that exists: the newest is at least lo
	if len(first) > 0 {
		lo, _ = shared.ParseCheckpointKey(s.prefix(), chain, first[len(first)-1])
	} else { // a first page of keys that are not checkpoint keys
		seq, ok, err := s.firstCheckpointFrom(ctx, chain, 0)
		if err != nil || !ok {
			return 0, 0, false, err
		}
		lo = seq
	}
	span = max(checkpointWindow, min((lo+1)/uint64(max(len(first), 1))*checkpointWindowKeys, 1<<40))
	// Gallop up: double the distance until no checkpoint is found past it.
	hi := uint64(shared.MaxSafeInteger) // no checkpoint key is past hi
	for step := max(lo, span); lo+step <= hi; step *= 2 {
		seq, ok, err := s.firstCheckpointFrom(ctx, chain, lo+step)
		if err != nil {
			return 0, 0, false, err
		}
		if !ok {
			hi = lo + step - 1
			break
		}
		lo = seq
	}
	// Halve the gap (lo exists, nothing is past hi) down to the span.
	for hi-lo >= span {
		mid := lo + (hi-lo)/2 + 1
		seq, ok, err := s.firstCheckpointFrom(ctx, chain, mid)
		if err != nil {
			return 0, 0, false, err
		}
		if ok {
			lo = seq
		} else {
			hi = mid - 1
		}
	}
	return hi, span, true, nil
}

// checkpointWindowKeys is about how many keys the first window of a walk
// is meant to hold.
const checkpointWindowKeys = 32

// checkpointWindow is the span of seqs the first window of
// checkpointsBelow lists.
const checkpointWindow = 64

// checkpointWindowKeep is how many keys of a window checkpointsBelow
// keeps: its newest, handed out before the next window is listed.
const checkpointWindowKeep = 1000

// checkpointsBelow returns the newest checkpoint keys of the chain of a seq
// below before, newest first: those of the window of seqs [before − span,
// before) when it holds any. When it holds none, probes find where the
// newest key below before lies (widening the gap searched eightfold, then
// halving it down to span) and the window of span seqs ending there is
// listed: a key planted far past the others costs a few dozen probes,
// not a listing of every key below it. At most checkpointWindowKeep keys,
// the newest.
func (s *Store) checkpointsBelow(ctx context.Context, chain string, before, span uint64) ([]string, error) {
	keys, err := s.checkpointRange(ctx, chain, before-min(span, before), before)
	if err != nil || len(keys) > 0 || before <= span {
		return keys, err
	}
	top := before - span // no key in [top, before)
	var lo uint64        // a key below top, once found
	for w := 8 * span; ; w *= 8 {
		from := top - min(w, top)
		y, ok, err := s.firstCheckpointFrom(ctx, chain, from)
		if err != nil {
			return nil, err
		}
		if ok && y < top {
			lo = y
			break
		}
		if from == 0 {
			return nil, nil
		}
		top = from
	}
	hi := top - 1 // the newest key below before is in [lo, hi]
	for hi-lo >= span {
		mid := lo + (hi-lo)/2 + 1
		z, ok, err := s.firstCheckpointFrom(ctx, chain, mid)
		if err != nil {
			return nil, err
		}
		if ok && z <= hi {
			lo = z
		} else {
			hi = mid - 1
		}
	}
	return s.checkpointRange(ctx, chain, hi+1-min(span, hi+1), hi+1)
}

// checkpointRange lists the chain's checkpoint keys of the seqs [from,
// before) and returns the newest checkpointWindowKeep of them, newest
// first.
func (s *Store) checkpointRange(ctx context.Context, chain string, from, before uint64) ([]string, error) {
	end := shared.CheckpointKey(s.prefix(), chain, before)
	after := ""
	if from > 0 {
		after = shared.CheckpointKey(s.prefix(), chain, from-1)
	}
	var keys []string
	for {
		page, last, more, err := s.checkpointPage(ctx, chain, after, 0)
		if err != nil {
			return nil, err
		}
		for _, k := range page {
			if k < end {
				keys = append(keys, k)
			}
		}
		if len(keys) > 2*checkpointWindowKeep { // keep the newest only
			keys = append(keys[:0], keys[len(keys)-checkpointWindowKeep:]...)
		}
		if !more || last >= end {
			break
		}
		after = last
	}
	if len(keys) > checkpointWindowKeep {
		keys = keys[len(keys)-checkpointWindowKeep:]
	}
	return reversed(keys), nil
}

func reversed(keys []string) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[len(keys)-1-i] = k
	}
	return out
}
