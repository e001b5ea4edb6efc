package shared

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"
)

// CheckpointOrigin is the first line of every checkpoint body.
const CheckpointOrigin = "aegis-audit/checkpoint/v1"

// ErrBadCheckpoint is wrapped when a checkpoint does not parse or its
// signature does not verify against the trusted key.
var ErrBadCheckpoint = errors.New("bad checkpoint")

// Checkpoint commits to a chain head. It is published as a signed note
// (golang.org/x/mod/sumdb/note, Ed25519) whose body is:
//
//	aegis-audit/checkpoint/v1
//	chain <chain id>
//	seq <decimal>
//	hash <64 hex>
//	object <S3 key of the batch holding seq>
//	time <RFC 3339 UTC>
type Checkpoint struct {
	Chain  string
	Seq    uint64
	Hash   Hash
	Object string
	Time   time.Time
}

// Body returns the note text that is signed.
func (c Checkpoint) Body() string {
	return fmt.Sprintf("%s\nchain %s\nseq %d\nhash %s\nobject %s\ntime %s\n",
		CheckpointOrigin, c.Chain, c.Seq, c.Hash, c.Object, c.Time.UTC().Format(time.RFC3339Nano))
}

// Sign returns the signed note of c.
func (c Checkpoint) Sign(signer note.Signer) ([]byte, error) {
	if strings.ContainsAny(c.Chain+c.Object, " \n") {
		return nil, fmt.Errorf("%w: chain and object must not contain spaces or newlines", ErrBadCheckpoint)
	}
	msg, err := note.Sign(&note.Note{Text: c.Body()}, signer)
	if err != nil {
		return nil, fmt.Errorf("sign checkpoint seq %d: %w", c.Seq, err)
	}
	return msg, nil
}

// OpenCheckpoint verifies the signature on msg with the trusted verifier and
// parses its body.
func OpenCheckpoint(msg []byte, trusted note.Verifier) (Checkpoint, error) {
	n, err := note.Open(msg, note.VerifierList(trusted))
	if err != nil {
		return Checkpoint{}, fmt.Errorf("%w: %v", ErrBadCheckpoint, err)
	}
	return parseCheckpointBody(n.Text)
}

func parseCheckpointBody(text string) (Checkpoint, error) {
	var c Checkpoint
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if len(lines) != 6 || lines[0] != CheckpointOrigin {
		return c, fmt.Errorf("%w: body is not a %s checkpoint", ErrBadCheckpoint, CheckpointOrigin)
	}
	field := func(i int, name string) (string, error) {
		v, ok := strings.CutPrefix(lines[i], name+" ")
		if !ok || v == "" {
			return "", fmt.Errorf("%w: line %d: want %q", ErrBadCheckpoint, i+1, name)
		}
		return v, nil
	}
	var err error
	var seq, hash, tm string
	if c.Chain, err = field(1, "chain"); err != nil {
		return c, err
	}
	if seq, err = field(2, "seq"); err != nil {
		return c, err
	}
	if c.Seq, err = strconv.ParseUint(seq, 10, 64); err != nil {
		return c, fmt.Errorf("%w: seq: %v", ErrBadCheckpoint, err)
	}
	if hash, err = field(3, "hash"); err != nil {
		return c, err
	}
	if c.Hash, err = ParseHash(hash); err != nil {
		return c, fmt.Errorf("%w: %v", ErrBadCheckpoint, err)
	}
	if c.Object, err = field(4, "object"); err != nil {
		return c, err
	}
	if tm, err = field(5, "time"); err != nil {
		return c, err
	}
	if c.Time, err = time.Parse(time.RFC3339Nano, tm); err != nil {
		return c, fmt.Errorf("%w: time: %v", ErrBadCheckpoint, err)
	}
	if c.Body() != text {
		return c, fmt.Errorf("%w: body is not in canonical form", ErrBadCheckpoint)
	}
	return c, nil
}
