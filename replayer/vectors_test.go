package replayer_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/aegisai/audit/archive"
	"github.com/aegisai/audit/internal/testbed/s3mem"
	"github.com/aegisai/audit/replayer"
	"github.com/aegisai/audit/shared"
)

// logVector is the part of a docs/FORMAT.md section 10 vector a log check
// needs.
type logVector struct {
	Name            string `json:"name"`
	Kind            string `json:"kind"`
	Expect          string `json:"expect"`
	Rule            string `json:"rule"`
	Prefix          string `json:"prefix"`
	Chain           string `json:"chain"`
	VerifierKey     string `json:"verifier_key"`
	Keyset          string `json:"keyset"`
	KnownCheckpoint string `json:"known_checkpoint"`
	Pruned          bool   `json:"pruned"`
	Objects         []struct {
		Key  string `json:"key"`
		Body string `json:"body"`
	} `json:"objects"`
	Report *struct {
		Entries         uint64 `json:"entries"`
		HeadSeq         uint64 `json:"head_seq"`
		HeadHash        string `json:"head_hash"`
		CheckpointedSeq uint64 `json:"checkpointed_seq"`
		Unsigned        uint64 `json:"unsigned"`
		StartSeq        uint64 `json:"start_seq"`
	} `json:"report"`
}

// Verify, the code behind `aegis verify`, gives every log vector its
// expected verdict and report: the verifier is the spec.
func TestLogVectors(t *testing.T) {
	vs := logVectors(t, "../testdata/vectors/*.json")
	if len(vs) < 10 {
		t.Fatalf("only %d log vectors", len(vs))
	}
	for _, v := range vs {
		// The streaming verifier reads the listing a page at a time: each
		// vector at one key a page, two, and S3's page, so that no rule
		// depends on where a page ends (security review).
		for _, page := range []int32{1, 2, archive.ListPageSize} {
			t.Run(fmt.Sprintf("%s/page %d", v.Name, page), func(t *testing.T) {
				defer func(n int32) { archive.ListPageSize = n }(archive.ListPageSize)
				archive.ListPageSize = page
				checkLogVector(t, v)
			})
		}
	}
}

// logVectors reads the vectors of kind log among the files glob matches.
func logVectors(t *testing.T, glob string) []logVector {
	t.Helper()
	paths, err := filepath.Glob(glob)
	if err != nil || len(paths) == 0 {
		t.Fatalf("no vectors at %s: %v", glob, err)
	}
	var out []logVector
	for _, p := range paths {
		raw, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var v logVector
		if err := json.Unmarshal(raw, &v); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if v.Kind == "log" {
			out = append(out, v)
		}
	}
	return out
}

// checkLogVector verifies one log vector's objects from an in-memory S3.
func checkLogVector(t *testing.T, v logVector) {
	t.Helper()
	store := s3mem.New("audit")
	for _, o := range v.Objects {
		store.PutVersion("audit", o.Key, []byte(o.Body))
	}
	trust := v.VerifierKey
	if v.Keyset != "" {
		trust = v.Keyset
	} else if _, err := shared.ParseVerifierKey(v.VerifierKey); err != nil {
		t.Fatalf("the vector's verifier_key (its text exactly, FORMAT.md 7.1): %v", err)
	}
	cfg := replayer.Config{S3: store, Bucket: "audit", Prefix: v.Prefix, Chain: v.Chain, VerifierKey: trust, Pruned: v.Pruned}
	if v.KnownCheckpoint != "" {
		cfg.KnownCheckpoint = []byte(v.KnownCheckpoint)
	}
	rep, err := replayer.Verify(context.Background(), cfg)
	switch {
	case v.Expect == "reject" && err == nil:
		t.Fatalf("accepted, want refused (%s)", v.Rule)
	case v.Expect == "reject":
		t.Logf("refused: %v", err)
		return
	case err != nil:
		t.Fatalf("refused: %v", err)
	}
	r := v.Report
	if rep.Entries != r.Entries || rep.Head.Seq != r.HeadSeq || rep.Head.Hash.String() != r.HeadHash ||
		rep.CheckpointedSeq != r.CheckpointedSeq || rep.Unsigned != r.Unsigned || rep.StartSeq != r.StartSeq {
		t.Fatalf("report %+v, want %+v", rep.LogReport, *r)
	}
}
