package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/aegisai/audit/indexer/layout"
	"github.com/aegisai/audit/internal/testbed/pipeline"
	"github.com/aegisai/audit/shared"
)

// earlyOverridePipeline seals and indexes a workload in which decision
// w.Decisions[1] (ALLOW) was overridden to BLOCK before it was sealed (the
// override at seq 1), and returns its id, its partition and the flags of
// the aegis commands that read it.
func earlyOverridePipeline(ctx context.Context, t *testing.T, seed int) (*pipeline.Pipeline, string, layout.Partition, []string) {
	t.Helper()
	w := pipeline.NewWorkload("", "", 4, 0, 4, seed, time.Now())
	d := w.Decisions[1]
	d.Decision.Action = shared.ActionAllow
	early := &shared.Envelope{Type: shared.TypeOverride, EventID: "early-ovr", Environment: d.Environment, OccurredAt: d.OccurredAt.Add(time.Minute),
		Override: &shared.Override{DecisionID: d.Decision.DecisionID, ReviewerID: "rev", NewAction: shared.ActionBlock, Reason: "r"}}
	w.Events = append([]*shared.Envelope{early}, w.Events...)
	p, _ := indexedPipeline(ctx, t, 25, w)
	setStackEnv(t)
	pub := writeFile(t, "chain.pub", p.Cfg.VerifierKey)
	flags := []string{"--chain", p.Cfg.Chain, "--bucket", p.Cfg.Bucket, "--table", p.Cfg.Table, "--verifier-key-file", pub}
	target := d.Decision.DecisionID
	part, err := layout.LoadDecision(ctx, p.DynamoDB, p.Cfg.Table, target)
	if err != nil {
		t.Fatal(err)
	}
	if len(part.Decisions) != 1 || len(part.Overrides) != 1 || part.Decisions[0].CurrentAction != "BLOCK" || part.Overrides[0].Seq != 1 {
		t.Fatalf("%s: %+v", target, part)
	}
	return p, target, part, flags
}

// Attack (trial 32, item 1), the upgrade README promises ("Upgrading"):
// a table an indexer before 2026-12-01 wrote holds a decision sealed after
// its override in its own state (its own action and seq, no current_sk).
// index check lists it, get --verify answers the override's state (the
// page raises it), and rebuild --only-missing mends the item, after which
// index check finds nothing. This attack held; the test is coverage.
func TestAttack32AnOlderIndexersStateOfADecisionSealedAfterItsOverrideIsMended(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p, target, part, flags := earlyOverridePipeline(ctx, t, 31)
	d := part.Decisions[0]
	if _, err := p.DynamoDB.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(p.Cfg.Table),
		Key:              map[string]types.AttributeValue{"PK": &types.AttributeValueMemberS{Value: d.PK}, "SK": &types.AttributeValueMemberS{Value: d.SK}},
		UpdateExpression: aws.String("SET current_action = :a, current_seq = :s REMOVE current_sk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":a": &types.AttributeValueMemberS{Value: d.Action},
			":s": &types.AttributeValueMemberN{Value: fmt.Sprint(d.Seq)}}}); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("current state is ALLOW (seq %d), the overrides in the table make it BLOCK (seq 1)", d.Seq)
	if code, out := aegis(t, append([]string{"index", "check"}, flags...)...); code != 1 || !strings.Contains(out, want) {
		t.Fatalf("index check of an older indexer's state: exit %d, want %q:\n%s", code, want, out)
	}
	if code, out := aegis(t, append([]string{"get", target, "--verify"}, flags...)...); code != 0 || !strings.Contains(out, "ALLOW, now BLOCK (by the override at seq 1)") {
		t.Fatalf("get --verify of an older indexer's state: exit %d:\n%s", code, out)
	}
	if code, out := aegis(t, append([]string{"rebuild", "--only-missing"}, flags...)...); code != 0 {
		t.Fatalf("rebuild --only-missing: exit %d:\n%s", code, out)
	}
	if code, out := aegis(t, append([]string{"index", "check"}, flags...)...); code != 0 {
		t.Fatalf("index check after rebuild --only-missing: exit %d:\n%s", code, out)
	}
	after, err := layout.LoadDecision(ctx, p.DynamoDB, p.Cfg.Table, target)
	if err != nil {
		t.Fatal(err)
	}
	if got := after.Decisions[0]; got.CurrentAction != "BLOCK" || got.CurrentSeq != 1 || got.CurrentSK != part.Overrides[0].SK {
		t.Fatalf("mended item: state %s seq %d sk %q", got.CurrentAction, got.CurrentSeq, got.CurrentSK)
	}
}

