package replayer

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"sync"
	"time"

	"github.com/aegisai/audit/archive"
	"github.com/aegisai/audit/indexer"
	"github.com/aegisai/audit/indexer/layout"
	"github.com/aegisai/audit/internal/platform/setting"
	"github.com/aegisai/audit/shared"
)

// RebuildConfig configures Rebuild and Check.
type RebuildConfig struct {
	// S3, Bucket, Prefix locate the log (Prefix default "audit").
	S3     archive.S3API
	Bucket string
	Prefix string
	// Chain is the environment rebuilt (required).
	Chain string
	// VerifierKey is the trusted checkpoint key or keyset (required): only entries
	// of objects verified against a checkpoint it signs are indexed.
	VerifierKey string
	// Index is the table written (required).
	Index *indexer.Index
	// From and To, if set, limit the work to the entries whose Kafka
	// timestamps are in [From, To), reading only those days. Zero: the
	// whole chain.
	From, To time.Time
	// OnlyMissing writes only what differs from S3: missing items, items
	// that differ (rewritten), and items S3 does not hold (deleted).
	OnlyMissing bool
	// Pruned accepts a chain whose oldest objects were deleted after their
	// retention (DiscoverConfig.Pruned). Over the whole chain, items of the
	// deleted entries are extra to index check, and rebuild --only-missing
	// deletes them: the index follows S3.
	Pruned bool
	// Workers bound how many decisions are indexed or compared at once (a
	// decision's entries always on one worker, in seq order). Default 8.
	Workers int
	// Progress, if set, is called after each object.
	Progress func(RebuildReport)
	// Now is the clock Object Lock retention is checked against. Default
	// time.Now.
	Now func() time.Time
	// Warn, if set, is told of each object or checkpoint read from an
	// older version (DiscoverConfig.Warn).
	Warn func(string)
	// OnDifference, if set, is given each difference: by Check as it is
	// found (missing and different items during the S3 pass, extra items
	// after it), by Rebuild with OnlyMissing as it is mended. An error
	// stops the run with that error.
	OnDifference func(indexer.Difference) error
	// anchors find the retired keys' checkpoints a verification of the
	// whole chain vouches for, once for a run (anchoring).
	anchors *anchoring
	// KeysInMemory bounds the item keys Check holds in memory (on each
	// side: the keys S3's entries produce, then the table's items) to find
	// the extra items; past it, it sorts them into runs on disk in
	// TempDir. Default DefaultKeysInMemory.
	KeysInMemory int
	// TempDir is where Check makes its private scratch folder (mode 0700,
	// removed at the end) when the keys go past KeysInMemory, and where
	// Rebuild with OnlyMissing keeps what it is to mend. Default
	// os.TempDir().
	TempDir string
}

// SampledDifferences is how many differences a RebuildReport keeps: the
// rest are counted, and given to OnDifference.
const SampledDifferences = 100

// RebuildReport counts what a rebuild or check did.
type RebuildReport struct {
	// Objects is how many objects of the scope exist; Done how many were
	// handled (Resumed of those were done by an earlier run: read and
	// verified again, not written).
	Objects, Done, Resumed int
	// Entries were read and verified; Applied were written.
	Entries, Applied uint64
	// Decisions, Overrides, Invalid, KeyChanges count the entries by kind
	// (KeyChanges: the KEY entries of key hand-overs).
	Decisions, Overrides, Invalid, KeyChanges uint64
	// Duplicates are events sealed twice, indexed once.
	Duplicates uint64
	// Unsigned entries (no checkpoint yet) were not indexed.
	Unsigned uint64
	// Missing, Different and Extra count the differences Check found (or
	// OnlyMissing mended).
	Missing, Different, Extra uint64
	// Differences are the first SampledDifferences of them, in the order
	// found (so all of them when there are no more): memory that does not
	// grow with the differences. OnDifference is given every one.
	Differences []indexer.Difference
	// HeadSeq is the last seq handled.
	HeadSeq uint64
	// Rewritten counts the scope's keys written again after they were
	// sealed, FirstRewritten names one (DiscoverReport).
	Rewritten      int
	FirstRewritten string
	// StartSeq and StartObject: where a pruned chain that remains starts,
	// when that is in the scope, and PastRetention the objects read past
	// their retention (DiscoverReport).
	StartSeq      uint64
	StartObject   string
	PastRetention int
}

