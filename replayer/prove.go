package replayer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aegisai/audit/archive"
	"github.com/aegisai/audit/shared"
)

// EntryRef points at one sealed entry: its object and 1-based line (the
// proof pointer every index item carries, or a discovery result).
type EntryRef struct {
	Seq    uint64
	Object string
	Line   int
}

// ProveConfig configures Prove.
type ProveConfig struct {
	// S3, Bucket, Prefix locate the log (Prefix default "audit").
	S3     archive.S3API
	Bucket string
	Prefix string
	// Chain is the decision's chain (required).
	Chain string
	// VerifierKey is the chain's checkpoint key, or its keyset after a key
	// rotation (docs/FORMAT.md section 7.4; required): every checkpoint put
	// in the bundle is checked with the key for its seq.
	VerifierKey string
	// Now is the clock Object Lock retention is checked against. Default
	// time.Now.
	Now func() time.Time
	// Warn, if set, is told of each object or checkpoint read from an
	// older version because its current one was deleted or written over
	// after it was sealed (the bundle is as good: the checkpoint's
	// signature covers what it holds; aegis verify reports the key).
	Warn func(string)
	// fromReceipt: the refs come from a receipt (VerifyReceipt), not from
	// the index, which a ref S3 does not bear out then says nothing of.
	fromReceipt bool
	// sealedVersion, if set, is told the version of each object read
	// (VerifyReceipt compares the receipt's version_id with it).
	sealedVersion func(key, versionID string)
	// anchors find the retired keys' checkpoints a verification of the
	// whole chain vouches for, when they are needed (anchoring).
	anchors *anchoring
}

// ErrUnsigned means an entry is in S3 but no checkpoint signs its object
// yet (a sealer is writing, or stopped between the object and its
// checkpoint): it cannot be proved now.
var ErrUnsigned = errors.New("entry not signed by a checkpoint yet")

// ErrObjectGone means the object an entry is said to be in has no version
// in the bucket: deleted after its retention (a pruned chain, FORMAT.md
// section 6.1) or removed from the storage. Nothing is left to prove.
var ErrObjectGone = errors.New("object gone from the bucket")

