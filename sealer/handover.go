package sealer

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"go.uber.org/zap"
	"golang.org/x/mod/sumdb/note"

	"github.com/aegisai/audit/archive"
	"github.com/aegisai/audit/shared"
)

// The hand-over note (docs/SECURITY.md section 5).
//
// A sealer restarted with step 2's settings after a hand-over (the retired
// key's public key as its keyset, the new key staged) trusts the retired
// key for every seq until it reads the hand-over, and it reads it only in
// the object of the newest checkpoint it takes. A thief of the retired key
// who can write to the bucket signs a checkpoint of their own past the
// head, or between the hand-over and the head, and that sealer took it as
// the head and signed on from a forgery.
//
// So the sealer that hands over leaves a note at a key named after the new
// key, which only a sealer holding that key staged reads: a JSON line
// naming the seq R of the hand-over, signed by the new key (a signed note,
// as a checkpoint is, with a first line of its own). Before it reads any
// checkpoint, such a sealer reads the note and checks what it names
// against the chain: the sealer's version of the checkpoint of R (the
// first of its key) verifies with the keyset, whose open last key signs
// R, and the object it signs ends at R in a KEY entry that hands over to
// the staged key. It then retires the old key at R, so no checkpoint that
// key signs past R counts, and those up to R count only under the rules
// of FORMAT.md 7.4. The note is not evidence and lies outside the chain's
// folders (no "env=<chain>" segment: verifiers ignore it, FORMAT.md
// section 1); a note that does not check out counts for nothing.
//
// Anyone with write access to the bucket can write versions at its key,
// before the sealer's too: the new key is no secret before the hand-over
// (its key-change request is on the topic). Only versions the new key
// signs are checked against the chain, the oldest first, and the first
// that checks out is taken; the sealer that hands over holds that key, a
// thief of the retired key does not. A version stored before the
// checkpoint it names, a multipart upload's object, or one larger than a
// note, is not the sealer's either. A chain handed over by a version
// before the note has none until a sealer follows the hand-over at a
// start.
//
// A sealer holding the retiring key alone (no key staged) knows of no
// new key and reads no note: a thief's checkpoint past the head was its
// head. So the sealer that hands over also copies the KEY entry's line to
// a key named after the retiring key (HandOverEntryKey), and every sealer
// whose keyset's last key is open reads it (followHandOverEntry): the
// entry counts where the sealer's checkpoint of its seq signs its hash.

// HandOverNoteKey is the key of the note of the hand-over to next, the
// private key handed over to: named after its id and a tag only a holder
// of it computes (handOverTag).
func HandOverNoteKey(prefix, chain string, next note.Signer) (string, error) {
	return handOverKey(prefix+"/handovers/chain="+chain+"/", ".note", "note", chain, next)
}

// HandOverEntryKey is the key of the copy of the KEY entry by which the
// key retiring (the private key) hands over: a sealer that knows of no
// new key (it holds the retiring key alone) finds it under its own key's
// id and a tag only a holder of that key computes (handOverTag).
func HandOverEntryKey(prefix, chain string, retiring note.Signer) (string, error) {
	return handOverKey(prefix+"/handovers/chain="+chain+"/from/", ".line", "copy", chain, retiring)
}

// handOverKey is folder + "<key id>-<tag>" + ext, the tag handOverTag's.
func handOverKey(folder, ext, kind, chain string, signer note.Signer) (string, error) {
	tag, err := handOverTag(signer, kind, chain)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s%s+%08x-%s%s", folder, signer.Name(), signer.KeyHash(), tag, ext), nil
}

// handOverTag is the part of a hand-over's note's or copy's key that
// only a holder of signer, the key it is named after, can compute: the
// first 16 bytes of the SHA-256 of signer's signature of
// "aegis-audit/handover-<kind>-key/v1\n<chain>\n", in hex (an Ed25519
// signature is deterministic). The key's id alone is no secret (a staged
// key's .pub is handed around before the switch; a retiring key's id is
// in the chain), and a bucket writer who knew the whole name put versions
// there before the sealer wrote: a start reads them all, a GET each, the
// oldest first, up to archive.MaxOlderVersions (a standby's takeover as
// well), and more than that hid the sealer's note
// (TestVersionsAtAHandOversPublicNamesCostAStartNothing). A thief of the
// retiring key can name its copy still; nobody without the new key can
// name the note.
func handOverTag(signer note.Signer, kind, chain string) (string, error) {
	sig, err := signer.Sign([]byte("aegis-audit/handover-" + kind + "-key/v1\n" + chain + "\n"))
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(sig)
	return hex.EncodeToString(sum[:16]), nil
}

