package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/aegisai/audit/indexer"
	"github.com/aegisai/audit/indexer/layout"
	"github.com/aegisai/audit/internal/testbed/pipeline"
	"github.com/aegisai/audit/replayer"
	"github.com/aegisai/audit/sealer"
)

// Issue 6 (index check's memory): a check whose item keys spill to disk
// (chunks of 3 keys, on both sides, against the real S3 and DynamoDB)
// finds exactly what the check in memory finds: a deleted item, an altered
// one, and forged items at the edges of the chain's seq range (seq 1 and
// the head) and at seq 0 (the genesis's, which no one indexes), and one
// past the head: passed over before (an entry sealed since the listing
// could be there), extra now that S3's signed head, read after the item
// was seen, is below it (the indexer indexes only what a checkpoint in S3
// signs: TestAnIndexPastARestoredBucketsHead); each streamed as it is
// found, while
// the runs sit in the private scratch folder, which is gone afterwards.
// rebuild --only-missing with the same chunks mends what it found, each
// item listed as it is mended.
func TestCheckSpillsToDiskThroughTheRealServers(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p := startPipeline(t, pipeline.Config{Indexers: 1, Sealer: func(c *sealer.Config) { c.BatchMaxRecords = 10 }})
	w := pipeline.NewWorkload(p.Cfg.Chain, p.Cfg.Chain, 40, 10, 5, 66, time.Now())
	publish(t, p, w.Events)
	head := uint64(len(w.Events))
	if err := p.WaitHead(ctx, head); err != nil {
		t.Fatal(err)
	}
	if err := p.WaitIndexed(ctx); err != nil {
		t.Fatal(err)
	}
	db, table := p.DynamoDB, p.Cfg.Table
	item := func(id string) layout.Decision {
		part, err := layout.LoadDecision(ctx, db, table, id)
		if err != nil || len(part.Decisions) != 1 {
			t.Fatalf("decision %s: %+v %v", id, part, err)
		}
		return part.Decisions[0]
	}
	keyOf := func(pk, sk string) map[string]types.AttributeValue {
		return map[string]types.AttributeValue{"PK": &types.AttributeValueMemberS{Value: pk}, "SK": &types.AttributeValueMemberS{Value: sk}}
	}
	deleted, altered := item(w.Decisions[2].Decision.DecisionID), item(w.Decisions[7].Decision.DecisionID)
	if _, err := db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(table), Key: keyOf(deleted.PK, deleted.SK)}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(table), Key: keyOf(altered.PK, altered.SK),
		UpdateExpression:          aws.String("SET confidence_score = :s"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":s": &types.AttributeValueMemberN{Value: "0.01"}}}); err != nil {
		t.Fatal(err)
	}
	genuine := item(w.Decisions[11].Decision.DecisionID)
	forge := func(seq uint64) {
		f := genuine
		f.SK += fmt.Sprintf("-forged-at-%d", seq)
		f.Seq = seq
		av, err := attributevalue.MarshalMap(f)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: av}); err != nil {
			t.Fatal(err)
		}
	}
	forge(1)        // the range's low edge: the first entry after the genesis
	forge(head)     // its high edge
	forge(0)        // the genesis entry's seq: in no batch object, and indexed by no one
	forge(head + 1) // past S3's signed head: S3 lacks it (an item the indexer cannot have written)
	want := []string{fmt.Sprintf("different@%d", altered.Seq), "extra@0", "extra@1", fmt.Sprintf("extra@%d", head), fmt.Sprintf("extra@%d", head+1), fmt.Sprintf("missing@%d", deleted.Seq)}
	sort.Strings(want)

	kinds := func(ds []indexer.Difference) []string {
		var out []string
		for _, d := range ds {
			out = append(out, fmt.Sprintf("%s@%d", d.Kind, d.Seq))
		}
		sort.Strings(out)
		return out
	}
	base := replayer.RebuildConfig{S3: p.S3, Bucket: p.Cfg.Bucket, Chain: p.Cfg.Chain, VerifierKey: p.Cfg.VerifierKey,
		Index: &indexer.Index{DB: db, Table: table}}
	check := func(keysInMemory int) []string {
		t.Helper()
		tmp := t.TempDir()
		cfg := base
		cfg.KeysInMemory, cfg.TempDir = keysInMemory, tmp
		var streamed []indexer.Difference
		var spilled []string
		var extra bool
		cfg.OnDifference = func(d indexer.Difference) error {
			streamed = append(streamed, d)
			if d.Kind == "extra" && !extra {
				extra = true
				files, _ := filepath.Glob(filepath.Join(tmp, "aegis-check-*", "*"))
				for _, f := range files {
					if filepath.Base(f) != "lock" { // the folder's lock is there from the start
						spilled = append(spilled, f)
					}
				}
			}
			return nil
		}
		rep, err := replayer.Check(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if got := kinds(streamed); fmt.Sprint(got) != fmt.Sprint(kinds(rep.Differences)) || rep.DifferenceCount() != uint64(len(got)) {
			t.Fatalf("%d keys in memory: streamed %v, reported %v (%d counted)", keysInMemory, got, kinds(rep.Differences), rep.DifferenceCount())
		}
		if spill := keysInMemory > 0 && keysInMemory < 10; extra && spill != (len(spilled) > 0) {
			t.Fatalf("%d keys in memory: runs in the scratch folder while extra items were named: %v, want them: %v", keysInMemory, spilled, spill)
		}
		if left, _ := os.ReadDir(tmp); len(left) != 0 {
			t.Fatalf("%d keys in memory: left in the temp dir: %v", keysInMemory, left)
		}
		return kinds(streamed)
	}
	if got := check(3); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("check spilled to disk found %v, want %v", got, want)
	}
	if got := check(0); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("check in memory found %v, want %v", got, want)
	}

	mend := base
	mend.OnlyMissing, mend.KeysInMemory, mend.TempDir = true, 3, t.TempDir()
	var mended []indexer.Difference
	mend.OnDifference = func(d indexer.Difference) error {
		mended = append(mended, d)
		return nil
	}
	rep, err := replayer.Rebuild(ctx, mend)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(kinds(mended)) != fmt.Sprint(want) || rep.Missing != 1 || rep.Different != 1 || rep.Extra != 4 {
		t.Fatalf("rebuild --only-missing mended %v (report %d missing, %d different, %d extra), want %v", kinds(mended), rep.Missing, rep.Different, rep.Extra, want)
	}
	if got := check(3); len(got) != 0 {
		t.Fatalf("after the mend, check found %v", got)
	}
}
