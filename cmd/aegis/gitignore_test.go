package main

import (
	"os"
	"os/exec"
	"regexp"
	"testing"
)

// The README's walk-through ("Running the roles yourself") writes its
// keys, tokens and data in the checkout, and says that .gitignore keeps
// them out of git: every folder it names under $PWD, and the files its
// commands write. dynalite's --path $PWD/dynamo was left out, so `git
// status` listed the index's files to be added (outside trial h5).
func TestTheWalkThroughsFilesAreIgnoredByGit(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git")
	}
	if err := exec.Command("git", "-C", "../..", "rev-parse", "--is-inside-work-tree").Run(); err != nil {
		t.Skip("not a git work tree")
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	paths := []string{"prod.key", "prod-2.key", "tokens", "kept.note", "prod.keyset", "dec-7f3a.proof.json"}
	folders := regexp.MustCompile(`\$PWD/([A-Za-z0-9._-]+)`).FindAllStringSubmatch(string(readme), -1)
	if len(folders) == 0 {
		t.Fatal("the README names no folder under $PWD: the walk-through moved?")
	}
	for _, f := range folders {
		paths = append(paths, f[1]+"/some-file")
	}
	for _, p := range paths {
		if err := exec.Command("git", "-C", "../..", "check-ignore", "-q", "--no-index", p).Run(); err != nil {
			t.Errorf("%s, which the README's walk-through writes in the checkout, is not ignored by .gitignore (git check-ignore: %v)", p, err)
		}
	}
}
