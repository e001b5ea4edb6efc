package e2e

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/aegisai/audit/archive"
	"github.com/aegisai/audit/internal/testbed/localstack"
	"github.com/aegisai/audit/internal/testbed/pipeline"
	"github.com/aegisai/audit/internal/testbed/s3refuse"
	"github.com/aegisai/audit/replayer"
	"github.com/aegisai/audit/sealer"
	"github.com/aegisai/audit/shared"
)

// Someone with write access to the bucket (not the signing key) deletes
// the newest sealed object (a delete marker) or writes a locked version of
// their own over it. Before, every start of the sealer failed on it ("object
// not found", or "the object was replaced") and started over, for good: a
// version written over a sealed key is itself locked for the retention
// period, so no one could mend it. Now the sealer reads the sealed
// version underneath (it ends at the hash the trusted checkpoint signs),
// counts it, and seals on; verify still reports the key.
func TestSealerSealsOnOverARewrittenNewestObject(t *testing.T) {
	for _, tc := range []struct {
		name string
		hide func(t *testing.T, p *pipeline.Pipeline, key string)
		// refused, when set, is what S3 answers the sealer for the key's
		// current version: one it will not give (s3refuse).
		refused [2]string
	}{
		{"a delete marker", func(t *testing.T, p *pipeline.Pipeline, key string) {
			if _, err := p.S3.DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: aws.String(p.Cfg.Bucket), Key: aws.String(key)}); err != nil {
				t.Fatal(err)
			}
		}, [2]string{}},
		{"a locked version of someone else's", func(t *testing.T, p *pipeline.Pipeline, key string) {
			putVersion(t, p, key, []byte("{\"forged\":true}\n"), true)
		}, [2]string{}},
		// One S3 will not give back (an archive storage class, or another's
		// KMS key): s3:PutObject is all it takes. The sealer retried its GET
		// for good and never started (found by an attack).
		{"a version in an archive storage class", func(t *testing.T, p *pipeline.Pipeline, key string) {
			putVersion(t, p, key, []byte("{\"archived\":true}\n"), true)
		}, s3refuse.Archived},
		{"a version under another's KMS key", func(t *testing.T, p *pipeline.Pipeline, key string) {
			putVersion(t, p, key, []byte("{\"encrypted\":true}\n"), true)
		}, s3refuse.ForeignKMS},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			p, scfg, head := stoppedChain(ctx, t)
			refs, err := (&archive.Store{S3: p.S3, Bucket: p.Cfg.Bucket}).Batches(ctx, p.Cfg.Chain)
			if err != nil {
				t.Fatal(err)
			}
			victim := refs[len(refs)-1].Key
			tc.hide(t, p, victim)

			if tc.refused[0] != "" {
				scfg.S3 = s3refuse.Client(t, stack.S3Endpoint, localstack.AccessKey, localstack.SecretKey, victim, tc.refused[0], tc.refused[1])
			}
			rs := startSealer(ctx, t, scfg)
			reg := rs.reg
			if n, found, err := pipeline.MetricValue(reg, "aegis_sealer_rewritten_keys_total", ""); err != nil || !found || n != 1 {
				t.Fatalf("aegis_sealer_rewritten_keys_total %v (found %v, %v), want 1", n, found, err)
			}
			more := pipeline.NewWorkload(p.Cfg.Chain, p.Cfg.Chain, 10, 0, 5, 6, time.Now())
			publish(t, p, more.Events)
			rs.sealTo(ctx, t, head+uint64(len(more.Events)))
			_, err = p.Verify(ctx)
			if !errors.Is(err, replayer.ErrRewritten) || !strings.Contains(err.Error(), victim) {
				t.Fatalf("verify: %v, want the rewritten key %s reported", err, victim)
			}
			// An auditor still proves a decision of the object, from its
			// sealed version, and is told.
			store := &archive.Store{S3: p.S3, Bucket: p.Cfg.Bucket}
			ids, err := store.SealedVersions(ctx, victim)
			if err != nil || len(ids) == 0 {
				t.Fatalf("versions of %s: %v %v", victim, ids, err)
			}
			sealedObj, err := store.Get(ctx, victim, ids[0])
			if err != nil {
				t.Fatal(err)
			}
			first, err := shared.ParseLine(bytes.SplitN(sealedObj.Body, []byte("\n"), 2)[0])
			if err != nil {
				t.Fatal(err)
			}
			var warnings []string
			bundle, _, err := replayer.Prove(ctx, replayer.ProveConfig{S3: p.S3, Bucket: p.Cfg.Bucket, Chain: p.Cfg.Chain, VerifierKey: p.Cfg.VerifierKey,
				Warn: func(w string) { warnings = append(warnings, w) }}, first.DecisionID(), []replayer.EntryRef{{Seq: first.Seq, Object: victim, Line: 1}})
			if err != nil || len(bundle) == 0 || len(warnings) != 1 || !strings.Contains(warnings[0], victim) {
				t.Fatalf("prove from the sealed version: %v, warnings %q", err, warnings)
			}
		})
	}
}

