package main

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// retentionValue is --retention: a Go duration ("61362h") or a whole
// number of days or years ("2557d", "7y", a year being 365.25 days: 7y is
// 61362h), since a retention is said in days and years and Go's durations
// stop at hours (the trial found "7y" and "2555d" refused).
type retentionValue struct{ d *time.Duration }

func (r retentionValue) String() string {
	if r.d == nil || *r.d == 0 {
		return ""
	}
	if *r.d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", *r.d/(24*time.Hour))
	}
	return r.d.String()
}

func (r retentionValue) Set(s string) error {
	d, err := parseRetention(s)
	if err != nil {
		return err
	}
	*r.d = d
	return nil
}

func (retentionValue) Type() string { return "duration" }

func parseRetention(s string) (time.Duration, error) {
	for _, u := range []struct {
		suffix string
		unit   time.Duration
	}{{"d", 24 * time.Hour}, {"y", 8766 * time.Hour}} {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			v, err := strconv.ParseUint(n, 10, 32)
			if err != nil || v == 0 {
				return 0, fmt.Errorf("%q: want a whole number of %s (%s), or a Go duration such as 61362h", s, map[string]string{"d": "days", "y": "years"}[u.suffix], "2557d, 7y")
			}
			if v > uint64(math.MaxInt64/u.unit) {
				// time.Duration(v) * u.unit would wrap round: "585y" was
				// about 167 days, "300y" a negative duration.
				return 0, fmt.Errorf("%q is longer than a Go duration holds (at most %d %s)", s, math.MaxInt64/u.unit, map[string]string{"d": "days", "y": "years"}[u.suffix])
			}
			return time.Duration(v) * u.unit, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q: want days (2557d), years (7y) or a Go duration (61362h)", s)
	}
	return d, nil
}
