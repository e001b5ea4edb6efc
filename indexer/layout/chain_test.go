package layout

import (
	"slices"
	"testing"
)

// An override belongs to the chain it was sealed on: its environment, or
// for items written before overrides kept one, the env= segment of its
// object key. A decision of another chain under the same id is not its.
func TestPartitionOfKeepsOneChain(t *testing.T) {
	key := func(chain string) string {
		return "audit/year=2026/month=11/day=27/env=" + chain + "/00000000000000000001.jsonl"
	}
	part := Partition{
		Decisions: []Decision{{DecisionID: "d", Environment: "prod", Proof: Proof{Seq: 1}}, {DecisionID: "d", Environment: "dev", Proof: Proof{Seq: 2}}},
		Overrides: []Override{
			{EventID: "o-prod", Environment: "prod", Proof: Proof{Seq: 3, Object: key("dev")}}, // its own field wins
			{EventID: "o-dev", Environment: "dev", Proof: Proof{Seq: 4}},
			{EventID: "o-old-prod", Proof: Proof{Seq: 5, Object: key("prod")}},
			{EventID: "o-old-env-prefix", Proof: Proof{Seq: 6, Object: "env=prod/x/year=2026/month=11/day=27/env=dev/00000000000000000006.jsonl"}},
			{EventID: "o-no-chain", Proof: Proof{Seq: 7, Object: "audit/x.jsonl"}},
		},
	}
	if got := part.Chains(); !slices.Equal(got, []string{"prod", "dev"}) {
		t.Fatalf("chains %v", got)
	}
	ids := func(p Partition) (ds []string, os []string) {
		for _, d := range p.Decisions {
			ds = append(ds, d.Environment)
		}
		for _, o := range p.Overrides {
			os = append(os, o.EventID)
		}
		return ds, os
	}
	for _, c := range []struct {
		chain     string
		decisions []string
		overrides []string
	}{
		{"prod", []string{"prod"}, []string{"o-prod", "o-old-prod"}},
		{"dev", []string{"dev"}, []string{"o-dev", "o-old-env-prefix"}},
		{"test", nil, nil},
	} {
		ds, os := ids(part.Of(c.chain))
		if !slices.Equal(ds, c.decisions) || !slices.Equal(os, c.overrides) {
			t.Errorf("Of(%s): decisions %v overrides %v, want %v %v", c.chain, ds, os, c.decisions, c.overrides)
		}
		if l := part.Of(c.chain).Latest(); c.overrides != nil && l.EventID != c.overrides[len(c.overrides)-1] {
			t.Errorf("Of(%s).Latest() = %s", c.chain, l.EventID)
		}
	}
}
