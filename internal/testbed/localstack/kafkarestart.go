package localstack

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/aegisai/audit/internal/testbed/kfakerepair"
)

// newKafka starts the in-process broker on port with its log in dir,
// after writing the abort markers of the transactions a crash of the last
// run left open (kfakerepair: `make run` killed with SIGKILL is such a
// crash).
func newKafka(port int, dir string) (*kfake.Cluster, error) {
	opts := []kfake.Opt{kfake.NumBrokers(1), kfake.DefaultNumPartitions(1),
		// As an operator lowers group.min.session.timeout.ms for fast sealer takeover.
		kfake.GroupMinSessionTimeout(time.Second)}
	if !kfakerepair.StoppedCleanly(dir) {
		if _, err := kfakerepair.Repair(dir, opts); err != nil {
			return nil, fmt.Errorf("after a crash, writing the abort markers of the transactions it left open: %w", err)
		}
	}
	return kfake.NewCluster(append(opts, kfake.Ports(port), kfake.DataDir(dir))...)
}

// closeKafka stops the in-process broker cleanly and says so in its
// directory (kfakerepair).
func (s *Stack) closeKafka() {
	s.Kafka.Close()
	s.Kafka = nil
	_ = kfakerepair.MarkStoppedCleanly(s.kafkaDir)
}

// NeedsInProcessKafka skips t, saying why, when the broker is not the
// in-process one (AEGIS_STACK=external): t stops it or injects faults
// through its control hooks, which no other broker has.
func (s *Stack) NeedsInProcessKafka(t testing.TB) {
	t.Helper()
	if s.Kafka == nil {
		t.Skip("stops the broker or injects faults through kfake's control hooks: needs the native stack")
	}
}

// StopKafka stops the in-process broker, as an outage: clients get
// connection refused until StartKafka. Its log stays on disk.
func (s *Stack) StopKafka() error {
	if s.Kafka == nil {
		return errors.New("the broker is not in process (or stopped already)")
	}
	s.closeKafka()
	return nil
}

// StartKafka starts the broker again on the same address, from its log.
func (s *Stack) StartKafka() error {
	if s.Kafka != nil {
		return errors.New("the broker is running")
	}
	_, p, err := net.SplitHostPort(s.KafkaAddr)
	if err != nil {
		return err
	}
	port, _ := strconv.Atoi(p)
	var lastErr error
	for range 50 { // the port may take a moment to be free again
		c, err := newKafka(port, s.kafkaDir)
		if err == nil {
			s.Kafka = c
			return nil
		}
		lastErr = err
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("restart kfake on %s: %w", s.KafkaAddr, lastErr)
}
