package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/aegisai/audit/archive"
	"github.com/aegisai/audit/internal/testbed/pipeline"
	"github.com/aegisai/audit/replayer"
	"github.com/aegisai/audit/shared"
)

// Attack (trial 32, item 5): verify-receipt warns when the receipt's
// version_id is not a version holding its entry (README, "Recording a
// decision": "a receipt whose version_id is not a version holding the
// entry at its line is verified with a warning saying so"). A version id
// S3 does not take as one (any text: the receipt is the holder's file),
// and the version id of a delete marker the bucket writer put over the
// sealed object, are not versions holding the entry either.
func TestAttack32ReceiptNamingNoVersionIsWarnedOf(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p := startPipeline(t, pipeline.Config{Indexers: -1})
	w := pipeline.NewWorkload(p.Cfg.Chain, p.Cfg.Chain, 3, 0, 2, 32, time.Now())
	publish(t, p, w.Events)
	if err := p.WaitHead(ctx, uint64(len(w.Events))); err != nil {
		t.Fatal(err)
	}
	store := &archive.Store{S3: p.S3, Bucket: p.Cfg.Bucket}
	var key string
	var entries []*shared.Entry
	out, err := p.S3.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(p.Cfg.Bucket), Prefix: aws.String("audit/")})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range out.Contents {
		info, err := shared.ParseBatchKey("audit", aws.ToString(o.Key))
		if err != nil || info.FirstSeq != 1 {
			continue
		}
		obj, err := store.Get(ctx, aws.ToString(o.Key), "")
		if err != nil {
			t.Fatal(err)
		}
		if entries, _, err = shared.ParseObject(obj.Key, 1, obj.Body); err != nil {
			t.Fatal(err)
		}
		key = obj.Key
	}
	if key == "" {
		t.Fatal("no object at seq 1")
	}
	e := entries[0]
	env, _ := e.Envelope()
	receipt := func(version string) *shared.Receipt {
		return &shared.Receipt{EventID: env.EventID, DecisionID: env.DecisionID(), Durability: shared.DurabilitySealed, Chain: p.Cfg.Chain,
			Seq: e.Seq, EntryHash: e.Hash.String(), Object: key, VersionID: version, Line: 1, CheckpointSeq: entries[len(entries)-1].Seq}
	}
	check := func(what, version string, warned bool) {
		t.Helper()
		var warnings []string
		cfg := replayer.ProveConfig{S3: p.S3, Bucket: p.Cfg.Bucket, Chain: p.Cfg.Chain, VerifierKey: p.Cfg.VerifierKey,
			Warn: func(s string) { warnings = append(warnings, s) }}
		if _, _, err := replayer.VerifyReceipt(ctx, cfg, receipt(version)); err != nil {
			t.Errorf("%s: %v", what, err)
			return
		}
		if got := len(warnings) > 0 && strings.Contains(strings.Join(warnings, " "), "the entry was proved from the sealed version"); got != warned {
			t.Errorf("%s (version_id %q): warned %v (%q), want %v", what, version, got, warnings, warned)
		}
	}
	sealed, err := store.Get(ctx, key, "")
	if err != nil {
		t.Fatal(err)
	}
	check("the sealed version", sealed.VersionID, false)
	check("no version", "", false)
	check("a version id S3 does not take as one", "not-a-version-id", true)
	marker, err := p.S3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(p.Cfg.Bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatal(err)
	}
	check("a delete marker's version id", aws.ToString(marker.VersionId), true)
}
