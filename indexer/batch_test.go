package indexer

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/aegisai/audit/indexer/layout"
)

// throttlingDB leaves the last item of every BatchWriteItem call
// unprocessed the first time it sees it, as DynamoDB does under throttling.
type throttlingDB struct {
	DynamoAPI
	mu      sync.Mutex // batchPut makes its calls concurrently
	calls   int
	written map[string]int
	seen    map[string]bool
	fail    error
}

func (f *throttlingDB) BatchWriteItem(_ context.Context, in *dynamodb.BatchWriteItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.fail != nil {
		return nil, f.fail
	}
	out := &dynamodb.BatchWriteItemOutput{UnprocessedItems: map[string][]types.WriteRequest{}}
	for table, reqs := range in.RequestItems {
		if len(reqs) > maxBatchWrite {
			return nil, fmt.Errorf("%d items in one call", len(reqs))
		}
		for i, r := range reqs {
			sk := r.PutRequest.Item["SK"].(*types.AttributeValueMemberS).Value
			if i == len(reqs)-1 && !f.seen[sk] {
				f.seen[sk] = true
				out.UnprocessedItems[table] = append(out.UnprocessedItems[table], r)
				continue
			}
			f.written[sk]++
		}
	}
	return out, nil
}

func TestBatchPutRetriesUnprocessedItems(t *testing.T) {
	db := &throttlingDB{written: map[string]int{}, seen: map[string]bool{}}
	x := &Index{DB: db, Table: "t"}
	var items []any
	for i := range 60 {
		items = append(items, layout.Invalid{PK: "PK#INVALID#c", SK: fmt.Sprintf("SK#SEQ#%020d", i)})
	}
	items = append(items, items[7]) // the same item twice: written once
	if err := x.batchPut(context.Background(), items); err != nil {
		t.Fatal(err)
	}
	if len(db.written) != 60 {
		t.Fatalf("%d items written, want 60", len(db.written))
	}
	for sk, n := range db.written {
		if n != 1 {
			t.Fatalf("%s written %d times", sk, n)
		}
	}
	if db.calls != 6 { // 25+25+10, each again for its one unprocessed item
		t.Fatalf("%d calls, want 6", db.calls)
	}
	db.fail = errors.New("boom")
	if err := x.batchPut(context.Background(), items[:1]); err == nil {
		t.Fatal("a failed call was not reported")
	}
}
