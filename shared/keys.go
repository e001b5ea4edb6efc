package shared

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Object key layout in the audit bucket (prefix defaults to "audit"):
//
//	<prefix>/genesis/env=<chain>/00000000000000000000.jsonl (seq 0 alone)
//	<prefix>/year=YYYY/month=MM/day=DD/env=<chain>/<first seq, 20 digits>.jsonl
//	<prefix>/checkpoints/env=<chain>/<seq, 20 digits>.note
//
// The batch date is the UTC date of the Kafka timestamps
// (source.timestamp) of the batch's entries, which all fall on that day: the
// sealer starts a new batch at each change of date. Never the sealer's
// clock, so every sealer derives the same key for the same batch. Entries
// only hold timestamps of the years 0000..9999 (SealRecord clamps others),
// so every date fits.

// FileDate is the UTC date (midnight) an entry with Kafka timestamp t is
// filed under: the date of t clamped to the years 0000..9999, as
// SealRecord clamps it. Every entry of a batch has its batch key's date.
func FileDate(t time.Time) time.Time {
	t = clampTime(t.UTC())
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

// BatchKey returns the key of the batch whose first entry is first.
func BatchKey(prefix string, first *Entry) string {
	if first.Type == EntryGenesis || first.Source == nil {
		return GenesisKey(prefix, first.Chain)
	}
	return fmt.Sprintf("%s%020d.jsonl", DayFolder(prefix, first.Chain, first.Source.Timestamp), first.Seq)
}

// DayFolder is the folder (ending in "/") holding chain's batches of the
// UTC date of t.
func DayFolder(prefix, chain string, t time.Time) string {
	t = t.UTC()
	return fmt.Sprintf("%s/year=%04d/month=%02d/day=%02d/env=%s/", prefix, t.Year(), int(t.Month()), t.Day(), chain)
}

// BatchKeyInfo is what a batch key says about its batch.
type BatchKeyInfo struct {
	Date     time.Time
	Chain    string
	FirstSeq uint64
}

// ParseBatchKey reads a key made by BatchKey, exactly: four-digit year,
// two-digit month and day of a real date, a valid chain id, and a first seq
// of 20 digits.
func ParseBatchKey(prefix, key string) (BatchKeyInfo, error) {
	var info BatchKeyInfo
	bad := func(why string) (BatchKeyInfo, error) {
		return info, fmt.Errorf("key %q is not a batch key under %q: %s", key, prefix, why)
	}
	rest, ok := strings.CutPrefix(key, prefix+"/")
	parts := strings.Split(rest, "/")
	if !ok || len(parts) != 5 {
		return bad("want year=YYYY/month=MM/day=DD/env=<chain>/<seq>.jsonl")
	}
	num := func(part, name string, width int) (int, bool) {
		v, ok := strings.CutPrefix(part, name+"=")
		if !ok || len(v) != width {
			return 0, false
		}
		n, err := strconv.Atoi(v)
		return n, err == nil && strings.Trim(v, "0123456789") == ""
	}
	y, oky := num(parts[0], "year", 4)
	m, okm := num(parts[1], "month", 2)
	d, okd := num(parts[2], "day", 2)
	if !oky || !okm || !okd {
		return bad("date segments")
	}
	info.Date = time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC)
	if m < 1 || m > 12 || info.Date.Day() != d {
		return bad("not a calendar date")
	}
	if info.Chain, ok = strings.CutPrefix(parts[3], "env="); !ok || !ValidIdentifier(info.Chain) {
		return bad("no valid env=<chain> segment")
	}
	seq, ok := parseSeqName(parts[4], ".jsonl")
	if !ok {
		return bad("first seq is not 20 digits")
	}
	info.FirstSeq = seq
	return info, nil
}

// parseSeqName reads "<20 digits><ext>" holding a seq in [0, 2^53-1].
func parseSeqName(name, ext string) (uint64, bool) {
	digits, ok := strings.CutSuffix(name, ext)
	if !ok || len(digits) != 20 || strings.Trim(digits, "0123456789") != "" {
		return 0, false
	}
	seq, err := strconv.ParseUint(digits, 10, 64)
	return seq, err == nil && seq <= MaxSafeInteger
}

// validPrefix reports a key prefix: non-empty, not ending in "/".
func validPrefix(p string) bool { return p != "" && !strings.HasSuffix(p, "/") }

// CheckpointPrefix is the folder holding the checkpoints of chain.
func CheckpointPrefix(prefix, chain string) string {
	return prefix + "/checkpoints/env=" + chain + "/"
}

// CheckpointKey returns the key of the checkpoint at seq.
func CheckpointKey(prefix, chain string, seq uint64) string {
	return fmt.Sprintf("%s%020d.note", CheckpointPrefix(prefix, chain), seq)
}

// ParseCheckpointKey returns the seq of a key made by CheckpointKey.
func ParseCheckpointKey(prefix, chain, key string) (uint64, bool) {
	name, ok := strings.CutPrefix(key, CheckpointPrefix(prefix, chain))
	if !ok {
		return 0, false
	}
	return parseSeqName(name, ".note")
}

// GenesisKey is the fixed key of a chain's genesis object, so that two
// sealers starting at once cannot create two geneses.
func GenesisKey(prefix, chain string) string {
	return fmt.Sprintf("%s/genesis/env=%s/%020d.jsonl", prefix, chain, 0)
}

// KeyKind is what a key under the prefix is to one chain.
type KeyKind int

const (
	// KeyOther is a key that does not belong to the chain (another chain's,
	// or none).
	KeyOther KeyKind = iota
	// KeyGenesis is the chain's genesis object.
	KeyGenesis
	// KeyBatch is one of the chain's batch objects.
	KeyBatch
	// KeyCheckpoint is one of the chain's checkpoints.
	KeyCheckpoint
	// KeyStray has an "env=<chain>" segment but is none of the chain's key
	// forms: something was put where the chain lives. Verification fails.
	KeyStray
)

// ClassifyKey says what key is to chain under prefix (docs/FORMAT.md
// section 1): the chain's genesis, a batch, a checkpoint, a stray object in
// the chain's folders, or another chain's or nobody's key.
func ClassifyKey(prefix, chain, key string) KeyKind {
	rest, ok := strings.CutPrefix(key, prefix+"/")
	if !ok || !contains(strings.Split(rest, "/"), "env="+chain) {
		return KeyOther
	}
	switch {
	case key == GenesisKey(prefix, chain):
		return KeyGenesis
	case strings.HasPrefix(key, CheckpointPrefix(prefix, chain)):
		if _, ok := ParseCheckpointKey(prefix, chain, key); ok {
			return KeyCheckpoint
		}
	default:
		if info, err := ParseBatchKey(prefix, key); err == nil && info.Chain == chain && info.FirstSeq > 0 {
			return KeyBatch
		}
	}
	return KeyStray
}
