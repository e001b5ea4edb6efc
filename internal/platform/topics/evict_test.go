package topics

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// evictFixture is a kfake cluster with one topic and a group of live
// consumers, one per client id.
func evictFixture(t *testing.T, group string, clientIDs ...string) (*kfake.Cluster, *kgo.Client, map[string]string) {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, "t"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	admin, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(admin.Close)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	for _, id := range clientIDs {
		cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.ConsumerGroup(group), kgo.ConsumeTopics("t"), kgo.ClientID(id))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cl.Close)
		go func() {
			for ctx.Err() == nil {
				cl.PollFetches(ctx)
			}
		}()
	}
	return c, admin, waitStable(t, admin, group, len(clientIDs))
}

// waitStable waits for the group to be stable with n members and returns
// member id by client id.
func waitStable(t *testing.T, admin *kgo.Client, group string, n int) map[string]string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		d, err := kadm.NewClient(admin).DescribeGroups(context.Background(), group)
		if err != nil {
			t.Fatal(err)
		}
		g := d[group]
		if g.State == "Stable" && len(g.Members) == n {
			ids := map[string]string{}
			for _, m := range g.Members {
				ids[m.ClientID] = m.MemberID
			}
			return ids
		}
		if time.Now().After(deadline) {
			t.Fatalf("group %s: state %s, %d members, want Stable with %d", group, g.State, len(g.Members), n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestEvictClientGroupNotFound(t *testing.T) {
	_, admin, _ := evictFixture(t, "g", "x")
	n, err := EvictClient(context.Background(), admin, "no-such-group", "x")
	if n != 0 || err != nil {
		t.Fatalf("got %d, %v; want 0, nil", n, err)
	}
}

// Only the exact client id is removed: not a longer one that starts with
// it, nor one whose identity holds a '/'.
func TestEvictClientExactMatchOnly(t *testing.T) {
	const g = "g"
	_, admin, before := evictFixture(t, g, "aegis-indexer/g/indexer-1", "aegis-indexer/g/indexer-10", "aegis-indexer/g/indexer-1/x")
	n, err := EvictClient(context.Background(), admin, g, "aegis-indexer/g/indexer-1")
	if n != 1 || err != nil {
		t.Fatalf("got %d, %v; want 1, nil", n, err)
	}
	after := waitStable(t, admin, g, 3)
	for _, id := range []string{"aegis-indexer/g/indexer-10", "aegis-indexer/g/indexer-1/x"} {
		if before[id] != after[id] {
			t.Errorf("%s: member %s became %s: a bystander was removed", id, before[id], after[id])
		}
	}
	if before["aegis-indexer/g/indexer-1"] == after["aegis-indexer/g/indexer-1"] {
		t.Errorf("the evicted member kept its id")
	}
}

// One of two members leaves (or expires) between the describe and the
// leave: the other is removed and counted, and the one already gone is no
// error.
func TestEvictClientPartialLeave(t *testing.T) {
	const g = "g"
	c, admin, _ := evictFixture(t, g, "same", "same", "other")
	removed := make(chan string, 1)
	c.ControlKey(int16(kmsg.LeaveGroup), func(r kmsg.Request) (kmsg.Response, error, bool) {
		req := r.(*kmsg.LeaveGroupRequest)
		if len(req.Members) == 2 {
			removed <- req.Members[0].MemberID
			req.Members[1].MemberID = "gone-meanwhile"
		}
		return nil, nil, false
	})
	n, err := EvictClient(context.Background(), admin, g, "same")
	t.Logf("EvictClient: %d, %v", n, err)
	if err != nil || n != 1 {
		t.Fatalf("got %d, %v", n, err)
	}
	// Yet one member was removed (it rejoins with a new member id, being
	// alive here).
	gone := <-removed
	d, err := kadm.NewClient(admin).DescribeGroups(context.Background(), g)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range d[g].Members {
		if m.MemberID == gone {
			t.Fatalf("member %s is still in the group", gone)
		}
	}
	t.Logf("member %s was removed", gone)
}

// An empty group name is refused by the broker; it does not stand for
// every group (kadm's DescribeGroups with no names lists them all).
func TestEvictClientEmptyGroup(t *testing.T) {
	_, admin, before := evictFixture(t, "g", "x")
	n, err := EvictClient(context.Background(), admin, "", "x")
	t.Logf("EvictClient(group \"\"): %d, %v", n, err)
	if n != 0 {
		t.Fatalf("removed %d", n)
	}
	if after := waitStable(t, admin, "g", 1); after["x"] != before["x"] {
		t.Fatalf("member of group g removed")
	}
}
