package e2e

import (
	"context"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/aegisai/audit/indexer"
	"github.com/aegisai/audit/internal/testbed/chaos"
	"github.com/aegisai/audit/internal/testbed/localstack"
)

// An indexer killed with SIGKILL and started again with its --identity
// removes the group member it left behind before it joins: the group does
// not wait for the dead member's session (45 s by default) to rebalance,
// and on the local Kafka (kfake, which lets a member waiting in a join
// expire, where Kafka does not) a group whose members were killed one after
// another while dead ones waited to expire stopped indexing for good
// (`make chaos`, 20 kills).
func TestIndexerRestartedWithItsIdentityRemovesItsDeadMember(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	bin, err := chaos.BuildAegis(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	group := localstack.Name("indexers")
	env := append(append(os.Environ(), stack.Env()...), "AEGIS_SEALED_TOPIC="+localstack.Name("sealed"),
		"AEGIS_TABLE="+localstack.Name("identity"), "AEGIS_LOG_LEVEL=info", "AEGIS_LOG_FORMAT=json")
	args := []string{"indexer", "--create-table", "--group", group, "--identity", "indexer-a"}
	clientID := indexer.ClientID(group, "indexer-a")

	cl, err := kgo.NewClient(kgo.SeedBrokers(stack.KafkaAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	// members returns the ids of the group's members with clientID, once
	// the group is stable.
	members := func() ([]string, bool) {
		described, err := adm.DescribeGroups(ctx, group)
		if err != nil {
			t.Fatal(err)
		}
		g := described[group]
		var ids []string
		for _, m := range g.Members {
			if m.ClientID == clientID {
				ids = append(ids, m.MemberID)
			}
		}
		return ids, g.State == "Stable"
	}
	// waitFor waits until the stable group's members with clientID are
	// what ok accepts. The dead member's session is 45 s: 30 s is far
	// more than a removal takes and far less than an expiry.
	waitFor := func(what string, r *role, ok func([]string) bool) []string {
		deadline := time.Now().Add(30 * time.Second)
		for {
			ids, stable := members()
			if stable && ok(ids) {
				return ids
			}
			if time.Now().After(deadline) {
				b, _ := os.ReadFile(r.out)
				t.Fatalf("%s: members with client id %s: %v (stable %v)\nindexer's log:\n%s", what, clientID, ids, stable, b)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	first := startRole(t, bin, "indexer-a", env, args...)
	dead := waitFor("the first run joins", first, func(ids []string) bool { return len(ids) == 1 })[0]
	first.stop(syscall.SIGKILL)

	again := startRole(t, bin, "indexer-a-again", env, args...)
	ids := waitFor("the second run joins in the dead one's place", again, func(ids []string) bool {
		return len(ids) == 1 && ids[0] != dead
	})
	log, err := os.ReadFile(again.out)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(log), "removed the group member a previous run of this indexer left behind") {
		t.Fatalf("the second run (member %s) did not say it removed member %s:\n%s", ids[0], dead, log)
	}
}
