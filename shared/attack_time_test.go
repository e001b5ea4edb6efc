package shared

import (
	"math/rand"
	"testing"
	"time"
)

func TestAttackAppendTimeRandom(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	locs := []*time.Location{time.UTC, time.FixedZone("x", -14*3600), time.FixedZone("y", 14*3600+59), time.Local}
	edges := []time.Time{time.Date(-1, 12, 31, 23, 59, 59, 999999999, time.UTC), time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC), time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), {}, time.Unix(1<<62, 0), time.Unix(-1<<62, 0)}
	for i := 0; i < 300000; i++ {
		var tm time.Time
		switch i % 4 {
		case 0:
			tm = time.Unix(r.Int63n(400000000000)-200000000000, r.Int63n(1e9))
		case 1:
			tm = time.UnixMilli(r.Int63())
		case 2:
			tm = edges[r.Intn(len(edges))].Add(time.Duration(r.Int63n(2e9) - 1e9))
		default:
			tm = time.Unix(r.Int63()-1<<62, int64(r.Intn(10))*int64(pow10(r.Intn(9))))
		}
		tm = tm.In(locs[r.Intn(len(locs))])
		got := string(appendTime(nil, tm))
		want := `"` + tm.UTC().Format(time.RFC3339Nano) + `"`
		if got != want {
			t.Fatalf("%v: got %s want %s", tm, got, want)
		}
	}
}

func pow10(n int) int {
	p := 1
	for ; n > 0; n-- {
		p *= 10
	}
	return p
}