// taggedName matches the tag in the name of a hand-over's note or copy.
var taggedName = regexp.MustCompile(`(/handovers/chain=[^/\s]*/(?:from/)?[^/\s]*-)[0-9a-f]{32}(\.(?:note|line))`)

// hideTags is s with the tag of every hand-over's note or copy name in it
// shown as "<tag>". The name of the current key's copy, which every start
// lists before any hand-over, and of a staged key's note are known to a
// holder of the key alone until the sealer writes there: shown in the log
// or on /readyz (an S3 call that failed, the SDK's error naming
// s3://bucket/key), it let a bucket writer who read either put more
// versions there than a start reads, and every start then stopped for
// good with hand-over copy hidden
// (TestAStartDoesNotShowTheTagOfTheCurrentKeysCopy). An operator finds
// the object by listing the key id's prefix.
func hideTags(s string) string {
	if !strings.Contains(s, "/handovers/") { // every S3 call's name passes here
		return s
	}
	return taggedName.ReplaceAllString(s, "${1}<tag>${2}")
}

// tagsHidden is an error whose text shows no tag (hideTags); errors.Is
// and errors.As see the error it holds.
type tagsHidden struct{ err error }

func (e tagsHidden) Error() string { return hideTags(e.err.Error()) }
func (e tagsHidden) Unwrap() error { return e.err }

// withTagsHidden is err, its text with no tag (nil stays nil).
func withTagsHidden(err error) error {
	if err == nil || hideTags(err.Error()) == err.Error() {
		return err
	}
	return tagsHidden{err}
}

// handOverKeyOf is HandOverNoteKey (kind "note") or HandOverEntryKey
// ("copy") of the key of, if this sealer holds it (ok false: it cannot
// name the object, nor read or write it).
func (s *Sealer) handOverKeyOf(kind string, of shared.VerifierKey) (key string, ok bool) {
	signer, held := s.keys.signers[of.ID()]
	if !held {
		return "", false
	}
	var err error
	if kind == "note" {
		key, err = HandOverNoteKey(s.cfg.Prefix, s.cfg.Chain, signer)
	} else {
		key, err = HandOverEntryKey(s.cfg.Prefix, s.cfg.Chain, signer)
	}
	if err != nil {
		s.log.Error("a hand-over's "+kind+" cannot be named: its key does not sign", zap.String("key_id", of.ID()), zap.Error(err))
		return "", false
	}
	return key, true
}

// handOverNote is the note's JSON line, the second of its text (the first
// is handOverNoteOrigin), signed by the key handed over to.
type handOverNote struct {
	Chain string `json:"chain"`
	// Seq is the seq of the KEY entry, the last the retiring key signs.
	Seq uint64 `json:"seq"`
	// Checkpoint is the key of the retiring key's checkpoint of Seq.
	Checkpoint string `json:"checkpoint"`
	// NewKey is the verifier key handed over to, as the KEY entry names it.
	NewKey string `json:"new_key"`
}

// handOverNoteOrigin is the first line of a note's signed text: no
// checkpoint's (shared.CheckpointOrigin), so neither passes for the other.
const handOverNoteOrigin = "aegis-audit/handover/v1"

// maxNoteVersions bounds the versions of a note, signed by the staged key,
// whose checkpoint and object a start reads: the sealer's is the oldest
// of them. Versions that are not signed by it cost a read of at most
// maxNoteSize bytes each, up to archive.MaxOlderVersions of them.
const maxNoteVersions = 32

// noteTime is how many S3 calls' time (Config.CallTimeout) writing a note
// may take in all.
const noteTime = 2

// maxNoteSize bounds a note's bytes: a KEY entry's verifier key is about
// a hundred bytes.
const maxNoteSize = 4096

