package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"golang.org/x/mod/sumdb/note"

	"github.com/aegisai/audit/archive"
	"github.com/aegisai/audit/internal/testbed/pipeline"
	"github.com/aegisai/audit/replayer"
	"github.com/aegisai/audit/sealer"
	"github.com/aegisai/audit/shared"
)

// sealedChain runs a small pipeline to completion and stops it, leaving a
// verified chain of several objects to tamper with.
func sealedChain(t *testing.T) (*pipeline.Pipeline, []archive.BatchRef) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p, err := pipeline.Start(ctx, stack, pipeline.Config{Indexers: -1, Sealer: func(c *sealer.Config) { c.BatchMaxRecords = 10 }})
	if err != nil {
		t.Fatal(err)
	}
	w := pipeline.NewWorkload(p.Cfg.Chain, p.Cfg.Chain, 40, 0, 5, 6, time.Now())
	publish(t, p, w.Events)
	if err := p.WaitHead(ctx, uint64(len(w.Events))); err != nil {
		t.Fatal(err)
	}
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Verify(ctx); err != nil {
		t.Fatalf("verify before tampering: %v", err)
	}
	refs, err := (&archive.Store{S3: p.S3, Bucket: p.Cfg.Bucket}).Batches(ctx, p.Cfg.Chain)
	if err != nil {
		t.Fatal(err)
	}
	return p, refs
}

func wantFailure(t *testing.T, p *pipeline.Pipeline, key string, line int, is error) {
	t.Helper()
	_, err := p.Verify(context.Background())
	var f *replayer.Failure
	if !errors.As(err, &f) {
		t.Fatalf("verify: got %v, want a *replayer.Failure", err)
	}
	if f.Key != key || f.Line != line || (is != nil && !errors.Is(err, is)) {
		t.Fatalf("verify: %v\nwant object %s line %d (%v)", err, key, line, is)
	}
	t.Logf("found: %v", err)
}

// An attacker with write access puts a new version over a sealed batch: the
// chain is re-hashed consistently inside the object, but it no longer links.
func TestReplacedObjectVersionIsFound(t *testing.T) {
	ctx := context.Background()
	p, refs := sealedChain(t)
	victim := refs[2]
	obj, err := (&archive.Store{S3: p.S3, Bucket: p.Cfg.Bucket}).Get(ctx, victim.Key, "")
	if err != nil {
		t.Fatal(err)
	}
	lines, _ := shared.SplitLines(obj.Body)
	first, _ := shared.ParseLine(lines[0])
	prev := first.Prev
	prev[0] ^= 0xff // a different history
	var forged bytes.Buffer
	head := shared.Head{Chain: first.Chain, Seq: first.Seq - 1, Hash: prev, Offset: first.Source.Offset - 1}
	for _, l := range lines {
		e, _ := shared.ParseLine(l)
		env, _ := e.Envelope()
		env.Decision.Action = shared.ActionAllow
		raw, _ := json.Marshal(env)
		ne, err := shared.SealRecord(head, *e.Source, raw, e.SealedAt)
		if err != nil {
			t.Fatal(err)
		}
		line, _ := ne.Line()
		forged.Write(append(line, '\n'))
		head = head.Next(ne)
	}
	_, err = p.S3.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(p.Cfg.Bucket), Key: aws.String(victim.Key), Body: bytes.NewReader(forged.Bytes()),
		ObjectLockMode: types.ObjectLockModeCompliance, ObjectLockRetainUntilDate: aws.Time(time.Now().Add(48 * time.Hour)),
	})
	if err != nil {
		t.Fatalf("put a new version: %v", err)
	}
	wantFailure(t, p, victim.Key, 1, shared.ErrChainBroken)
}