// DifferenceCount is how many differences Check found.
func (r *RebuildReport) DifferenceCount() uint64 { return r.Missing + r.Different + r.Extra }

// found counts d, keeps it if the sample has room, and gives it to on.
func (r *RebuildReport) found(d indexer.Difference, on func(indexer.Difference) error) error {
	switch d.Kind {
	case "missing":
		r.Missing++
	case "different":
		r.Different++
	case "extra":
		r.Extra++
	}
	if len(r.Differences) < SampledDifferences {
		r.Differences = append(r.Differences, d)
	}
	if on == nil {
		return nil
	}
	return on(d)
}

func (c *RebuildConfig) discover() DiscoverConfig {
	return DiscoverConfig{S3: c.S3, Bucket: c.Bucket, Prefix: c.Prefix, Chain: c.Chain, VerifierKey: c.VerifierKey, From: c.From, To: c.To, Pruned: c.Pruned, Now: c.Now, Warn: c.Warn, anchors: c.anchors}
}

// scope names a rebuild's range for its progress record.
func (c *RebuildConfig) scope() string {
	if c.From.IsZero() {
		return "all"
	}
	return shared.FormatTime(c.From) + "/" + shared.FormatTime(c.To)
}

// Rebuild rebuilds the index of the chain from S3 alone: every verified
// entry is applied with the indexer's own code, so the items are exactly
// the indexer's (keys, attributes, proof pointers, anomalies). It is
// idempotent, and resumable: the seq finished is recorded in the table
// after each object, and a run after a kill skips what is done. With
// OnlyMissing it runs Check, keeping what it finds in a file of its
// scratch folder (not in memory), then deletes the extra items and writes
// the missing and different ones.
func Rebuild(ctx context.Context, cfg RebuildConfig) (rep RebuildReport, err error) {
	if !cfg.OnlyMissing {
		return rebuild(ctx, cfg, true, nil)
	}
	tmp := &scratch{parent: cfg.TempDir}
	defer func() { err = errors.Join(err, tmp.remove()) }()
	found, err := newDiffLog(tmp)
	if err != nil {
		return rep, err
	}
	defer found.close()
	// The anchors, if needed, are found once, for the check and the mend.
	if err := cfg.anchor(); err != nil {
		return rep, err
	}
	check := cfg
	check.OnDifference = found.add
	if rep, err = rebuild(ctx, check, false, tmp); err != nil {
		return rep, err
	}
	return rep, mend(ctx, cfg, found)
}

// mend writes what Check found: extra items first (so that no stray item
// takes part in bringing a decision up to date), then the entries whose
// items are missing or different, read again from S3 and verified, an
// object at a time (Check finds an object's differences together, so
// each object is read once).
func mend(ctx context.Context, cfg RebuildConfig, found *diffLog) error {
	done := func(d indexer.Difference) error {
		if cfg.OnDifference == nil {
			return nil
		}
		return cfg.OnDifference(d)
	}
	err := found.each(func(d indexer.Difference) error {
		if d.Kind != "extra" {
			return nil
		}
		if err := cfg.Index.Delete(ctx, cfg.Chain, d.ItemKey); err != nil {
			return err
		}
		return done(d)
	})
	if err != nil {
		return err
	}
	dcfg := cfg.discover()
	trusted, err := dcfg.validate()
	if err != nil {
		return err
	}
	store := &archive.Store{S3: cfg.S3, Bucket: cfg.Bucket, Prefix: dcfg.Prefix}
	var object []indexer.Difference // the differences of one object
	mendObject := func() error {
		if len(object) == 0 {
			return nil
		}
		key := object[0].Object
		info, err := shared.ParseBatchKey(dcfg.Prefix, key)
		if err != nil {
			return err
		}
		d, err := readDiscovered(ctx, store, dcfg, trusted, archive.BatchRef{Key: key, FirstSeq: info.FirstSeq})
		if err != nil {
			return err
		}
		if d.skip {
			return fmt.Errorf("mend %s: the object is gone (a delete marker with nothing under it)", key)
		}
		if d.failure != nil {
			return d.failure
		}
		for _, diff := range object {
			line := diff.Line
			if line < 1 || line > len(d.entries) {
				return fmt.Errorf("mend %s line %d: the object has %d lines now", key, line, len(d.entries))
			}
			e := d.entries[line-1]
			rec := &shared.SealedRecord{Object: key, VersionID: d.version, Line: line, Entry: d.lines[line-1]}
			if diff.Kind == "missing" {
				err = cfg.Index.ApplyEntry(ctx, e, rec)
			} else {
				err = cfg.Index.Repair(ctx, e, rec)
			}
			if err != nil {
				return fmt.Errorf("mend %s line %d: %w", key, line, err)
			}
			if err := done(diff); err != nil {
				return err
			}
		}
		object = object[:0]
		return nil
	}
	err = found.each(func(d indexer.Difference) error {
		if d.Kind == "extra" {
			return nil
		}
		if len(object) > 0 && object[0].Object != d.Object {
			if err := mendObject(); err != nil {
				return err
			}
		}
		object = append(object, d)
		return nil
	})
	if err != nil {
		return err
	}
	return mendObject()
}