// leaveHandOverNote writes the note of the hand-over the KEY entry e (the
// last of its object, whose checkpoint is written) makes, once: a version
// with the same bytes already there is enough. A note that cannot be
// written is logged, not a reason to stop the chain: it only guards a
// start with step 2's settings. So it is given two S3 calls' time in all
// (noteTime), and the copy of the KEY entry as much: in the checkpoint stage, reading what a bucket writer put at
// its key before the hand-over was retried for ever, and the chain stopped.
func (s *Sealer) leaveHandOverNote(ctx context.Context, e *shared.Entry) {
	s.leaveHandOverEntry(ctx, e)
	ctx, cancel := context.WithTimeout(ctx, noteTime*s.cfg.CallTimeout)
	defer cancel()
	next, err := shared.ParseVerifierKey(e.Key.VerifierKey)
	if err != nil {
		return // not a hand-over a keyset could follow
	}
	key, ok := s.handOverKeyOf("note", next)
	if !ok {
		return // a hand-over to a key this sealer does not hold: it cannot sign on, nor sign the note
	}
	signer := s.keys.signers[next.ID()]
	line, err := json.Marshal(handOverNote{Chain: e.Chain, Seq: e.Seq, Checkpoint: shared.CheckpointKey(s.cfg.Prefix, e.Chain, e.Seq), NewKey: e.Key.VerifierKey})
	if err != nil {
		return
	}
	body, err := note.Sign(&note.Note{Text: handOverNoteOrigin + "\n" + string(line) + "\n"}, signer)
	if err != nil {
		s.log.Error("the hand-over note could not be signed", zap.String("key", hideTags(key)), zap.Error(err))
		return
	}
	_, err = s.put(ctx, key, body)
	if errors.Is(err, archive.ErrExists) {
		err = s.putNoteOver(ctx, key, body)
	}
	if err != nil {
		s.log.Error("the hand-over note could not be written: a sealer restarted with step 2's settings of the key rotation (docs/SECURITY.md section 5) finds the hand-over only in the newest checkpoint's object",
			zap.String("key", hideTags(key)), zap.Uint64("seq", e.Seq), zap.Error(err))
		return
	}
	s.log.Info("hand-over note written", zap.String("key", hideTags(key)), zap.Uint64("seq", e.Seq))
}

// leaveHandOverEntry writes the KEY entry e's line at the key named after
// the key it retires (HandOverEntryKey), as leaveHandOverNote writes the
// note, in its own two S3 calls' time. A sealer holding the retiring key
// alone, with no key staged, knows no new key and reads no note: it
// trusted that key for every seq, and took a checkpoint its thief put
// past the head. It reads this copy instead (followHandOverEntry). Only a
// KEY entry whose hash the sealer's checkpoint of its seq signs counts,
// so the copy needs no signature of its own.
func (s *Sealer) leaveHandOverEntry(ctx context.Context, e *shared.Entry) {
	ctx, cancel := context.WithTimeout(ctx, noteTime*s.cfg.CallTimeout)
	defer cancel()
	r, ok := s.keys.keyset().For(e.Seq)
	if !ok || r.Open {
		return // not a hand-over the keyset followed
	}
	line, err := e.Line()
	if err != nil {
		return
	}
	key, ok := s.handOverKeyOf("copy", r.Key)
	if !ok {
		return // this sealer does not hold the retired key: the sealer that handed over, or one with step 2's settings, writes it
	}
	body := append(line, '\n')
	_, err = s.put(ctx, key, body)
	if errors.Is(err, archive.ErrExists) {
		err = s.putNoteOver(ctx, key, body)
	}
	if err != nil {
		s.log.Error("the copy of the hand-over's KEY entry could not be written: a sealer restarted with the retired key alone (docs/SECURITY.md section 5) does not learn of the hand-over",
			zap.String("key", hideTags(key)), zap.Uint64("seq", e.Seq), zap.Error(err))
		return
	}
	s.log.Info("copy of the hand-over's KEY entry written", zap.String("key", hideTags(key)), zap.Uint64("seq", e.Seq))
}

