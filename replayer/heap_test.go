package replayer_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/aegisai/audit/archive"
	"github.com/aegisai/audit/indexer"
	"github.com/aegisai/audit/replayer"
)

// errFirstObject stops a read at its first batch object.
var errFirstObject = errors.New("stopped at the first batch object")

// heapAtFirstObject records the live heap (after a collection) when the
// first batch object is fetched, and fails that fetch: what the reader
// holds then is what it listed before reading anything.
type heapAtFirstObject struct {
	archive.S3API
	once sync.Once
	live uint64
}

func (h *heapAtFirstObject) GetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	if !strings.Contains(aws.ToString(in.Key), "/year=") {
		return h.S3API.GetObject(ctx, in, opts...)
	}
	h.once.Do(func() {
		var m runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m)
		h.live = m.HeapAlloc
	})
	return nil, errFirstObject
}

// noRebuildYet is a table that holds no rebuild progress: all a rebuild
// asks of it before its first object.
type noRebuildYet struct{ indexer.DynamoAPI }

func (noRebuildYet) GetItem(context.Context, *dynamodb.GetItemInput, ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	return &dynamodb.GetItemOutput{}, nil
}

// Rebuild, index check (whole chain and a range) and discover hold, when
// they fetch their first object, the live heap they held before they
// started plus a page of keys and a few hundred bytes a day folder: not
// one entry per object of their scope. Before, each listed its whole
// scope first: at 9,000 objects over 30 days that held 230 KB here
// (keys parsed from a real S3 answer would add about 70 bytes an
// object), and this test then fails.
func TestReadersHoldNoListingAtTheFirstObject(t *testing.T) {
	const days, perDay = 30, 300
	var dayOf []int
	for d := range days {
		for range perDay {
			dayOf = append(dayOf, d)
		}
	}
	store, vkey := memObjects(t, dayOf, 1, decisionRecord)
	from, to := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	index := &indexer.Index{DB: noRebuildYet{}, Table: "t"}
	for _, tc := range []struct {
		name string
		run  func(s3 archive.S3API) error
	}{
		{"rebuild", func(s3 archive.S3API) error {
			_, err := replayer.Rebuild(context.Background(), replayer.RebuildConfig{S3: s3, Bucket: "audit", Chain: "mem", VerifierKey: vkey, Index: index})
			return err
		}},
		{"index check", func(s3 archive.S3API) error {
			_, err := replayer.Check(context.Background(), replayer.RebuildConfig{S3: s3, Bucket: "audit", Chain: "mem", VerifierKey: vkey, Index: index})
			return err
		}},
		{"rebuild --from --to", func(s3 archive.S3API) error {
			_, err := replayer.Rebuild(context.Background(), replayer.RebuildConfig{S3: s3, Bucket: "audit", Chain: "mem", VerifierKey: vkey, Index: index, From: from, To: to})
			return err
		}},
		{"discover", func(s3 archive.S3API) error {
			_, err := replayer.Discover(context.Background(), replayer.DiscoverConfig{S3: s3, Bucket: "audit", Chain: "mem", VerifierKey: vkey, From: from, To: to},
				func(replayer.Found) error { return nil })
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := &heapAtFirstObject{S3API: store}
			var m runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&m)
			before := m.HeapAlloc
			if err := tc.run(h); !errors.Is(err, errFirstObject) {
				t.Fatalf("%v, want it stopped at its first object", err)
			}
			held := int64(h.live) - int64(before)
			t.Logf("%d objects over %d days: %d bytes more live heap at the first object than before the run", days*perDay, days, held)
			// A page of 1,000 keys and 30 folders. (The in-memory S3 hands
			// out its own key strings: a listing held here costs 27 bytes
			// an object, not the 100 of keys parsed from a real answer.)
			if limit := int64(96 << 10); held > limit {
				t.Fatalf("%d bytes more live heap at the first object than before the run, want at most %d: the listing of %d objects is held", held, limit, days*perDay)
			}
		})
	}
}

