package replayer_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"golang.org/x/mod/sumdb/note"

	"github.com/aegisai/audit/archive"
	"github.com/aegisai/audit/internal/testbed/s3mem"
	"github.com/aegisai/audit/replayer"
	"github.com/aegisai/audit/shared"
)

// racingS3 runs act once, before the first request that is not a listing
// of versions: an insider who acts once the verifier has listed the
// bucket, while it reads.
type racingS3 struct {
	archive.S3API
	once sync.Once
	act  func()
}

func (r *racingS3) ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, opts ...func(*s3.Options)) (*s3.ListObjectsV2Output, error) {
	r.once.Do(r.act)
	return r.S3API.ListObjectsV2(ctx, in, opts...)
}

func (r *racingS3) GetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	r.once.Do(r.act)
	return r.S3API.GetObject(ctx, in, opts...)
}

// lastKeys returns the chain's newest batch key and newest checkpoint key.
func lastKeys(store *s3mem.S3) (batch, checkpoint string) {
	var keys []string
	for k := range store.Objects("audit") {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		switch {
		case strings.Contains(k, "/checkpoints/"):
			checkpoint = k
		case strings.Contains(k, "/year="):
			batch = k
		}
	}
	return batch, checkpoint
}

// An insider who puts delete markers on the newest object and its
// checkpoint while a verification runs (after the survey listed them,
// before they are read) must not get a pass for the shorter chain: main,
// which read every key it listed, failed on the missing object; the
// streaming verifier listed the folders again and silently read a chain
// cut back by one object, reporting less than the bucket held when the
// verification started (and handing that shorter checkpoint to
// --save-checkpoint).
func TestVerifyFailsWhenTheTailIsDeletedWhileItReads(t *testing.T) {
	for _, tc := range []struct {
		name    string
		obj, cp bool
	}{
		{"object and checkpoint", true, true},
		{"checkpoint alone", false, true},
		{"object alone", true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func(n int32) { archive.ListPageSize = n }(archive.ListPageSize)
			archive.ListPageSize = 2
			store, vkey := memChain(t, 4, 3)
			batch, cp := lastKeys(store)
			race := &racingS3{S3API: store, act: func() {
				if tc.obj {
					store.Delete("audit", batch)
				}
				if tc.cp {
					store.Delete("audit", cp)
				}
			}}
			rep, err := replayer.Verify(context.Background(), replayer.Config{S3: race, Bucket: "audit", Chain: "mem", VerifierKey: vkey, Parallelism: 2})
			if err == nil {
				t.Fatalf("verify passed with %d entries, head seq %d, checkpointed seq %d, unsigned %d: the tail deleted while it read went unnoticed",
					rep.Entries, rep.Head.Seq, rep.CheckpointedSeq, rep.Unsigned)
			}
			var f *replayer.Failure
			if !errors.As(err, &f) || !errors.Is(err, archive.ErrListingChanged) || !strings.Contains(f.Key, "/env=mem/") {
				t.Fatalf("verify: %v, want the folder whose keys changed named", err)
			}
		})
	}
}

// A sealer goes on writing while a verification runs: new objects (in the
// newest folder, a new day and, its Kafka timestamps gone back, an older
// day) and their checkpoints all come after the keys surveyed in their
// folders. The verification reads the chain it surveyed and passes.
func TestVerifyPassesWhileASealerWrites(t *testing.T) {
	defer func(n int32) { archive.ListPageSize = n }(archive.ListPageSize)
	archive.ListPageSize = 2
	store, vkey := memChain(t, 4, 3)
	race := &racingS3{S3API: store, act: func() {
		for _, k := range []string{
			"audit/year=2026/month=11/day=04/env=mem/00000000000000000013.jsonl",
			"audit/year=2026/month=11/day=02/env=mem/00000000000000000014.jsonl",
			"audit/year=2026/month=11/day=05/env=mem/00000000000000000015.jsonl",
			shared.CheckpointKey("audit", "mem", 15),
		} {
			store.PutVersion("audit", k, []byte("not read\n"))
		}
	}}
	rep, err := replayer.Verify(context.Background(), replayer.Config{S3: race, Bucket: "audit", Chain: "mem", VerifierKey: vkey, Parallelism: 2})
	if err != nil || rep.Entries != 13 || rep.CheckpointedSeq != 12 || rep.Unsigned != 0 {
		t.Fatalf("verify: %v (%+v), want the 13 entries surveyed, all signed", err, rep.LogReport)
	}
}