// putNoteOver writes body at key, taken already, unless one of the first
// maxNoteVersions of its versions holds body (another sealer of the chain
// wrote it, or this one before a restart); a second version of the same
// bytes is harmless.
func (s *Sealer) putNoteOver(ctx context.Context, key string, body []byte) error {
	listed, _, err := s.noteVersions(ctx, key)
	if err != nil {
		return err
	}
	for _, v := range listed[:min(len(listed), maxNoteVersions)] {
		got, why, err := s.readNoteVersion(ctx, key, v.ID)
		if err != nil {
			return err
		}
		if why == "" && bytes.Equal(got, body) {
			return nil
		}
	}
	return s.retry(ctx, "put "+key, func(ctx context.Context) error {
		_, err := s.store.PutOver(ctx, key, body, s.retainUntil())
		return err
	})
}

// readNoteVersion reads version id of key, a note's or a copy's: why
// says why it is not one ("" when body is read). A version that cannot be
// read, or is larger than a note, is passed over, not a reason to stop.
func (s *Sealer) readNoteVersion(ctx context.Context, key, id string) (body []byte, why string, err error) {
	obj, err := s.getVersion(ctx, key, id)
	switch {
	case errors.Is(err, archive.ErrNotFound), errors.Is(err, archive.ErrUnreadable), errors.Is(err, archive.ErrTooLarge):
		return nil, "it cannot be read: " + err.Error(), nil
	case err != nil:
		return nil, "", err
	case len(obj.Body) > maxNoteSize:
		return nil, fmt.Sprintf("%d bytes, more than a note's %d", len(obj.Body), maxNoteSize), nil
	}
	return obj.Body, "", nil
}

// noteVersions lists the versions at a note's or copy's key, the oldest
// first, that may be one. The object of a multipart upload is never the sealer's
// (it writes with one PUT), and S3 orders it among the versions by when
// the upload was begun, so one begun before the sealer's note came first;
// nor is one larger than a note. Neither is read (each is logged).
func (s *Sealer) noteVersions(ctx context.Context, key string) (notes []archive.ListedVersion, cut bool, err error) {
	l, err := s.listVersions(ctx, key)
	if err != nil {
		return nil, false, err
	}
	listed := l.Versions()
	notes = listed[:0]
	for _, v := range listed {
		if v.Multipart || v.Size > maxNoteSize {
			s.log.Warn("a version at a hand-over note's or copy's key is not the sealer's; passed over", zap.String("key", hideTags(key)), zap.String("version", v.ID),
				zap.Bool("multipart", v.Multipart), zap.Int64("size", v.Size))
			continue
		}
		notes = append(notes, v)
	}
	return notes, l.Cut(), nil
}

// listVersions lists the versions of key a page at a time, each page an
// S3 call retried on its own: a bucket writer can put as many delete
// markers at a key as they like (free on S3), and a listing of them all
// given one call's time was retried for ever, so a start with step 2's
// settings, which lists the note's key every time, never ended.
func (s *Sealer) listVersions(ctx context.Context, key string) (*archive.VersionListing, error) {
	l := s.store.NewSealedVersionListing(key) // a multipart upload's object is never a sealer's
	for !l.Done() {
		if err := s.retry(ctx, "list the versions of "+key, l.Next); err != nil {
			return nil, err
		}
	}
	return l, nil
}

// followHandOverNote reads the note of a hand-over to the staged key, if
// the keyset does not trust that key yet, and follows the first version
// of it, the oldest first, that the chain bears out.
func (s *Sealer) followHandOverNote(ctx context.Context) error {
	staged := s.keys.stagedUntrusted()
	if staged == nil {
		return nil
	}
	key, ok := s.handOverKeyOf("note", *staged) // the staged key is held
	if !ok {
		return nil
	}
	listed, _, err := s.noteVersions(ctx, key) // nobody without the staged key names it: the sealer's is among the oldest
	if err != nil {
		return err
	}
	verifier, err := note.NewVerifier(staged.Text)
	if err != nil {
		return err
	}
	checked := 0
	_, err = s.followFirst(ctx, key, "hand-over note", listed, func(v archive.ListedVersion) (*shared.Entry, string, bool, error) {
		if checked == maxNoteVersions {
			return nil, "", true, nil
		}
		e, why, err := s.checkHandOverNote(ctx, key, v, *staged, verifier, &checked)
		return e, why, false, err
	}, s.leaveHandOverEntry) // the copy of its KEY entry, where the sealer that handed over could not write it
	return err
}

