// Command soak is `make soak`: it starts the local stack, runs every
// long-running role (a sealer, two indexers, ingest, query) as its own
// aegis process under a steady HTTP load for a while, samples each
// process's goroutines, open files and memory from its /metrics, and
// reports whether any of them kept growing and whether everything
// answered 201 was sealed and indexed (see internal/testbed/chaos). It
// exits 1 when a resource grew past its slack or anything was lost.
package main

import (
	"context"
	"flag"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/aegisai/audit/internal/testbed/chaos"
	"github.com/aegisai/audit/internal/testbed/localstack"
)

func main() {
	var o chaos.SoakOptions
	flag.DurationVar(&o.Duration, "duration", 30*time.Minute, "how long the load runs")
	flag.IntVar(&o.Rate, "rate", 200, "decisions sent to ingest per second")
	flag.DurationVar(&o.Every, "every", 10*time.Second, "how often each process is sampled")
	flag.StringVar(&o.Aegis, "aegis", "", "the aegis binary (default: built from this repository)")
	samples := flag.String("samples", "", "also write every sample to this CSV file (process, seconds, goroutines, open files, heap in use, RSS)")
	judge := flag.String("judge", "", "judge the samples of a CSV written by -samples (no run): each process's growth, exit 1 if one grew")
	verbose := flag.Bool("v", false, "show the processes' output")
	flag.Parse()
	if *judge != "" {
		os.Exit(judgeFile(*judge))
	}
	o.Log = os.Stdout
	if *verbose {
		o.ProcessLog = os.Stderr
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.Duration+45*time.Minute)
	defer cancel()
	st, err := localstack.Start(ctx, localstack.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "local stack:", err)
		os.Exit(1)
	}
	rep, err := chaos.Soak(ctx, st, o)
	st.Close()
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
	fmt.Println(rep)
	if *samples != "" {
		if err := os.WriteFile(*samples, []byte(rep.CSV()), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "soak:", err)
			os.Exit(1)
		}
	}
	if bad := rep.Failed(); bad != "" {
		fmt.Println("FAIL:", bad)
		os.Exit(1)
	}
	fmt.Println("PASS")
}

// judgeFile prints chaos.Growth's verdict on each process of a samples
// CSV and returns the exit code.
func judgeFile(name string) int {
	f, err := os.Open(name)
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		return 1
	}
	defer f.Close()
	samples, err := chaos.ReadSamples(f)
	if err != nil {
		fmt.Fprintf(os.Stderr, "soak: %s: %v\n", name, err)
		return 1
	}
	code := 0
	for _, proc := range slices.Sorted(maps.Keys(samples)) {
		grew := chaos.Growth(samples[proc])
		switch {
		case len(samples[proc]) < 8:
			fmt.Printf("%s: %d samples, too few to judge\n", proc, len(samples[proc]))
		case len(grew) == 0:
			fmt.Printf("%s: %d samples, nothing grew\n", proc, len(samples[proc]))
		default:
			fmt.Printf("%s: %s\n", proc, strings.Join(grew, "; "))
			code = 1
		}
	}
	return code
}