// An insider writes one sealed key over thousands of times (a PUT each,
// cheap): the verifier reports it by its count and newest versions.
// Before, it kept every version id of the key and looked each new one up
// among them (time that grows with the square of the versions: 40,000
// took 16 s, a million would take hours) and printed them all in the
// failure; a delete marker on top was named by another version's id.
func TestVerifyReportsAKeyWrittenOverThousandsOfTimesBriefly(t *testing.T) {
	const writes = 3000
	for _, deleted := range []bool{false, true} {
		t.Run(fmt.Sprintf("delete marker on top %v", deleted), func(t *testing.T) {
			defer func(n int32) { archive.ListPageSize = n }(archive.ListPageSize)
			archive.ListPageSize = 100 // the key's versions over 30 pages
			store, vkey := memChain(t, 2, 2)
			key, _ := lastKeys(store)
			body := store.Objects("audit")[key]
			for range writes {
				store.PutVersion("audit", key, body)
			}
			if deleted {
				store.Delete("audit", key)
			}
			newest, err := store.ListObjectVersions(context.Background(), &s3.ListObjectVersionsInput{Bucket: aws.String("audit"), Prefix: aws.String(key), MaxKeys: aws.Int32(1)})
			if err != nil {
				t.Fatal(err)
			}
			want := fmt.Sprintf("the key holds %d versions", writes+1)
			if deleted {
				want = fmt.Sprintf("a delete marker (version %s)", aws.ToString(newest.DeleteMarkers[0].VersionId))
			}
			_, err = replayer.Verify(context.Background(), replayer.Config{S3: store, Bucket: "audit", Chain: "mem", VerifierKey: vkey})
			var f *replayer.Failure
			if !errors.As(err, &f) || f.Key != key || !errors.Is(err, replayer.ErrRewritten) || !strings.Contains(f.Reason, want) {
				t.Fatalf("verify: %.400v\nwant %s named: %s", err, key, want)
			}
			if len(f.Reason) > 400 {
				t.Fatalf("a failure of %d bytes: %.400s...", len(f.Reason), f.Reason)
			}
		})
	}
}

// forged seals n records after the entry of seq after in store's chain
// "mem", at ts and the minutes after, as an insider without the signing
// key can (every hash of an unsigned entry can be computed), and returns
// the object's key and body.
func forged(t *testing.T, store *s3mem.S3, after uint64, ts time.Time, n int) (string, []byte) {
	t.Helper()
	var prev *shared.Entry
	for k, body := range store.Objects("audit") {
		if strings.Contains(k, "/checkpoints/") {
			continue
		}
		lines, err := shared.SplitLines(body)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range lines {
			if e, err := shared.ParseLine(l); err == nil && e.Seq == after {
				prev = e
			}
		}
	}
	if prev == nil {
		t.Fatalf("no entry at seq %d", after)
	}
	head := shared.Head{Chain: "mem", Seq: prev.Seq, Hash: prev.Hash, Offset: -1}
	if prev.Source != nil {
		head.Offset = prev.Source.Offset
	}
	var body []byte
	var first *shared.Entry
	for i := range n {
		at := ts.Add(time.Duration(i) * time.Minute)
		e, err := shared.SealRecord(head, shared.Source{Topic: "decisions", Offset: head.Offset + 1, Timestamp: at}, []byte(`{"forged":true}`), at)
		if err != nil {
			t.Fatal(err)
		}
		l, _ := e.Line()
		body = append(append(body, l...), '\n')
		head = head.Next(e)
		if first == nil {
			first = e
		}
	}
	return shared.BatchKey("audit", first), body
}

