package main

import (
	"strings"
	"testing"

	"github.com/aegisai/audit/shared"
)

// aegis version needs no settings and names the format revision, as
// aegis_build_info does (checked where a role's /metrics is read:
// TestIngestOverTheRealStack).
func TestVersion(t *testing.T) {
	t.Setenv("AEGIS_CHAIN", "")
	code, out := aegis(t, "version")
	if code != 0 || !strings.HasPrefix(out, "aegis ") || !strings.Contains(out, "revision "+shared.FormatRevision) {
		t.Fatalf("aegis version: exit %d: %s", code, out)
	}
	if code, again := aegis(t, "--version"); code != 0 || again != out {
		t.Fatalf("aegis --version: exit %d: %q, want %q", code, again, out)
	}
	commit = "0123456789ab+dirty"
	defer func() { commit = "" }()
	if b := thisBuild(); b.Revision != commit { // a test binary embeds no VCS settings
		t.Fatalf("the commit make build sets is not shown: %+v", b)
	}
}
