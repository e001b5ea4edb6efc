package main

import (
	"strings"
	"testing"

	"github.com/aegisai/audit/indexer"
)

// A partition whose table holds no mark (a table rebuilt from S3, whose
// items are all there) is not said to have nothing indexed (a trial of
// the docs, 2026-12-01, after the README's recovery from a lost table).
func TestAPartitionWithoutAMarkIsNotSaidToHaveNothingIndexed(t *testing.T) {
	line := partitionLine(indexer.PartitionStatus{Partition: 0, CaughtUp: true, Committed: 6, End: 7})
	if strings.Contains(line, "no entry indexed from it yet") || !strings.Contains(line, "a rebuild writes none") {
		t.Fatalf("%s", line)
	}
	if line := partitionLine(indexer.PartitionStatus{Partition: 1, Indexed: true, Seq: 41, CaughtUp: true, Committed: 6, End: 6}); !strings.Contains(line, "the last entry indexed from it is seq 41") {
		t.Fatalf("%s", line)
	}
}