// An insider who can write anywhere under the prefix (new keys, new
// versions, delete markers) but does not hold the signing key tries to
// make a broken chain verify. Each write is refused, by the streaming
// verifier as by the one before it. The chain: genesis, then objects of
// seqs 1-3, 4-6, 7-9, 10-12 on 2026-11-01 to 04, each with its checkpoint.
func TestVerifyRefusesAnInsidersWrites(t *testing.T) {
	day := func(d int) string { return fmt.Sprintf("audit/year=2026/month=11/day=%02d/env=mem/", d) }
	seqName := func(seq uint64, ext string) string { return fmt.Sprintf("%020d%s", seq, ext) }
	cp := func(seq uint64) string { return shared.CheckpointKey("audit", "mem", seq) }
	oct31 := time.Date(2026, 10, 31, 12, 0, 0, 0, time.UTC)
	fork := "audit/year=2026/month=10/day=31/env=mem/" + seqName(4, ".jsonl")
	for _, tc := range []struct {
		name   string
		tamper func(t *testing.T, s *s3mem.S3, objs map[string][]byte)
		is     error
		named  []string // keys the failure names
	}{
		{"an object copied into another day folder (one seq in two folders)", func(t *testing.T, s *s3mem.S3, objs map[string][]byte) {
			s.PutVersion("audit", day(9)+seqName(4, ".jsonl"), objs[day(2)+seqName(4, ".jsonl")])
		}, shared.ErrChainBroken, nil},
		{"an object copied to an earlier day folder, listed before the real one", func(t *testing.T, s *s3mem.S3, objs map[string][]byte) {
			s.PutVersion("audit", "audit/year=2026/month=10/day=31/env=mem/"+seqName(4, ".jsonl"), objs[day(2)+seqName(4, ".jsonl")])
		}, shared.ErrChainBroken, nil},
		// The fork is read first and verifies; the sealer's object after
		// it fails, and the failure names the fork too.
		{"a fork of seq 4 in an earlier day, listed and merged before the real one", func(t *testing.T, s *s3mem.S3, _ map[string][]byte) {
			k, b := forged(t, s, 3, oct31, 3)
			s.PutVersion("audit", k, b)
		}, shared.ErrChainBroken, []string{fork, day(2) + seqName(4, ".jsonl")}},
		{"a fork of all of seqs 4-12 in an earlier day", func(t *testing.T, s *s3mem.S3, _ map[string][]byte) {
			k, b := forged(t, s, 3, oct31, 9)
			s.PutVersion("audit", k, b)
		}, shared.ErrChainBroken, []string{fork, day(2) + seqName(4, ".jsonl")}},
		{"an object far past the head (seq 2^53-1)", func(t *testing.T, s *s3mem.S3, objs map[string][]byte) {
			s.PutVersion("audit", day(5)+seqName(1<<53-1, ".jsonl"), objs[day(4)+seqName(10, ".jsonl")])
		}, shared.ErrChainBroken, nil},
		{"a checkpoint copied to the key of a seq it does not sign", func(t *testing.T, s *s3mem.S3, objs map[string][]byte) {
			s.PutVersion("audit", cp(5), objs[cp(6)])
		}, shared.ErrBadCheckpoint, nil},
		{"a checkpoint copied past the head", func(t *testing.T, s *s3mem.S3, objs map[string][]byte) {
			s.PutVersion("audit", cp(13), objs[cp(12)])
		}, shared.ErrBadCheckpoint, nil},
		{"a checkpoint written again with its own bytes", func(t *testing.T, s *s3mem.S3, objs map[string][]byte) {
			s.PutVersion("audit", cp(6), objs[cp(6)])
		}, replayer.ErrRewritten, nil},
		{"a delete marker on a checkpoint", func(t *testing.T, s *s3mem.S3, _ map[string][]byte) { s.Delete("audit", cp(6)) }, replayer.ErrRewritten, nil},
		{"a delete marker on the newest object and its checkpoint", func(t *testing.T, s *s3mem.S3, _ map[string][]byte) {
			s.Delete("audit", day(4)+seqName(10, ".jsonl"))
			s.Delete("audit", cp(12))
		}, replayer.ErrRewritten, nil},
		{"the newest object deleted (delete marker) then written again", func(t *testing.T, s *s3mem.S3, objs map[string][]byte) {
			s.Delete("audit", day(4)+seqName(10, ".jsonl"))
			s.PutVersion("audit", day(4)+seqName(10, ".jsonl"), objs[day(4)+seqName(10, ".jsonl")])
		}, replayer.ErrRewritten, nil},
		{"a batch key of 21 digits", func(t *testing.T, s *s3mem.S3, objs map[string][]byte) {
			s.PutVersion("audit", day(2)+"0"+seqName(4, ".jsonl"), objs[day(2)+seqName(4, ".jsonl")])
		}, shared.ErrChainBroken, nil},
		{"a batch key of 19 digits", func(t *testing.T, s *s3mem.S3, objs map[string][]byte) {
			s.PutVersion("audit", day(2)+seqName(4, ".jsonl")[1:], objs[day(2)+seqName(4, ".jsonl")])
		}, shared.ErrChainBroken, nil},
		{"a batch key in upper case", func(t *testing.T, s *s3mem.S3, objs map[string][]byte) {
			s.PutVersion("audit", day(2)+seqName(4, ".JSONL"), objs[day(2)+seqName(4, ".jsonl")])
		}, shared.ErrChainBroken, nil},
		{"a folder marker (key ending in a slash)", func(t *testing.T, s *s3mem.S3, _ map[string][]byte) {
			s.PutVersion("audit", day(2), nil)
		}, shared.ErrChainBroken, nil},
		{"a key under a batch key", func(t *testing.T, s *s3mem.S3, objs map[string][]byte) {
			s.PutVersion("audit", day(2)+seqName(4, ".jsonl")+"/x", []byte("x\n"))
		}, shared.ErrChainBroken, nil},
		{"a batch key of seq 0 (a second genesis)", func(t *testing.T, s *s3mem.S3, objs map[string][]byte) {
			s.PutVersion("audit", day(1)+seqName(0, ".jsonl"), objs[shared.GenesisKey("audit", "mem")])
		}, shared.ErrChainBroken, nil},
		{"a checkpoint named latest", func(t *testing.T, s *s3mem.S3, objs map[string][]byte) {
			s.PutVersion("audit", "audit/checkpoints/env=mem/latest.note", objs[cp(12)])
		}, shared.ErrChainBroken, nil},
		{"a checkpoint of 21 digits sorting among the others", func(t *testing.T, s *s3mem.S3, objs map[string][]byte) {
			s.PutVersion("audit", "audit/checkpoints/env=mem/0"+seqName(6, ".note"), objs[cp(6)])
		}, shared.ErrChainBroken, nil},
		{"a date that does not exist", func(t *testing.T, s *s3mem.S3, objs map[string][]byte) {
			s.PutVersion("audit", "audit/year=2026/month=02/day=30/env=mem/"+seqName(13, ".jsonl"), []byte("x\n"))
		}, shared.ErrChainBroken, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func(n int32) { archive.ListPageSize = n }(archive.ListPageSize)
			archive.ListPageSize = 2
			store, vkey := memChain(t, 4, 3)
			tc.tamper(t, store, store.Objects("audit"))
			rep, err := replayer.Verify(context.Background(), replayer.Config{S3: store, Bucket: "audit", Chain: "mem", VerifierKey: vkey, Parallelism: 3})
			if !errors.Is(err, tc.is) {
				t.Fatalf("verify: %v (%+v), want %v", err, rep.LogReport, tc.is)
			}
			for _, k := range tc.named {
				if !strings.Contains(err.Error(), k) {
					t.Fatalf("verify: %v, want %s named", err, k)
				}
			}
		})
	}
}

