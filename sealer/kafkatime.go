package sealer

import (
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/aegisai/audit/shared"
)

// recordTime returns the exact Kafka timestamp of a consumed record.
//
// franz-go (v1.22, pkg/kgo/source.go timeFromMillis) turns the record's
// milliseconds into a time.Time with time.Unix(0, millis*1e6), which
// overflows int64 nanoseconds outside the years 1677 to 2262: a timestamp in
// the year 9999 or 10000 comes out in 1816. The wrapped nanoseconds still
// hold millis*1e6 modulo 2^64, and since 1e6 = 2^6 * 15625 with 15625 odd,
// millis modulo 2^58 is (nanos / 2^6) times the inverse of 15625 modulo
// 2^58. For every timestamp within ±2^57 ms (about ±4.5 million years) that
// is the exact value; beyond that it is the value modulo 2^58, which may
// fall anywhere, today included (FORMAT.md 2.2 says so): franz-go keeps
// nothing more of it.
func recordTime(r *kgo.Record) time.Time {
	return time.UnixMilli(recoverMillis(r.Timestamp.UnixNano())).UTC()
}

// recoverMillis inverts the wrapping multiplication nanos = millis*1e6.
func recoverMillis(nanos int64) int64 {
	const bits = 58
	u := uint64(nanos) >> 6 // millis*15625 mod 2^58
	m := (u * inverse15625) & (1<<bits - 1)
	if m >= 1<<(bits-1) {
		return int64(m) - 1<<bits
	}
	return int64(m)
}

// inverse15625 is the inverse of 15625 modulo 2^64 (Newton's iteration:
// each step doubles the correct low bits).
var inverse15625 = func() uint64 {
	x := uint64(15625) // correct to 3 bits for any odd number
	for range 5 {
		x *= 2 - 15625*x
	}
	return x
}()

func source(r *kgo.Record) shared.Source {
	return shared.Source{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Timestamp: recordTime(r)}
}
