package archive

import (
	"cmp"
	"container/heap"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/aegisai/audit/shared"
)

// A chain of any length is read in two streaming passes over its listing,
// neither of which holds it (Log, which does, serves small callers):
//
//  1. Survey lists every version under the prefix once, keeping only what
//     is small: the first stray key and a count, the keys written again or
//     deleted (bounded), the number of objects, the last checkpoint key,
//     and one Run per folder that holds the chain's objects (per day, not
//     per object).
//     SurveyDays does the same for the day folders of a date range alone,
//     one folder after the other (discover, and rebuild or index check of
//     a range).
//  2. StreamBatches then yields the genesis and batch objects in order of
//     their first seq, and StreamCheckpoints the checkpoint keys in order,
//     each reading one page at a time as the reader asks for more.
//
// Why a merge of folders: S3 lists keys lexically, so a chain's batches come
// day folder by day folder, each folder in seq order. Seq order is the
// listing order only while the Kafka timestamps the dates come from never
// go back across midnight; a producer's clock, or a record's own timestamp,
// can put a later seq under an earlier day. Merging the day folders by
// their next first seq gives seq order whatever the dates, holding one page
// of each folder the merge is inside of (one, when the dates ascend), not
// the listing.
//
// Both passes read the listing as Survey saw it: a folder is read up to the
// last key Survey listed in it, checkpoints up to the last checkpoint it
// listed, and each must hold as many keys up to there as Survey counted
// (ErrListingChanged otherwise): a sealer writing meanwhile adds keys only
// after them, while keys deleted after the survey would silently shorten
// the chain read (a delete marker hides a key from the second listing). Checkpoints sort before genesis/ and year=..., and a batch is
// written before its checkpoint, so every checkpoint Survey listed has its
// batch listed too, even while a sealer is writing.

// MaxRewrittenKept bounds the keys written again that Survey keeps with
// their versions (it counts them all): a listing of a bucket rewritten by
// someone cannot fill memory.
const MaxRewrittenKept = 1000

// Run is one folder holding the chain's genesis or batch objects, as
// Survey listed it.
type Run struct {
	// Folder is the key prefix (ending in "/"); First and Last are the
	// first and last object keys listed in it, FirstSeq the first's seq.
	Folder, First, Last string
	FirstSeq            uint64
	// Count is how many objects Survey listed in it.
	Count int
}

// ErrListingChanged is wrapped when a streaming pass does not find the
// keys Survey listed: someone deleted keys of the chain (or added keys
// among them) while it was read. Reading on would verify a chain other
// than the one surveyed, for example one cut back behind its newest
// objects and checkpoints.
var ErrListingChanged = errors.New("the chain's keys changed while it was read")

// ListingChangedError names the folder whose keys changed.
type ListingChangedError struct {
	// Prefix is the folder; Surveyed keys up to Last were listed by
	// Survey, Found by the streaming pass.
	Prefix, Last    string
	Surveyed, Found int
}

func (e *ListingChangedError) Error() string {
	return fmt.Sprintf("%v: %s held %d of the chain's keys up to %s when it was surveyed, %d when it was read", ErrListingChanged, e.Prefix, e.Surveyed, e.Last, e.Found)
}

func (e *ListingChangedError) Unwrap() error { return ErrListingChanged }