// anchor gives the run one anchoring, shared by its check and its mend.
func (c *RebuildConfig) anchor() error {
	if c.anchors != nil {
		return nil
	}
	dcfg := c.discover()
	trusted, err := dcfg.validate()
	if err != nil {
		return err
	}
	c.anchors = newAnchoring(&archive.Store{S3: c.S3, Bucket: c.Bucket, Prefix: dcfg.Prefix}, dcfg, trusted, c.Pruned)
	return nil
}

// Check compares the index with S3 entry by entry over the scope and
// reports every missing, different and extra item; it writes nothing. Its
// memory is bounded by KeysInMemory, not by the scope (extraFinder).
func Check(ctx context.Context, cfg RebuildConfig) (rep RebuildReport, err error) {
	cfg.OnlyMissing = true
	tmp := &scratch{parent: cfg.TempDir}
	if err := tmp.make(); err != nil {
		return rep, err
	}
	defer func() { err = errors.Join(err, tmp.remove()) }()
	return rebuild(ctx, cfg, false, tmp)
}

// rebuild rebuilds (write) or checks (OnlyMissing, not write) the scope;
// a check keeps what it spills in tmp.
func rebuild(ctx context.Context, cfg RebuildConfig, write bool, tmp *scratch) (RebuildReport, error) {
	var rep RebuildReport
	dcfg := cfg.discover()
	trusted, err := dcfg.validate()
	if err != nil {
		return rep, err
	}
	if cfg.Index == nil {
		return rep, errors.New("rebuild config: Index is required")
	}
	if cfg.KeysInMemory < 0 {
		return rep, fmt.Errorf("rebuild config: %w", setting.Errorf("KeysInMemory", "%d must not be negative (0: the default, %d)", cfg.KeysInMemory, DefaultKeysInMemory))
	}
	if cfg.KeysInMemory == 0 {
		cfg.KeysInMemory = DefaultKeysInMemory
	}
	cfg.Prefix, cfg.Now = dcfg.Prefix, dcfg.Now // the defaults validate filled in
	if cfg.Workers <= 0 {
		cfg.Workers = 8
	}
	if err := cfg.anchor(); err != nil {
		return rep, err
	}
	dcfg.anchors = cfg.anchors
	store := &archive.Store{S3: cfg.S3, Bucket: cfg.Bucket, Prefix: cfg.Prefix}
	// The listing is read as the objects are (scopeObjects): a survey
	// first, for the stray check and the progress total.
	objects, err := surveyScope(ctx, store, cfg.Chain, cfg.From, cfg.To)
	if err != nil {
		return rep, err
	}
	rep.Objects, rep.Rewritten, rep.FirstRewritten = objects.Objects, objects.Rewritten, objects.FirstRewritten
	seq := newSequence(store, dcfg, trusted)
	// A rebuild killed after finishing seq done resumes: every object is
	// read and verified again, as by a rebuild from the start (each named
	// by its neighbours too: seq), and those the killed run finished
	// (their last seq at most done) are not written again. Skipping them
	// unread, by their keys' first seqs, skipped whatever a bucket writer
	// filed among them: a twin of a sealed batch that a full rebuild
	// refuses went unreported (and, filed under an earlier day, took the
	// place of the batch after a kill before it). Reading is cheap next to
	// writing the index.
	resume := write && !cfg.OnlyMissing
	var done uint64
	var resumed bool
	if resume {
		if done, resumed, err = cfg.Index.RebuildDone(ctx, cfg.Chain, cfg.scope()); err != nil {
			return rep, err
		}
	}
	ix := *cfg.Index
	ix.Workers = cfg.Workers
	// Only check takes the item keys (to find the extra items at the end).
	var extras *extraFinder
	if cfg.OnlyMissing {
		extras = newExtraFinder(cfg.KeysInMemory, tmp)
	}
	// [lo, hi] is the seq range of the entries in scope (scoped: any).
	var lo, hi uint64
	var scoped bool
	var last *shared.Entry
	err = fetchStream(ctx, objects.next, 4, func(ctx context.Context, ref archive.BatchRef) (*discovered, error) {
		return readDiscovered(ctx, store, dcfg, trusted, ref)
	}, func(ref archive.BatchRef, d *discovered) error {
		if d.skip {
			rep.Done++ // counted among the scope's objects by the survey
			return nil
		}
		if d.failure != nil {
			return d.failure
		}
		if err := seq.follow(ctx, ref, d); err != nil {
			return err
		}
		if d.prunedStart {
			rep.StartSeq, rep.StartObject = d.entries[0].Seq, ref.Key
		}
		if d.pastRetention {
			rep.PastRetention++
		}
		rep.Entries += uint64(len(d.entries))
		if !d.signed {
			rep.Unsigned += uint64(len(d.entries))
			rep.Done++
			return nil
		}
		if lastE := d.entries[len(d.entries)-1]; resumed && lastE.Seq <= done {
			last, rep.HeadSeq = lastE, lastE.Seq
			rep.Resumed++
			rep.Done++
			if cfg.Progress != nil {
				cfg.Progress(rep)
			}
			return nil
		}
		var inScope, outOfScope []int
		for i, e := range d.entries {
			if !cfg.From.IsZero() && (e.Source.Timestamp.Before(cfg.From) || !e.Source.Timestamp.Before(cfg.To)) {
				outOfScope = append(outOfScope, i)
				continue
			}
			if !scoped || e.Seq < lo {
				lo, scoped = e.Seq, true
			}
			hi = max(hi, e.Seq)
			inScope = append(inScope, i)
		}
		record := func(i int) *shared.SealedRecord {
			return &shared.SealedRecord{Object: ref.Key, VersionID: d.version, Line: i + 1, Entry: d.lines[i]}
		}
		if !cfg.OnlyMissing {
			batch := make([]indexer.Sealed, len(inScope))
			for k, i := range inScope {
				batch[k] = indexer.Sealed{Entry: d.entries[i], Record: record(i)}
			}
			dups, err := applyInLanes(ctx, &ix, batch, rebuildLanes)
			if err != nil {
				return fmt.Errorf("%s: %w", ref.Key, err)
			}
			for k, i := range inScope {
				if err := (applied{dup: dups[k], written: !dups[k]}).add(&rep, d.entries[i], nil, nil); err != nil {
					return err
				}
			}
		} else if err := compareObject(ctx, cfg, d, inScope, record, &rep, extras); err != nil {
			return fmt.Errorf("%s: %w", ref.Key, err)
		} else if err := heldOutOfScope(d, outOfScope, record, extras); err != nil {
			return fmt.Errorf("%s: %w", ref.Key, err)
		}
		last = d.entries[len(d.entries)-1]
		rep.HeadSeq = last.Seq
		rep.Done++
		if resume {
			if err := cfg.Index.SetRebuildDone(ctx, cfg.Chain, cfg.scope(), last.Seq); err != nil {
				return err
			}
		}
		if cfg.Progress != nil {
			cfg.Progress(rep)
		}
		return nil
	})
	if err == nil {
		err = seq.end(ctx)
	}
	if err != nil {
		job := "rebuild"
		if !write {
			job = "index check"
		}
		return rep, listingChanged(err, job, "run it")
	}
	if cfg.OnlyMissing && scoped {
		extra := func(k indexer.ItemKey, seq uint64) error {
			return rep.found(indexer.Difference{Kind: "extra", Seq: seq, ItemKey: k, Detail: "S3 holds no entry with this item"}, cfg.OnDifference)
		}
		past := &pastHead{cfg: cfg, extra: func(k indexer.ItemKey, seq uint64, head uint64) error {
			return rep.found(indexer.Difference{Kind: "extra", Seq: seq, ItemKey: k, Detail: fmt.Sprintf("S3 holds no entry with this item, past its signed head (seq %d), "+
				"yet the sealer publishes an entry only once its checkpoint is in S3: the bucket was restored from an older backup, or is not the indexer's", head)}, cfg.OnDifference)
		}}
		top := hi
		if cfg.From.IsZero() {
			// The whole chain: no entry the index holds has a seq below the
			// first batch's (the genesis, seq 0, is indexed by no one), so
			// an item claiming one is extra too. Past hi, an item may be an
			// entry sealed since the listing was read, or one S3 lacks
			// (pastHead).
			lo, top = 0, shared.MaxSafeInteger
		}
		order := seq
		err := cfg.Index.EntryItems(ctx, cfg.Chain, lo, top, func(k indexer.ItemKey, seq uint64, object string) error {
			if seq > hi {
				return past.add(ctx, k, seq)
			}
			// An item of an entry filed under a day outside the scope
			// is not judged here: its object was not read. Its seq may
			// lie between the scope's (a Kafka timestamp of another
			// day, anyone's who writes the decisions topic), and it
			// was called extra, and deleted by rebuild --only-missing
			// (TestAttack33IndexCheckOfARangeCallsEntriesFiledElsewhereExtra).
			// A check of the whole chain judges it.
			if order.filedElsewhere(object) {
				return nil
			}
			return extras.inTable(k, seq, extra)
		})
		if err == nil {
			err = past.flush(ctx)
		}
		if err == nil {
			err = extras.finish(ctx, extra)
		}
		if err != nil {
			return rep, err
		}
	}
	if write && last != nil {
		if err := cfg.Index.RaiseHighWater(ctx, cfg.Chain, last.Seq, last.Hash); err != nil {
			return rep, err
		}
	}
	if resume {
		err = cfg.Index.ClearRebuildDone(ctx, cfg.Chain, cfg.scope())
	}
	return rep, err
}