// Prove builds the evidence bundle of decisionID from the entries refs
// point at. Nothing is taken from the refs but where to look: each object
// is read from S3 (its Object Lock checked), its lines verified and linked,
// its checkpoint read and checked with the trusted key, and each entry's
// Merkle path computed. The bundle is verified with VerifyBundle before it
// is returned.
func Prove(ctx context.Context, cfg ProveConfig, decisionID string, refs []EntryRef) ([]byte, shared.ProofReport, error) {
	var rep shared.ProofReport
	if cfg.Prefix == "" {
		cfg.Prefix = "audit"
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	trusted, err := shared.ParseKeyset(cfg.VerifierKey)
	if err != nil {
		return nil, rep, fmt.Errorf("prove: %w", err)
	}
	if len(refs) == 0 {
		return nil, rep, fmt.Errorf("prove %s: no entries", decisionID)
	}
	store := &archive.Store{S3: cfg.S3, Bucket: cfg.Bucket, Prefix: cfg.Prefix}
	if cfg.anchors == nil {
		// This call's, on its store (the retired-key rule's dates are
		// found once per store).
		cfg.anchors = cfg.newAnchoring(store, trusted)
	}
	b := &shared.Bundle{Chain: cfg.Chain, DecisionID: decisionID, Items: make([]shared.BundleItem, len(refs))}
	// One object at a time, each read once for all the refs in it: a
	// decision overridden in thousands of objects (a producer may do that)
	// costs the memory of one object, not of all of them.
	byObject := map[string][]int{}
	var objects []string
	for i, ref := range refs {
		if _, ok := byObject[ref.Object]; !ok {
			objects = append(objects, ref.Object)
		}
		byObject[ref.Object] = append(byObject[ref.Object], i)
	}
	for _, key := range objects {
		o, err := readSignedObject(ctx, store, cfg, trusted, key)
		if err != nil {
			return nil, rep, err
		}
		leaves := make([]shared.Hash, len(o.entries))
		for j, e := range o.entries {
			leaves[j] = e.Hash
		}
		for _, n := range byObject[key] {
			ref := refs[n]
			i := ref.Line - 1
			if i < 0 || i >= len(o.entries) || o.entries[i].Seq != ref.Seq {
				hint := "the index is out of date (run aegis index check)"
				if cfg.fromReceipt {
					hint = "the receipt does not match what S3 holds"
				}
				return nil, rep, fmt.Errorf("prove %s: %s has no seq %d at line %d: %s", decisionID, ref.Object, ref.Seq, ref.Line, hint)
			}
			b.Items[n] = shared.BundleItem{Object: key, Line: bytes.Clone(o.lines[i]), Index: uint64(i), Size: uint64(len(o.entries)),
				Path: shared.InclusionProof(leaves, i), Checkpoint: o.note}
		}
	}
	// key_id names the key of the newest checkpoint (after a key rotation
	// the older ones may be signed by the retired key, in its range).
	b.KeyID = shared.SignedBy(b.Items[len(b.Items)-1].Checkpoint)
	raw := b.Encode()
	verify := shared.VerifyBundle
	if cfg.fromReceipt {
		verify = shared.VerifyEntryBundle // one override's receipt: its entry alone (VerifyReceipt)
	}
	rep, err = verify(raw, trusted)
	if err != nil {
		return nil, rep, fmt.Errorf("prove %s: the bundle built does not verify: %w", decisionID, err)
	}
	return raw, rep, nil
}

// signedObject is an object with the checkpoint that signs it.
type signedObject struct {
	entries []*shared.Entry
	lines   [][]byte
	note    []byte
}

// readSignedObject reads an object and its checkpoint and checks that the
// checkpoint signs exactly it. Each is read from its sealed version
// (readSealedVersion) when its current one was deleted or written over.
func readSignedObject(ctx context.Context, store *archive.Store, cfg ProveConfig, trusted shared.Keyset, key string) (*signedObject, error) {
	// The key comes from the index or a receipt: refused unless it is one
	// of the chain's object keys, before S3 is asked (a key S3 cannot
	// serve, a NUL in it, was answered 500 and reported as an outage:
	// found by an attack on the "could not check" status).
	if _, err := firstSeq(cfg.Prefix, cfg.Chain, key); err != nil {
		return nil, fmt.Errorf("%q is not an object key of chain %s: %w", key, cfg.Chain, err)
	}
	var so *signedObject
	obj, err := readSealedVersion(ctx, store, cfg.Warn, key, func(obj *archive.Object) error {
		var err error
		so, err = checkSignedObject(ctx, store, cfg, trusted, key, obj)
		return err
	})
	if errors.Is(err, archive.ErrNotFound) {
		// No version of it at all (a checkpoint not found is ErrUnsigned,
		// from checkSignedObject): before, the answer was S3's bare
		// "object not found", which said neither why nor what to run.
		// Past S3's signed head, the object never was: the index points
		// where the chain has not reached (an outside trial read the
		// object named gone as pruned, or removed).
		if seq, serr := firstSeq(cfg.Prefix, cfg.Chain, key); serr == nil {
			if head, herr := SignedHead(ctx, cfg.S3, cfg.Bucket, cfg.Prefix, cfg.Chain, cfg.VerifierKey); herr == nil && seq > head.Seq {
				return nil, fmt.Errorf("%s is past S3's signed head (seq %d): the chain in s3://%s has not reached it, so whatever pointed here (the index) holds what S3 lacks: "+
					"a bucket restored from an older backup, another bucket than the indexers', or an edited index; aegis index status and aegis index check say how far", key, head.Seq, store.Bucket)
			}
		}
		// Pruning removes the oldest objects first: while the genesis's
		// checkpoint is current, none was pruned, and the pruning told
		// first pointed an auditor at the harmless cause of the newest
		// object's removal (an outside trial).
		genesis := shared.CheckpointKey(cfg.Prefix, cfg.Chain, 0)
		if _, herr := store.Head(ctx, genesis, ""); herr == nil {
			return nil, fmt.Errorf("%w: no version of %s is left in s3://%s: it was removed from the storage, where S3's Object Lock cannot remove it (the chain still holds its genesis checkpoint, so no pruning of its oldest objects took it); "+
				"aegis verify with a checkpoint kept from before (--known-checkpoint) shows what else is missing, aegis index status and index check what the index holds past S3",
				ErrObjectGone, key, store.Bucket)
		}
		return nil, fmt.Errorf("%w: no version of %s is left in s3://%s (deleted after its retention, as a pruned chain's oldest objects are, or removed from the storage); aegis verify --pruned says where the chain starts now, aegis index check --pruned lists the index items S3 no longer holds",
			ErrObjectGone, key, store.Bucket)
	}
	if err == nil && cfg.sealedVersion != nil {
		cfg.sealedVersion(key, obj.VersionID)
	}
	return so, err
}

// checkSignedObject checks obj, a version of key, and reads the checkpoint
// that must sign it.
func checkSignedObject(ctx context.Context, store *archive.Store, cfg ProveConfig, trusted shared.Keyset, key string, obj *archive.Object) (*signedObject, error) {
	if f := checkLock(obj, cfg.Now()); f != "" {
		return nil, &Failure{Key: key, Reason: f, Err: ErrVerifyFailed}
	}
	seq, err := firstSeq(cfg.Prefix, cfg.Chain, key)
	if err != nil {
		return nil, err
	}
	entries, lines, err := shared.ParseObject(key, seq, obj.Body)
	if err != nil {
		return nil, err
	}
	for i := 1; i < len(entries); i++ {
		if entries[i].Seq != entries[i-1].Seq+1 || entries[i].Prev != entries[i-1].Hash {
			return nil, &Failure{Key: key, Line: i + 1, Seq: entries[i].Seq, HasSeq: true, Reason: "does not follow the line before", Err: shared.ErrChainBroken}
		}
	}
	last := entries[len(entries)-1]
	cpKey := shared.CheckpointKey(cfg.Prefix, cfg.Chain, last.Seq)
	note, err := readSealedVersion(ctx, store, cfg.Warn, cpKey, func(note *archive.Object) error {
		if f := checkLock(note, cfg.Now()); f != "" {
			return &Failure{Key: cpKey, Reason: f, Err: ErrVerifyFailed}
		}
		cp, err := trusted.Open(note.Body)
		if err != nil {
			return &Failure{Key: cpKey, Reason: err.Error(), Err: err}
		}
		if err := retiredSignsFirstVersion(ctx, store, trusted, cfg.anchors, cpKey, note, cp); err != nil {
			return err
		}
		if cp.Object != key || cp.Hash != last.Hash || cp.Root != shared.ObjectRoot(entries) {
			return &Failure{Key: cpKey, Seq: cp.Seq, HasSeq: true, Reason: "checkpoint does not sign " + key + " as stored", Err: shared.ErrChainBroken}
		}
		return retiredSignsFirstObject(ctx, store, trusted, cfg.anchors, key, obj, cp)
	})
	if errors.Is(err, archive.ErrNotFound) {
		return nil, fmt.Errorf("%w: %s ends at seq %d and %s does not exist", ErrUnsigned, key, last.Seq, cpKey)
	}
	if err != nil {
		return nil, err
	}
	return &signedObject{entries: entries, lines: lines, note: note.Body}, nil
}

// readSealedVersion reads key's current version (with its lock state) and,
// when sealed refuses it or a delete marker hides it, the key's older
// versions, the oldest first, until sealed takes one. Someone with write
// access to the bucket can delete a sealed key or write over it; the
// sealed version stays under Object Lock, and what sealed checks (a
// trusted checkpoint's signature over the object) no other version can
// pass. warn, if set, is told when an older version is taken. The error is
// the current version's when none passes.
func readSealedVersion(ctx context.Context, store *archive.Store, warn func(string), key string, sealed func(*archive.Object) error) (*archive.Object, error) {
	cur, err := store.GetLocked(ctx, key)
	switch {
	case err == nil:
		if err = sealed(cur); err == nil {
			return cur, nil
		}
	case errors.Is(err, archive.ErrTooLarge):
		cur = tooLarge // larger than anything sealed: a version written over it, or garbage
	case errors.Is(err, archive.ErrUnreadable):
		cur = archive.Unreadable // one S3 will not give, written over it
	case !errors.Is(err, archive.ErrNotFound):
		return nil, err
	}
	// Why the oldest older version was refused: the sealed one, unless
	// it was removed. Told first when none is taken: the current one's
	// refusal alone (a rewrite's missing lock) hid why the sealed version
	// was refused (an outside trial: versitygw dates an older version by
	// the write over it, and a retired key's checkpoint there was refused
	// by its date).
	var oldest error
	obj, ok, lerr := store.SealedVersion(ctx, key, cur, func(ctx context.Context, id string) (*archive.Object, error) {
		o, err := store.GetLockedVersion(ctx, key, id)
		if err != nil && oldest == nil {
			oldest = fmt.Errorf("%s version %s: %w", key, id, err)
		}
		return o, err
	}, func(o *archive.Object) error {
		err := sealed(o)
		if err != nil && oldest == nil {
			oldest = fmt.Errorf("%s version %s: %w", key, o.VersionID, err)
		}
		return err
	})
	switch {
	case lerr != nil:
		return nil, lerr
	case !ok && oldest != nil && !errors.Is(err, archive.ErrNotFound):
		// Under a delete marker, as before: not found (a checkpoint key
		// holding only files that do not verify is no checkpoint, an
		// unsigned object's, not a failure: the attack on this message).
		return nil, fmt.Errorf("no version of %s is the sealed one; the oldest is refused: %w (the current, %s: %v)", key, oldest, archive.CurrentName(cur), err)
	case !ok:
		return nil, err
	}
	warnSealedVersion(warn, key, cur, obj)
	return obj, nil
}

// tooLarge stands for a current version too large to read, in
// SealedVersion (which then reads every version, the current one failing
// again) and in the warning that names it.
var tooLarge = &archive.Object{VersionID: "(larger than any sealed object)"}

// warnSealedVersion tells warn, if set, that obj, an older version of key,
// was read because cur (nil: a delete marker) is not the sealed one.
func warnSealedVersion(warn func(string), key string, cur, obj *archive.Object) {
	if warn != nil {
		warn(fmt.Sprintf("%s: the current version (%s) is not the sealed one: it was deleted or written over after it was sealed; sealed version %s is read (aegis verify reports the key)",
			key, archive.CurrentName(cur), obj.VersionID))
	}
}

// ErrRetiredRewrite is wrapped when a checkpoint signed by a retired key
// (one whose keyset range is closed), or the object it signs, is not the
// first version of its key or was stored after the key's retirement.
var ErrRetiredRewrite = errors.New("checkpoint of a retired key in a version the sealer did not write while the key was current")

// retiredSignsFirstVersion refuses obj, a version of the checkpoint key
// key that verifies as cp, when a retired key signs it and it is not the
// key's first version. The sealer writes each key once, before anyone
// else can write over it, so the sealed checkpoint is the first version;
// a later one verifying is signed by whoever holds the key now. For the
// keyset's current key that is the sealer (or an insider with its key,
// docs/SECURITY.md section 1). A retired key may be held by a thief after
// its retirement: its signature on a version written over a sealed
// object and checkpoint before the hand-over must not make the forgery
// pass (docs/SECURITY.md section 5). Readers then take the sealed
// versions, as under any other rewrite; aegis verify reports the key.
func retiredSignsFirstVersion(ctx context.Context, store *archive.Store, trusted shared.Keyset, a *anchoring, key string, obj *archive.Object, cp shared.Checkpoint) error {
	why, unvouched, err := retiredRefuses(ctx, store, trusted, a, key, obj, cp)
	if why == "" || err != nil {
		return err
	}
	return &Failure{Key: key, Version: obj.VersionID, Seq: cp.Seq, HasSeq: true, Err: ErrRetiredRewrite,
		Reason: fmt.Sprintf("%v: %ssigned by the retired key %s, whose checkpoints count only as the sealer wrote them before the key's retirement; this version is %s", ErrRetiredRewrite, unvouched, shared.SignedBy(obj.Body), why)}
}

// retiredSignsFirstObject refuses obj, a version of the object key that
// cp (a checkpoint that verifies, at a key of its own) signs, when a
// retired key signs cp and obj is not the key's first version: a thief of
// the retired key writing over a sealed object can sign it at a seq that
// had no checkpoint, whose key's first version is then the thief's.
func retiredSignsFirstObject(ctx context.Context, store *archive.Store, trusted shared.Keyset, a *anchoring, key string, obj *archive.Object, cp shared.Checkpoint) error {
	why, unvouched, err := retiredRefuses(ctx, store, trusted, a, key, obj, cp)
	if why == "" || err != nil {
		return err
	}
	return &Failure{Key: key, Version: obj.VersionID, Seq: cp.Seq, HasSeq: true, Err: ErrRetiredRewrite,
		Reason: fmt.Sprintf("%v: %sthe object's checkpoint of seq %d is signed by a retired key, which counts only over objects as the sealer wrote them before the key's retirement; this version is %s", ErrRetiredRewrite, unvouched, cp.Seq, why)}
}

// retiredRefuses is RetiredVersion's answer for obj (a version of key,
// which cp signs or is), but for a first version that only its date
// refuses: a's anchors, found by verifying the chain, may vouch for it (a
// copy of the bucket made after the hand-over). When the verification
// vouches for nothing, unvouched says why, first (it is the cause on a
// copy: a twin, a key written again), ending with "; ".
func retiredRefuses(ctx context.Context, store *archive.Store, trusted shared.Keyset, a *anchoring, key string, obj *archive.Object, cp shared.Checkpoint) (why, unvouched string, err error) {
	why, err = store.RetiredVersion(ctx, trusted, cp.Chain, cp.Seq, key, obj.VersionID)
	if err != nil || why == archive.RetiredNotFirst || a == nil {
		return why, "", err
	}
	if why == "" {
		// Dated before the retirement; but on a copy (the range's
		// retiring checkpoint dated late too) the dates are the copy's,
		// and what anyone wrote to the bucket before the copy was made
		// is dated before it: only the chain vouches there.
		late, err := store.RetirementDatedLate(ctx, trusted, cp.Chain, cp.Seq)
		if err != nil || !late {
			return "", "", err
		}
		why = "on a copy of the bucket (the checkpoint that retired the key is stored long after it was signed, or after the retirement): its date says nothing"
	}
	ok, aerr := a.vouches(ctx, cp)
	switch {
	case ok:
		return "", "", nil
	case aerr == nil: // the bucket's dates do not call for them
		return why, "", nil
	case anchorReason(aerr):
		return why, aerr.Error() + "; so this checkpoint is judged by S3's dates alone: ", nil
	}
	return "", "", aerr
}

func firstSeq(prefix, chain, key string) (uint64, error) {
	if key == shared.GenesisKey(prefix, chain) {
		return 0, nil
	}
	info, err := shared.ParseBatchKey(prefix, key)
	if err != nil {
		return 0, err
	}
	if info.Chain != chain {
		return 0, fmt.Errorf("%s is an object of chain %s, not %s", key, info.Chain, chain)
	}
	return info.FirstSeq, nil
}