// Survey is what one listing of every version under the prefix says about
// a chain, in memory that grows with the days it spans, not its objects.
type Survey struct {
	// Runs are the folders of the genesis and batch objects, in listing
	// order; Objects counts those objects.
	Runs    []Run
	Objects int
	// Checkpoints counts the checkpoint keys; LastCheckpoint is the last
	// listed (empty when none).
	Checkpoints    int
	LastCheckpoint string
	// FirstStray is the first key in the chain's folders that is none of
	// its key forms; Strays counts them.
	FirstStray string
	Strays     int
	// Rewritten are the chain's keys with more than one version or a
	// delete marker on top, in listing order, at most MaxRewrittenKept;
	// RewrittenCount counts them all. Keys deleted that way are not in
	// Runs or the counts.
	Rewritten      []Rewritten
	RewrittenCount int
	// FirstDeleted is the first of them whose newest version is a delete
	// marker (HasDeleted), kept whatever the bound.
	FirstDeleted Rewritten
	HasDeleted   bool
	// Deleted are the genesis and batch keys under a delete marker, at
	// most MaxRewrittenKept of the DeletedCount listed. StreamBatches
	// yields them too, in seq order, for readers that read the sealed
	// version under the marker; Runs and Objects leave them out.
	Deleted      []BatchRef
	DeletedCount int
	// Days counts the day folders SurveyDays listed (zero for Survey).
	Days int
}

// Survey lists every version under the prefix once (see above).
func (s *Store) Survey(ctx context.Context, chain string) (Survey, error) {
	var sv Survey
	err := s.walkChain(ctx, chain, sv.add(s, chain))
	return sv, err
}

// DeletedKeys lists the chain's keys (strays included, keys of other
// chains not) whose newest version is a delete marker, calling fn for
// each in listing order with the ids of its versions that are not delete
// markers, as the listing gave them (all of them unless more than
// MaxVersionsKept: then k.Objects says how many): a pass over the listing
// that keeps none of them, for a reader that judges every one where
// Survey keeps at most MaxRewrittenKept.
func (s *Store) DeletedKeys(ctx context.Context, chain string, fn func(k KeyVersions) error) error {
	return s.walkChain(ctx, chain, func(k KeyVersions, kind shared.KeyKind) error {
		if kind == shared.KeyOther || !k.Deleted {
			return nil
		}
		return fn(k)
	})
}

// SurveyDays is Survey of the chain's day folders of the dates first to
// last (inclusive) alone, listed one after the other: what discover, and a
// rebuild or index check of a range, read. Every key in those folders is
// a batch of the chain or a stray.
func (s *Store) SurveyDays(ctx context.Context, chain string, first, last time.Time) (Survey, error) {
	var sv Survey
	add := sv.add(s, chain)
	for day := shared.FileDate(first); !day.After(shared.FileDate(last)); day = day.AddDate(0, 0, 1) {
		sv.Days++
		if err := s.walkFolder(ctx, chain, shared.DayFolder(s.prefix(), chain, day), add); err != nil {
			return sv, err
		}
	}
	return sv, nil
}

// add returns the function that takes one key of a listing of versions
// into the survey.
func (sv *Survey) add(s *Store, chain string) func(KeyVersions, shared.KeyKind) error {
	return func(k KeyVersions, kind shared.KeyKind) error {
		if kind != shared.KeyOther && k.Rewritten() {
			sv.RewrittenCount++
			r := k.rewritten()
			if len(sv.Rewritten) < MaxRewrittenKept {
				sv.Rewritten = append(sv.Rewritten, r)
			}
			if k.Deleted && !sv.HasDeleted {
				sv.FirstDeleted, sv.HasDeleted = r, true
			}
		}
		if k.Deleted {
			if kind == shared.KeyGenesis || kind == shared.KeyBatch {
				sv.DeletedCount++
				if ref, _ := s.batchRef(chain, k.Key); len(sv.Deleted) < MaxRewrittenKept {
					sv.Deleted = append(sv.Deleted, ref)
				}
			}
			return nil
		}
		switch kind {
		case shared.KeyGenesis, shared.KeyBatch:
			sv.Objects++
			folder := k.Key[:strings.LastIndexByte(k.Key, '/')+1]
			if n := len(sv.Runs); n > 0 && sv.Runs[n-1].Folder == folder {
				sv.Runs[n-1].Last = k.Key
				sv.Runs[n-1].Count++
				return nil
			}
			ref, _ := s.batchRef(chain, k.Key)
			sv.Runs = append(sv.Runs, Run{Folder: folder, First: k.Key, Last: k.Key, FirstSeq: ref.FirstSeq, Count: 1})
		case shared.KeyCheckpoint:
			sv.Checkpoints++
			sv.LastCheckpoint = k.Key
		case shared.KeyStray:
			if sv.Strays == 0 {
				sv.FirstStray = k.Key
			}
			sv.Strays++
		}
		return nil
	}
}

