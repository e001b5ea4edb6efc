// Command kafka runs franz-go's kfake broker as a standalone process: a real
// Kafka wire-protocol server on 127.0.0.1 for local development. With -data
// its state (topics, offsets, transactions) survives restarts.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/aegisai/audit/internal/testbed/kfakerepair"
)

func main() {
	port := flag.Int("port", 9092, "TCP port on 127.0.0.1")
	dataDir := flag.String("data", "", "directory that persists broker state (empty: in memory)")
	syncWrites := flag.Bool("sync", false, "fsync every produced batch")
	flag.Parse()

	opts := []kfake.Opt{kfake.NumBrokers(1), kfake.DefaultNumPartitions(1),
		kfake.GroupMinSessionTimeout(time.Second)} // group.min.session.timeout.ms, lowered for fast sealer takeover
	if *syncWrites {
		opts = append(opts, kfake.SyncWrites())
	}
	if *dataDir != "" {
		if !kfakerepair.StoppedCleanly(*dataDir) {
			n, err := kfakerepair.Repair(*dataDir, opts)
			if err != nil {
				fmt.Fprintln(os.Stderr, "kafka: after a crash, writing the abort markers of the transactions it left open:", err)
				os.Exit(1)
			}
			if n > 0 {
				fmt.Printf("kafka: wrote %d abort markers of transactions left open by a crash\n", n)
			}
		}
		opts = append(opts, kfake.DataDir(*dataDir))
	}
	c, err := kfake.NewCluster(append(opts, kfake.Ports(*port))...)
	if err != nil {
		fmt.Fprintln(os.Stderr, "kafka:", err)
		os.Exit(1)
	}
	fmt.Println("kafka listening on", c.ListenAddrs()[0])
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
	c.Close()
	if *dataDir != "" {
		if err := kfakerepair.MarkStoppedCleanly(*dataDir); err != nil {
			fmt.Fprintln(os.Stderr, "kafka:", err)
		}
	}
}