// rebuildLanes is how many batches of one object's entries are indexed at
// once (each on up to Workers decisions at once): the indexer's path waits
// for each of its steps (claims, items, states) before the next, and with
// one batch dynalite sat idle at each step's tail.
const rebuildLanes = 4

// applyInLanes indexes batch as lanes batches at once, split by decision
// id, and returns which entries were duplicates. All entries of one
// decision id go to one lane, in their order, as the indexer's entries of
// one decision id go to one Kafka partition: what holds for the indexer's
// partitions indexed at once (a reused event id on two decisions is judged
// by its conditional claim) holds for the lanes.
func applyInLanes(ctx context.Context, ix *indexer.Index, batch []indexer.Sealed, lanes int) ([]bool, error) {
	parts := make([][]int, lanes)
	for i, s := range batch {
		h := fnv.New32a()
		h.Write([]byte(s.Entry.DecisionID()))
		l := int(h.Sum32() % uint32(lanes))
		parts[l] = append(parts[l], i)
	}
	dups := make([]bool, len(batch))
	errs := make(chan error, lanes)
	var wg sync.WaitGroup
	for _, part := range parts {
		if len(part) == 0 {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sub := make([]indexer.Sealed, len(part))
			for k, i := range part {
				sub[k] = batch[i]
			}
			d, err := ix.ApplyBatch(ctx, sub)
			if err != nil {
				errs <- err
				return
			}
			for k, i := range part {
				dups[i] = d[k]
			}
		}()
	}
	wg.Wait()
	close(errs)
	return dups, <-errs
}

