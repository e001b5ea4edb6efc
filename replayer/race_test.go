package replayer_test

import (
	"context"
	"errors"
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
	"github.com/aegisai/audit/shared"
)

// sealerAtCheckpointListing runs write once, just before the first
// listing of the chain's checkpoint folder: a sealer that writes between
// a reader's read of a checkpoint and that listing.
type sealerAtCheckpointListing struct {
	archive.S3API
	folder string
	once   sync.Once
	write  func()
	wrote  bool
}

func (s *sealerAtCheckpointListing) ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, opts ...func(*s3.Options)) (*s3.ListObjectsV2Output, error) {
	if aws.ToString(in.Prefix) == s.folder {
		s.once.Do(func() { s.write(); s.wrote = true })
	}
	return s.S3API.ListObjectsV2(ctx, in, opts...)
}

// ListObjectVersions is the listing that looks for the checkpoint after a
// seq (archive.Store.CheckpointAfter: from a key marker), not the survey's.
func (s *sealerAtCheckpointListing) ListObjectVersions(ctx context.Context, in *s3.ListObjectVersionsInput, opts ...func(*s3.Options)) (*s3.ListObjectVersionsOutput, error) {
	if aws.ToString(in.Prefix) == s.folder && in.KeyMarker != nil {
		s.once.Do(func() { s.write(); s.wrote = true })
	}
	return s.S3API.ListObjectVersions(ctx, in, opts...)
}

// errIndexReached is what indexAfterProgress answers past a rebuild's
// progress record: the reader got to the index with an object it took as
// signed (or, rebuild, to clearing its progress at the end).
var errIndexReached = errors.New("index reached")

// indexAfterProgress is a table that holds nothing (no rebuild progress,
// no item) and fails every other call with errIndexReached.
type indexAfterProgress struct{ indexer.DynamoAPI }

func (indexAfterProgress) GetItem(context.Context, *dynamodb.GetItemInput, ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	return &dynamodb.GetItemOutput{}, nil
}

func (indexAfterProgress) BatchGetItem(context.Context, *dynamodb.BatchGetItemInput, ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	return nil, errIndexReached
}

func (indexAfterProgress) Query(context.Context, *dynamodb.QueryInput, ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	return nil, errIndexReached
}

func (indexAfterProgress) Scan(context.Context, *dynamodb.ScanInput, ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error) {
	return nil, errIndexReached
}

func (indexAfterProgress) DeleteItem(context.Context, *dynamodb.DeleteItemInput, ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error) {
	return nil, errIndexReached
}

// An object no checkpoint signs while a checkpoint signs a later seq is
// refused as a twin (only the newest object can be unsigned), unless its
// checkpoint is there when read once more: the sealer writes checkpoints
// in seq order, so a sealer that wrote this object's checkpoint and the
// next object's between the reader's first read and its listing of the
// checkpoints looks the same until then. Discover, rebuild and index check
// read objects through one function (readDiscovered; rebuild --only-missing
// too, for the objects it mends); each is run here on the object of seqs
// 4-6 of the 2026-11-02 folder, in a chain of seqs 1-12 whose newest
// object, when the reader starts, is that one, unsigned.
//
// Signed between the reads: the object is taken as signed, neither
// refused nor passed on as unsigned (without the second read each reader
// refuses it). The checkpoint truly missing: refused, naming the
// checkpoint missing and the later one.
func TestReadersReadACheckpointAgainWhenALaterOneIsListed(t *testing.T) {
	day := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	object := "audit/year=2026/month=11/day=02/env=mem/00000000000000000004.jsonl"
	cp := func(seq uint64) string { return shared.CheckpointKey("audit", "mem", seq) }
	readers := []struct {
		name string
		run  func(s3 archive.S3API, vkey string) (entries, unsigned uint64, err error)
	}{
		{"discover", func(s3 archive.S3API, vkey string) (uint64, uint64, error) {
			var signed uint64
			rep, err := replayer.Discover(context.Background(), replayer.DiscoverConfig{S3: s3, Bucket: "audit", Chain: "mem", VerifierKey: vkey,
				From: day, To: day.AddDate(0, 0, 1)}, func(f replayer.Found) error {
				if f.Signed {
					signed++
				}
				return nil
			})
			if err == nil && signed != rep.Entries {
				err = errors.New("entries passed on as unsigned")
			}
			return rep.Entries, rep.Unsigned, err
		}},
		{"rebuild", func(s3 archive.S3API, vkey string) (uint64, uint64, error) {
			rep, err := replayer.Rebuild(context.Background(), replayer.RebuildConfig{S3: s3, Bucket: "audit", Chain: "mem", VerifierKey: vkey,
				Index: &indexer.Index{DB: indexAfterProgress{}, Table: "t"}, From: day, To: day.AddDate(0, 0, 1)})
			return rep.Entries, rep.Unsigned, err
		}},
		{"index check", func(s3 archive.S3API, vkey string) (uint64, uint64, error) {
			rep, err := replayer.Check(context.Background(), replayer.RebuildConfig{S3: s3, Bucket: "audit", Chain: "mem", VerifierKey: vkey,
				Index: &indexer.Index{DB: indexAfterProgress{}, Table: "t"}, From: day, To: day.AddDate(0, 0, 1)})
			return rep.Entries, rep.Unsigned, err
		}},
	}
	for _, tc := range []struct {
		name   string
		signed bool // the sealer writes the object's checkpoint
	}{
		{"signed between the reads", true},
		{"checkpoint truly missing", false},
	} {
		for _, r := range readers {
			t.Run(tc.name+"/"+r.name, func(t *testing.T) {
				store, vkey := memChain(t, 4, 3)
				// What the sealer writes after the object of seqs 4-6, in
				// its order: that object's checkpoint, then each object
				// with its checkpoint.
				later := []string{cp(6), "audit/year=2026/month=11/day=03/env=mem/00000000000000000007.jsonl", cp(9),
					"audit/year=2026/month=11/day=04/env=mem/00000000000000000010.jsonl", cp(12)}
				if !tc.signed {
					later = later[1:]
				}
				bodies := store.Objects("audit")
				for _, k := range later {
					if bodies[k] == nil {
						t.Fatalf("no object %s", k)
					}
				}
				store.Remove("audit", cp(6))
				for _, k := range later {
					store.Remove("audit", k)
				}
				sealer := &sealerAtCheckpointListing{S3API: store, folder: shared.CheckpointPrefix("audit", "mem"), write: func() {
					for _, k := range later {
						store.PutVersion("audit", k, bodies[k])
					}
				}}
				entries, unsigned, err := r.run(sealer, vkey)
				if !sealer.wrote {
					t.Fatalf("%v: the checkpoints were not listed: no reader missed the object's checkpoint", err)
				}
				var f *replayer.Failure
				if tc.signed {
					if errors.As(err, &f) || err != nil && !errors.Is(err, errIndexReached) || entries != 3 || unsigned != 0 {
						t.Fatalf("%v (%d entries read, %d unsigned), want the 3 entries of %s taken as signed", err, entries, unsigned, object)
					}
					t.Logf("taken as signed: %v", err)
					return
				}
				if !errors.As(err, &f) || f.Key != object || f.Line != 1 || !errors.Is(err, shared.ErrChainBroken) ||
					!strings.Contains(f.Reason, cp(6)) || !strings.Contains(f.Reason, cp(9)) {
					t.Fatalf("%v, want %s refused, naming %s missing and %s", err, object, cp(6), cp(9))
				}
			})
		}
	}
}
