package httpapi_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/aegisai/audit/indexer/layout"
	"github.com/aegisai/audit/internal/platform/httpauth"
	"github.com/aegisai/audit/query"
	"github.com/aegisai/audit/query/httpapi"
	"github.com/aegisai/audit/replayer"
)

// everyOverrideDB counts the reads of a decision's every override
// (layout.LatestOverride: the Query of the overrides' range with the
// chain's filter) in flight, and keeps the most seen at once.
type everyOverrideDB struct {
	query.DynamoAPI
	now, most atomic.Int64
}

func (c *everyOverrideDB) Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	sk, _ := in.ExpressionAttributeValues[":sk"].(*types.AttributeValueMemberS)
	if in.FilterExpression != nil && sk != nil && sk.Value == layout.SKOverride {
		n := c.now.Add(1)
		defer c.now.Add(-1)
		for m := c.most.Load(); n > m && !c.most.CompareAndSwap(m, n); m = c.most.Load() {
		}
		time.Sleep(20 * time.Millisecond) // as long as a read of many pages
	}
	return c.DynamoAPI.Query(ctx, in, opts...)
}

// Attack (trial 32, item 2): a proof of a decision with more overrides
// than its page reads every override item of the decision id for the
// latest (query.OverridePage.Latest): a Query per 1 MB of them, other
// chains' overrides of the id included (read, then filtered). Anyone who
// records overrides (of this chain, or of another chain under the same id)
// makes that read as long as they like, and any read token asks for it
// with ?limit=1. That read ran before the proof took one of its MaxProofs
// slots: a token holder's parallel /proof requests made as many of them
// at once as they sent, where every other part of a proof waits its turn
// (README, "Reading the index": at most 8 proofs are built at once).
func TestAttack32ProofsReadEveryOverrideInTheirSlots(t *testing.T) {
	f := setup(t)
	tokens, err := httpauth.Parse(strings.NewReader(fmt.Sprintf("prod %s %s read\n", prodToken, f.p.Cfg.Chain)), "tokens")
	if err != nil {
		t.Fatal(err)
	}
	db := &everyOverrideDB{DynamoAPI: f.p.Reader.DB}
	rd := &query.Reader{DB: db, Table: f.p.Reader.Table, Chain: f.p.Reader.Chain}
	svc, err := httpapi.New(httpapi.Config{Reader: rd, Tokens: tokens, Chain: f.p.Cfg.Chain, VerifierKey: f.p.Cfg.VerifierKey, MaxProofs: 1,
		Evidence: &query.Evidence{Config: replayer.ProveConfig{S3: f.p.S3, Bucket: f.p.Cfg.Bucket, Chain: f.p.Cfg.Chain, VerifierKey: f.p.Cfg.VerifierKey}}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(svc.Handler())
	defer srv.Close()
	var wg sync.WaitGroup
	codes := make([]int, 6)
	for i := range codes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes[i] = call(t, "GET", srv.URL+"/v1/decisions/"+url.PathEscape(f.paged)+"/proof?limit=1", prodToken).status
		}()
	}
	wg.Wait()
	for i, c := range codes {
		if c != 200 {
			t.Fatalf("proof %d: %d", i, c)
		}
	}
	if got := db.most.Load(); got != 1 {
		t.Fatalf("%d reads of every override of %s at once with one proof slot, want 1", got, f.paged)
	}
}
