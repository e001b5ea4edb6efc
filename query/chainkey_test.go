package query_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/aegisai/audit/indexer"
	"github.com/aegisai/audit/indexer/layout"
	"github.com/aegisai/audit/internal/testbed/pipeline"
	"github.com/aegisai/audit/query"
	"github.com/aegisai/audit/shared"
)

// sealAndIndex seals raw events on chain (from genesis) and indexes them.
func sealAndIndex(t *testing.T, ix *indexer.Index, chain string, raws ...string) {
	t.Helper()
	b := make([][]byte, len(raws))
	for i, r := range raws {
		b[i] = []byte(r)
	}
	entries, recs, err := pipeline.SealInMemory(chain, b, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	batch := make([]indexer.Sealed, len(entries))
	for i := range entries {
		batch[i] = indexer.Sealed{Entry: entries[i], Record: recs[i]}
	}
	if _, err := ix.ApplyBatch(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
}

func decisionOn(chain, eventID, decisionID, action, at string) string {
	return fmt.Sprintf(`{"type":"decision","event_id":%q,"environment":%q,"occurred_at":%q,"decision":{"decision_id":%q,"action":%q,"confidence_score":0.8,"policy_version":"p","user_id":"u","session_id":"s"}}`,
		eventID, chain, at, decisionID, action)
}

func overrideOn(chain, eventID, decisionID, action, at string) string {
	return fmt.Sprintf(`{"type":"override","event_id":%q,"environment":%q,"occurred_at":%q,"override":{"decision_id":%q,"reviewer_id":"r","new_action":%q,"reason":"checked"}}`,
		eventID, chain, at, decisionID, action)
}

// A producer of one chain (a dev token of aegis ingest) sends events that
// carry another chain's decision id, event id and occurred_at, all of
// which a caller chooses. The item keys of the single table hold no
// chain (PK#DECISION#<decision id>, SK#OVERRIDE#<time>#<event id>) while
// the event-id claims are per chain, so the dev event owned its claim and
// its item landed on the prod item's key: a dev override sealed after a
// prod override wrote over it (prod's history lost the override, its
// current state unexplained), and a dev decision sealed before a prod
// decision kept the prod decision out of the index without an anomaly
// (found by an attack on aegis ingest). Now an item of another chain is
// never written over, and the event that finds its key taken is recorded
// as an item-key-taken anomaly of its chain: the first to hold a key keeps
// it (the layout has one item a key).
func TestAnotherChainsEventCannotTakeAnItemsKey(t *testing.T) {
	ctx := context.Background()
	t.Run("override written over", func(t *testing.T) {
		prod := index(t, "prod", nil)
		ix := &indexer.Index{DB: prod.DB.(indexer.DynamoAPI), Table: prod.Table}
		sealAndIndex(t, ix, "prod",
			decisionOn("prod", "e-1", "d1", "BLOCK", at(0)),
			overrideOn("prod", "o-1", "d1", "ALLOW", at(1)))
		sealAndIndex(t, ix, "dev",
			decisionOn("dev", "x-1", "x1", "ALLOW", at(0)),
			overrideOn("dev", "o-1", "d1", "BLOCK", at(1)))
		h, err := prod.Decision(ctx, "d1")
		if err != nil {
			t.Fatal(err)
		}
		if len(h.Overrides) != 1 || h.Overrides[0].NewAction != "ALLOW" || h.CurrentAction != "ALLOW" {
			t.Fatalf("prod's d1 after a dev override with its override's event id and time: %d overrides, current %s (override %+v); want its ALLOW override",
				len(h.Overrides), h.CurrentAction, h.CurrentOverride)
		}
		keyTaken(t, ix, "dev", "o-1")
	})
	t.Run("decision kept out", func(t *testing.T) {
		dev := index(t, "dev", nil)
		ix := &indexer.Index{DB: dev.DB.(indexer.DynamoAPI), Table: dev.Table}
		sealAndIndex(t, ix, "dev", decisionOn("dev", "e-9", "d9", "ALLOW", at(0)))
		sealAndIndex(t, ix, "prod", decisionOn("prod", "e-9", "d9", "BLOCK", at(0)))
		prod := &query.Reader{DB: dev.DB, Table: dev.Table, Chain: "prod"}
		if _, err := prod.Decision(ctx, "d9"); !errors.Is(err, query.ErrNotFound) {
			t.Fatalf("prod's d9, its key held by dev's: %v; want not found (one item a key)", err)
		}
		keyTaken(t, ix, "prod", "e-9")
		if h, err := dev.Decision(ctx, "d9"); err != nil || h.Action != "ALLOW" {
			t.Fatalf("dev's d9: %+v %v; want it as it was", h, err)
		}
	})
	// A table that lost a decision's claim but kept its item (a restore,
	// a hand edit): the decision indexed again finds its own chain's item
	// at its key, not another chain's, and no anomaly is recorded.
	t.Run("own item, claim lost", func(t *testing.T) {
		prod := index(t, "prod", nil)
		ix := &indexer.Index{DB: prod.DB.(indexer.DynamoAPI), Table: prod.Table}
		raw := decisionOn("prod", "e-5", "d5", "BLOCK", at(0))
		sealAndIndex(t, ix, "prod", raw)
		claim := layout.EventClaim("prod", "e-5")
		if _, err := ix.DB.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(ix.Table), Key: map[string]types.AttributeValue{
			"PK": &types.AttributeValueMemberS{Value: claim.PK}, "SK": &types.AttributeValueMemberS{Value: claim.SK}}}); err != nil {
			t.Fatal(err)
		}
		sealAndIndex(t, ix, "prod", raw)
		if as, err := ix.Anomalies(ctx, "prod"); err != nil || len(as) != 0 {
			t.Fatalf("prod's anomalies after its decision was indexed again without its claim: %+v %v; want none", as, err)
		}
	})
}

