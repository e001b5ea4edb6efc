package layout

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/aegisai/audit/shared"
)

// An INVALID entry sealed before the sealer cut its reasons can hold one
// of any length: a record of 420 KB whose one member name, with no ':'
// after it, its reason quoted whole. Its item was over DynamoDB's 400 KB,
// which refused it for good, and the indexer stopped there (hostile-producer
// attack 33). The item holds at most MaxItemReason bytes of it, cut at a
// character boundary; a reason within that is kept as it is.
func TestInvalidItemOfAHugeReasonFits(t *testing.T) {
	rec := &shared.SealedRecord{Object: "audit/year=2026/month=12/day=01/env=prod/00000000000000000001.jsonl", Line: 1}
	for _, reason := range []string{"not JSON", strings.Repeat("é", 300_000), strings.Repeat("a", MaxItemReason)} {
		e := &shared.Entry{Type: shared.EntryInvalid, Chain: "prod", Seq: 1, Invalid: &shared.Invalid{Reason: reason, Size: 3}}
		item, err := EntryItem(e, rec)
		if err != nil {
			t.Fatal(err)
		}
		got := item.(Invalid).Reason
		if len(got) > MaxItemReason || !utf8.ValidString(got) || !strings.HasPrefix(reason, got) || len(reason) <= MaxItemReason && got != reason {
			t.Fatalf("a reason of %d bytes: the item holds %d bytes (valid UTF-8 %v)", len(reason), len(got), utf8.ValidString(got))
		}
	}
}
