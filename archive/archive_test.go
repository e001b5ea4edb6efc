package archive_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/aegisai/audit/archive"
	"github.com/aegisai/audit/internal/testbed/localstack"
	"github.com/aegisai/audit/shared"
)

var stack *localstack.Stack

func TestMain(m *testing.M) { os.Exit(localstack.RunTests(m, &stack)) }

func newStore(t *testing.T) *archive.Store {
	t.Helper()
	ctx := context.Background()
	cl, err := stack.S3(ctx)
	if err != nil {
		t.Fatal(err)
	}
	bucket := stack.Bucket("arch")
	if err := localstack.CreateLockedBucket(ctx, cl, bucket); err != nil {
		t.Fatal(err)
	}
	return &archive.Store{S3: cl, Bucket: bucket}
}

// The sealer's safety rests on these server behaviours; check them against
// the real S3 server.
func TestPutIsWriteOnceAndLocked(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	until := time.Now().Add(48 * time.Hour).Truncate(time.Second)
	if _, err := st.Put(ctx, "audit/x.jsonl", []byte("one\n"), until); err != nil {
		t.Fatalf("first put: %v", err)
	}
	_, err := st.Put(ctx, "audit/x.jsonl", []byte("two\n"), until)
	if !errors.Is(err, archive.ErrExists) {
		t.Fatalf("second put: got %v, want ErrExists", err)
	}
	obj, err := st.Get(ctx, "audit/x.jsonl", "")
	if err != nil {
		t.Fatal(err)
	}
	if string(obj.Body) != "one\n" {
		t.Fatalf("body %q: the second put overwrote the first", obj.Body)
	}
	head, err := st.Head(ctx, "audit/x.jsonl", obj.VersionID)
	if err != nil {
		t.Fatal(err)
	}
	if head.LockMode != types.ObjectLockModeCompliance {
		t.Fatalf("lock mode %q, want COMPLIANCE", head.LockMode)
	}
	if !head.RetainUntil.Equal(until) {
		t.Fatalf("retain until %v, want %v", head.RetainUntil, until)
	}
	// SHA-256 of "one\n", base64.
	if want := "LIsI2lzmA5jh8Zrw5dzMdE3ydLgmq+WF6rpoxSVDSAY="; head.ChecksumSHA256 != want {
		t.Fatalf("stored checksum %q, want %q", head.ChecksumSHA256, want)
	}
	if _, err := st.Get(ctx, "audit/missing", ""); !errors.Is(err, archive.ErrNotFound) {
		t.Fatalf("missing key: got %v, want ErrNotFound", err)
	}
}

// versitygw lists the version at a page boundary of ListObjectVersions
// twice; a listing of more than one page must still see one version per
// key (a chain of a million entries has thousands of keys).
func TestLogAcrossListingPages(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	until := time.Now().Add(time.Hour)
	const n = 1100 // over versitygw's page of 1000
	sem := make(chan struct{}, 16)
	errs := make(chan error, n)
	for i := range n {
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			_, err := st.Put(ctx, shared.CheckpointKey("audit", "prod", uint64(i)), []byte("x"), until)
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	l, err := st.Log(ctx, "prod")
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Checkpoints) != n || len(l.Rewritten) != 0 {
		t.Fatalf("%d checkpoints and %d rewritten keys (%+v), want %d and none", len(l.Checkpoints), len(l.Rewritten), l.Rewritten[:min(2, len(l.Rewritten))], n)
	}
}

// A key written over many times, its versions over many pages of
// versitygw's listing (which repeats the version at each boundary), is
// counted once a version, and only its newest versions are kept: an
// insider writing a key a million times costs the verifier a count.
func TestLogCountsTheVersionsOfAKeyWrittenOften(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	defer func(n int32) { archive.ListPageSize = n }(archive.ListPageSize)
	archive.ListPageSize = 4
	until := time.Now().Add(time.Hour)
	key := shared.CheckpointKey("audit", "prod", 1)
	const n = 30
	var ids []string
	for i := range n {
		out, err := st.S3.PutObject(ctx, &s3.PutObjectInput{Bucket: &st.Bucket, Key: &key, Body: bytes.NewReader([]byte{byte(i)}),
			ObjectLockMode: types.ObjectLockModeCompliance, ObjectLockRetainUntilDate: &until})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, *out.VersionId)
	}
	for _, k := range []uint64{0, 2} {
		if _, err := st.Put(ctx, shared.CheckpointKey("audit", "prod", k), []byte("x"), until); err != nil {
			t.Fatal(err)
		}
	}
	l, err := st.Log(ctx, "prod")
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Checkpoints) != 3 || len(l.Rewritten) != 1 {
		t.Fatalf("%d checkpoints and rewritten keys %+v, want 3 and one", len(l.Checkpoints), l.Rewritten)
	}
	r := l.Rewritten[0]
	if r.Key != key || r.Count != n || len(r.Versions) != archive.MaxVersionsKept || r.Versions[0] != ids[n-1] {
		t.Fatalf("rewritten %+v, want %s with %d versions, the newest %s first, %d of them kept", r, key, n, ids[n-1], archive.MaxVersionsKept)
	}
}

