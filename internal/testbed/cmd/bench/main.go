// Command bench is `make bench`: each benchmark runs against the real local
// stack and prints one line
//
//	BENCH name=<id> value=<number> unit=<unit> baseline=<number> ratio=<number>
//
// where baseline is the raw client doing the same work in the same run and
// ratio = value / baseline. `-bench <id>[,<id>...]` runs those.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime/pprof"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/aegisai/audit/internal/testbed/localstack"
)

// result is one benchmark's figures.
type result struct {
	value, baseline float64
	unit            string
}

type benchmark func(ctx context.Context, st *localstack.Stack) (result, error)

var benchmarks = map[string]benchmark{
	"seal_throughput":          sealThroughput,
	"sealer_rss":               sealerRSS,
	"seal_latency_p50":         percentile(0.50),
	"seal_latency_p99":         percentile(0.99),
	"sealer_takeover_sigkill":  sealerTakeover,
	"sealer_start_long_chain":  sealerStartLongChain,
	"standby_takeover_sigkill": standbyTakeover(syscall.SIGKILL),
	"standby_takeover_sigterm": standbyTakeover(syscall.SIGTERM),
	"verify_throughput":        verifyThroughput,
	"verify_rss":               verifyRSS,
	"rebuild_throughput":       rebuildThroughput,
	"discover_one_day":         discoverOneDay,
	"check_rss":                checkRSS,
	"lookup_by_id_p99":         lookupP99("id"),
	"lookup_by_user_p99":       lookupP99("user"),
	"lookup_by_session_p99":    lookupP99("session"),
	"index_throughput":         indexThroughput(1),
	"index_throughput_3":       indexThroughput(3),
}

func main() {
	only := flag.String("bench", "", "run only these benchmarks (comma-separated)")
	records := flag.Int("records", benchRecords, "records pre-loaded for seal_throughput")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	flag.IntVar(&verifyEntries, "verify-entries", verifyEntries, "entries of the chain the verify benchmarks read")
	flag.IntVar(&lookupCount, "lookups", lookupCount, "lookups of each kind the lookup benchmarks time (and as many raw reads)")
	costs := flag.Bool("dynalite-costs", false, "print dynalite's CPU per item for each kind of call the indexer makes, and exit")
	child := flag.String("verify-child", "", "internal: run one verification (bucket,chain,endpoint) and exit")
	flag.IntVar(&checkEntries, "check-entries", checkEntries, "entries of the longer chain check_rss checks (the shorter: a quarter)")
	checkChildRun := flag.Bool("check-child", false, "internal: run one index check (settings from the environment) and exit")
	flag.StringVar(&verifyProfile, "verify-cpuprofile", "", "write a CPU profile of verify_throughput's verification alone")
	flag.Parse()
	if *child != "" {
		verifyChild(*child)
	}
	if *checkChildRun {
		checkChild()
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	benchRecords = *records
	var names []string
	for n := range benchmarks {
		if *only == "" || slices.Contains(strings.Split(*only, ","), n) {
			names = append(names, n)
		}
	}
	if len(names) == 0 && !*costs {
		fmt.Fprintf(os.Stderr, "no benchmark %q\n", *only)
		os.Exit(2)
	}
	sort.Strings(names)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	st, err := localstack.Start(ctx, localstack.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "local stack:", err)
		os.Exit(1)
	}
	defer st.Close()
	if *costs {
		if err := dynaliteCosts(ctx, st); err != nil {
			fmt.Fprintln(os.Stderr, "dynalite costs:", err)
			st.Close()
			os.Exit(1)
		}
		return
	}
	failed := false
	for _, n := range names {
		r, err := benchmarks[n](ctx, st)
		if err != nil {
			fmt.Fprintf(os.Stderr, "benchmark %s: %v\n", n, err)
			failed = true
			continue
		}
		fmt.Printf("BENCH name=%s value=%.1f unit=%s baseline=%.1f ratio=%.3f\n", n, r.value, r.unit, r.baseline, r.value/r.baseline)
	}
	if failed {
		st.Close()
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}
