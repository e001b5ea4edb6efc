package archive_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/aegisai/audit/archive"
	"github.com/aegisai/audit/internal/testbed/s3mem"
	"github.com/aegisai/audit/shared"
)

// countingS3 counts the listing requests made through it and the keys
// they return.
type countingS3 struct {
	archive.S3API
	lists, keys atomic.Int64
}

func (c *countingS3) ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, opts ...func(*s3.Options)) (*s3.ListObjectsV2Output, error) {
	c.lists.Add(1)
	out, err := c.S3API.ListObjectsV2(ctx, in, opts...)
	if err == nil {
		c.keys.Add(int64(len(out.Contents)))
	}
	return out, err
}

// walkAll hands out every key of the walk.
func walkAll(t *testing.T, w *archive.CheckpointWalk) []string {
	t.Helper()
	var got []string
	for {
		k, ok, err := w.Next(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			return got
		}
		got = append(got, k)
	}
}

// The walk hands out exactly the checkpoint keys a whole listing holds,
// newest first, over chains dense and sparse, short and long, with keys
// in the folder that are not checkpoint keys among them; and finding the
// newest few of a long chain costs a few dozen small listings, not one per
// 1,000 objects.
func TestNewestCheckpointsWalkTheWholeFolderNewestFirst(t *testing.T) {
	prefix := shared.CheckpointPrefix("audit", "c")
	strays := []string{prefix + "latest.note", prefix + "zzz", prefix + "00000000000000000005.note.x",
		prefix + "000000000000000000050.note", prefix + "0000000000000000005.note", prefix + "00000000000000001000.NOTE", prefix,
		prefix + fmt.Sprintf("%020d.note", uint64(math.MaxUint64)), prefix + fmt.Sprintf("%020d.note", uint64(shared.MaxSafeInteger)+1)}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct {
		name     string
		seqs     []uint64
		strays   bool
		maxLists int64 // to hand out the newest 3 (0: not checked)
	}{
		{"empty", nil, false, 0},
		{"strays alone", nil, true, 0},
		{"one", []uint64{0}, true, 0},
		{"one small page", seqRange(0, 8, 1), false, 1},
		{"a page", seqRange(0, 1000, 1), false, 25},
		{"a page and one", seqRange(0, 1001, 1), false, 0},
		{"dense, 5,000", seqRange(0, 5000, 1), true, 60},
		{"batches of 1,000, 3,000 of them", seqRange(0, 3_000_000, 1000), false, 60},
		{"sparse, random", randomSeqs(rng, 3000, 1e9), true, 80},
		{"a gap of 10^12 before the newest", append(seqRange(0, 2000, 1), 1e12+7), true, 100},
		// Keys planted far past the head: probes cross the gap; listing it
		// down to the chain would list every key.
		{"near the largest seq", append(seqRange(0, 1500, 1), shared.MaxSafeInteger-3, shared.MaxSafeInteger), true, 120},
		{"one far past a long chain", append(seqRange(0, 8_000, 1), shared.MaxSafeInteger-1), false, 150},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mem := s3mem.New("audit")
			var want []string
			for _, seq := range tc.seqs {
				k := shared.CheckpointKey("audit", "c", seq)
				mem.PutVersion("audit", k, nil)
				want = append(want, k)
			}
			if tc.strays {
				for _, k := range strays {
					mem.PutVersion("audit", k, nil)
				}
			}
			mem.PutVersion("audit", shared.CheckpointPrefix("audit", "other")+"00000000000000000001.note", nil)
			sort.Sort(sort.Reverse(sort.StringSlice(want)))
			store := &archive.Store{S3: mem, Bucket: "audit"}
			got := walkAll(t, store.NewestCheckpoints("c"))
			if !slices.Equal(got, want) {
				t.Fatalf("walk handed out %d keys, want %d (first %v, want %v)", len(got), len(want), head(got), head(want))
			}
			if tc.maxLists == 0 {
				return
			}
			counted := &countingS3{S3API: mem}
			w := (&archive.Store{S3: counted, Bucket: "audit"}).NewestCheckpoints("c")
			for range 3 {
				if _, _, err := w.Next(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
			n, keys := counted.lists.Load(), counted.keys.Load()
			t.Logf("%d listing requests (%d keys) for the newest 3 of %d checkpoints", n, keys, len(want))
			if n > tc.maxLists || keys > 2500 {
				t.Fatalf("want at most %d listing requests and 2,500 keys", tc.maxLists)
			}
		})
	}
}

func seqRange(from, to, step uint64) []uint64 {
	var out []uint64
	for s := from; s < to; s += step {
		out = append(out, s)
	}
	return out
}

func randomSeqs(rng *rand.Rand, n int, below uint64) []uint64 {
	seen := map[uint64]bool{}
	var out []uint64
	for len(out) < n {
		s := rng.Uint64N(below)
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

func head(keys []string) string {
	var names []string
	for _, k := range keys[:min(3, len(keys))] {
		names = append(names, k[strings.LastIndexByte(k, '/')+1:])
	}
	return fmt.Sprint(names)
}

// SealedVersions lists one key's versions, the oldest first, leaving out
// delete markers and the versions of longer keys it prefixes.
func TestSealedVersionsListsOneKeyOldestFirst(t *testing.T) {
	mem := s3mem.New("audit")
	key := "audit/year=2026/month=11/day=01/env=c/00000000000000000001.jsonl"
	var want []string
	for i := range 3 {
		mem.PutVersion("audit", key, []byte(fmt.Sprint(i)))
		out, err := mem.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String("audit"), Key: aws.String(key)})
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, aws.ToString(out.VersionId))
	}
	mem.Delete("audit", key)
	mem.PutVersion("audit", key+"x", []byte("other"))
	got, err := (&archive.Store{S3: mem, Bucket: "audit"}).SealedVersions(context.Background(), key)
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("versions %v, %v; want %v", got, err, want)
	}
}
