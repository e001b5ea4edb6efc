package sealer

import (
	"context"
	"testing"
	"time"

	"github.com/aegisai/audit/archive"
	"github.com/aegisai/audit/shared"
)

// A start reads the sealed version of the newest checkpoint and of the
// object it signs from under what a bucket writer put over them, and the
// retention of the checkpoint's first version: each lists every version
// and delete marker of the key, and each listing was one S3 call, given
// one call's time and retried for ever when that ran out. Delete markers
// (free on S3) or versions over the newest object or checkpoint stalled
// every start of every sealer of the chain, and every takeover, for as
// long as the writer liked; the sealer running went on until it
// restarted. Each page is a call of its own.
func TestMarkersOverTheNewestObjectDoNotStallAStart(t *testing.T) {
	for _, tc := range []struct {
		name string
		over func(h handOver, cp shared.Checkpoint, cpKey string) string
	}{
		{"delete markers over the newest object", func(h handOver, cp shared.Checkpoint, _ string) string {
			for range 5000 {
				h.store.Delete("audit", cp.Object)
			}
			return cp.Object
		}},
		{"versions over the newest checkpoint", func(h handOver, _ shared.Checkpoint, cpKey string) string {
			for range 5000 {
				h.store.PutVersion("audit", cpKey, []byte("junk"))
			}
			return cpKey
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := handedOver(t)
			sealed := h.sealMore(t, records(4, 6, h.at.Add(2*time.Second)))
			cpKey := shared.CheckpointKey("audit", "unit", sealed.Seq)
			cp, err := h.s.readCheckpoint(context.Background(), cpKey)
			if err != nil {
				t.Fatal(err)
			}
			key := tc.over(h, cp, cpKey)
			cfg := h.cfg // step 5's settings
			cfg.SignerKey, cfg.NextSignerKey, cfg.VerifierKey = h.cfg.NextSignerKey, "", h.s.keys.keyset().String()
			s, err := startUnderSlowListing(t, cfg, h.store, key)
			if err != nil || s.Head() != sealed {
				t.Fatalf("head at seq %d (err %v), want %d", s.Head().Seq, err, sealed.Seq)
			}
		})
	}
}

// Right after a hand-over the newest checkpoint is the retired key's, the
// one that retires it (seq 4 here): a start with step 5's settings judges
// it under the retired-key rule (archive.RetiredVersion), which lists the
// versions at that checkpoint's key, twice (its first version, and when
// the key was retired). A bucket writer puts delete markers there, free on
// S3 and as many as they like; the rule's listings were all one S3 call,
// given one call's time and retried for ever when that ran out, so the
// start never ended (found by an attack on the hand-over note,
// 2026-11-30). Each page is now a call of its own.
func TestMarkersAtTheRetiringCheckpointDoNotStallAStart(t *testing.T) {
	h := handedOver(t)
	cpKey := shared.CheckpointKey("audit", "unit", 4)
	retiring, err := h.s.readCheckpoint(context.Background(), cpKey)
	if err != nil {
		t.Fatal(err)
	}
	for range 5000 {
		h.store.Delete("audit", cpKey)
	}
	cfg := h.cfg // step 5's settings
	cfg.SignerKey, cfg.NextSignerKey, cfg.VerifierKey = h.cfg.NextSignerKey, "", h.s.keys.keyset().String()
	s, err := startUnderSlowListing(t, cfg, h.store, cpKey)
	if err != nil || s.Head().Seq != retiring.Seq {
		t.Fatalf("head at seq %d (err %v), want %d", s.Head().Seq, err, retiring.Seq)
	}
}

// startUnderSlowListing makes a sealer with cfg on store, whose listings
// of key take 50ms a page where a call may take 200ms (the 6 pages of
// 5,000 delete markers take 300ms), and recovers its head within 10s.
func startUnderSlowListing(t *testing.T, cfg Config, store archive.S3API, key string) (*Sealer, error) {
	t.Helper()
	cfg.S3 = &slowListing{S3API: store, match: key, delay: 50 * time.Millisecond}
	cfg.CallTimeout = 200 * time.Millisecond
	s, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = s.recoverHead(ctx)
	return s, err
}
