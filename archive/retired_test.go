package archive_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"golang.org/x/mod/sumdb/note"

	"github.com/aegisai/audit/archive"
	"github.com/aegisai/audit/internal/testbed/s3mem"
	"github.com/aegisai/audit/shared"
)

// RetiredVersion: a retired key's checkpoint (and the object it signs)
// counts only in the first version of its key, stored no later than the
// first version of the checkpoint of the key's last seq (FORMAT.md 7.4);
// a key whose range is open costs nothing and always counts.
func TestRetiredVersionCountsOnlyWhatWasStoredBeforeTheRetirement(t *testing.T) {
	ctx := context.Background()
	_, old := genKey(t, "aegis-old")
	_, next := genKey(t, "aegis-new")
	rotated, err := shared.ParseKeyset(fmt.Sprintf("%s 0 5\n%s 6 -\n", old, next))
	if err != nil {
		t.Fatal(err)
	}
	closed, err := shared.ParseKeyset(fmt.Sprintf("%s 0 7\n", old))
	if err != nil {
		t.Fatal(err)
	}
	mem := s3mem.New("b")
	var calls int
	mem.Fail = func(op, _ string) error {
		if op == "ListObjectVersions" {
			calls++
		}
		return nil
	}
	store := &archive.Store{S3: mem, Bucket: "b"}
	cp := func(seq uint64) string { return shared.CheckpointKey("audit", "c", seq) }
	version := func(k string, i int) string {
		vs := mem.Versions("b", k)
		return vs[i].ID
	}
	mem.PutVersion("b", cp(2), []byte("sealed 2"))
	mem.PutVersion("b", cp(5), []byte("the hand-over"))
	mem.Later(archive.RetiredGrace / 2)
	mem.PutVersion("b", cp(4), []byte("within S3's second of the hand-over"))
	mem.Later(2 * archive.RetiredGrace)
	mem.PutVersion("b", cp(2), []byte("written over"))
	mem.PutVersion("b", cp(3), []byte("a seq that had none"))

	for _, tc := range []struct {
		name    string
		trusted shared.Keyset
		seq     uint64
		key     string
		version int
		want    string // "" counts
	}{
		{"the sealed checkpoint before the hand-over", rotated, 2, cp(2), 0, ""},
		{"the retiring checkpoint itself", rotated, 5, cp(5), 0, ""},
		{"a first version stored within the grace after the hand-over", rotated, 4, cp(4), 0, ""},
		{"a version written over a sealed one", rotated, 2, cp(2), 1, "not the first version"},
		{"a first version stored after the hand-over", rotated, 3, cp(3), 0, "after the checkpoint of seq 5 that retired the key"},
		{"a closed range whose last seq has no checkpoint", closed, 2, cp(2), 0, "unknown age: the checkpoint of seq 7"},
		{"the open range's key, over anything", rotated, 6, cp(3), 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			why, err := store.RetiredVersion(ctx, tc.trusted, "c", tc.seq, tc.key, version(tc.key, tc.version))
			if err != nil {
				t.Fatal(err)
			}
			if tc.want == "" && why != "" || tc.want != "" && !strings.Contains(why, tc.want) {
				t.Fatalf("RetiredVersion: %q, want %q", why, tc.want)
			}
		})
	}
	calls = 0
	for range 3 {
		if _, err := store.RetiredVersion(ctx, rotated, "c", 2, cp(2), version(cp(2), 0)); err != nil {
			t.Fatal(err)
		}
	}
	if calls != 3 {
		t.Fatalf("%d listings for three checks of one key, want 3 (the retiring checkpoint's date is listed once a store)", calls)
	}
}

