package layout

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// DecodeDecision and DecodeOverride read back exactly what
// attributevalue.MarshalMap wrote (the indexer's items), as
// attributevalue.UnmarshalMap does, and refuse attributes of another type,
// naming them.
func TestDecodeMatchesAttributeValue(t *testing.T) {
	at := time.Date(2026, 11, 27, 10, 0, 0, 123456789, time.UTC)
	decisions := []Decision{
		{},
		{PK: DecisionPK("d"), SK: SKDecision + SortTime(at) + "#e", GSI1PK: UserPK("u"), GSI1SK: ViewSortKey(at, 7),
			GSI2PK: SessionPK("s"), GSI2SK: ViewSortKey(at, 7), DecisionID: "d", EventID: "e", Environment: "prod", OccurredAt: at,
			Action: "BLOCK", ConfidenceScore: 0.123456789, PolicyVersion: "p", UserID: "u", SessionID: "s", Metadata: `{"a":[1,"é"]}`,
			CurrentAction: "ALLOW", CurrentSeq: 1<<63 + 5, CurrentSK: SKOverride + SortTime(at) + "#o", Proof: Proof{Seq: 7, Hash: "ab", Object: "audit/x", VersionID: "v1", Line: 1 << 40}},
		{DecisionID: "no metadata, no version", OccurredAt: at.Truncate(time.Second), ConfidenceScore: 1, Proof: Proof{Seq: 1, Line: 1}},
	}
	for i, want := range decisions {
		av, err := attributevalue.MarshalMap(want)
		if err != nil {
			t.Fatal(err)
		}
		var viaReflection Decision
		if err := attributevalue.UnmarshalMap(av, &viaReflection); err != nil {
			t.Fatal(err)
		}
		got, err := DecodeDecision(av)
		if err != nil || !reflect.DeepEqual(got, viaReflection) {
			t.Fatalf("decision %d: %v\n got  %+v\n want %+v", i, err, got, viaReflection)
		}
	}
	o := Override{PK: DecisionPK("d"), SK: SKOverride + SortTime(at) + "#o", DecisionID: "d", EventID: "o", Environment: "prod", OccurredAt: at,
		ReviewerID: "r", NewAction: "ALLOW", Reason: "checked", Proof: Proof{Seq: 9, Hash: "cd", Object: "audit/y", Line: 3}}
	av, err := attributevalue.MarshalMap(o)
	if err != nil {
		t.Fatal(err)
	}
	var viaReflection Override
	if err := attributevalue.UnmarshalMap(av, &viaReflection); err != nil {
		t.Fatal(err)
	}
	if got, err := DecodeOverride(av); err != nil || !reflect.DeepEqual(got, viaReflection) {
		t.Fatalf("override: %v\n got  %+v\n want %+v", err, got, viaReflection)
	}

	bad := map[string]types.AttributeValue{
		"seq":              &types.AttributeValueMemberS{Value: "7"},
		"current_seq":      &types.AttributeValueMemberN{Value: "-1"},
		"confidence_score": &types.AttributeValueMemberN{Value: "x"},
		"occurred_at":      &types.AttributeValueMemberS{Value: "yesterday"},
		"action":           &types.AttributeValueMemberN{Value: "1"},
		"s3_line":          &types.AttributeValueMemberN{Value: "1.5"},
		"user_id":          &types.AttributeValueMemberBOOL{Value: true},
	}
	for name, v := range bad {
		av, _ := attributevalue.MarshalMap(decisions[1])
		av[name] = v
		if _, err := DecodeDecision(av); err == nil || !strings.Contains(err.Error(), "attribute "+name+":") {
			t.Errorf("%s = %v: error %v, want one naming the attribute", name, v, err)
		}
	}
	av["reason"] = &types.AttributeValueMemberNULL{Value: true}
	if got, err := DecodeOverride(av); err != nil || got.Reason != "" {
		t.Fatalf("a NULL attribute: %+v %v, want it zero", got, err)
	}
}