// Attack (trial 32, item 1): someone who edits the table puts an override
// item of their own under a decision (a copy of its genuine override with
// another sort key, action and seq, the seq of an entry the chain holds)
// and makes it the decision's current state. get --verify fails it, and
// index check lists the added item as extra, but not the decision: its
// state is what the overrides in the table, the added one among them,
// give it. rebuild --only-missing deletes the extra item; the decision's
// state is brought up to date only by a later override, never lowered
// (Index.Delete's reconcile), so the added override's state stays,
// pointing at an item that is gone: rebuild --only-missing exits 0 and the
// index is still wrong (get --verify fails; the next index check lists
// the decision). README ("When things fail": an index item that differs
// from S3) says rebuild --only-missing mends what index check lists.
func TestAttack32RebuildOnlyMissingLeavesTheStateOfAnOverrideItDeleted(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p, target, part, flags := earlyOverridePipeline(ctx, t, 37)
	d, genuine := part.Decisions[0], part.Overrides[0]
	head := p.Sealer.Head().Seq
	forged := genuine
	forged.SK, forged.EventID, forged.NewAction, forged.Seq = genuine.SK+"-added", "added-ovr", "CHALLENGE", head
	item, err := attributevalue.MarshalMap(forged)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.DynamoDB.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(p.Cfg.Table), Item: item}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.DynamoDB.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(p.Cfg.Table),
		Key:              map[string]types.AttributeValue{"PK": &types.AttributeValueMemberS{Value: d.PK}, "SK": &types.AttributeValueMemberS{Value: d.SK}},
		UpdateExpression: aws.String("SET current_action = :a, current_seq = :s, current_sk = :k"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":a": &types.AttributeValueMemberS{Value: forged.NewAction},
			":s": &types.AttributeValueMemberN{Value: fmt.Sprint(forged.Seq)}, ":k": &types.AttributeValueMemberS{Value: forged.SK}}}); err != nil {
		t.Fatal(err)
	}
	if code, out := aegis(t, append([]string{"get", target, "--verify"}, flags...)...); code != 1 || !strings.Contains(out, "NOT VERIFIED") {
		t.Fatalf("get --verify of an added override: exit %d:\n%s", code, out)
	}
	if code, out := aegis(t, append([]string{"index", "check"}, flags...)...); code != 1 || !strings.Contains(out, "extra") {
		t.Fatalf("index check of an added override: exit %d:\n%s", code, out)
	}
	if code, out := aegis(t, append([]string{"rebuild", "--only-missing"}, flags...)...); code != 0 {
		t.Fatalf("rebuild --only-missing: exit %d:\n%s", code, out)
	}
	after, err := layout.LoadDecision(ctx, p.DynamoDB, p.Cfg.Table, target)
	if err != nil {
		t.Fatal(err)
	}
	if got := after.Decisions[0]; got.CurrentAction != "BLOCK" || got.CurrentSeq != genuine.Seq || got.CurrentSK != genuine.SK {
		t.Errorf("after rebuild --only-missing the state is %s (seq %d, current_sk %q), want the genuine override's BLOCK (seq %d)",
			got.CurrentAction, got.CurrentSeq, got.CurrentSK, genuine.Seq)
	}
	if code, out := aegis(t, append([]string{"index", "check"}, flags...)...); code != 0 {
		t.Errorf("index check after rebuild --only-missing: exit %d:\n%s", code, out)
	}
	if code, out := aegis(t, append([]string{"get", target, "--verify"}, flags...)...); code != 0 {
		t.Errorf("get --verify after rebuild --only-missing: exit %d:\n%s", code, out)
	}
}
