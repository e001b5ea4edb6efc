package query

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aegisai/audit/replayer"
	"github.com/aegisai/audit/shared"
)

// Evidence proves answers from S3: the entries an answer points at are read
// from S3 (Object Lock checked), verified, and proved to be in an object a
// checkpoint signed by the trusted key signs (replayer.Prove).
type Evidence struct {
	// Config locates the log and names the trusted key.
	Config replayer.ProveConfig
}

// ErrIndexDiffers is wrapped by Verify when the index's answer is not what
// the signed entries say.
var ErrIndexDiffers = errors.New("the index differs from the signed log")

// Prove returns the evidence bundle of h's entries (docs/FORMAT.md section
// 11) and what it proves.
func (ev *Evidence) Prove(ctx context.Context, h *History) ([]byte, shared.ProofReport, error) {
	var refs []replayer.EntryRef
	for _, r := range h.Refs() {
		refs = append(refs, replayer.EntryRef{Seq: r.Seq, Object: r.Object, Line: r.Line})
	}
	return replayer.Prove(ctx, ev.Config, h.DecisionID, refs)
}

// Verify proves h's entries and checks the answer against them: nil when
// each entry is in the signed log and the index says what it says.
func (ev *Evidence) Verify(ctx context.Context, h *History) error {
	_, rep, err := ev.Prove(ctx, h)
	if err != nil {
		return err
	}
	if bad := CheckProof(h, rep); len(bad) > 0 {
		return fmt.Errorf("%w: %s", ErrIndexDiffers, strings.Join(bad, "; "))
	}
	return nil
}
