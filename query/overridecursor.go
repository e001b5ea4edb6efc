package query

import (
	"encoding/base64"
	"encoding/json"
	"strings"

	"github.com/aegisai/audit/indexer/layout"
)

// overrideCursor is the last override of a page of a decision's
// overrides: the decision it belongs to and the override's sort key.
type overrideCursor struct {
	V  int    `json:"v"`
	D  string `json:"d"`
	SK string `json:"osk"`
}

func encodeOverrideCursor(decisionID, sk string) string {
	b, _ := json.Marshal(overrideCursor{V: cursorVersion, D: decisionID, SK: sk}) // strings only: cannot fail
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodeOverrideCursor reads a cursor of decisionID's overrides and
// returns the sort key to start after: an override's, of this decision.
// Anything else (another decision's cursor, a view's, a forged one) is a
// *ParamError.
func decodeOverrideCursor(s, decisionID string) (string, error) {
	bad := func(reason string) (string, error) { return "", &ParamError{Field: "cursor", Reason: reason} }
	var c overrideCursor
	if err := unwrapCursor(s, &c); err != nil {
		return "", err
	}
	switch {
	case c.V != cursorVersion:
		return bad("not a cursor of this service")
	case !strings.HasPrefix(c.SK, layout.SKOverride) || len(c.SK) > 1024:
		return bad("not a cursor of this service")
	case c.D != decisionID:
		return bad("from another query (another decision)")
	}
	return c.SK, nil
}
