package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A copy of the bucket that the README and docs/ tell an auditor to make
// with `aws s3 sync` (for the Python checker) is synced with
// --exact-timestamps: without it the AWS CLI does not download an object
// whose size is that of the local copy, however much newer, so a same-size
// edit in S3 (ALLOW made BLOCK) left the copy as it was and the checker
// passed it, where the README said it names the edit (outside trial h5).
func TestDocumentedS3SyncsFetchSameSizeEdits(t *testing.T) {
	docs, err := filepath.Glob("../../docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	found := 0
	for _, doc := range append(docs, "../../README.md") {
		b, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		for n, line := range strings.Split(string(b), "\n") {
			// A command that downloads: sync from an s3:// source.
			i := strings.Index(line, "aws s3 sync s3://")
			if i < 0 {
				continue
			}
			found++
			cmd, _, _ := strings.Cut(line[i:], "#")
			if !strings.Contains(cmd, "--exact-timestamps") {
				t.Errorf("%s:%d: %q downloads without --exact-timestamps: a same-size edit in S3 is not fetched",
					filepath.Base(doc), n+1, strings.TrimSpace(cmd))
			}
		}
	}
	if found == 0 {
		t.Fatal("no aws s3 sync from S3 in the README or docs/: the check is stale")
	}
}
