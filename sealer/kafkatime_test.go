package sealer

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// franz-go builds a record's time as time.Unix(0, millis*1e6), overflowing
// beyond 2262; recordTime gets the exact milliseconds back.
func TestRecordTimeUndoesTheOverflow(t *testing.T) {
	for _, ms := range []int64{0, 1, -1, 1764235799987, 9223372036854, 9223372036855, -9223372036855,
		253402300799999, 253402300800000, -62167219200000, -62167219200001, 1<<57 - 1, -(1 << 57)} {
		kgoTime := time.Unix(0, ms*1e6) // what franz-go hands the sealer
		r := &kgo.Record{Timestamp: kgoTime}
		if got := recordTime(r).UnixMilli(); got != ms {
			t.Errorf("%d ms: franz-go says %s, recovered %d", ms, kgoTime.UTC(), got)
		}
	}
	ms := int64(253402300799999)
	if got := recordTime(&kgo.Record{Timestamp: time.Unix(0, ms*1e6)}); got.Format(time.RFC3339Nano) != "9999-12-31T23:59:59.999Z" {
		t.Fatalf("year 9999: %s", got)
	}
}