// applied is what applyOne did with one entry.
type applied struct {
	key     indexer.ItemKey
	hasKey  bool
	dup     bool
	written bool
	diff    *indexer.Difference
}

// add counts a in rep, gives its key to extras and its difference to on.
func (a applied) add(rep *RebuildReport, e *shared.Entry, extras *extraFinder, on func(indexer.Difference) error) error {
	if a.hasKey {
		if err := extras.produced(a.key); err != nil {
			return err
		}
	}
	switch {
	case a.dup:
		rep.Duplicates++
		return nil
	case e.Type == shared.EntryInvalid:
		rep.Invalid++
	case e.Type == shared.EntryKey:
		rep.KeyChanges++
	case e.Type == shared.EntryEvent:
		if env, err := e.Envelope(); err == nil && env.Override != nil {
			rep.Overrides++
		} else {
			rep.Decisions++
		}
	}
	if a.written {
		rep.Applied++
	}
	if a.diff != nil {
		return rep.found(*a.diff, on)
	}
	return nil
}

// heldOutOfScope gives extras the item keys of the entries of an object
// read whose Kafka timestamps are outside the scope's [From, To): the
// scope reads whole days, and such an entry's seq may lie between those
// of entries in the scope (two producers' clocks apart, or one dating its
// records where it likes). Its item is held by S3, not extra: it was
// called extra, and rebuild --only-missing deleted it
// (TestAttack33IndexCheckFromMidDayCallsAnEarlierEntryBetweenItsOwnExtra).
func heldOutOfScope(d *discovered, idx []int, record func(int) *shared.SealedRecord, extras *extraFinder) error {
	for _, i := range idx {
		item, err := layout.EntryItem(d.entries[i], record(i))
		if err != nil {
			return fmt.Errorf("line %d seq %d: %w", i+1, d.entries[i].Seq, err)
		}
		if k, ok := layout.KeyOf(item); ok {
			if err := extras.produced(k); err != nil {
				return err
			}
		}
	}
	return nil
}