// followFirst follows the hand-over of the first of listed, the versions
// at key of a note or copy (what), that check bears out (why ""), and
// then leaves the other kind of object (leave) where it is missing. check
// may stop the search (stop).
func (s *Sealer) followFirst(ctx context.Context, key, what string, listed []archive.ListedVersion,
	check func(archive.ListedVersion) (e *shared.Entry, why string, stop bool, err error), leave func(context.Context, *shared.Entry)) (followed bool, err error) {
	for _, v := range listed {
		e, why, stop, err := check(v)
		if err != nil || stop {
			return false, err
		}
		if why != "" {
			s.log.Warn("a version of the "+what+" does not check out; passed over", zap.String("key", hideTags(key)), zap.String("version", v.ID), zap.String("why", why))
			continue
		}
		if _, err := s.keys.handOver(e); err != nil {
			return false, err
		}
		s.log.Info("followed the checkpoint key hand-over the "+what+" names", zap.String("key", hideTags(key)), zap.Uint64("seq", e.Seq),
			zap.String("keyset", s.keys.keyset().IDs()))
		leave(ctx, e)
		return true, nil
	}
	return false, nil
}

// checkHandOverNote reads version v of the note at key and checks it
// against the chain: why says what is wrong ("" when it checks out, with
// the KEY entry it names).
//
// Only a note the staged key signs is checked against the chain (counted
// in checked): the sealer that hands over holds that key, a thief of the
// retired key does not, so versions written before the sealer's, junk or
// notes naming other checkpoints, no longer make a start pass the
// sealer's by.
func (s *Sealer) checkHandOverNote(ctx context.Context, key string, v archive.ListedVersion, staged shared.VerifierKey, verifier note.Verifier, checked *int) (*shared.Entry, string, error) {
	body, why, err := s.readNoteVersion(ctx, key, v.ID)
	if err != nil || why != "" {
		return nil, why, err
	}
	msg, err := note.Open(body, note.VerifierList(verifier))
	if err != nil {
		return nil, fmt.Sprintf("not a note signed by the staged key %s: %v", staged.ID(), err), nil
	}
	line, ok := strings.CutPrefix(msg.Text, handOverNoteOrigin+"\n")
	if !ok {
		return nil, "signed by the staged key, but not a hand-over note", nil
	}
	*checked++
	var n handOverNote
	dec := json.NewDecoder(strings.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&n); err != nil {
		return nil, "not a note: " + err.Error(), nil
	}
	cpKey := shared.CheckpointKey(s.cfg.Prefix, s.cfg.Chain, n.Seq)
	if n.Chain != s.cfg.Chain || n.NewKey != staged.Text || n.Checkpoint != cpKey {
		return nil, fmt.Sprintf("names chain %q, checkpoint %q and key %s; this sealer's are %q, %q and %s", n.Chain, n.Checkpoint, shared.KeyLabel(n.NewKey), s.cfg.Chain, cpKey, staged.ID()), nil
	}
	// A hand-over is only ever from the keyset's last key, open
	// (keyState.decide): a note of one from a retired key (its thief's,
	// after a second rotation) checked out, and following it stopped the
	// start.
	if r, ok := s.keys.keyset().For(n.Seq); !ok || !r.Open {
		return nil, fmt.Sprintf("names a hand-over at seq %d, which no open key of the keyset (%s) signs: a hand-over is only from its last key", n.Seq, s.keys.keyset().IDs()), nil
	}
	// The sealer's version of the checkpoint: the first of its key.
	l, err := s.listVersions(ctx, cpKey)
	if err != nil {
		return nil, "", err
	}
	first, stored := l.First().ID, l.First().Stored
	if first == "" {
		return nil, fmt.Sprintf("the chain has no checkpoint of seq %d", n.Seq), nil
	}
	// The sealer writes the checkpoint of the hand-over, then the note. A
	// note stored before the checkpoint it names is someone else's: the
	// staged key is no secret before the hand-over (its key-change request
	// is on the topic), so a bucket writer could put a note naming a seq
	// past any head before the sealer's, read first, and a thief of the
	// retired key make it check out later with a checkpoint of that seq.
	if v.Stored.IsZero() || stored.IsZero() || v.Stored.Before(stored.Add(-archive.RetiredGrace)) {
		return nil, fmt.Sprintf("stored at %s, before the first version of %s it names (stored at %s): the sealer writes the checkpoint first",
			v.Stored.UTC().Format(time.RFC3339Nano), cpKey, stored.UTC().Format(time.RFC3339Nano)), nil
	}
	cpObj, err := s.getVersion(ctx, cpKey, first)
	if errors.Is(err, archive.ErrNotFound) || errors.Is(err, archive.ErrUnreadable) || errors.Is(err, archive.ErrTooLarge) {
		return nil, fmt.Sprintf("the first version of %s cannot be read: %v", cpKey, err), nil
	}
	if err != nil {
		return nil, "", err
	}
	cp, err := s.openCheckpoint(cpKey, cpObj.Body)
	if err != nil {
		return nil, fmt.Sprintf("the first version of %s does not verify: %v", cpKey, err), nil
	}
	_, entries, _, err := s.readSigned(ctx, checkpointed{key: cpKey, cp: cp})
	if err != nil {
		if ctx.Err() != nil {
			return nil, "", err
		}
		return nil, fmt.Sprintf("the object the checkpoint of seq %d signs: %v", n.Seq, err), nil
	}
	last := entries[len(entries)-1]
	if last.Type != shared.EntryKey || last.Key.VerifierKey != staged.Text {
		return nil, fmt.Sprintf("the object the checkpoint of seq %d signs does not end in a hand-over to %s", n.Seq, staged.ID()), nil
	}
	return last, "", nil
}