// batchRef names a key if it is the chain's genesis or one of its batches.
func (s *Store) batchRef(chain, key string) (BatchRef, bool) {
	switch shared.ClassifyKey(s.prefix(), chain, key) {
	case shared.KeyGenesis:
		return BatchRef{Key: key}, true
	case shared.KeyBatch:
		info, _ := shared.ParseBatchKey(s.prefix(), key)
		return BatchRef{Key: key, FirstSeq: info.FirstSeq}, true
	}
	return BatchRef{}, false
}

// ListPageSize is how many keys (or versions) one listing request asks
// for: S3's maximum, which tests lower to read many pages.
var ListPageSize int32 = 1000

// pager reads the current keys under a prefix one page at a time, up to
// and including last, keeping the keys keep accepts. Survey listed want
// of them: a pager that finds another number at its end fails with a
// *ListingChangedError (a writer adds keys only after last).
type pager struct {
	s            *Store
	prefix, last string
	keep         func(key string) bool
	want, took   int
	page         []string
	token        *string
	started      bool
	done         bool
	// fixed, when set, are the keys, given instead of listed (the keys
	// under delete markers, which a listing of current keys leaves out).
	fixed bool
}

// peek returns the next key without taking it, reading a page if needed.
func (p *pager) peek(ctx context.Context) (string, bool, error) {
	if p.fixed {
		if len(p.page) == 0 {
			return "", false, nil
		}
		return p.page[0], true, nil
	}
	for len(p.page) == 0 {
		if p.done || (p.started && p.token == nil) {
			p.done, p.page = true, nil
			if p.took != p.want {
				return "", false, &ListingChangedError{Prefix: p.prefix, Last: p.last, Surveyed: p.want, Found: p.took}
			}
			return "", false, nil
		}
		out, err := p.s.S3.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(p.s.Bucket), Prefix: aws.String(p.prefix),
			ContinuationToken: p.token, MaxKeys: aws.Int32(ListPageSize)})
		if err != nil {
			return "", false, fmt.Errorf("list s3://%s/%s: %w", p.s.Bucket, p.prefix, err)
		}
		p.started = true
		p.token = nil
		if aws.ToBool(out.IsTruncated) {
			p.token = out.NextContinuationToken
		}
		p.page = p.page[:0]
		for _, o := range out.Contents {
			k := aws.ToString(o.Key)
			if k > p.last {
				p.done = true
				break
			}
			if p.keep(k) {
				p.page = append(p.page, k)
			}
		}
	}
	return p.page[0], true, nil
}

// pop takes the key peek returned.
func (p *pager) pop() {
	p.took++
	p.page = p.page[1:]
	if len(p.page) == 0 {
		p.page = nil // the page's memory goes with it
	}
}

// runCursor is one folder of the merge, and its next object.
type runCursor struct {
	pager
	idx  int
	next BatchRef
}

// BatchStream yields a surveyed chain's genesis and batch objects in order of
// their first seq (two with the same seq in the order they are listed),
// reading each folder a page at a time as the merge reaches it.
type BatchStream struct {
	s     *Store
	chain string
	runs  runHeap
}