// keyTaken checks that chain recorded its event eventID as an
// item-key-taken anomaly, and only that one.
func keyTaken(t *testing.T, ix *indexer.Index, chain, eventID string) {
	t.Helper()
	as, err := ix.Anomalies(context.Background(), chain)
	if err != nil {
		t.Fatal(err)
	}
	if len(as) != 1 || as[0].Kind != indexer.AnomalyItemKeyTaken || as[0].EventID != eventID || as[0].Seq == 0 {
		t.Fatalf("%s's anomalies: %+v; want one item-key-taken of event %s", chain, as, eventID)
	}
}

// sealedOn seals raw events on chain (from genesis) and returns them as
// the indexer reads them, genesis left out.
func sealedOn(t *testing.T, chain string, raws ...string) []indexer.Sealed {
	t.Helper()
	b := make([][]byte, len(raws))
	for i, r := range raws {
		b[i] = []byte(r)
	}
	entries, recs, err := pipeline.SealInMemory(chain, b, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var out []indexer.Sealed
	for i := range entries {
		if entries[i].Type == shared.EntryEvent {
			out = append(out, indexer.Sealed{Entry: entries[i], Record: recs[i]})
		}
	}
	return out
}

// The sealed topic is shared by every chain and keyed by decision id, so
// a dev event carrying a prod event's decision id lands on the prod
// event's partition, and one indexer batch may hold both. The batch is
// ordered by seq, which is not comparable across chains (a young dev
// chain's seqs are low), and of two items with one key the batch's
// write keeps the first: a dev event sealed after prod's, on the topic
// after it, took its key, and neither chain recorded an anomaly. The
// first on the topic keeps the key, as it does across batches.
func TestAnotherChainsEventInTheSameBatchCannotTakeAnItemsKey(t *testing.T) {
	ctx := context.Background()
	filler := func(n int) []string {
		var raws []string
		for i := range n {
			raws = append(raws, decisionOn("prod", fmt.Sprintf("f-%d", i), fmt.Sprintf("f%d", i), "ALLOW", at(0)))
		}
		return raws
	}
	t.Run("decision", func(t *testing.T) {
		prod := index(t, "prod", nil)
		ix := &indexer.Index{DB: prod.DB.(indexer.DynamoAPI), Table: prod.Table}
		p := sealedOn(t, "prod", append(filler(3), decisionOn("prod", "e-1", "d1", "BLOCK", at(1)))...)
		d := sealedOn(t, "dev", decisionOn("dev", "e-1", "d1", "ALLOW", at(1)))
		if _, err := ix.ApplyBatch(ctx, append(p[3:], d...)); err != nil {
			t.Fatal(err)
		}
		if h, err := prod.Decision(ctx, "d1"); err != nil || h.Action != "BLOCK" {
			t.Fatalf("prod's d1, indexed in one batch before a dev decision with its ids and time: %+v %v; want it indexed", h, err)
		}
		keyTaken(t, ix, "dev", "e-1")
	})
	t.Run("override", func(t *testing.T) {
		prod := index(t, "prod", nil)
		ix := &indexer.Index{DB: prod.DB.(indexer.DynamoAPI), Table: prod.Table}
		p := sealedOn(t, "prod", append(filler(3), decisionOn("prod", "e-1", "d1", "BLOCK", at(1)), overrideOn("prod", "o-1", "d1", "ALLOW", at(2)))...)
		d := sealedOn(t, "dev", overrideOn("dev", "o-1", "d1", "REVIEW", at(2)))
		if _, err := ix.ApplyBatch(ctx, p[3:4]); err != nil {
			t.Fatal(err)
		}
		if _, err := ix.ApplyBatch(ctx, append(p[4:], d...)); err != nil {
			t.Fatal(err)
		}
		h, err := prod.Decision(ctx, "d1")
		if err != nil {
			t.Fatal(err)
		}
		if len(h.Overrides) != 1 || h.Overrides[0].NewAction != "ALLOW" || h.CurrentAction != "ALLOW" {
			t.Fatalf("prod's d1 after its override and a dev override with its event id and time in one batch: %d overrides %+v, current %s; want its ALLOW override",
				len(h.Overrides), h.Overrides, h.CurrentAction)
		}
		keyTaken(t, ix, "dev", "o-1")
	})
}