// Someone with write access to the bucket writes a locked version of
// their own over the newest checkpoint. Read as current, it made the
// sealer fall back to the checkpoint before it and stop on a chain fork
// at the next batch's key, for as long as that version is locked (found
// reviewing this session's change). The sealer now reads the checkpoint's
// sealed version, and seals on. A delete marker over it (free on S3) did
// the same another way: the start lists current keys, which leave a key
// under a marker out, took the checkpoint before as the head, and the
// sealer stopped at the next batch, at every start (found 2026-11-30).
// Keys past the newest are listed by version too.
func TestSealerSealsOnOverARewrittenNewestCheckpoint(t *testing.T) {
	for _, tc := range []struct {
		name string
		hide func(t *testing.T, p *pipeline.Pipeline, key string)
	}{
		{"a locked version of someone else's", func(t *testing.T, p *pipeline.Pipeline, key string) {
			putVersion(t, p, key, []byte("not a checkpoint\n"), true)
		}},
		{"a delete marker", func(t *testing.T, p *pipeline.Pipeline, key string) {
			if _, err := p.S3.DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: aws.String(p.Cfg.Bucket), Key: aws.String(key)}); err != nil {
				t.Fatal(err)
			}
		}},
		// Keys past the newest current one were all that was listed by
		// version: a file at a checkpoint key far past the head (it need
		// not verify) moved that listing past the marker, and the start
		// took seq 30 as the head again (found by an attack, 2026-11-30).
		{"a delete marker, and a file far past it", func(t *testing.T, p *pipeline.Pipeline, key string) {
			if _, err := p.S3.DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: aws.String(p.Cfg.Bucket), Key: aws.String(key)}); err != nil {
				t.Fatal(err)
			}
			putVersion(t, p, shared.CheckpointKey("audit", p.Cfg.Chain, shared.MaxSafeInteger), []byte("not a checkpoint\n"), true)
		}},
		// Keys under markers are read since: a file and a marker over it
		// past the head failed every start, "not found" (found by an
		// attack, 2026-11-30). The head's checkpoint is left as it is.
		{"a file under a delete marker past it", func(t *testing.T, p *pipeline.Pipeline, _ string) {
			junk := shared.CheckpointKey("audit", p.Cfg.Chain, 1<<40)
			putVersion(t, p, junk, []byte("not a checkpoint\n"), true)
			if _, err := p.S3.DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: aws.String(p.Cfg.Bucket), Key: aws.String(junk)}); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			p, scfg, head := stoppedChain(ctx, t)
			tc.hide(t, p, shared.CheckpointKey("audit", p.Cfg.Chain, head))
			rs := startSealer(ctx, t, scfg)
			s := rs.s
			if got := s.Head().Seq; got != head {
				t.Fatalf("head %d after the start, want %d (the sealed checkpoint's)", got, head)
			}
			more := pipeline.NewWorkload(p.Cfg.Chain, p.Cfg.Chain, 10, 0, 5, 6, time.Now())
			publish(t, p, more.Events)
			rs.sealTo(ctx, t, head+uint64(len(more.Events)))
		})
	}
}

