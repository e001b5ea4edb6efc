// Command chaos is `make chaos`: it starts the local stack, runs the sealer
// and two indexers as separate aegis processes under a steady load, kills
// one of them with SIGKILL at random moments, and reports what survived
// (see internal/testbed/chaos). It exits 1 when anything was lost or
// duplicated, the chain does not verify, or a sealer takeover exceeded the
// bound.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/aegisai/audit/internal/testbed/chaos"
	"github.com/aegisai/audit/internal/testbed/localstack"
)

func main() {
	var o chaos.Options
	flag.IntVar(&o.Kills, "kills", 20, "processes killed with SIGKILL")
	flag.IntVar(&o.Rate, "rate", 1000, "decisions published per second")
	flag.DurationVar(&o.TakeoverBound, "takeover-bound", 2*time.Second, "longest a restarted sealer may take to seal again")
	flag.StringVar(&o.Aegis, "aegis", "", "the aegis binary (default: built from this repository)")
	verbose := flag.Bool("v", false, "show the processes' output")
	flag.Parse()
	o.Log = os.Stdout
	if *verbose {
		o.ProcessLog = os.Stderr
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Minute)
	defer cancel()
	st, err := localstack.Start(ctx, localstack.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "local stack:", err)
		os.Exit(1)
	}
	rep, err := chaos.Run(ctx, st, o)
	st.Close()
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		os.Exit(1)
	}
	fmt.Println(rep)
	if bad := rep.Failed(o.TakeoverBound); bad != "" {
		fmt.Println("FAIL:", bad)
		os.Exit(1)
	}
	fmt.Println("PASS")
}
