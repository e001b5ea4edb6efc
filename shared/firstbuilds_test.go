package shared

import (
	"errors"
	"strings"
	"testing"
)

// The first builds (2026-11-27 to 2026-11-29 03:46 UTC) signed checkpoints
// without a root line (the very first without an offset line either); a
// chain they sealed is not read by later builds, and the refusal says so
// rather than leaving a sealer's "chain forked" or a verifier's failure
// to be read as tampering. These are checkpoints those builds wrote.
func TestFirstBuildsCheckpointsAreNamed(t *testing.T) {
	for _, c := range []struct{ build, key, note string }{
		{"69b141c", "aegis-demo+bc6918a6+AeeB66DPFaRBT2yOkyYBYREUmN1WiQbTgvlnv4+41dM6", "aegis-audit/checkpoint/v1\nchain demo\nseq 0\nhash 4c482a4e7af14cff9fd697b804555293e42266c4da1f424356f1d402479e64ca\nobject audit/genesis/env=demo/00000000000000000000.jsonl\ntime 2026-12-01T02:18:33.944146189Z\n\n\u2014 aegis-demo vGkYpvRlqU60d9smb9HS5+F2M+QDaXtu84Shzna7MYnGNPsYqD6p5TgXf5CPBtj6JIoKVUONFYDXN7oyEk/OOdLFLAc=\n"},
		{"f52da7b", "aegis-demo+5df84b46+AcFihrKReuA2SHkj7h2qhJRPtqLZT03ino9j7yBnuWuV", "aegis-audit/checkpoint/v1\nchain demo\nseq 0\nhash 15d6234e77a9edaa8adf87cde0d5417ad60feaefacf42ad74ca75d946efa03ae\noffset -1\nobject audit/genesis/env=demo/00000000000000000000.jsonl\ntime 2026-12-01T02:18:34.403432127Z\n\n\u2014 aegis-demo XfhLRiR86O3hiGWvWUFF4tLvPHB6+FjB7SGSax39oTe57YOfStwSq+hH4laU985JA+B2p5VstGO4jIiamN6PBdpNTAY=\n"},
	} {
		k, err := ParseVerifierKey(c.key)
		if err != nil {
			t.Fatal(err)
		}
		_, err = OpenCheckpoint([]byte(c.note), k)
		if !errors.Is(err, ErrBadCheckpoint) || !errors.Is(err, ErrFirstBuildsCheckpoint) || !strings.Contains(err.Error(), "no root line, as the checkpoints of the builds before 2026-11-29 had") {
			t.Errorf("%s's checkpoint: %v", c.build, err)
		}
	}
}