// rotatedChain writes chain "mem" with a key hand-over into an in-memory
// S3: genesis, then objects of seqs 1-2 on 2026-11-04, 3-5 on 11-02
// ending in the KEY entry at seq 5, 6-7 on 11-03 and 8-9 on 11-01 (the
// Kafka timestamps went back: S3 lists them in neither seq nor key order),
// each with its checkpoint; those up to seq 5 signed by the first key
// (retiredSigns: also the later ones), the others by the second. It returns
// the store and the keyset.
func rotatedChain(t *testing.T, retiredSigns bool) (*s3mem.S3, string) {
	t.Helper()
	store, keyset, _ := rotatedChainSigned(t, retiredSigns)
	return store, keyset
}

// rotatedChainSigned is rotatedChain that also returns the retired key's
// signer, as a thief of it after the rotation holds it.
func rotatedChainSigned(t *testing.T, retiredSigns bool) (*s3mem.S3, string, note.Signer) {
	t.Helper()
	s1, v1 := memSigner(t, "aegis-mem")
	s2, v2 := memSigner(t, "aegis-mem-2")
	next, err := shared.ParseVerifierKey(v2)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)
	// Each checkpoint is signed when it is written, as the sealer signs
	// it: the next key's first signed time bounds the retired key's
	// retirement for the readers of part of a chain (FORMAT.md 7.4).
	b := newMemBuilder(t, s1, v1, start, now)
	for _, o := range []struct {
		day, records int
		handOver     bool
	}{{3, 2, false}, {1, 2, true}, {2, 2, false}, {0, 2, false}} {
		raws := make([][]byte, o.records)
		for i := range raws {
			raws[i] = []byte(decisionRecord(b.n+i, 0, 0, "2026-11-01T08:00:00Z"))
		}
		if o.handOver {
			raws = append(raws, shared.KeyChangeRequest("mem", next))
		}
		signer := s2
		if b.head.Seq+1 <= 5 || retiredSigns {
			signer = s1
		}
		b.object(signer, raws, func(i int) time.Time { return start.AddDate(0, 0, o.day).Add(time.Duration(i) * time.Minute) })
	}
	if last := b.head.Seq; last != 9 {
		t.Fatalf("chain ends at seq %d, want 9", last)
	}
	return b.store, fmt.Sprintf("%s 0 5\n%s 6 -\n", v1, v2), s1
}