// followHandOverEntry reads the copies of a KEY entry by which the
// keyset's last key, open, hands over (HandOverEntryKey), the oldest
// first, and follows the first the chain bears out: the first version of
// the checkpoint of its seq, stored no later than the copy (less
// RetiredGrace), verifies with that key and signs the entry's hash, so it
// is the last entry of the object that checkpoint signs. A sealer that
// holds no key it hands over to then refuses to start, checkpoint key not
// held, where it took a checkpoint a thief of the retired key put past
// the head (TestASealerHoldingOnlyTheRetiredKeyRefusesAForgeryPastTheHandOver).
// A version that is no such entry counts for nothing; each costs a read
// of at most maxNoteSize bytes, and one that parses as a KEY entry of the
// range a listing and a read of the checkpoint of its seq, once a seq.
func (s *Sealer) followHandOverEntry(ctx context.Context) error {
	set := s.keys.keyset()
	last := set.Ranges[len(set.Ranges)-1]
	if !last.Open {
		return nil
	}
	key, ok := s.handOverKeyOf("copy", last.Key)
	if !ok {
		return nil // a sealer not holding the key that signs past its keyset's end does not sign on
	}
	listed, cut, err := s.noteVersions(ctx, key)
	if err != nil {
		return err
	}
	cps := map[uint64]*firstCheckpoint{}
	followed, err := s.followFirst(ctx, key, "copy of a hand-over's KEY entry", listed, func(v archive.ListedVersion) (*shared.Entry, string, bool, error) {
		e, why, err := s.checkHandOverEntry(ctx, key, v, last, cps)
		return e, why, false, err
	}, s.leaveHandOverNote) // its note, where there is none (a sealer holding the new key staged writes it)
	if err != nil || followed || !cut {
		return err
	}
	// More versions than a start reads, and none of the oldest a copy:
	// only a holder of the key names the copy (handOverTag), so whoever
	// wrote them holds it, and may have hidden a hand-over that they
	// then forge on from (TestMoreVersionsBeforeTheCopyThanAStartReadsStopIt).
	return fmt.Errorf("%w: %s holds more than %d versions, and none of the oldest is a copy of a KEY entry by which %s hands over: only a holder of that key can name this key, so it may be stolen; this sealer does not start on what that key alone vouches for, nor does any whose keyset's last key it is, one with a new key staged too. If the chain handed over from it, start with the new key's settings (step 5 of docs/SECURITY.md section 5); if it never did, it cannot now (only a running sealer with the new key staged seals the hand-over): start a new chain (a new --chain and key, SECURITY.md section 5, On compromise)",
		ErrCopyHidden, hideTags(key), archive.MaxOlderVersions, last.Key.ID())
}

// ErrCopyHidden means the copy of a hand-over's KEY entry may be hidden
// under more versions than a start reads, which only a holder of the
// key that hands over can have written (followHandOverEntry).
var ErrCopyHidden = errors.New("hand-over copy hidden")