// A new version without Object Lock is reported as such even when its bytes
// are the original ones; also with the version's SHA-256 stored (as a
// copy made with the SDK stores it): the GET then gives all but the lock,
// and versitygw answers the retention asked for with 400
// NoSuchObjectLockConfiguration, which was reported as an S3 error on
// every reader (found by an outside trial that restored a bucket into one
// whose default retention versitygw did not apply), not as the object
// without a lock it is.
func TestUnlockedVersionIsFound(t *testing.T) {
	for _, checksum := range []types.ChecksumAlgorithm{"", types.ChecksumAlgorithmSha256} {
		name := "without a stored checksum"
		if checksum != "" {
			name = "with its SHA-256 stored"
		}
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			p, refs := sealedChain(t)
			victim := refs[1]
			obj, err := (&archive.Store{S3: p.S3, Bucket: p.Cfg.Bucket}).Get(ctx, victim.Key, "")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := p.S3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(p.Cfg.Bucket), Key: aws.String(victim.Key), Body: bytes.NewReader(obj.Body),
				ChecksumAlgorithm: checksum}); err != nil {
				t.Fatalf("put a new version: %v", err)
			}
			_, err = p.Verify(ctx)
			if err == nil || !strings.Contains(err.Error(), "COMPLIANCE") || !strings.Contains(err.Error(), victim.Key) {
				t.Fatalf("verify: got %v, want the unlocked object named", err)
			}
		})
	}
}

// A checkpoint signed by a key the auditor does not trust, even under the
// trusted key's name, fails verification.
func TestForgedCheckpointIsFound(t *testing.T) {
	p, _ := sealedChain(t)
	name := strings.SplitN(p.Cfg.VerifierKey, "+", 2)[0]
	skey, _, err := note.GenerateKey(rand.Reader, name)
	if err != nil {
		t.Fatal(err)
	}
	head := p.Sealer.Head()
	key := putCheckpoint(t, p, skey, shared.Checkpoint{Chain: p.Cfg.Chain, Seq: head.Seq - 3, Hash: head.Hash, Object: "audit/forged.jsonl", Time: time.Now()})
	wantFailure(t, p, key, 0, shared.ErrBadCheckpoint)
}

// putCheckpoint signs cp with skey and stores it, locked, where the sealer
// would; it returns the key.
func putCheckpoint(t *testing.T, p *pipeline.Pipeline, skey string, cp shared.Checkpoint) string {
	t.Helper()
	signer, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := cp.Sign(signer)
	if err != nil {
		t.Fatal(err)
	}
	key := shared.CheckpointKey("audit", cp.Chain, cp.Seq)
	if _, err := (&archive.Store{S3: p.S3, Bucket: p.Cfg.Bucket}).Put(context.Background(), key, msg, time.Now().Add(48*time.Hour)); err != nil {
		t.Fatal(err)
	}
	return key
}

// A checkpoint beyond the end of the chain means entries are missing.
func TestTruncationIsFound(t *testing.T) {
	p, _ := sealedChain(t)
	head := p.Sealer.Head()
	key := putCheckpoint(t, p, p.Cfg.SignerKey, shared.Checkpoint{Chain: p.Cfg.Chain, Seq: head.Seq + 10, Hash: head.Hash, Object: "audit/gone.jsonl", Time: time.Now()})
	wantFailure(t, p, key, 0, shared.ErrChainBroken)
}

// Someone with write access to the bucket puts a new version over a batch
// whose second line is 8 MiB of one array of numbers (a line has no length
// limit: invalid.reason is any string). aegis verify, reading it through
// S3, names that line for a small multiple of the object's size: before, the
// parser kept 96 bytes and more for each of the line's 4 million values
// (2.4 GB allocated) before the entry's rules refused it.
func TestVerifyReadsAHugeLineForAboutItsSize(t *testing.T) {
	p, refs := sealedChain(t)
	victim := refs[2]
	obj, err := (&archive.Store{S3: p.S3, Bucket: p.Cfg.Bucket}).Get(context.Background(), victim.Key, "")
	if err != nil {
		t.Fatal(err)
	}
	first, _, _ := bytes.Cut(obj.Body, []byte("\n"))
	body := []byte(string(first) + "\n" + `{"a":[` + strings.Repeat("0,", 4<<20) + "0]}\n")
	putVersion(t, p, victim.Key, body, true)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	wantFailure(t, p, victim.Key, 2, shared.ErrBadEntry)
	runtime.ReadMemStats(&after)
	if got, limit := after.TotalAlloc-before.TotalAlloc, uint64(16*len(body)); got > limit {
		t.Fatalf("verify allocated %d bytes for an object of %d (limit %d)", got, len(body), limit)
	} else {
		t.Logf("verify allocated %d bytes for an object of %d", got, len(body))
	}
}
