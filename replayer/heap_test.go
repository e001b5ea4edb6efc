package replayer_test

import (
	"context"
	"errors"
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
