package replayer_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/aegisai/audit/indexer"
	"github.com/aegisai/audit/replayer"
)

var errScan = errors.New("scan failed")

// scanFails is a table that lost its items and whose scan fails, after
// noting what the check's temp dir held then.
type scanFails struct {
	lostTable
	dir  string
	held []string
}

func (s *scanFails) Scan(context.Context, *dynamodb.ScanInput, ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error) {
	files, _ := filepath.Glob(filepath.Join(s.dir, "aegis-check-*", "*"))
	for _, f := range files {
		if filepath.Base(f) != "lock" { // the folder's lock is there from the start
			s.held = append(s.held, f)
		}
	}
	return nil, errScan
}

// Index check and rebuild --only-missing remove their scratch folder when
// they end, whether they succeed, fail or are stopped by OnDifference:
// with chunks of 3 keys the keys spill during the pass over S3, and
// nothing of it is left in TempDir afterwards.
func TestCheckRemovesItsScratchFolder(t *testing.T) {
	store, vkey := memObjects(t, make([]int, 4), 25, decisionRecord)
	stop := errors.New("stop at the first difference")
	for _, tc := range []struct {
		name string
		run  func(context.Context, replayer.RebuildConfig) (replayer.RebuildReport, error)
		on   func(indexer.Difference) error
		want error
	}{
		{"check, the scan fails", replayer.Check, nil, errScan},
		{"rebuild --only-missing, the scan fails", replayer.Rebuild, nil, errScan},
		{"check, OnDifference stops it", replayer.Check, func(indexer.Difference) error { return stop }, stop},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			table := &scanFails{dir: dir}
			cfg := replayer.RebuildConfig{S3: store, Bucket: "audit", Chain: "mem", VerifierKey: vkey, Index: &indexer.Index{DB: table, Table: "t"},
				KeysInMemory: 3, TempDir: dir, OnDifference: tc.on, OnlyMissing: true}
			if _, err := tc.run(context.Background(), cfg); !errors.Is(err, tc.want) {
				t.Fatalf("%v, want %v", err, tc.want)
			}
			if tc.want == errScan && len(table.held) == 0 {
				t.Fatal("nothing spilled before the scan: the test proves nothing")
			}
			if left, _ := os.ReadDir(dir); len(left) != 0 {
				t.Fatalf("left in TempDir: %v", left)
			}
		})
	}
}

// A negative KeysInMemory is refused, naming the setting.
func TestCheckRefusesNegativeKeysInMemory(t *testing.T) {
	store, vkey := memObjects(t, []int{0}, 1, decisionRecord)
	_, err := replayer.Check(context.Background(), replayer.RebuildConfig{S3: store, Bucket: "audit", Chain: "mem", VerifierKey: vkey,
		Index: &indexer.Index{DB: &lostTable{}, Table: "t"}, KeysInMemory: -1})
	if err == nil || !strings.Contains(err.Error(), "KeysInMemory -1 must not be negative") {
		t.Fatalf("%v, want KeysInMemory named", err)
	}
}
