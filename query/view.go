package query

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/aegisai/audit/indexer/layout"
)

// ByUser returns a page of a user's decisions (GSI1), newest first.
func (r *Reader) ByUser(ctx context.Context, userID string, rg Range) (Page, error) {
	if err := checkID("user_id", userID); err != nil {
		return Page{}, err
	}
	return r.view(ctx, view{index: layout.GSI1, pkAttr: layout.AttrGSI1PK, skAttr: layout.AttrGSI1SK, pk: layout.UserPK(userID)}, rg)
}

// BySession returns a page of a session's decisions (GSI2), newest first.
func (r *Reader) BySession(ctx context.Context, sessionID string, rg Range) (Page, error) {
	if err := checkID("session_id", sessionID); err != nil {
		return Page{}, err
	}
	return r.view(ctx, view{index: layout.GSI2, pkAttr: layout.AttrGSI2PK, skAttr: layout.AttrGSI2SK, pk: layout.SessionPK(sessionID)}, rg)
}

type view struct{ index, pkAttr, skAttr, pk string }

// bounds are the sort keys of a range: [lo, hi) as strings. A view sort
// key is "<time>#<seq>", so "<since>" sorts before every key at since and
// "<until>" before every key at until.
func (rg Range) bounds() (lo, hi string) {
	lo, hi = "0", "~" // every key starts with a digit; "~" sorts after them
	if !rg.Since.IsZero() {
		lo = layout.SortTime(rg.Since)
	}
	if !rg.Until.IsZero() {
		hi = layout.SortTime(rg.Until)
	}
	return lo, hi
}

func (rg Range) check() (int, error) {
	limit := rg.Limit
	switch {
	case limit == 0:
		limit = DefaultLimit
	case limit < 0 || limit > MaxLimit:
		return 0, &ParamError{Field: "limit", Reason: fmt.Sprintf("must be 1 to %d", MaxLimit)}
	}
	if !rg.Since.IsZero() && !rg.Until.IsZero() && !rg.Since.Before(rg.Until) {
		return 0, &ParamError{Field: "until", Reason: "must be after since"}
	}
	if outOfRange(rg.Since) {
		return 0, &ParamError{Field: "since", Reason: "must be in the years 0000 to 9999"}
	}
	if outOfRange(rg.Until) {
		return 0, &ParamError{Field: "until", Reason: "must be in the years 0000 to 9999"}
	}
	return limit, nil
}

// outOfRange: a time sort keys cannot hold (they have 4-digit years).
func outOfRange(t time.Time) bool {
	y := t.UTC().Year()
	return !t.IsZero() && (y < 0 || y > 9999)
}

// filteredStep is how many items a Query reads after the first one of a
// page that the chain filter left short (DynamoDB's 1 MB answer may stop
// it before).
const filteredStep = 1000

// view reads one page. It asks for one item more than the page holds, so
// that the last page says so (no empty page after a full one); with a
// chain filter it reads on until the page is full or the view ends,
// filteredStep items a Query.
func (r *Reader) view(ctx context.Context, v view, rg Range) (Page, error) {
	limit, err := rg.check()
	if err != nil {
		return Page{}, err
	}
	lo, hi := rg.bounds()
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(r.Table),
		IndexName:                 aws.String(v.index),
		KeyConditionExpression:    aws.String("#pk = :pk AND #sk BETWEEN :lo AND :hi"),
		ExpressionAttributeNames:  map[string]string{"#pk": v.pkAttr, "#sk": v.skAttr},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(v.pk), ":lo": str(lo), ":hi": str(hi)},
		ScanIndexForward:          aws.Bool(false),
		Limit:                     aws.Int32(int32(limit + 1)),
	}
	if r.Chain != "" {
		in.FilterExpression = aws.String("#env = :env")
		in.ExpressionAttributeNames["#env"] = "environment"
		in.ExpressionAttributeValues[":env"] = str(r.Chain)
	}
	if rg.Cursor != "" {
		c, err := decodeCursor(rg.Cursor, v, lo, hi)
		if err != nil {
			return Page{}, err
		}
		in.ExclusiveStartKey = c.key(v)
	}
	var items []layout.Decision
	for {
		out, err := r.DB.Query(ctx, in)
		if err != nil {
			return Page{}, fmt.Errorf("query %s %s: %w", v.index, v.pk, err)
		}
		for _, it := range out.Items {
			d, err := layout.DecodeDecision(it)
			if err != nil {
				return Page{}, fmt.Errorf("decode %s page of %s: %w", v.index, v.pk, err)
			}
			items = append(items, d)
		}
		if len(items) > limit || len(out.LastEvaluatedKey) == 0 {
			break
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
		// Only the chain filter leaves a read short of the page: the items
		// it skipped are other chains', as many as their producers chose
		// to write for this user or session. Read on in large steps, not a
		// page's worth at a time (a page of limit 1 cost a Query per two
		// items skipped).
		in.Limit = aws.Int32(max(int32(limit+1), filteredStep))
	}
	page := Page{Decisions: []Decision{}}
	for i, d := range items {
		if i == limit {
			page.Next = encodeCursor(items[limit-1], v)
			break
		}
		page.Decisions = append(page.Decisions, decisionOf(d))
	}
	return page, nil
}