// firstCheckpoint is the first version of a checkpoint key, as
// checkHandOverEntry reads it (why says why it bears nothing out).
type firstCheckpoint struct {
	stored time.Time
	cp     shared.Checkpoint
	why    string
}

// checkHandOverEntry reads version v of the copy at key and checks it
// against the chain (why is "" when it checks out, with its entry). cps
// holds the checkpoints read so far, by seq.
func (s *Sealer) checkHandOverEntry(ctx context.Context, key string, v archive.ListedVersion, from shared.KeyRange, cps map[uint64]*firstCheckpoint) (*shared.Entry, string, error) {
	body, why, err := s.readNoteVersion(ctx, key, v.ID)
	if err != nil || why != "" {
		return nil, why, err
	}
	line, ok := bytes.CutSuffix(body, []byte("\n"))
	if !ok || bytes.IndexByte(line, '\n') >= 0 {
		return nil, "not one line", nil
	}
	e, err := shared.ParseLine(line)
	if err != nil {
		return nil, "not a sealed line: " + err.Error(), nil
	}
	set := s.keys.keyset()
	if e.Type != shared.EntryKey || e.Chain != s.cfg.Chain {
		return nil, fmt.Sprintf("a %s entry of chain %q, not a KEY entry of %q", e.Type, e.Chain, s.cfg.Chain), nil
	}
	if r, ok := set.For(e.Seq); !ok || !r.Open || r.Key.ID() != from.Key.ID() {
		return nil, fmt.Sprintf("a hand-over at seq %d, which %s, open, does not sign", e.Seq, from.Key.ID()), nil
	}
	next, err := shared.ParseVerifierKey(e.Key.VerifierKey)
	if err != nil || set.Knows(next) {
		return nil, fmt.Sprintf("a hand-over to %s, which the keyset (%s) cannot trust next", shared.KeyLabel(e.Key.VerifierKey), set.IDs()), nil
	}
	c, ok := cps[e.Seq]
	if !ok {
		if c, err = s.firstCheckpoint(ctx, e.Seq); err != nil {
			return nil, "", err
		}
		cps[e.Seq] = c
	}
	switch {
	case c.why != "":
		return nil, c.why, nil
	case v.Stored.IsZero() || v.Stored.Before(c.stored.Add(-archive.RetiredGrace)):
		return nil, fmt.Sprintf("stored at %s, before the checkpoint of seq %d (stored at %s): the sealer writes the checkpoint first",
			v.Stored.UTC().Format(time.RFC3339Nano), e.Seq, c.stored.UTC().Format(time.RFC3339Nano)), nil
	case c.cp.Seq != e.Seq || c.cp.Hash != e.Hash:
		return nil, fmt.Sprintf("the checkpoint of seq %d signs hash %s, not this entry's %s", e.Seq, c.cp.Hash, e.Hash), nil
	}
	return e, "", nil
}

// firstCheckpoint reads the first version of the checkpoint of seq, the
// sealer's, and verifies it with the keyset.
func (s *Sealer) firstCheckpoint(ctx context.Context, seq uint64) (*firstCheckpoint, error) {
	cpKey := shared.CheckpointKey(s.cfg.Prefix, s.cfg.Chain, seq)
	l, err := s.listVersions(ctx, cpKey)
	if err != nil {
		return nil, err
	}
	first := l.First()
	if first.ID == "" || first.Stored.IsZero() {
		return &firstCheckpoint{why: fmt.Sprintf("the chain has no dated checkpoint of seq %d", seq)}, nil
	}
	obj, err := s.getVersion(ctx, cpKey, first.ID)
	if errors.Is(err, archive.ErrNotFound) || errors.Is(err, archive.ErrUnreadable) || errors.Is(err, archive.ErrTooLarge) {
		return &firstCheckpoint{why: fmt.Sprintf("the first version of %s cannot be read: %v", cpKey, err)}, nil
	}
	if err != nil {
		return nil, err
	}
	cp, err := s.openCheckpoint(cpKey, obj.Body)
	if err != nil {
		return &firstCheckpoint{why: fmt.Sprintf("the first version of %s does not verify: %v", cpKey, err)}, nil
	}
	return &firstCheckpoint{stored: first.Stored, cp: cp}, nil
}