// StreamBatches starts reading the objects sv found.
func (s *Store) StreamBatches(sv Survey, chain string) *BatchStream {
	b := &BatchStream{s: s, chain: chain}
	for i, r := range sv.Runs {
		rc := &runCursor{idx: i, next: BatchRef{Key: r.First, FirstSeq: r.FirstSeq}}
		rc.pager = pager{s: s, prefix: r.Folder, last: r.Last, want: r.Count, keep: func(k string) bool { _, ok := s.batchRef(chain, k); return ok }}
		b.runs = append(b.runs, rc)
	}
	if len(sv.Deleted) > 0 {
		deleted := slices.Clone(sv.Deleted)
		slices.SortStableFunc(deleted, func(a, b BatchRef) int { return cmp.Compare(a.FirstSeq, b.FirstSeq) })
		keys := make([]string, len(deleted))
		for i, ref := range deleted {
			keys[i] = ref.Key
		}
		rc := &runCursor{idx: len(sv.Runs), next: deleted[0]}
		rc.pager = pager{s: s, fixed: true, page: keys, started: true}
		b.runs = append(b.runs, rc)
	}
	heap.Init(&b.runs)
	return b
}

// Next returns the next object, or false after the last.
func (b *BatchStream) Next(ctx context.Context) (BatchRef, bool, error) {
	for len(b.runs) > 0 {
		rc := b.runs[0]
		if !rc.started {
			// The folder's head as Survey saw it ordered it until now; read
			// it as it is (a writer may have changed it since).
			if err := b.advance(ctx, rc); err != nil {
				return BatchRef{}, false, err
			}
			continue
		}
		ref := rc.next
		rc.pop()
		if err := b.advance(ctx, rc); err != nil {
			return BatchRef{}, false, err
		}
		return ref, true, nil
	}
	return BatchRef{}, false, nil
}

// advance reads the next object of the folder at the top of the heap and
// puts the folder back in order, or drops it when it has no more.
func (b *BatchStream) advance(ctx context.Context, rc *runCursor) error {
	key, ok, err := rc.peek(ctx)
	if err != nil {
		return err
	}
	if !ok {
		heap.Pop(&b.runs)
		return nil
	}
	rc.next, _ = b.s.batchRef(b.chain, key)
	heap.Fix(&b.runs, 0)
	return nil
}

type runHeap []*runCursor

func (h runHeap) Len() int { return len(h) }
func (h runHeap) Less(i, j int) bool {
	if h[i].next.FirstSeq != h[j].next.FirstSeq {
		return h[i].next.FirstSeq < h[j].next.FirstSeq
	}
	return h[i].idx < h[j].idx
}
func (h runHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *runHeap) Push(x any)   { *h = append(*h, x.(*runCursor)) }
func (h *runHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return x
}

// CheckpointRef names one checkpoint object of a chain.
type CheckpointRef struct {
	Key string
	Seq uint64
}

// CheckpointStream yields a surveyed chain's checkpoint keys in seq order, one
// page at a time.
type CheckpointStream struct {
	p     pager
	chain string
}

// StreamCheckpoints starts reading the checkpoints sv found.
func (s *Store) StreamCheckpoints(sv Survey, chain string) *CheckpointStream {
	c := &CheckpointStream{chain: chain}
	c.p = pager{s: s, prefix: shared.CheckpointPrefix(s.prefix(), chain), last: sv.LastCheckpoint, done: sv.LastCheckpoint == "", want: sv.Checkpoints,
		keep: func(k string) bool { _, ok := shared.ParseCheckpointKey(s.prefix(), chain, k); return ok }}
	return c
}

// Peek returns the next checkpoint without taking it.
func (c *CheckpointStream) Peek(ctx context.Context) (CheckpointRef, bool, error) {
	key, ok, err := c.p.peek(ctx)
	if !ok || err != nil {
		return CheckpointRef{}, false, err
	}
	seq, _ := shared.ParseCheckpointKey(c.p.s.prefix(), c.chain, key)
	return CheckpointRef{Key: key, Seq: seq}, true, nil
}

// Pop takes the checkpoint Peek returned.
func (c *CheckpointStream) Pop() { c.p.pop() }
