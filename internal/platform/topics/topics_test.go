package topics

import (
	"context"
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// docs/SECURITY.md section 3 grants each role Read or Write and Describe
// on its topics and no Create ("the roles create a missing topic only
// where they are allowed to"). Kafka answers a CreateTopics of an
// existing topic by a principal without Create with
// TOPIC_AUTHORIZATION_FAILED, not TOPIC_ALREADY_EXISTS: Ensure, which
// asks to create the topic at every start, failed there, and the sealer
// stopped on it (a permanent error) under the documented ACLs.
func TestEnsureTakesAnExistingTopicItMayNotCreate(t *testing.T) {
	describe := func(topic string) kfake.ACL {
		return kfake.ACL{Resource: kmsg.ACLResourceTypeTopic, Name: topic, Pattern: kmsg.ACLResourcePatternTypeLiteral,
			Operation: kmsg.ACLOperationDescribe, Allow: true}
	}
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "decisions"), kfake.SeedTopics(6, "sealed"),
		kfake.EnableSASL(), kfake.EnableACLs(), kfake.Superuser("SCRAM-SHA-256", "admin", "admin-secret"),
		kfake.User("SCRAM-SHA-256", "sealer", "sealer-secret", describe("decisions"), describe("sealed")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...),
		kgo.SASL(scram.Auth{User: "sealer", Pass: "sealer-secret"}.AsSha256Mechanism()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	ctx := context.Background()
	if err := EnsureSingle(ctx, cl, "decisions"); err != nil {
		t.Errorf("the decisions topic, which exists: %v", err)
	}
	if n, err := Ensure(ctx, cl, "sealed", 6); err != nil || n != 6 {
		t.Errorf("the sealed topic, which exists: %d partitions, %v", n, err)
	}
	// A topic that is missing and may not be created is still an error,
	// naming the missing topic.
	if _, err := Ensure(ctx, cl, "missing", 1); !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Errorf("a missing topic it may not create: %v, want %v", err, kerr.TopicAuthorizationFailed)
	}
}
