package sealer

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"golang.org/x/mod/sumdb/note"

	"github.com/aegisai/audit/internal/testbed/s3mem"
	"github.com/aegisai/audit/shared"
)

// Whoever can read the decisions topic and the newest checkpoint can
// compute the next entry exactly (the record, its offset and time, the
// head's seq and hash; sealed_at is theirs to choose) and put it at the
// next batch key, one line is enough, before the sealer writes it: while
// a batch waits for its age, or while a standby waits to take over. The
// sealer adopted it, as a zombie sealer's, and signed it with the lock its
// writer gave it: none, GOVERNANCE (anyone allowed to bypass it deletes
// it) or a day. The signed object could then be deleted, and aegis
// verify failed the chain on its lock for good. An object that is not
// locked as the sealer locks its own is not adopted: the sealer stops,
// as on any other object at its next key.
func TestAnObjectLockedLessThanTheSealersIsNotAdopted(t *testing.T) {
	for _, tc := range []struct {
		name  string
		mode  types.ObjectLockMode
		until time.Duration // from now; 0: none
	}{
		{"no lock", "", 0},
		{"GOVERNANCE", types.ObjectLockModeGovernance, 10 * 365 * 24 * time.Hour},
		{"COMPLIANCE for a day", types.ObjectLockModeCompliance, 24 * time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, store, clock := unitSealer(t)
			recs := records(0, 3, clock.t)
			e, err := shared.SealRecord(s.Head(), source(recs[0]), recs[0].Value, clock.t)
			if err != nil {
				t.Fatal(err)
			}
			line, _ := e.Line()
			in := &s3.PutObjectInput{Bucket: aws.String("audit"), Key: aws.String(shared.BatchKey("audit", e)),
				Body: bytes.NewReader(append(line, '\n')), ObjectLockMode: tc.mode}
			if tc.until > 0 {
				in.ObjectLockRetainUntilDate = aws.Time(time.Now().Add(tc.until))
			}
			if _, err := store.PutObject(context.Background(), in); err != nil {
				t.Fatal(err)
			}
			prepared, err := s.prepare(recs)
			if err != nil {
				t.Fatal(err)
			}
			refs, tasks, err := s.write(context.Background(), recs, prepared)
			if err == nil {
				err = s.checkpoint(context.Background(), tasks)
			}
			if errors.Is(err, ErrChainForked) {
				return // refused, as any other object at the next key: nothing signed over it
			}
			if err != nil {
				t.Fatal(err)
			}
			obj, err := s.store.LockedHead(context.Background(), refs[0].rec.Object, refs[0].rec.VersionID)
			if err != nil {
				t.Fatal(err)
			}
			if obj.LockMode != types.ObjectLockModeCompliance || obj.RetainUntil.Before(clock.t.Add(s.cfg.Retention).Add(-time.Hour)) {
				t.Fatalf("signed %s version %s, locked %q until %s: the sealer locks its objects COMPLIANCE for %s",
					refs[0].rec.Object, obj.VersionID, obj.LockMode, obj.RetainUntil, s.cfg.Retention)
			}
		})
	}
}

// The genesis object likewise: whoever puts the genesis this sealer would
// write (its time is theirs to choose) at its key before the chain's
// first start, unlocked or locked for less than the sealer's retention,
// had it adopted and signed, and could delete it once its lock ended:
// the chain then had no genesis, and aegis verify failed it for good.
// It is adopted only locked COMPLIANCE for the sealer's retention from
// when S3 stored it; a sealer's own genesis, written before a crash, is.
func TestAGenesisLockedLessThanTheSealersIsNotAdopted(t *testing.T) {
	for _, tc := range []struct {
		name  string
		mode  types.ObjectLockMode
		until time.Duration // from now; 0: none
		adopt bool
	}{
		{"no lock", "", 0, false},
		{"GOVERNANCE", types.ObjectLockModeGovernance, 10 * 365 * 24 * time.Hour, false},
		{"COMPLIANCE for two days", types.ObjectLockModeCompliance, 48 * time.Hour, false},
		{"COMPLIANCE for the sealer's retention", types.ObjectLockModeCompliance, defaultRetention, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := s3mem.New("audit")
			skey, vkey, err := note.GenerateKey(rand.Reader, "aegis-unit")
			if err != nil {
				t.Fatal(err)
			}
			now := time.Now()
			s, err := New(context.Background(), Config{Brokers: []string{"unused:9092"}, Chain: "unit", S3: store, Bucket: "audit",
				SignerKey: skey, VerifierKey: vkey, Now: func() time.Time { return now }, Topic: "decisions"})
			if err != nil {
				t.Fatal(err)
			}
			first := s.keys.keyset().First()
			g, err := shared.NewGenesis("unit", now.Add(-time.Hour), first.Name, first.Text)
			if err != nil {
				t.Fatal(err)
			}
			line, _ := g.Line()
			in := &s3.PutObjectInput{Bucket: aws.String("audit"), Key: aws.String(shared.GenesisKey("audit", "unit")),
				Body: bytes.NewReader(append(line, '\n')), ObjectLockMode: tc.mode}
			if tc.until > 0 {
				in.ObjectLockRetainUntilDate = aws.Time(now.Add(tc.until))
			}
			if _, err := store.PutObject(context.Background(), in); err != nil {
				t.Fatal(err)
			}
			err = s.genesis(context.Background())
			switch {
			case tc.adopt && err != nil:
				t.Fatalf("a genesis locked as the sealer locks its own: %v", err)
			case !tc.adopt && !errors.Is(err, ErrChainForked):
				t.Fatalf("a genesis locked %q for %s was adopted (err %v)", tc.mode, tc.until, err)
			}
		})
	}
}
