package shared

import (
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"
)

// Object key layout in the audit bucket (prefix defaults to "audit"):
//
//	<prefix>/year=YYYY/month=MM/day=DD/env=<chain>/<first seq, 20 digits>.jsonl
//	<prefix>/checkpoints/env=<chain>/<last seq, 20 digits>.note
//	<prefix>/genesis/env=<chain>/00000000000000000000.jsonl (seq 0 alone)
//
// The batch date is the UTC date of the batch's first entry (its Kafka
// timestamp, or the genesis time), never the sealer's clock, so every sealer
// derives the same key for the same batch. A timestamp outside the years
// 1970..9999 (producers set record timestamps) files under 1970-01-01.

// BatchKey returns the key of the batch whose first entry is first.
func BatchKey(prefix string, first *Entry) string {
	if first.Type == EntryGenesis {
		return GenesisKey(prefix, first.Chain)
	}
	t := first.SealedAt
	if first.Source != nil {
		t = first.Source.Timestamp
	}
	t = t.UTC()
	// Record timestamps are set by producers; one outside 1970..9999 would
	// not fit the key layout, so it files under 1970-01-01.
	if t.Year() < 1970 || t.Year() > 9999 {
		t = time.Unix(0, 0).UTC()
	}
	return fmt.Sprintf("%s/year=%04d/month=%02d/day=%02d/env=%s/%020d.jsonl",
		prefix, t.Year(), int(t.Month()), t.Day(), first.Chain, first.Seq)
}

// BatchKeyInfo is what a batch key says about its batch.
type BatchKeyInfo struct {
	Date     time.Time
	Chain    string
	FirstSeq uint64
}

// ParseBatchKey reads a key made by BatchKey.
func ParseBatchKey(prefix, key string) (BatchKeyInfo, error) {
	var info BatchKeyInfo
	rest, ok := strings.CutPrefix(key, prefix+"/")
	parts := strings.Split(rest, "/")
	if !ok || len(parts) != 5 || !strings.HasSuffix(parts[4], ".jsonl") {
		return info, fmt.Errorf("key %q is not a batch key under %q", key, prefix)
	}
	var y, m, d int
	if _, err := fmt.Sscanf(strings.Join(parts[:3], "/"), "year=%04d/month=%02d/day=%02d", &y, &m, &d); err != nil {
		return info, fmt.Errorf("key %q: date: %w", key, err)
	}
	info.Date = time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC)
	if info.Chain, ok = strings.CutPrefix(parts[3], "env="); !ok || info.Chain == "" {
		return info, fmt.Errorf("key %q: no env= segment", key)
	}
	seq, err := strconv.ParseUint(strings.TrimSuffix(parts[4], ".jsonl"), 10, 64)
	if err != nil || len(parts[4]) != 26 {
		return info, fmt.Errorf("key %q: first seq is not 20 digits", key)
	}
	info.FirstSeq = seq
	return info, nil
}

// CheckpointPrefix is the folder holding the checkpoints of chain.
func CheckpointPrefix(prefix, chain string) string {
	return path.Join(prefix, "checkpoints", "env="+chain) + "/"
}

// CheckpointKey returns the key of the checkpoint at seq.
func CheckpointKey(prefix, chain string, seq uint64) string {
	return fmt.Sprintf("%s%020d.note", CheckpointPrefix(prefix, chain), seq)
}

// GenesisKey is the fixed key of a chain's genesis object, so that two
// sealers starting at once cannot create two geneses.
func GenesisKey(prefix, chain string) string {
	return fmt.Sprintf("%s/genesis/env=%s/%020d.jsonl", prefix, chain, 0)
}