// S3 dates the object of a multipart upload (LastModified) when the
// upload was begun, not when it was completed, and orders it among its
// key's versions by that date too. Anyone with write access to the bucket
// can begin uploads at keys a thief of the retired key will want (a seq
// that has no checkpoint, another day's batch key) before the hand-over,
// and complete them with what the stolen key signs after it: each is the
// first version of its key, dated before the retiring checkpoint. The
// sealer writes every object with one PUT, so no multipart upload's
// object is one it wrote while the key was current.
func TestRetiredVersionRefusesAMultipartUploadBegunBeforeTheRetirement(t *testing.T) {
	ctx := context.Background()
	_, old := genKey(t, "aegis-old")
	_, next := genKey(t, "aegis-new")
	rotated, err := shared.ParseKeyset(fmt.Sprintf("%s 0 5\n%s 6 -\n", old, next))
	if err != nil {
		t.Fatal(err)
	}
	mem := s3mem.New("b")
	store := &archive.Store{S3: mem, Bucket: "b"}
	cp := func(seq uint64) string { return shared.CheckpointKey("audit", "c", seq) }
	twin := "audit/env=c/date=2026-12-24/00000000000000000001.jsonl"

	overSealed := mem.BeginMultipart("b", cp(2)) // begun before the sealer's PUT, which If-None-Match lets through
	mem.PutVersion("b", cp(2), []byte("sealed 2"))
	early := mem.BeginMultipart("b", cp(3)) // a seq that had no checkpoint
	object := mem.BeginMultipart("b", twin)
	mem.PutVersion("b", cp(5), []byte("the hand-over"))
	// the key is stolen after the hand-over
	forged := early.Complete([]byte("signed by the stolen key at seq 3"))
	over := overSealed.Complete([]byte("signed by the stolen key at seq 2"))
	forgedObject := object.Complete([]byte("a twin"))

	for _, tc := range []struct {
		name, key, version string
		seq                uint64
	}{
		{"a checkpoint at a seq that had none", cp(3), forged, 3},
		{"the object it signs", twin, forgedObject, 3},
		{"a checkpoint listed under a sealed one", cp(2), over, 2},
	} {
		why, err := store.RetiredVersion(ctx, rotated, "c", tc.seq, tc.key, tc.version)
		if err != nil {
			t.Fatal(err)
		}
		if why == "" {
			t.Errorf("%s: a multipart upload begun before the hand-over and completed after it counts (stored %s, the hand-over %s)",
				tc.name, mem.Versions("b", tc.key)[0].Stored, mem.Versions("b", cp(5))[0].Stored)
		}
	}
	// The sealer's own versions still count.
	if why, err := store.RetiredVersion(ctx, rotated, "c", 2, cp(2), mem.Versions("b", cp(2))[1].ID); err != nil || why != "" {
		t.Fatalf("the sealed checkpoint of seq 2: %q, %v", why, err)
	}
}

