package replayer

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aegisai/audit/archive"
	"github.com/aegisai/audit/internal/platform/setting"
	"github.com/aegisai/audit/shared"
)

// DiscoverConfig selects the entries Discover finds.
type DiscoverConfig struct {
	// S3, Bucket, Prefix locate the log (Prefix default "audit").
	S3     archive.S3API
	Bucket string
	Prefix string
	// Chain is the environment searched (required).
	Chain string
	// VerifierKey is the trusted checkpoint key, or the keyset of a chain whose key was rotated (docs/FORMAT.md section 7.4; ParseKeyset) (required).
	VerifierKey string
	// From and To bound the Kafka timestamps (source.timestamp) of the
	// entries found: From <= t < To (required, From before To).
	From, To time.Time
	// UserID, SessionID, DecisionID, if set, keep only events about them.
	// A decision's overrides are about its decision id; with UserID or
	// SessionID, the overrides found of the decisions they matched earlier
	// in the range are kept too (an override names its decision, not the
	// user or session: what a reviewer or the fail-safe made of the
	// user's decisions). Overrides of a decision sealed before From are
	// not: start the range before the decision. The decision ids matched
	// are held in memory (about 100 bytes each).
	UserID, SessionID, DecisionID string
	// RecordedBy, if set, keeps only events whose recorded_by is exactly
	// it (docs/FORMAT.md section 4): what one credential recorded, for
	// example after its token leaked.
	RecordedBy string
	// Type, if set, keeps only entries of that type (event or invalid).
	Type shared.EntryType
	// Parallelism is how many objects are read ahead. Default 8.
	Parallelism int
	// Pruned accepts a chain whose oldest objects were deleted after their
	// retention (docs/FORMAT.md section 6.1): its genesis object is not
	// required, and an object whose predecessor is gone is taken as where
	// the chain that remains starts when no checkpoint of a lower seq than
	// that predecessor's verifies (prunedStart). Off, such a chain fails
	// (no genesis object, or the object before the first one missing).
	Pruned bool
	// Now is the clock Object Lock retention is checked against. Default
	// time.Now.
	Now func() time.Time
	// Warn, if set, is told of each object or checkpoint read from an
	// older version because its current one does not verify: someone wrote
	// over it after it was sealed (readSealedVersion). It is called from
	// the goroutines that read objects ahead, possibly at once.
	Warn func(string)
	// anchors find the retired keys' checkpoints a verification of the
	// whole chain vouches for, when they are needed (anchoring).
	anchors *anchoring
}

// Found is one entry Discover found, with where it is stored.
type Found struct {
	Entry  *shared.Entry
	Line   []byte
	Object string
	// LineNo is the 1-based line in Object.
	LineNo int
	// Signed is false for an entry of an object no checkpoint signs yet.
	Signed bool
}

// ErrNoChain is returned by Discover for a chain without a genesis object
// in S3, and by Verify for a chain without any object there: no such
// chain under that bucket and prefix.
var ErrNoChain = errors.New("no such chain")

// DiscoverReport counts what Discover read.
type DiscoverReport struct {
	// Days and Objects are the day prefixes listed and objects read.
	Days, Objects int
	// Entries were read and verified; Matched were passed on.
	Entries, Matched uint64
	// Unsigned counts entries read from objects without a checkpoint.
	Unsigned uint64
	// MatchedUnsigned counts the entries matched (handed to emit) that
	// no checkpoint signs (Found.Signed false).
	MatchedUnsigned uint64
	// Rewritten counts the scope's keys written again after they were
	// sealed (more than one version); FirstRewritten names one. Their
	// current versions were read and verified, so the answer holds only
	// sealed entries, but someone wrote over sealed keys: aegis verify
	// names every one. (A delete marker fails the discovery instead: it
	// hides entries.)
	Rewritten      int
	FirstRewritten string
	// StartSeq and StartObject, on a pruned chain read with
	// DiscoverConfig.Pruned whose start is in the scope: the first seq
	// that remains and its object (StartObject "" otherwise).
	StartSeq    uint64
	StartObject string
	// PastRetention counts the objects read past their Object Lock
	// retention (COMPLIANCE still), which DiscoverConfig.Pruned lets
	// through: the ones pruning deletes next.
	PastRetention int
}

// Check reports every problem of the config's values at once, each a
// *setting.Error naming its field: what Discover checks, but the S3
// client, so that a front end can check its settings before it connects.
func (c DiscoverConfig) Check() error {
	_, err := c.check()
	return err
}

