package shared

import (
	"os"
	"regexp"
	"testing"
)

// The revision the Go code and the Python checker say they implement is
// the newest in FORMAT.md's Revisions: the three change together.
func TestFormatRevisionIsFORMATsNewest(t *testing.T) {
	doc, err := os.ReadFile("../docs/FORMAT.md")
	if err != nil {
		t.Fatal(err)
	}
	rows := regexp.MustCompile(`(?m)^\| (\d{4}-\d{2}-\d{2}(?:\.\d+)?) \|`).FindAllSubmatch(doc, -1)
	if len(rows) == 0 {
		t.Fatal("FORMAT.md has no Revisions rows")
	}
	if newest := string(rows[len(rows)-1][1]); newest != FormatRevision {
		t.Errorf("FORMAT.md's newest revision is %s, FormatRevision %s", newest, FormatRevision)
	}
	py, err := os.ReadFile(vectorDir + "/check_vectors.py")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^FORMAT_REVISION = "` + FormatRevision + `"`).Match(py) {
		t.Errorf("check_vectors.py does not say FORMAT_REVISION = %q", FormatRevision)
	}
}