// The next key's first checkpoint bounds the retirement (FORMAT.md 7.4
// (b)) once the retiring checkpoint's version may be deleted and put back
// by a thief, whose write would date the retirement. retiredAt read the
// checkpoints after the retired range through their current versions and
// gave up after 64 keys: someone with write access to the bucket (the
// thief or anyone) dropped the bound with a delete marker over each of
// the next key's checkpoints (their versions stay locked), or with 64
// files at checkpoint keys of seqs before the next key's first, and a
// checkpoint the thief signed after putting the retiring one back
// counted. The sealed version under a marker is read, and files that do
// not verify are passed over however many there are.
func TestRetiredVersionKeepsTheNextKeysBound(t *testing.T) {
	ctx := context.Background()
	oldSkey, old := genKey(t, "aegis-old")
	nextSkey, next := genKey(t, "aegis-new")
	rotated, err := shared.ParseKeyset(fmt.Sprintf("%s 0 5\n%s 6 -\n", old, next))
	if err != nil {
		t.Fatal(err)
	}
	sign := func(skey string, seq uint64, at time.Time) []byte { return signCheckpoint(t, skey, seq, at) }
	cp := func(seq uint64) string { return shared.CheckpointKey("audit", "c", seq) }
	for _, tc := range []struct {
		name string
		hide func(mem *s3mem.S3)
	}{
		{"nothing hidden", func(*s3mem.S3) {}},
		{"the next key's checkpoint under a delete marker", func(mem *s3mem.S3) { mem.Delete("b", cp(100)) }},
		{"64 files at checkpoint keys before it", func(mem *s3mem.S3) {
			for seq := uint64(6); seq < 70; seq++ {
				mem.PutVersion("b", cp(seq), []byte("not a checkpoint"))
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mem := s3mem.New("b")
			store := &archive.Store{S3: mem, Bucket: "b"}
			// The sealed checkpoint of seq 5 is gone (its retention ended);
			// the next key signed seq 100 right after the hand-over.
			mem.PutVersion("b", cp(100), sign(nextSkey, 100, time.Now().UTC().Truncate(time.Second)))
			mem.Later(2 * archive.RetiredClockSkew)
			mem.PutVersion("b", cp(3), sign(oldSkey, 3, time.Now().UTC().Truncate(time.Second))) // the thief's
			mem.PutVersion("b", cp(5), []byte("the hand-over's bytes, put back"))
			tc.hide(mem)
			why, err := store.RetiredVersion(ctx, rotated, "c", 3, cp(3), mem.Versions("b", cp(3))[0].ID)
			if err != nil {
				t.Fatal(err)
			}
			if why == "" {
				t.Fatalf("a checkpoint the thief stored long after the next key's first counts")
			}
		})
	}
}

// After a second rotation the next key of the first retired key is
// itself retired: a thief of that middle key, stolen after its own
// retirement, signed a checkpoint at a seq of its range that had none,
// with an early signed time, and retiredAt took it as the next key's
// first checkpoint: the first key's retirement was dated before the
// sealer's own checkpoints, and prove, verify-receipt, discover and the
// sealer's recovery refused them. A retired key's checkpoint bounds
// another's retirement only as it counts itself (RetiredVersion).
func TestRetiredVersionIsNotDatedByAStolenMiddleKey(t *testing.T) {
	ctx := context.Background()
	s1, v1 := genKey(t, "aegis-1")
	s2, v2 := genKey(t, "aegis-2")
	s3, v3 := genKey(t, "aegis-3")
	keyset, err := shared.ParseKeyset(fmt.Sprintf("%s 0 5\n%s 6 9\n%s 10 -\n", v1, v2, v3))
	if err != nil {
		t.Fatal(err)
	}
	sign := func(skey string, seq uint64, at time.Time) []byte { return signCheckpoint(t, skey, seq, at) }
	cp := func(seq uint64) string { return shared.CheckpointKey("audit", "c", seq) }
	mem := s3mem.New("b")
	store := &archive.Store{S3: mem, Bucket: "b"}
	now := time.Now().UTC().Truncate(time.Second)
	mem.PutVersion("b", cp(3), sign(s1, 3, now))
	mem.PutVersion("b", cp(5), sign(s1, 5, now))
	mem.PutVersion("b", cp(9), sign(s2, 9, now))
	mem.PutVersion("b", cp(12), sign(s3, 12, now))
	mem.Later(time.Hour)
	// The middle key stolen after its retirement: signed long ago, it says.
	mem.PutVersion("b", cp(6), sign(s2, 6, now.Add(-24*time.Hour)))
	why, err := store.RetiredVersion(ctx, keyset, "c", 3, cp(3), mem.Versions("b", cp(3))[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if why != "" {
		t.Fatalf("the sealer's checkpoint of seq 3 is refused: %s", why)
	}
}

// undated is an S3 whose listings give no LastModified.
type undated struct{ *s3mem.S3 }

func (u undated) ListObjectVersions(ctx context.Context, in *s3.ListObjectVersionsInput, opts ...func(*s3.Options)) (*s3.ListObjectVersionsOutput, error) {
	out, err := u.S3.ListObjectVersions(ctx, in, opts...)
	if out != nil {
		for i := range out.Versions {
			out.Versions[i].LastModified = nil
		}
	}
	return out, err
}

// A version S3 gives no date for passed the retired-key rule, its zero
// time being before any retirement: its age cannot be told, so it is
// refused.
func TestRetiredVersionRefusesAnUndatedVersion(t *testing.T) {
	_, old := genKey(t, "aegis-old")
	closed, err := shared.ParseKeyset(fmt.Sprintf("%s 0 7\n", old))
	if err != nil {
		t.Fatal(err)
	}
	mem := s3mem.New("b")
	cp := func(seq uint64) string { return shared.CheckpointKey("audit", "c", seq) }
	mem.PutVersion("b", cp(2), []byte("sealed 2"))
	mem.PutVersion("b", cp(7), []byte("the range's last"))
	why, err := (&archive.Store{S3: undated{mem}, Bucket: "b"}).RetiredVersion(context.Background(), closed, "c", 2, cp(2), mem.Versions("b", cp(2))[0].ID)
	if err != nil || !strings.Contains(why, "gives no date") {
		t.Fatalf("RetiredVersion of an undated version: %q, %v", why, err)
	}
}

// genKey is a new signer key and its verifier key.
func genKey(t *testing.T, name string) (skey, vkey string) {
	t.Helper()
	skey, vkey, err := note.GenerateKey(rand.Reader, name)
	if err != nil {
		t.Fatal(err)
	}
	return skey, vkey
}

// signCheckpoint is a checkpoint of chain "c" at seq, signed at time at
// by skey (its hash and root zero: these tests read only who signs it,
// for which seq, and when).
func signCheckpoint(t *testing.T, skey string, seq uint64, at time.Time) []byte {
	t.Helper()
	signer, err := shared.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := shared.Checkpoint{Chain: "c", Seq: seq, Offset: int64(seq), Object: "audit/year=2026/month=11/day=01/env=c/00000000000000000001.jsonl",
		Time: at}.Sign(signer)
	if err != nil {
		t.Fatal(err)
	}
	return msg
}
