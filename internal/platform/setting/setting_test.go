package setting

import (
	"errors"
	"fmt"
	"io"
	"testing"
)

func TestRenameNamesEachFieldAndKeepsTheTree(t *testing.T) {
	err := fmt.Errorf("sealer config: %w", errors.Join(
		Errorf("BatchMaxBytes", "%d is over %d", 999, 32),
		io.ErrUnexpectedEOF,
		fmt.Errorf("keys: %w", Errorf("VerifierKey", "does not trust the signer key")),
	))
	names := map[string]string{"BatchMaxBytes": "--batch-max-bytes (AEGIS_BATCH_MAX_BYTES)", "VerifierKey": "--verifier-key-file f"}
	got := Rename(err, func(f string) string { return names[f] })
	want := "sealer config: --batch-max-bytes (AEGIS_BATCH_MAX_BYTES) 999 is over 32\nunexpected EOF\nkeys: --verifier-key-file f does not trust the signer key"
	if got.Error() != want {
		t.Fatalf("got %q\nwant %q", got, want)
	}
	var fe *Error
	if !errors.Is(got, io.ErrUnexpectedEOF) || !errors.As(got, &fe) || fe.Field != "BatchMaxBytes" {
		t.Fatalf("the renamed error lost its tree: %#v", got)
	}
	if Rename(err, func(string) string { return "" }) != err {
		t.Fatal("nothing to rename, yet a new error")
	}
	if ps := Problems(err); len(ps) != 3 || len(Fields(ps[2])) != 1 {
		t.Fatalf("problems %v", ps)
	}
	if ps := Problems(io.EOF); len(ps) != 1 || Problems(nil) != nil {
		t.Fatalf("problems of a plain error: %v", ps)
	}
}
