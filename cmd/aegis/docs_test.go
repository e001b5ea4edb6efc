package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The README and docs/ name the tests that show what they claim; each
// name must be a test, fuzzer or benchmark of the repository (or, where
// a command runs several with -run, the start of one's name). A test
// renamed or removed left the docs pointing at nothing.
func TestDocsNameTestsThatExist(t *testing.T) {
	root := filepath.Join("..", "..")
	var names []string
	funcs := regexp.MustCompile(`(?m)^func ((?:Test|Fuzz|Benchmark)[A-Za-z0-9_]+)\(`)
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "node_modules" || strings.HasPrefix(d.Name(), ".")) && path != root {
			return filepath.SkipDir
		}
		if !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range funcs.FindAllSubmatch(b, -1) {
			names = append(names, string(m[1]))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	docs, _ := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	docs = append(docs, filepath.Join(root, "README.md"))
	named := regexp.MustCompile(`\b(?:Test|Fuzz|Benchmark)[A-Z][A-Za-z0-9_]+`)
	checked := 0
	for _, doc := range docs {
		b, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range named.FindAllString(string(b), -1) {
			checked++
			found := false
			for _, have := range names {
				if strings.HasPrefix(have, n) {
					found = true
					break
				}
			}
			if !found {
				t.Errorf("%s names %s, which no test, fuzzer or benchmark is", filepath.Base(doc), n)
			}
		}
	}
	if checked < 100 {
		t.Fatalf("only %d test names found in the docs: the scan is broken", checked)
	}
}
