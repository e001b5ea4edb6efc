package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"

	"github.com/aegisai/audit/indexer"
	"github.com/aegisai/audit/indexer/layout"
	"github.com/aegisai/audit/internal/platform/awsconn"
	"github.com/aegisai/audit/internal/testbed/chaos"
	"github.com/aegisai/audit/internal/testbed/localstack"
	"github.com/aegisai/audit/replayer"
)

// checkEntries is the longer chain check_rss checks (the shorter is a
// quarter of it); checkKeysInMemory the chunk of keys it holds.
var checkEntries, checkKeysInMemory = 100_000, 10_000

// checkRSS: peak resident memory of an index check in its own process,
// against versitygw and dynalite, of a table that lost every item (each
// entry a missing item, streamed and not kept), over chains of two
// lengths with the same --keys-in-memory. The figure is the longer
// chain's peak; the baseline is the shorter's, so a ratio near 1 says the
// memory does not grow with the range.
func checkRSS(ctx context.Context, st *localstack.Stack) (result, error) {
	db, err := st.DynamoDB(ctx)
	if err != nil {
		return result{}, err
	}
	var peaks []float64
	for _, n := range []int{checkEntries / 4, checkEntries} {
		bc, err := buildChain(ctx, st, n, 1000, 2)
		if err != nil {
			return result{}, err
		}
		table := localstack.Name("lost")
		if err := layout.EnsureTable(ctx, db, table); err != nil {
			return result{}, err
		}
		self, err := os.Executable()
		if err != nil {
			return result{}, err
		}
		cmd := exec.CommandContext(ctx, self, "-check-child")
		cmd.Env = append(append(os.Environ(), st.Env()...), "AEGIS_BENCH_VKEY="+bc.vkey, "AEGIS_BUCKET="+bc.bucket, "AEGIS_CHAIN="+bc.chain,
			"AEGIS_TABLE="+table, "AEGIS_KEYS_IN_MEMORY="+strconv.Itoa(checkKeysInMemory))
		cmd.Stderr = os.Stderr
		out, err := cmd.Output()
		if err != nil {
			return result{}, fmt.Errorf("check child: %v: %s", err, out)
		}
		var entries, missing uint64
		var peak float64
		if _, err := fmt.Sscanf(string(out), "%d %d %f", &entries, &missing, &peak); err != nil || entries != uint64(n) || missing != uint64(n) {
			return result{}, fmt.Errorf("check child: %q: want %d entries checked, each item missing, and the peak RSS", out, n)
		}
		fmt.Printf("check_rss: %d entries, %d keys in memory: peak %.1f MiB\n", n, checkKeysInMemory, peak)
		peaks = append(peaks, peak)
	}
	return result{value: peaks[1], baseline: peaks[0], unit: "MiB"}, nil
}

// checkChild runs one index check for checkRSS (settings from the
// environment checkRSS gives it), prints the entries checked, the
// differences found and its peak RSS, and exits.
func checkChild() {
	ctx := context.Background()
	conf := func(svc string) awsconn.Config {
		get := func(name string) string { return os.Getenv("AEGIS_" + svc + "_" + name) }
		return awsconn.Config{Service: svc, Endpoint: get("ENDPOINT"), Region: get("REGION"), AccessKeyID: get("ACCESS_KEY_ID"),
			SecretAccessKey: get("SECRET_ACCESS_KEY"), SessionToken: get("SESSION_TOKEN")}
	}
	err := func() error {
		s3c, err := awsconn.S3(ctx, conf("S3"))
		if err != nil {
			return err
		}
		db, err := awsconn.DynamoDB(ctx, conf("DYNAMODB"))
		if err != nil {
			return err
		}
		keys, err := strconv.Atoi(os.Getenv("AEGIS_KEYS_IN_MEMORY"))
		if err != nil {
			return err
		}
		rep, err := replayer.Check(ctx, replayer.RebuildConfig{S3: s3c, Bucket: os.Getenv("AEGIS_BUCKET"), Chain: os.Getenv("AEGIS_CHAIN"),
			VerifierKey: os.Getenv("AEGIS_BENCH_VKEY"), Index: &indexer.Index{DB: db, Table: os.Getenv("AEGIS_TABLE")}, KeysInMemory: keys,
			OnDifference: func(indexer.Difference) error { return nil }})
		if err != nil {
			return err
		}
		peak, err := chaos.PeakRSS("/proc/self/status")
		fmt.Println(rep.Entries, rep.DifferenceCount(), peak)
		return err
	}()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(0)
}