// stoppedChain seals 40 events in batches of 10 and stops the pipeline:
// its sealer's settings, to start one again, and the head sealed.
func stoppedChain(ctx context.Context, t *testing.T) (*pipeline.Pipeline, sealer.Config, uint64) {
	t.Helper()
	var scfg sealer.Config
	p := startPipeline(t, pipeline.Config{Indexers: -1, Sealer: func(c *sealer.Config) { c.BatchMaxRecords = 10; scfg = *c }})
	w := pipeline.NewWorkload(p.Cfg.Chain, p.Cfg.Chain, 40, 0, 5, 6, time.Now())
	publish(t, p, w.Events)
	if err := p.WaitHead(ctx, uint64(len(w.Events))); err != nil {
		t.Fatal(err)
	}
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	return p, scfg, uint64(len(w.Events))
}

// runningSealer is a sealer a test started on its own, its metrics in reg.
type runningSealer struct {
	s    *sealer.Sealer
	reg  *prometheus.Registry
	done chan error
}

// startSealer starts a sealer with scfg and a registry of its own, waits
// until it is ready, and stops it when the test ends.
func startSealer(ctx context.Context, t *testing.T, scfg sealer.Config) *runningSealer {
	t.Helper()
	rs := &runningSealer{reg: prometheus.NewRegistry(), done: make(chan error, 1)}
	scfg.Metrics = rs.reg
	s, err := sealer.New(ctx, scfg)
	if err != nil {
		t.Fatal(err)
	}
	rs.s = s
	runCtx, stop := context.WithCancel(ctx)
	go func() { rs.done <- s.Run(runCtx) }()
	t.Cleanup(func() { stop(); <-rs.done })
	select {
	case <-s.Ready():
	case err := <-rs.done:
		t.Fatalf("the sealer stopped: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("the sealer did not start within 20 s")
	}
	return rs
}

// sealTo waits until the sealer's head reaches want.
func (rs *runningSealer) sealTo(ctx context.Context, t *testing.T, want uint64) {
	t.Helper()
	for rs.s.Head().Seq < want {
		select {
		case err := <-rs.done:
			t.Fatalf("the sealer stopped: %v", err)
		case <-time.After(50 * time.Millisecond):
		}
		if ctx.Err() != nil {
			t.Fatalf("head %d, want %d", rs.s.Head().Seq, want)
		}
	}
}

// A delete marker put at keys the sealer has not written yet, the next
// batch key and the checkpoint keys after the head (free on S3; whoever
// reads the topic and the head can name them), never stops the sealer.
// versitygw keeps no marker for a key that has no version (a probe:
// DeleteObject there, then ListObjectVersions lists none), so here the
// sealer writes as ever and verify passes; where a server keeps one and
// refuses the conditional PUT over it, the sealer writes past it and
// verify reports the key (TestDeleteMarkersAheadOfTheSealerDoNotStopIt in
// the sealer package, on the in-memory S3, which keeps them).
func TestDeleteMarkersAheadOfTheSealerDoNotStopIt(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p, scfg, head := stoppedChain(ctx, t)
	ahead := []string{shared.BatchKey("audit", &shared.Entry{Chain: p.Cfg.Chain, Seq: head + 1, Source: &shared.Source{Timestamp: time.Now()}})}
	for seq := head + 1; seq <= head+10; seq++ {
		ahead = append(ahead, shared.CheckpointKey("audit", p.Cfg.Chain, seq))
	}
	for _, key := range ahead {
		if _, err := p.S3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(p.Cfg.Bucket), Key: aws.String(key)}); err != nil {
			t.Fatal(err)
		}
	}
	rs := startSealer(ctx, t, scfg)
	more := pipeline.NewWorkload(p.Cfg.Chain, p.Cfg.Chain, 10, 0, 5, 6, time.Now())
	publish(t, p, more.Events)
	rs.sealTo(ctx, t, head+uint64(len(more.Events)))
	if _, err := p.Verify(ctx); err != nil && !errors.Is(err, replayer.ErrRewritten) {
		t.Fatalf("verify: %v", err)
	}
}