// Key rotation across the streamed listing: a chain whose KEY entry sits
// in an object listed after later seqs (dates that go back) verifies with
// its keyset at any page size, and each rule of docs/FORMAT.md section 7.4
// still fails it: a hand-over no checkpoint signs, a retired key signing
// after its range, a keyset that predates the rotation.
func TestVerifyKeyRotationAcrossTheStreamedListing(t *testing.T) {
	for _, page := range []int32{1, 2, 1000} {
		t.Run(fmt.Sprintf("page %d", page), func(t *testing.T) {
			defer func(n int32) { archive.ListPageSize = n }(archive.ListPageSize)
			archive.ListPageSize = page
			verify := func(store *s3mem.S3, keyset string) (replayer.Report, error) {
				return replayer.Verify(context.Background(), replayer.Config{S3: store, Bucket: "audit", Chain: "mem", VerifierKey: keyset, Parallelism: 2})
			}
			store, keyset := rotatedChain(t, false)
			if rep, err := verify(store, keyset); err != nil || rep.Entries != 10 || rep.CheckpointedSeq != 9 || rep.Checkpoints != 5 {
				t.Fatalf("verify: %v (%+v)", err, rep.LogReport)
			}
			store.Remove("audit", shared.CheckpointKey("audit", "mem", 5))
			if _, err := verify(store, keyset); !errors.Is(err, shared.ErrKeyChange) {
				t.Fatalf("verify without the hand-over's checkpoint: %v, want %v", err, shared.ErrKeyChange)
			}
			store, keyset = rotatedChain(t, true)
			_, err := verify(store, keyset)
			var f *replayer.Failure
			if !errors.As(err, &f) || f.Key != shared.CheckpointKey("audit", "mem", 7) {
				t.Fatalf("verify with the retired key signing after its range: %v, want the checkpoint of seq 7 named", err)
			}
			store, keyset = rotatedChain(t, false)
			if _, err := verify(store, strings.Fields(keyset)[0]); !errors.Is(err, shared.ErrKeyChange) {
				t.Fatalf("verify with the keyset from before the rotation: %v, want %v", err, shared.ErrKeyChange)
			}
		})
	}
}
