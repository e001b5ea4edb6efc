package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"

	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/aegisai/audit/internal/testbed/chaos"
	"github.com/aegisai/audit/internal/testbed/localstack"
	"github.com/aegisai/audit/internal/testbed/pipeline"
	"github.com/aegisai/audit/query"
	"github.com/aegisai/audit/sealer"
	"github.com/aegisai/audit/shared"
)

func get(url string) (int, string) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// Issue 9: three indexers (separate aegis processes) share a six-partition
// sealed topic; one is killed with SIGKILL mid-run and restarted. Every
// decision and override is in the index exactly once, with the right
// current state; each indexer answers /readyz and reports its consumer lag.
func TestThreeIndexersOneKilled(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	p := startPipeline(t, pipeline.Config{Indexers: -1, Sealer: func(c *sealer.Config) { c.BatchMaxRecords = 500 }})
	w := pipeline.NewWorkload(p.Cfg.Chain, p.Cfg.Chain, 3000, 600, 50, 9, time.Now())
	publish(t, p, w.Events)
	if err := p.WaitSealed(ctx, int64(len(w.Events))); err != nil {
		t.Fatal(err)
	}
	bin, err := chaos.BuildAegis(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	logFile, err := os.CreateTemp(t.TempDir(), "indexers-*.log")
	if err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "AWS_ACCESS_KEY_ID="+localstack.AccessKey, "AWS_SECRET_ACCESS_KEY="+localstack.SecretKey,
		"AEGIS_CHAIN="+p.Cfg.Chain, "AEGIS_BROKERS="+stack.KafkaAddr, "AEGIS_TABLE="+p.Cfg.Table, "AEGIS_SEALED_TOPIC="+p.Cfg.SealedTopic,
		"AEGIS_DYNAMODB_ENDPOINT="+stack.DynamoEndpoint, "AEGIS_LOG_LEVEL=warn")
	var procs []*chaos.Proc
	var addrs []string
	for i := range 3 {
		addr := freeAddr(t)
		pr := &chaos.Proc{Name: fmt.Sprintf("indexer-%d", i), Env: env, Log: logFile,
			Args: []string{bin, "indexer", "--group", "indexer-" + p.Cfg.Table, "--session-timeout", "3s", "--metrics-addr", addr}}
		if err := pr.Start(); err != nil {
			t.Fatal(err)
		}
		defer pr.Kill(syscall.SIGTERM)
		procs, addrs = append(procs, pr), append(addrs, addr)
	}
	dump := func() {
		b, _ := os.ReadFile(logFile.Name())
		t.Logf("indexers' log:\n%s", b)
	}
	// Kill one once the group is indexing (a late decision is in), and
	// restart it.
	late := w.Decisions[len(w.Decisions)/3].Decision.DecisionID
	for {
		if _, err := p.Reader.Decision(ctx, late); err == nil {
			break
		} else if !errors.Is(err, query.ErrNotFound) {
			t.Fatal(err)
		}
		if ctx.Err() != nil {
			dump()
			t.Fatal("nothing indexed")
		}
		time.Sleep(20 * time.Millisecond)
	}
	procs[1].Kill(syscall.SIGKILL)
	if err := procs[1].Start(); err != nil {
		t.Fatal(err)
	}
	if err := p.WaitIndexed(ctx); err != nil {
		dump()
		t.Fatal(err)
	}

	// Exactly once: count every item of the chain's decisions.
	decisions, overrides := map[string]int{}, map[string]int{}
	pager := dynamodb.NewScanPaginator(p.DynamoDB, &dynamodb.ScanInput{TableName: aws.String(p.Cfg.Table)})
	for pager.HasMorePages() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range page.Items {
			var k struct {
				SK      string `dynamodbav:"SK"`
				EventID string `dynamodbav:"event_id"`
			}
			if err := attributevalue.UnmarshalMap(it, &k); err != nil {
				t.Fatal(err)
			}
			switch {
			case strings.HasPrefix(k.SK, "SK#DECISION#"):
				decisions[k.EventID]++
			case strings.HasPrefix(k.SK, "SK#OVERRIDE#"):
				overrides[k.EventID]++
			}
		}
	}
	if len(decisions) != len(w.Decisions) || len(overrides) != len(w.Overrides) {
		t.Fatalf("%d decision items, %d override items; want %d and %d", len(decisions), len(overrides), len(w.Decisions), len(w.Overrides))
	}
	for _, ev := range w.Events {
		n := decisions[ev.EventID] + overrides[ev.EventID]
		if n != 1 {
			t.Fatalf("event %s indexed %d times", ev.EventID, n)
		}
	}
	current := map[string]shared.Action{}
	for _, d := range w.Decisions {
		current[d.Decision.DecisionID] = d.Decision.Action
	}
	for _, o := range w.Overrides {
		current[o.Override.DecisionID] = o.Override.NewAction
	}
	for _, d := range w.Decisions {
		h, err := p.Reader.Decision(ctx, d.Decision.DecisionID)
		if err != nil {
			t.Fatal(err)
		}
		if h.CurrentAction != string(current[d.Decision.DecisionID]) {
			t.Fatalf("decision %s: current %s, want %s", d.Decision.DecisionID, h.CurrentAction, current[d.Decision.DecisionID])
		}
	}

	// Each indexer is ready, and its lag on its partitions drops to zero.
	deadline := time.Now().Add(30 * time.Second)
	for i, addr := range addrs {
		if code, body := get("http://" + addr + "/readyz"); code != 200 {
			t.Fatalf("indexer %d /readyz: %d %s", i, code, body)
		}
		for {
			_, metrics := get("http://" + addr + "/metrics")
			var lags []string
			for _, line := range strings.Split(metrics, "\n") {
				if strings.HasPrefix(line, "aegis_indexer_consumer_lag{") {
					lags = append(lags, line)
				}
			}
			zero := len(lags) > 0
			for _, l := range lags {
				zero = zero && strings.HasSuffix(l, " 0")
			}
			if zero {
				break
			}
			if time.Now().After(deadline) {
				dump()
				t.Fatalf("indexer %d: consumer lag %v, want a series per owned partition, all 0", i, lags)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
}
