// Package shared holds the audit record and the hash chain: the event
// envelope producers publish, the sealed Entry the sealer writes to S3, the
// canonical bytes and hash rule, the signed Checkpoint, and the S3 key layout.
//
// Everything here is pure: no I/O, no clock, no randomness. The sealer, the
// indexer and the replayer all depend on it, and docs/FORMAT.md specifies the
// same rules for implementations in other languages, with vectors in
// testdata/vectors.
//
// Invariants:
//   - An Entry's hash is SHA-256(EntryHashPrefix || prev || canonical(entry
//     without "hash")), where canonical is RFC 8785 (JCS) over I-JSON input.
//   - A sealed line is exactly canonical(entry with "hash"): a line that is not
//     in canonical form is rejected, so no two different lines can carry the
//     same hash.
//   - seq starts at 0 with a GENESIS entry and has no gaps; entry n's prev is
//     entry n-1's hash; the genesis prev is 32 zero bytes.
//   - ParseLine and PrepareRecord try a fast path first (canonscan.go,
//     fastpath.go: no parse tree, no allocation per member) that accepts
//     only what the strict path accepts, building the same entry; on
//     anything else the strict path decides and names the error. The
//     differential fuzzers FuzzParseLineFast, FuzzPrepareRecordFast and
//     FuzzScanCanonical hold the two to that.
package shared
