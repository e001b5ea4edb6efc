package layout

import (
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// DecodeDecision reads a decision item as attributevalue.UnmarshalMap
// would, without reflection: every lookup decodes up to a page of these,
// and reflection made that the read side's largest cost after the call
// itself (about 35 µs an item). An attribute of the wrong type is an error
// naming it; a missing one is left zero; unknown ones are ignored.
func DecodeDecision(item map[string]types.AttributeValue) (Decision, error) {
	d := decoder{item: item}
	out := Decision{
		PK: d.str(AttrPK), SK: d.str(AttrSK),
		GSI1PK: d.str(AttrGSI1PK), GSI1SK: d.str(AttrGSI1SK), GSI2PK: d.str(AttrGSI2PK), GSI2SK: d.str(AttrGSI2SK),
		DecisionID: d.str("decision_id"), EventID: d.str("event_id"), Environment: d.str("environment"),
		OccurredAt: d.time("occurred_at"), Action: d.str("action"), ConfidenceScore: d.float("confidence_score"),
		PolicyVersion: d.str("policy_version"), UserID: d.str("user_id"), SessionID: d.str("session_id"),
		Metadata: d.str("metadata"), RecordedBy: d.str("recorded_by"), CurrentAction: d.str("current_action"), CurrentSeq: d.uint("current_seq"), CurrentSK: d.str("current_sk"),
		Proof: d.proof(),
	}
	return out, d.err
}

// DecodeOverride reads an override item (see DecodeDecision).
func DecodeOverride(item map[string]types.AttributeValue) (Override, error) {
	d := decoder{item: item}
	out := Override{
		PK: d.str(AttrPK), SK: d.str(AttrSK),
		DecisionID: d.str("decision_id"), EventID: d.str("event_id"), Environment: d.str("environment"),
		OccurredAt: d.time("occurred_at"), ReviewerID: d.str("reviewer_id"), NewAction: d.str("new_action"), Reason: d.str("reason"),
		RecordedBy: d.str("recorded_by"),
		Proof:      d.proof(),
	}
	return out, d.err
}

// decoder reads attributes of one item and keeps the first error.
type decoder struct {
	item map[string]types.AttributeValue
	err  error
}

func (d *decoder) fail(name string, v types.AttributeValue, want string, err error) {
	if d.err == nil {
		d.err = fmt.Errorf("attribute %s: %T is not %s (%v)", name, v, want, err)
	}
}

// value returns the attribute, nil when absent or NULL (left zero).
func (d *decoder) value(name string) types.AttributeValue {
	v := d.item[name]
	if _, null := v.(*types.AttributeValueMemberNULL); null {
		return nil
	}
	return v
}

func (d *decoder) str(name string) string {
	v := d.value(name)
	if v == nil {
		return ""
	}
	if s, ok := v.(*types.AttributeValueMemberS); ok {
		return s.Value
	}
	d.fail(name, v, "a string", nil)
	return ""
}

// number returns a number attribute's text ("" when absent).
func (d *decoder) number(name string) string {
	v := d.value(name)
	if v == nil {
		return ""
	}
	if n, ok := v.(*types.AttributeValueMemberN); ok {
		return n.Value
	}
	d.fail(name, v, "a number", nil)
	return ""
}

func (d *decoder) uint(name string) uint64 {
	s := d.number(name)
	if s == "" {
		return 0
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		d.fail(name, d.item[name], "an unsigned integer", err)
	}
	return n
}

func (d *decoder) int(name string) int {
	s := d.number(name)
	if s == "" {
		return 0
	}
	n, err := strconv.ParseInt(s, 10, strconv.IntSize)
	if err != nil {
		d.fail(name, d.item[name], "an integer", err)
	}
	return int(n)
}

func (d *decoder) float(name string) float64 {
	s := d.number(name)
	if s == "" {
		return 0
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		d.fail(name, d.item[name], "a number", err)
	}
	return f
}

// time reads a time as attributevalue writes it: an RFC 3339 string.
func (d *decoder) time(name string) time.Time {
	s := d.str(name)
	if s == "" {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		d.fail(name, d.item[name], "an RFC 3339 time", err)
	}
	return t
}

func (d *decoder) proof() Proof {
	return Proof{Seq: d.uint("seq"), Hash: d.str("hash"), Object: d.str("s3_key"), VersionID: d.str("s3_version_id"), Line: d.int("s3_line")}
}
