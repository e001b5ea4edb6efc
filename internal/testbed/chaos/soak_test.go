package chaos

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// series is n samples of a process whose goroutines, open files, heap and
// resident memory are given by f(i), with a warm-up: the first tenth
// starts lower (a process filling its pools is not a leak).
func series(n int, f func(i int) Resources) []Resources {
	out := make([]Resources, n)
	for i := range out {
		out[i] = f(i)
		if i < n/10 {
			out[i].Goroutines /= 2
			out[i].HeapInuse /= 2
		}
		out[i].At = time.Duration(i) * 10 * time.Second
	}
	return out
}

func TestGrowthTellsALeakFromNoise(t *testing.T) {
	const mib = 1 << 20
	steady := func(i int) Resources {
		wobble := float64(i%7) - 3 // what a busy process's figures do
		return Resources{Goroutines: 40 + 3*wobble, FDs: 30 + wobble, HeapInuse: (12 + wobble) * mib, RSS: (60 + 2*wobble) * mib}
	}
	if g := Growth(series(180, steady)); len(g) != 0 {
		t.Fatalf("a steady process was judged growing: %v", g)
	}
	for _, c := range []struct {
		name string
		leak func(i int, r *Resources)
	}{
		{"goroutines", func(i int, r *Resources) { r.Goroutines += float64(i) / 2 }},       // one every other sample
		{"open files", func(i int, r *Resources) { r.FDs += float64(i) / 3 }},              // a connection never closed
		{"heap in use", func(i int, r *Resources) { r.HeapInuse += float64(i) * mib / 4 }}, // 256 KiB a sample kept
		{"resident memory", func(i int, r *Resources) { r.RSS += float64(i) * mib / 2 }},
	} {
		g := Growth(series(180, func(i int) Resources { r := steady(i); c.leak(i, &r); return r }))
		if len(g) != 1 || !strings.HasPrefix(g[0], c.name) {
			t.Errorf("a leak of %s was judged %v", c.name, g)
		}
	}
	if g := Growth(series(7, func(i int) Resources { return Resources{Goroutines: float64(100 * i)} })); g != nil {
		t.Errorf("seven samples were judged: %v", g)
	}
}

// Cases the halves-and-peaks judgment got wrong: a burst at one sample
// (dozens of requests in flight, each a goroutine and a socket) is a peak,
// not a level, and must neither hide a leak nor pass for one; a slow
// steady leak shows over the three quarters between the windows. The last
// case, a leak that starts late, the peaks caught too; levels must keep it.
func TestGrowthJudgesLevelsNotPeaks(t *testing.T) {
	const mib = 1 << 20
	steady := func(i int) Resources {
		wobble := float64(i%7) - 3
		return Resources{Goroutines: 40 + 3*wobble, FDs: 30 + wobble, HeapInuse: (12 + wobble) * mib, RSS: (60 + 2*wobble) * mib}
	}
	burst := func(at int, r *Resources, i int) {
		if i == at {
			r.Goroutines += 80
			r.FDs += 80
			r.RSS += 40 * mib
		}
	}
	for _, c := range []struct {
		name string
		f    func(i int, r *Resources)
		want string // the resource judged growing, "" for none
	}{
		{"a burst late in the run", func(i int, r *Resources) { burst(170, r, i) }, ""},
		{"a burst before a goroutine leak", func(i int, r *Resources) { r.Goroutines += float64(i) / 2; burst(60, r, i) }, "goroutines"},
		{"a burst before a file leak", func(i int, r *Resources) { r.FDs += float64(i) / 3; burst(60, r, i) }, "open files"},
		{"a slow goroutine leak", func(i int, r *Resources) { r.Goroutines += float64(i) / 4 }, "goroutines"}, // 90 an hour
		{"a leak from the last fifth on", func(i int, r *Resources) { r.Goroutines += float64(max(0, i-144)) * 2 }, "goroutines"},
	} {
		t.Run(c.name, func(t *testing.T) {
			g := Growth(series(180, func(i int) Resources { r := steady(i); c.f(i, &r); return r }))
			switch {
			case c.want == "" && len(g) != 0:
				t.Errorf("judged growing: %v", g)
			case c.want != "" && (len(g) != 1 || !strings.HasPrefix(g[0], c.want)):
				t.Errorf("want %s judged growing, got %v", c.want, g)
			}
		})
	}
}

func TestSamplesSurviveTheirCSV(t *testing.T) {
	rep := SoakReport{Samples: map[string][]Resources{
		"sealer": {{At: 1500 * time.Millisecond, Goroutines: 27, FDs: 20, HeapInuse: 6e6, RSS: 4.2e7}, {At: 16500 * time.Millisecond, Goroutines: 28, FDs: 21, HeapInuse: 6.5e6, RSS: 4.3e7}},
		"query":  {{At: 0, Goroutines: 11, FDs: 12, HeapInuse: 5e6, RSS: 3e7}},
	}}
	got, err := ReadSamples(strings.NewReader(rep.CSV()))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || !slices.Equal(got["sealer"], rep.Samples["sealer"]) || !slices.Equal(got["query"], rep.Samples["query"]) {
		t.Fatalf("read back %v, wrote %v", got, rep.Samples)
	}
	if _, err := ReadSamples(strings.NewReader("process,seconds\nsealer,1,2,3,4,x\n")); err == nil {
		t.Fatal("a sample that is not a number was read")
	}
}
