package query_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/aegisai/audit/indexer/layout"
	"github.com/aegisai/audit/query"
)

// cannedDB answers every Query with the same items: what the reader does
// beyond the one call the raw SDK makes too.
type cannedDB struct {
	items []map[string]types.AttributeValue
}

func (c cannedDB) Query(context.Context, *dynamodb.QueryInput, ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	return &dynamodb.QueryOutput{Items: c.items, Count: int32(len(c.items))}, nil
}

func cannedItems(b *testing.B, n int) []map[string]types.AttributeValue {
	at := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	var out []map[string]types.AttributeValue
	for i := range n {
		view := layout.ViewSortKey(at, uint64(n-i))
		d := layout.Decision{PK: layout.DecisionPK(fmt.Sprint("d-", i)), SK: layout.SKDecision + layout.SortTime(at) + "#e",
			GSI1PK: layout.UserPK("u"), GSI1SK: view, GSI2PK: layout.SessionPK("s"), GSI2SK: view,
			DecisionID: fmt.Sprint("d-", i), EventID: "e", Environment: "prod", OccurredAt: at, Action: "BLOCK", ConfidenceScore: 0.5,
			PolicyVersion: "p", UserID: "u", SessionID: "s", Metadata: `{"ip_country":"DE"}`, CurrentAction: "BLOCK", CurrentSeq: uint64(n - i),
			Proof: layout.Proof{Seq: uint64(n - i), Hash: "ab12", Object: "audit/x.jsonl", Line: i + 1}}
		av, err := attributevalue.MarshalMap(d)
		if err != nil {
			b.Fatal(err)
		}
		out = append(out, av)
	}
	return out
}

// What package query adds to a lookup beyond the DynamoDB call itself
// (decoding, the page and its cursor), measured without the network:
// `go test -run XXX -bench Reader ./query`.
func BenchmarkReaderDecision(b *testing.B) {
	rd := &query.Reader{DB: cannedDB{items: cannedItems(b, 1)}, Table: "t", Chain: "prod"}
	for b.Loop() {
		if _, err := rd.Decision(context.Background(), "d-0"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReaderUserPage(b *testing.B) {
	rd := &query.Reader{DB: cannedDB{items: cannedItems(b, query.DefaultLimit+1)}, Table: "t", Chain: "prod"}
	for b.Loop() {
		pg, err := rd.ByUser(context.Background(), "u", query.Range{})
		if err != nil || pg.Next == "" {
			b.Fatal(pg.Next, err)
		}
	}
}
