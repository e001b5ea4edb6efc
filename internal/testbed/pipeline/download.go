package pipeline

import (
	"context"
	"os"
	"path/filepath"

	"github.com/aegisai/audit/archive"
)

// Download writes the current version of every object of store's bucket
// under audit/ to dir/<key>, as an auditor's copy of the bucket (what the
// Python checker's --dir reads).
func Download(ctx context.Context, store *archive.Store, dir string) error {
	keys, err := store.List(ctx, "audit/")
	if err != nil {
		return err
	}
	for _, k := range keys {
		obj, err := store.Get(ctx, k, "")
		if err != nil {
			return err
		}
		path := filepath.Join(dir, filepath.FromSlash(k))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(path, obj.Body, 0o644); err != nil {
			return err
		}
	}
	return nil
}
