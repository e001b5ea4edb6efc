package archive_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"github.com/aegisai/audit/archive"
	"github.com/aegisai/audit/internal/testbed/s3mem"
	"github.com/aegisai/audit/shared"
)

// RetiredVersion: a retired key's checkpoint (and the object it signs)
// counts only in the first version of its key, stored no later than the
// first version of the checkpoint of the key's last seq (FORMAT.md 7.4);
// a key whose range is open costs nothing and always counts.
func TestRetiredVersionCountsOnlyWhatWasStoredBeforeTheRetirement(t *testing.T) {
	ctx := context.Background()
	key := func(name string) string {
		_, v, err := note.GenerateKey(rand.Reader, name)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	old, next := key("aegis-old"), key("aegis-new")
	rotated, err := shared.ParseKeyset(fmt.Sprintf("%s 0 5\n%s 6 -\n", old, next))
	if err != nil {
		t.Fatal(err)
	}
	closed, err := shared.ParseKeyset(fmt.Sprintf("%s 0 7\n", old))
	if err != nil {
		t.Fatal(err)
	}
	mem := s3mem.New("b")
	var calls int
	mem.Fail = func(op, _ string) error {
		if op == "ListObjectVersions" {
			calls++
		}
		return nil
	}
	store := &archive.Store{S3: mem, Bucket: "b"}
	cp := func(seq uint64) string { return shared.CheckpointKey("audit", "c", seq) }
	version := func(k string, i int) string {
		vs := mem.Versions("b", k)
		return vs[i].ID
	}
	mem.PutVersion("b", cp(2), []byte("sealed 2"))
	mem.PutVersion("b", cp(5), []byte("the hand-over"))
	mem.Later(archive.RetiredGrace / 2)
	mem.PutVersion("b", cp(4), []byte("within S3's second of the hand-over"))
	mem.Later(2 * archive.RetiredGrace)
	mem.PutVersion("b", cp(2), []byte("written over"))
	mem.PutVersion("b", cp(3), []byte("a seq that had none"))

	for _, tc := range []struct {
		name    string
		trusted shared.Keyset
		seq     uint64
		key     string
		version int
		want    string // "" counts
	}{
		{"the sealed checkpoint before the hand-over", rotated, 2, cp(2), 0, ""},
		{"the retiring checkpoint itself", rotated, 5, cp(5), 0, ""},
		{"a first version stored within the grace after the hand-over", rotated, 4, cp(4), 0, ""},
		{"a version written over a sealed one", rotated, 2, cp(2), 1, "not the first version"},
		{"a first version stored after the hand-over", rotated, 3, cp(3), 0, "after the checkpoint of seq 5 that retired the key"},
		{"a closed range whose last seq has no checkpoint", closed, 2, cp(2), 0, "unknown age: the checkpoint of seq 7"},
		{"the open range's key, over anything", rotated, 6, cp(3), 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			why, err := store.RetiredVersion(ctx, tc.trusted, "c", tc.seq, tc.key, version(tc.key, tc.version))
			if err != nil {
				t.Fatal(err)
			}
			if tc.want == "" && why != "" || tc.want != "" && !strings.Contains(why, tc.want) {
				t.Fatalf("RetiredVersion: %q, want %q", why, tc.want)
			}
		})
	}
	calls = 0
	for range 3 {
		if _, err := store.RetiredVersion(ctx, rotated, "c", 2, cp(2), version(cp(2), 0)); err != nil {
			t.Fatal(err)
		}
	}
	if calls != 3 {
		t.Fatalf("%d listings for three checks of one key, want 3 (the retiring checkpoint's date is listed once a store)", calls)
	}
}
