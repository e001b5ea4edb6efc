package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/aegisai/audit/indexer"
)

// hungTable is a DynamoDB that takes every call and never answers.
type hungTable struct{ indexer.DynamoAPI }

func (hungTable) DescribeTable(ctx context.Context, _ *dynamodb.DescribeTableInput, _ ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

// The indexer's /readyz with DynamoDB hung and the broker up names
// DynamoDB alone. Before, the table check used up the probe's time and
// Kafka's ping, asked after it with the same context, failed too: an
// on-call engineer read "kafka: context deadline exceeded" beside it
// (an outside trial froze dynalite with SIGSTOP).
func TestIndexerReadinessBlamesOnlyTheHungDependency(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	kc, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer kc.Close()
	started := make(chan struct{})
	close(started)
	c := &common{table: "aegis-audit"}
	start := time.Now()
	err = c.indexerReadiness(started, hungTable{}, kc)()
	if err == nil || !strings.Contains(err.Error(), "dynamodb:") {
		t.Fatalf("readiness with DynamoDB hung: %v; want it named", err)
	}
	if strings.Contains(err.Error(), "kafka:") {
		t.Fatalf("readiness with DynamoDB hung and the broker up blames Kafka too: %v", err)
	}
	if took := time.Since(start); took > 8*time.Second {
		t.Fatalf("readiness took %s", took)
	}
}