// lockOnGet answers GETs with the object's lock state, as AWS S3 does
// (versitygw leaves it out), and counts the HEADs its caller makes.
type lockOnGet struct {
	archive.S3API
	heads int
}

func (l *lockOnGet) GetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	out, err := l.S3API.GetObject(ctx, in, opts...)
	if err != nil {
		return nil, err
	}
	h, err := l.S3API.HeadObject(ctx, &s3.HeadObjectInput{Bucket: in.Bucket, Key: in.Key, VersionId: out.VersionId})
	if err != nil {
		return nil, err
	}
	out.ObjectLockMode, out.ObjectLockRetainUntilDate = types.ObjectLockMode(h.ObjectLockMode), h.ObjectLockRetainUntilDate
	return out, nil
}

func (l *lockOnGet) HeadObject(ctx context.Context, in *s3.HeadObjectInput, opts ...func(*s3.Options)) (*s3.HeadObjectOutput, error) {
	l.heads++
	return l.S3API.HeadObject(ctx, in, opts...)
}

// GetLocked reads the same object, lock state and checksum whether the
// server answers them on the GET (one request) or only on a HEAD.
func TestGetLockedReadsTheSameWithOrWithoutAHead(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	until := time.Now().Add(48 * time.Hour).Truncate(time.Second)
	if _, err := st.Put(ctx, "audit/y.jsonl", []byte("one\n"), until); err != nil {
		t.Fatal(err)
	}
	viaHead, err := st.GetLocked(ctx, "audit/y.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	l := &lockOnGet{S3API: st.S3}
	viaGet, err := (&archive.Store{S3: l, Bucket: st.Bucket}).GetLocked(ctx, "audit/y.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	if l.heads != 0 {
		t.Fatalf("%d HEADs for a server that answers the lock state on GET", l.heads)
	}
	if viaGet.VersionID != viaHead.VersionID || string(viaGet.Body) != "one\n" || string(viaHead.Body) != "one\n" ||
		viaGet.LockMode != types.ObjectLockModeCompliance || viaHead.LockMode != viaGet.LockMode ||
		!viaGet.RetainUntil.Equal(viaHead.RetainUntil) || viaGet.ChecksumSHA256 == "" || viaGet.ChecksumSHA256 != viaHead.ChecksumSHA256 {
		t.Fatalf("read on GET %+v, with a HEAD %+v", viaGet, viaHead)
	}
}

// Someone with write access to the bucket but not the signing key puts a
// huge object at a new key of the chain (Object Lock allows new keys). Get
// refuses it by its announced length, before reading it, with ErrTooLarge
// naming the key; an object at the limit still reads.
func TestOversizedObjectIsRefusedUnread(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	st.MaxObjectBytes = 1 << 20
	until := time.Now().Add(time.Hour)
	big := "audit/year=2026/month=11/day=27/env=prod/00000000000000000099.jsonl"
	if _, err := st.Put(ctx, big, bytes.Repeat([]byte("x"), 16<<20), until); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Put(ctx, "audit/fits.jsonl", bytes.Repeat([]byte("y"), 1<<20), until); err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := st.Get(ctx, big, "")
	runtime.ReadMemStats(&after)
	if !errors.Is(err, archive.ErrTooLarge) || !strings.Contains(err.Error(), big) {
		t.Fatalf("get of a 16 MiB object with a 1 MiB limit: %v, want ErrTooLarge naming the key", err)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 4<<20 {
		t.Fatalf("refusing it allocated %d bytes: the object was read", grew)
	}
	if _, err := st.GetLocked(ctx, big); !errors.Is(err, archive.ErrTooLarge) {
		t.Fatalf("GetLocked: %v, want ErrTooLarge", err)
	}
	// The same through GetLocked's one-GET path (a server that answers the
	// lock state on GET, as AWS S3 does).
	oneGet := &archive.Store{S3: &lockOnGet{S3API: st.S3}, Bucket: st.Bucket, MaxObjectBytes: st.MaxObjectBytes}
	if _, err := oneGet.GetLocked(ctx, big); !errors.Is(err, archive.ErrTooLarge) {
		t.Fatalf("GetLocked with the lock state on GET: %v, want ErrTooLarge", err)
	}
	if obj, err := st.Get(ctx, "audit/fits.jsonl", ""); err != nil || len(obj.Body) != 1<<20 {
		t.Fatalf("an object of exactly the limit: %v", err)
	}
}