// cursor is the last item of a page: its table key and view key, which
// DynamoDB needs to start after it.
type cursor struct {
	V  int    `json:"v"`
	PK string `json:"pk"`
	SK string `json:"sk"`
	VP string `json:"vp"`
	VS string `json:"vs"`
}

const cursorVersion = 1

func encodeCursor(d layout.Decision, v view) string {
	c := cursor{V: cursorVersion, PK: d.PK, SK: d.SK, VP: v.pk, VS: d.GSI1SK}
	if v.index == layout.GSI2 {
		c.VS = d.GSI2SK
	}
	b, _ := json.Marshal(c) // strings only: cannot fail
	return base64.RawURLEncoding.EncodeToString(b)
}

func (c cursor) key(v view) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		layout.AttrPK: str(c.PK), layout.AttrSK: str(c.SK), v.pkAttr: str(c.VP), v.skAttr: str(c.VS),
	}
}

// viewKey is a view sort key: a sort time, "#", a 20-digit seq.
var viewKey = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z#\d{20}$`)

// maxCursor bounds a cursor's length: four keys of ids of at most 256
// bytes, base64-encoded, fit well within it.
const maxCursor = 4096

// decodeCursor reads a cursor and checks that it belongs to view v and the
// range [lo, hi): it names a decision item of this user or session within
// the range. Anything else is a *ParamError.
func decodeCursor(s string, v view, lo, hi string) (cursor, error) {
	bad := func(reason string) (cursor, error) { return cursor{}, &ParamError{Field: "cursor", Reason: reason} }
	var c cursor
	if err := unwrapCursor(s, &c); err != nil {
		return c, err
	}
	if c.V != cursorVersion {
		return bad("not a cursor of this service")
	}
	id, ok := strings.CutPrefix(c.PK, layout.PKDecision)
	switch {
	case !ok || checkID("cursor", id) != nil || !strings.HasPrefix(c.SK, layout.SKDecision) || len(c.SK) > 1024:
		return bad("not a cursor of this service")
	case c.VP != v.pk:
		return bad("from another query (another view, user or session)")
	case !viewKey.MatchString(c.VS):
		return bad("not a cursor of this service")
	case c.VS < lo || c.VS >= hi:
		return bad("outside the query's since/until range")
	}
	return c, nil
}

// unwrapCursor reads an opaque cursor into c (a pointer to a cursor
// struct): one JSON object of c's fields, base64-encoded, at most
// maxCursor bytes. Anything else is a *ParamError.
func unwrapCursor(s string, c any) error {
	if len(s) > maxCursor {
		return &ParamError{Field: "cursor", Reason: "too long"}
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return &ParamError{Field: "cursor", Reason: "not a cursor of this service"}
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(c); err != nil || dec.More() {
		return &ParamError{Field: "cursor", Reason: "not a cursor of this service"}
	}
	return nil
}

func str(s string) types.AttributeValue { return &types.AttributeValueMemberS{Value: s} }
