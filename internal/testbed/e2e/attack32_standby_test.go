package e2e

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/aegisai/audit/archive"
	"github.com/aegisai/audit/internal/testbed/pipeline"
	"github.com/aegisai/audit/sealer"
)

// pausingS3 runs pause once, after the first read of a batch object (the
// head's, which a starting sealer reads after the checkpoints that give
// it its head), before that read's answer is handed back.
type pausingS3 struct {
	archive.S3API
	once  sync.Once
	pause func()
}

func (p *pausingS3) GetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	out, err := p.S3API.GetObject(ctx, in, opts...)
	if k := aws.ToString(in.Key); strings.HasSuffix(k, ".jsonl") && !strings.Contains(k, "checkpoint") {
		p.once.Do(p.pause)
	}
	return out, err
}

// Attack (trial 32, item 4): a standby sealer (README: "a standby takes
// over"; the Kubernetes manifest runs an active and a standby) started
// while the active one seals. It reads the chain's head from S3, then its
// group's committed offset from Kafka, before it joins the group; the
// active sealer seals and commits in between. The standby then finds the
// group committed past the head it read, with records between, and stops
// for good with sealer.ErrCommitPastHead ("restored from an older
// backup?"), whose remedy (rewind-sealer) would seal those records twice
// had the active one not been in the group. The standby must not stop.
func TestAttack32AStandbyStartedWhileTheActiveSealsDoesNotStop(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	active := startPipeline(t, pipeline.Config{Indexers: -1, Sealer: func(c *sealer.Config) { c.BatchMaxRecords = 10 }})
	w := pipeline.NewWorkload(active.Cfg.Chain, active.Cfg.Chain, 30, 0, 5, 73, time.Now())
	publish(t, active, w.Events[:10])
	if err := active.WaitHead(ctx, 10); err != nil {
		t.Fatal(err)
	}
	s3c := &pausingS3{S3API: active.S3, pause: func() {
		publish(t, active, w.Events[10:20])
		if err := active.WaitHead(ctx, 20); err != nil {
			t.Error(err)
		}
		time.Sleep(time.Second) // its transaction commits the offset
	}}
	standby, err := sealer.New(ctx, sealer.Config{
		Brokers: stack.Brokers, Topic: active.Cfg.Topic, SealedTopic: active.Cfg.SealedTopic, Chain: active.Cfg.Chain, Identity: "standby",
		S3: s3c, Bucket: active.Cfg.Bucket, Retention: 24 * time.Hour, SignerKey: active.Cfg.SignerKey, VerifierKey: active.Cfg.VerifierKey,
		BatchMaxAge: 200 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithTimeout(ctx, 15*time.Second)
	defer stop()
	err = standby.Run(runCtx)
	if errors.Is(err, sealer.ErrCommitPastHead) || err != nil {
		t.Fatalf("a standby started while the active sealer sealed: %v", err)
	}
}