// lostTable is a table that lost every item: each entry's item is
// missing. Its scan (index check's search for extra items, right after
// the pass over S3) records the live heap then.
type lostTable struct {
	indexer.DynamoAPI
	live uint64
}

func (*lostTable) GetItem(context.Context, *dynamodb.GetItemInput, ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	return &dynamodb.GetItemOutput{}, nil
}

func (l *lostTable) Scan(context.Context, *dynamodb.ScanInput, ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error) {
	if l.live == 0 {
		var m runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m)
		l.live = m.HeapAlloc
	}
	return &dynamodb.ScanOutput{}, nil
}

// Index check of a table that lost its items, over n and 4n entries with
// chunks of 64 keys, holds at the end of its pass over S3 (every entry
// compared, each a missing item streamed to OnDifference) about the same
// live heap: what it holds is bounded by KeysInMemory and the report's
// sample, not by the range. Before, it held a hash of every key compared
// and one Difference a missing item (226 bytes an entry here: 1,355,232 more
// at 8,000 entries than at 2,000), and
// this test failed.
func TestCheckHeapDoesNotGrowWithTheRange(t *testing.T) {
	const perObject = 100
	held := map[int]int64{}
	for _, entries := range []int{2_000, 8_000} {
		store, vkey := memObjects(t, make([]int, entries/perObject), perObject, decisionRecord)
		table := &lostTable{}
		var missing int
		cfg := replayer.RebuildConfig{S3: store, Bucket: "audit", Chain: "mem", VerifierKey: vkey, Index: &indexer.Index{DB: table, Table: "t"},
			KeysInMemory: 64, TempDir: t.TempDir(),
			OnDifference: func(d indexer.Difference) error {
				if d.Kind == "missing" {
					missing++
				}
				return nil
			}}
		var m runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m)
		before := m.HeapAlloc
		rep, err := replayer.Check(context.Background(), cfg)
		if err != nil || missing != entries || rep.Missing != uint64(entries) {
			t.Fatalf("%d entries: %d missing streamed, %d differences reported, %v; want every entry's item missing", entries, missing, rep.DifferenceCount(), err)
		}
		held[entries] = int64(table.live) - int64(before)
		t.Logf("%d entries: %d bytes more live heap at the end of the pass over S3 than before the check", entries, held[entries])
		runtime.KeepAlive(store)
	}
	if grew, limit := held[8_000]-held[2_000], int64(64<<10); grew > limit {
		t.Fatalf("the live heap at the end of the pass over S3 grew by %d bytes from 2,000 to 8,000 entries, want at most %d: it grows with the range", grew, limit)
	}
}

// BenchmarkCheckLiveHeap reports the live heap index check holds at the
// end of its pass over S3 (every entry compared, each a missing item of a
// table that lost its items), per entry, at two lengths of the chain,
// with chunks of 10,000 keys: bounded by the chunk, it falls per entry as
// the chain grows.
func BenchmarkCheckLiveHeap(b *testing.B) {
	for _, entries := range []int{50_000, 200_000} {
		b.Run(fmt.Sprint(entries), func(b *testing.B) {
			const perObject = 100
			dayOf := make([]int, entries/perObject)
			for i := range dayOf {
				dayOf[i] = i / 9 // 900 entries a day, a minute apart
			}
			store, vkey := memObjects(b, dayOf, perObject, decisionRecord)
			for b.Loop() {
				table := &lostTable{}
				cfg := replayer.RebuildConfig{S3: store, Bucket: "audit", Chain: "mem", VerifierKey: vkey, Index: &indexer.Index{DB: table, Table: "t"},
					KeysInMemory: 10_000, TempDir: b.TempDir(), OnDifference: func(indexer.Difference) error { return nil }}
				var m runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&m)
				before := m.HeapAlloc
				if _, err := replayer.Check(context.Background(), cfg); err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(int64(table.live)-int64(before))/float64(entries), "live-B/entry")
			}
		})
	}
}