// validate checks what every reader of the log needs and fills defaults.
func (c *DiscoverConfig) validate() (shared.Keyset, error) {
	trusted, err := c.check()
	if c.S3 == nil || c.Bucket == "" {
		err = errors.Join(setting.Errorf("S3", "and Bucket are required"), err)
	}
	if err != nil {
		return trusted, fmt.Errorf("config: %w", err)
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
	return trusted, nil
}

func (c *DiscoverConfig) check() (shared.Keyset, error) {
	var errs []error
	if !shared.ValidIdentifier(c.Chain) {
		errs = append(errs, setting.Errorf("Chain", "%q is not a valid chain id", c.Chain))
	}
	trusted, err := shared.ParseKeyset(c.VerifierKey)
	if err != nil {
		errs = append(errs, setting.Errorf("VerifierKey", "%v", err))
	}
	if c.Type != "" && c.Type != shared.EntryEvent && c.Type != shared.EntryInvalid {
		errs = append(errs, setting.Errorf("Type", "%q is not an entry type: want event (decisions and overrides) or invalid (records that are not valid events)", c.Type))
	}
	if !c.From.IsZero() || !c.To.IsZero() {
		if c.From.IsZero() || c.To.IsZero() || !c.From.Before(c.To) {
			errs = append(errs, setting.Errorf("To", "(%s) must be after the start of the range (%s)", shared.FormatTime(c.To), shared.FormatTime(c.From)))
		}
	}
	return trusted, errors.Join(errs...)
}

// scopeObjects yields the batch objects of a scope in seq order (the
// genesis left out: it holds no decision), a page of a folder at a time,
// after one survey of the scope's listing (archive/stream.go): the day
// folders of [from, to), or the whole chain when from is zero. It holds a
// page of each folder being merged and one Run per folder; never the
// scope's keys.
type scopeObjects struct {
	batches *archive.BatchStream
	// Objects is how many objects the survey counted (the total a
	// progress report shows); Days how many day folders it listed.
	Objects, Days int
	// Rewritten counts the keys of the scope with more than one version;
	// FirstRewritten names one.
	Rewritten      int
	FirstRewritten string
}

// surveyScope surveys the scope's listing: one pass that fails on a key in
// the scope's folders that is none of the chain's (before any object is
// read) and counts the objects.
func surveyScope(ctx context.Context, store *archive.Store, chain string, from, to time.Time) (*scopeObjects, error) {
	var sv archive.Survey
	var err error
	what := "a key"
	if from.IsZero() {
		sv, err = store.Survey(ctx, chain)
	} else {
		sv, err = store.SurveyDays(ctx, chain, from, to.Add(-time.Nanosecond))
		what = "a batch key"
	}
	o := &scopeObjects{Days: sv.Days, Rewritten: sv.RewrittenCount}
	if err != nil {
		return o, err
	}
	if len(sv.Rewritten) > 0 {
		o.FirstRewritten = sv.Rewritten[0].Key
	}
	// A sealed object under a delete marker is read from its sealed
	// version (readDiscovered), as one written over is: the stream yields
	// the keys under markers too. Only more such keys than the survey
	// holds fail the run.
	if sv.HasDeleted && sv.DeletedCount > len(sv.Deleted) {
		return o, rewrittenFailure(sv.FirstDeleted, sv.RewrittenCount)
	}
	if sv.Strays > 0 {
		return o, &Failure{Key: sv.FirstStray, Err: shared.ErrChainBroken,
			Reason: fmt.Sprintf("object in the chain's folders is not %s of chain %s (%d such objects)", what, chain, sv.Strays)}
	}
	o.Objects = sv.Objects + len(sv.Deleted)
	for _, r := range sv.Runs {
		if r.FirstSeq == 0 { // the genesis folder: the genesis alone, strays failed above
			o.Objects--
		}
	}
	o.batches = store.StreamBatches(sv, chain)
	return o, nil
}

// next takes the next object; its signature is fetchStream's.
func (o *scopeObjects) next(ctx context.Context) (archive.BatchRef, bool, error) {
	for {
		ref, ok, err := o.batches.Next(ctx)
		if err != nil || !ok || ref.FirstSeq != 0 {
			return ref, ok, err
		}
		// the genesis
	}
}

// Discover finds the entries of a time range straight from S3, listing only
// the day prefixes of the range (every entry of an object is of its key's
// date, docs/FORMAT.md section 1), and hands each match to emit in seq
// order. Everything it reads is verified: each object's Object Lock and
// lines, its links to the object before (through that object's signed
// checkpoint), and the checkpoint that signs it (signature, hash, root).
// The day folders are listed twice, a page at a time: once to count and
// check their keys, then merged in seq order as the objects are read
// (scopeObjects). Memory holds the objects read ahead, a page of each
// folder being merged and a few hundred bytes per day, not the range.
func Discover(ctx context.Context, cfg DiscoverConfig, emit func(Found) error) (DiscoverReport, error) {
	var rep DiscoverReport
	trusted, err := cfg.validate()
	if err != nil {
		return rep, err
	}
	if cfg.From.IsZero() {
		return rep, errors.New("discover config: From and To are required")
	}
	store := &archive.Store{S3: cfg.S3, Bucket: cfg.Bucket, Prefix: cfg.Prefix}
	// One request tells a chain with nothing in the range from a chain
	// that does not exist (a misspelt name), which would otherwise look
	// like an empty answer.
	genesis := shared.GenesisKey(cfg.Prefix, cfg.Chain)
	if _, err := store.Head(ctx, genesis, ""); errors.Is(err, archive.ErrNotFound) {
		// A delete marker on the genesis hides nothing either: its sealed
		// version is still there (aegis verify reports the marker).
		ids, lerr := store.SealedVersions(ctx, genesis)
		if lerr != nil {
			return rep, lerr
		}
		switch _, _, signed, err := lowestSignedCheckpoint(ctx, store, cfg, trusted); {
		case len(ids) > 0:
		case err != nil:
			return rep, err
		case !cfg.Pruned:
			return rep, fmt.Errorf("%w: chain %q has no genesis object (s3://%s/%s)%s", ErrNoChain, cfg.Chain, cfg.Bucket, genesis, prunedHint(signed))
		case !signed:
			return rep, fmt.Errorf("%w: chain %q has no genesis object (s3://%s/%s) and no checkpoint that verifies", ErrNoChain, cfg.Chain, cfg.Bucket, genesis)
		default:
			break // a pruned chain: prunedStart finds where it starts
		}
		if cfg.Warn != nil {
			cfg.Warn(fmt.Sprintf("%s: a delete marker is on the genesis; its sealed version is under it (aegis verify reports the key)", genesis))
		}
	} else if err != nil {
		return rep, err
	}
	if cfg.anchors == nil {
		cfg.anchors = newAnchoring(store, cfg, trusted, cfg.Pruned)
	}
	objects, err := surveyScope(ctx, store, cfg.Chain, cfg.From, cfg.To)
	rep.Days, rep.Rewritten, rep.FirstRewritten = objects.Days, objects.Rewritten, objects.FirstRewritten
	if err != nil {
		return rep, err
	}
	seq := newSequence(store, cfg, trusted)
	var decided map[string]bool // the decision ids UserID or SessionID matched
	if cfg.UserID != "" || cfg.SessionID != "" {
		decided = map[string]bool{}
	}
	err = fetchStream(ctx, objects.next, cfg.Parallelism, func(ctx context.Context, ref archive.BatchRef) (*discovered, error) {
		return readDiscovered(ctx, store, cfg, trusted, ref)
	}, func(ref archive.BatchRef, d *discovered) error {
		if d.skip {
			return nil
		}
		if d.failure != nil {
			return d.failure
		}
		if err := seq.follow(ctx, ref, d); err != nil {
			return err
		}
		rep.Objects++
		rep.Entries += uint64(len(d.entries))
		if d.prunedStart {
			rep.StartSeq, rep.StartObject = d.entries[0].Seq, ref.Key
		}
		if d.pastRetention {
			rep.PastRetention++
		}
		if !d.signed {
			rep.Unsigned += uint64(len(d.entries))
		}
		for i, e := range d.entries {
			if !cfg.matches(e, decided) {
				continue
			}
			rep.Matched++
			if !d.signed {
				rep.MatchedUnsigned++
			}
			if err := emit(Found{Entry: e, Line: d.lines[i], Object: ref.Key, LineNo: i + 1, Signed: d.signed}); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		err = seq.end(ctx)
	}
	return rep, listingChanged(err, "discovery", "discover")
}

// matches reports whether e is one Discover keeps. decided holds the
// decision ids a UserID or SessionID filter matched so far (nil without
// one): a decision matched is added, an override of one is kept.
func (c *DiscoverConfig) matches(e *shared.Entry, decided map[string]bool) bool {
	if ts := e.Source.Timestamp; ts.Before(c.From) || !ts.Before(c.To) {
		return false
	}
	if c.Type != "" && e.Type != c.Type {
		return false
	}
	if c.UserID == "" && c.SessionID == "" && c.DecisionID == "" && c.RecordedBy == "" {
		return true
	}
	if e.Type != shared.EntryEvent {
		return false
	}
	env, err := e.Envelope()
	if err != nil {
		return false
	}
	if c.DecisionID != "" && env.DecisionID() != c.DecisionID || c.RecordedBy != "" && env.RecordedBy != c.RecordedBy {
		return false
	}
	if c.UserID != "" || c.SessionID != "" {
		if env.Override != nil {
			return decided[env.Override.DecisionID]
		}
		d := env.Decision
		if d == nil || c.UserID != "" && d.UserID != c.UserID || c.SessionID != "" && d.SessionID != c.SessionID {
			return false
		}
		decided[d.DecisionID] = true
	}
	return true
}

// discovered is one object read and verified by Discover.
type discovered struct {
	entries []*shared.Entry
	lines   [][]byte
	version string
	signed  bool
	failure *Failure
	// after is the object the checkpoint before this one names (sequence).
	after string
	// pastRetention: the object's Object Lock retention has ended
	// (COMPLIANCE still), read because the chain is pruned.
	pastRetention bool
	// prunedStart: the object is where a pruned chain that remains starts
	// (DiscoverConfig.Pruned): its predecessor is gone, and so is every
	// checkpoint below that predecessor's.
	prunedStart bool
	// skip: a delete marker with no object under it (anyone with write
	// access can put one on any key): nothing to read. Were it a sealed
	// object removed from the storage, its neighbours name it missing.
	skip bool
}

// readDiscovered reads one object with its checkpoint and the checkpoint of
// the entry before it, and checks the object against both. When the
// object's current version fails, its older versions are read, the oldest
// first, and the first that a checkpoint signs is taken, with a warning:
// someone with write access to the bucket wrote over the key after it was
// sealed, and the sealed version stays under Object Lock (only it can pass
// the signature). Without this, one version written over a sealed key
// stopped discover, rebuild and index check of its day for as long as the
// bad version's lock lasts. The current version's failure is the answer
// when no older version passes.
func readDiscovered(ctx context.Context, store *archive.Store, cfg DiscoverConfig, trusted shared.Keyset, ref archive.BatchRef) (*discovered, error) {
	cur, err := store.GetLocked(ctx, ref.Key)
	var d *discovered
	switch {
	case errors.Is(err, archive.ErrTooLarge): // not a batch the sealer wrote: one written over it?
		cur = tooLarge
		d = &discovered{failure: &Failure{Key: ref.Key, Reason: err.Error(), Err: ErrVerifyFailed}}
	case errors.Is(err, archive.ErrUnreadable): // a version S3 will not give: one written over it?
		cur = archive.Unreadable
		d = &discovered{failure: &Failure{Key: ref.Key, Reason: err.Error(), Err: ErrVerifyFailed}}
	case errors.Is(err, archive.ErrNotFound): // a delete marker on it (the survey listed its versions)
		ids, err := store.SealedVersions(ctx, ref.Key)
		if err != nil {
			return nil, err
		}
		if len(ids) == 0 {
			if cfg.Warn != nil {
				cfg.Warn(fmt.Sprintf("%s: a delete marker with no object under it is passed over (aegis verify reports the key)", ref.Key))
			}
			return &discovered{skip: true}, nil
		}
		cur = nil
		d = &discovered{failure: &Failure{Key: ref.Key, Reason: "a delete marker hides it, and no older version is the sealed object", Err: ErrRewritten}}
	case err != nil:
		return nil, err
	default:
		if d, err = checkDiscovered(ctx, store, cfg, trusted, ref, cur); err != nil {
			return d, err
		}
		if d.failure == nil && d.signed {
			return d, nil
		}
		// Verified but signed by no checkpoint: the newest object, or a
		// version written over a sealed one (its lines plus a forged one
		// still chain, and no checkpoint signs them). Only a key with older
		// versions can be the second: read them.
		if d.failure == nil {
			ids, err := store.SealedVersions(ctx, ref.Key)
			if err != nil {
				return nil, err
			}
			if len(ids) < 2 {
				return d, nil
			}
		}
	}
	var sealed *discovered
	obj, ok, err := store.SealedVersion(ctx, ref.Key, cur, func(ctx context.Context, id string) (*archive.Object, error) {
		return store.GetLockedVersion(ctx, ref.Key, id)
	}, func(obj *archive.Object) error {
		s, err := checkDiscovered(ctx, store, cfg, trusted, ref, obj)
		switch {
		case err != nil:
			return err
		case s.failure != nil:
			return s.failure
		case !s.signed:
			return errors.New("no checkpoint signs it")
		}
		sealed = s
		return nil
	})
	if err != nil || !ok {
		return d, err // the current version's verdict: a failure, or unsigned
	}
	warnSealedVersion(cfg.Warn, ref.Key, cur, obj)
	return sealed, nil
}

// checkDiscovered is readDiscovered of obj, one version of ref's key.
func checkDiscovered(ctx context.Context, store *archive.Store, cfg DiscoverConfig, trusted shared.Keyset, ref archive.BatchRef, obj *archive.Object) (*discovered, error) {
	b, err := checkBatch(ref, obj, cfg.Now())
	if err != nil {
		return nil, err
	}
	if b.failure == nil && !cfg.Pruned {
		// A pruned chain's objects past their retention are what pruning
		// deletes next (FORMAT.md 6.1); they are read and counted.
		b.failure = b.endedFailure(ref.Key)
	}
	if b.failure != nil {
		return &discovered{failure: b.failure}, nil
	}
	d := &discovered{entries: b.entries, lines: b.lines, version: b.version, pastRetention: b.retentionEnded != ""}
	fail := func(key string, line int, seq uint64, err error, format string, args ...any) (*discovered, error) {
		return &discovered{failure: &Failure{Key: key, Line: line, Seq: seq, HasSeq: true, Reason: fmt.Sprintf(format, args...), Err: err}}, nil
	}
	first, lastE := d.entries[0], d.entries[len(d.entries)-1]
	if want := shared.BatchKey(cfg.Prefix, first); want != ref.Key || first.Seq != ref.FirstSeq {
		return fail(ref.Key, 1, first.Seq, shared.ErrChainBroken, "object is stored at the wrong key; its first entry belongs at %s", want)
	}
	for i := 1; i < len(d.entries); i++ {
		e, p := d.entries[i], d.entries[i-1]
		switch {
		case e.Seq != p.Seq+1 || e.Prev != p.Hash:
			return fail(ref.Key, i+1, e.Seq, shared.ErrChainBroken, "does not follow the line before")
		case e.Source.Offset <= p.Source.Offset || e.Source.Topic != p.Source.Topic || e.Source.Partition != p.Source.Partition:
			return fail(ref.Key, i+1, e.Seq, shared.ErrChainBroken, "source %s/%d offset %d does not follow %s/%d offset %d",
				e.Source.Topic, e.Source.Partition, e.Source.Offset, p.Source.Topic, p.Source.Partition, p.Source.Offset)
		case shared.FileDate(e.Source.Timestamp) != shared.FileDate(first.Source.Timestamp):
			return fail(ref.Key, i+1, e.Seq, shared.ErrChainBroken, "source.timestamp is not on the object's date")
		}
	}
	// The entry before the object, through the checkpoint that signs it.
	prevKey := shared.CheckpointKey(cfg.Prefix, cfg.Chain, first.Seq-1)
	prev, err := readCheckpointAt(ctx, store, cfg, trusted, prevKey)
	switch {
	case errors.Is(err, archive.ErrNotFound):
		start, why, perr := prunedStart(ctx, store, cfg, trusted, first.Seq-1)
		if perr != nil {
			return nil, perr
		}
		if !start {
			return fail(ref.Key, 1, first.Seq, shared.ErrChainBroken, "no checkpoint signs seq %d, the entry before this object (%s)%s", first.Seq-1, prevKey, why)
		}
		d.prunedStart = true
		prev = &checkpointRead{} // nothing before it to link to or to name
	case err != nil:
		return nil, err
	case prev.failure != nil:
		return &discovered{failure: prev.failure}, nil
	case prev.cp.Hash != first.Prev:
		return fail(ref.Key, 1, first.Seq, shared.ErrChainBroken, "prev %s is not the hash %s that %s signs for seq %d", first.Prev, prev.cp.Hash, prevKey, first.Seq-1)
	}
	d.after = prev.cp.Object
	cpKey := shared.CheckpointKey(cfg.Prefix, cfg.Chain, lastE.Seq)
	own, err := readCheckpointAt(ctx, store, cfg, trusted, cpKey)
	if errors.Is(err, archive.ErrNotFound) {
		// Only the newest object may be unsigned. One no checkpoint signs
		// while a checkpoint signs a later seq is not the sealer's (a
		// bucket writer's twin of a sealed batch, linked to the checkpoint
		// before it): passed on as unsigned, it stood beside the sealed
		// batch, and a resumed rebuild skipped that batch for it. The
		// sealer writes its checkpoints in seq order, one after the other
		// (sealer/pipeline.go's sign stage; an object it adopts after a
		// restart gets its own before any later one), so once a later
		// checkpoint that verifies is listed this object's exists: it is
		// read once more, a sealer may have written both since the first
		// read. Files at later checkpoint keys that do not verify say
		// nothing (signedCheckpointAfter).
		later, at, ok, lerr := signedCheckpointAfter(ctx, store, trusted, cfg.anchors, cfg.Chain, lastE.Seq, false)
		switch {
		case lerr != nil:
			return nil, lerr
		case !ok:
			return d, nil // the newest object, not signed yet
		}
		if own, err = readCheckpointAt(ctx, store, cfg, trusted, cpKey); errors.Is(err, archive.ErrNotFound) {
			return fail(ref.Key, 1, first.Seq, shared.ErrChainBroken,
				"no checkpoint signs this object (%s), yet %s signs seq %d after it: only the newest object can be unsigned (another object of seq %d, or this one's checkpoint deleted?)", cpKey, later, at.Seq, first.Seq)
		}
	}
	switch {
	case err != nil:
		return nil, err
	case own.failure != nil:
		return &discovered{failure: own.failure}, nil
	}
	cp := own.cp
	if cp.Object != ref.Key || cp.Hash != lastE.Hash || cp.Offset != lastE.Source.Offset || cp.Root != shared.ObjectRoot(d.entries) {
		return fail(cpKey, 0, cp.Seq, shared.ErrBadCheckpoint, "checkpoint does not sign %s as stored (object, hash, offset or root differ)", ref.Key)
	}
	if err := retiredSignsFirstObject(ctx, store, trusted, cfg.anchors, ref.Key, obj, cp); err != nil {
		var f *Failure
		if errors.As(err, &f) {
			return &discovered{failure: f}, nil
		}
		return nil, err
	}
	d.signed = true
	return d, nil
}

type checkpointRead struct {
	cp      shared.Checkpoint
	failure *Failure
}

// readCheckpointAt reads and verifies the checkpoint at key (with its
// Object Lock): the checkpoint of key's own seq, signed by the trusted
// key. A missing one is archive.ErrNotFound. A current version deleted or
// written over is passed over for the sealed one (readSealedVersion, with
// cfg.Warn told).
func readCheckpointAt(ctx context.Context, store *archive.Store, cfg DiscoverConfig, trusted shared.Keyset, key string) (*checkpointRead, error) {
	var cp shared.Checkpoint
	_, err := readSealedVersion(ctx, store, cfg.Warn, key, func(obj *archive.Object) error {
		if f, past := lockState(obj, cfg.Now()); f != "" && !(past && cfg.Pruned) {
			return &Failure{Key: key, Reason: f, Err: ErrVerifyFailed}
		}
		var err error
		if cp, err = trusted.Open(obj.Body); err != nil {
			return &Failure{Key: key, Reason: err.Error(), Err: err}
		}
		if err := retiredSignsFirstVersion(ctx, store, trusted, cfg.anchors, key, obj, cp); err != nil {
			return err
		}
		if at := shared.CheckpointKey(cfg.Prefix, cp.Chain, cp.Seq); at != key {
			return &Failure{Key: key, Reason: fmt.Sprintf("the checkpoint of seq %d of chain %s, stored at another seq's key", cp.Seq, cp.Chain), Err: shared.ErrBadCheckpoint}
		}
		return nil
	})
	var f *Failure
	if errors.As(err, &f) {
		return &checkpointRead{failure: f}, nil
	}
	if err != nil {
		return nil, err
	}
	return &checkpointRead{cp: cp}, nil
}