// compareObject compares the items of the entries inScope of one object
// with the index, on Workers goroutines (a decision's entries on one, in
// seq order).
func compareObject(ctx context.Context, cfg RebuildConfig, d *discovered, inScope []int, record func(int) *shared.SealedRecord,
	rep *RebuildReport, extras *extraFinder) error {
	work := make([][]int, cfg.Workers)
	for _, i := range inScope {
		h := fnv.New32a()
		h.Write([]byte(d.entries[i].DecisionID()))
		w := int(h.Sum32() % uint32(cfg.Workers))
		work[w] = append(work[w], i)
	}
	var mu sync.Mutex
	errs := make(chan error, cfg.Workers)
	var wg sync.WaitGroup
	for _, idx := range work {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, i := range idx {
				e := d.entries[i]
				r, err := compareOne(ctx, cfg, e, record(i))
				if err != nil {
					errs <- fmt.Errorf("line %d seq %d: %w", i+1, e.Seq, err)
					return
				}
				mu.Lock()
				err = r.add(rep, e, extras, cfg.OnDifference)
				mu.Unlock()
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// compareOne compares the item of one entry with the index.
func compareOne(ctx context.Context, cfg RebuildConfig, e *shared.Entry, rec *shared.SealedRecord) (applied, error) {
	var a applied
	dup, err := cfg.Index.Expected(ctx, e)
	if err != nil || dup {
		a.dup = dup
		return a, err
	}
	diff, err := cfg.Index.Compare(ctx, e, rec)
	if err != nil {
		return a, err
	}
	item, err := layout.EntryItem(e, rec)
	if err != nil {
		return a, err
	}
	if k, ok := layout.KeyOf(item); ok {
		a.key, a.hasKey = k, true
	}
	a.diff = diff
	return a, nil
}

// pastHead judges the items of a whole-chain check whose seqs are past
// the last entry the check read: entries sealed since its listing, or
// entries S3 lacks. The sealer publishes an entry (and so the indexer
// indexes it) only once its checkpoint is in S3, so an item is extra when
// S3's signed head, read after the item was seen, is below its seq: a
// bucket restored from an older backup, or the index of another bucket
// (before, such items were passed over as sealed since, and index check
// found no difference). Items are judged a thousand at a time, each by a
// head read after it was seen; memory holds those thousand.
type pastHead struct {
	cfg   RebuildConfig
	extra func(k indexer.ItemKey, seq, head uint64) error
	items []pastItem
}

type pastItem struct {
	key indexer.ItemKey
	seq uint64
}

func (p *pastHead) add(ctx context.Context, k indexer.ItemKey, seq uint64) error {
	p.items = append(p.items, pastItem{k, seq})
	if len(p.items) < 1000 {
		return nil
	}
	return p.flush(ctx)
}

func (p *pastHead) flush(ctx context.Context) error {
	if len(p.items) == 0 {
		return nil
	}
	head, err := SignedHead(ctx, p.cfg.S3, p.cfg.Bucket, p.cfg.Prefix, p.cfg.Chain, p.cfg.VerifierKey)
	if err != nil {
		return fmt.Errorf("S3's signed head, to judge the index's items past the entries read: %w", err)
	}
	for _, it := range p.items {
		if it.seq > head.Seq {
			if err := p.extra(it.key, it.seq, head.Seq); err != nil {
				return err
			}
		}
	}
	p.items = p.items[:0]
	return nil
}
