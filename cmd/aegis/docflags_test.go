package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// Every flag the README and docs/ give a command in one command line (a
// code span, or a line of a code block) is one that command reads: its
// --help lists it. A flag the command does not read still parses (shared
// environment files set every role's), so a wrong example runs without a
// word and does nothing: the README's AWS example gave the indexer, which
// never touches S3, --s3-profile "for S3 in one account" (outside trial
// h5). docs/CONFIG.md is generated from the flags and left out.
func TestDocumentedFlagsAreReadByTheirCommand(t *testing.T) {
	code, out := aegis(t, "--help")
	if code != 0 {
		t.Fatalf("aegis --help: exit %d: %s", code, out)
	}
	commands := map[string]bool{"index status": true, "index check": true, "index anomalies": true}
	_, list, _ := strings.Cut(out, "Available Commands:")
	list, _, _ = strings.Cut(list, "\n\n")
	for _, line := range strings.Split(list, "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[0] != "help" && f[0] != "completion" && f[0] != "index" {
			commands[f[0]] = true
		}
	}
	if !commands["indexer"] || !commands["verify"] {
		t.Fatalf("no command list in aegis --help:\n%s", out)
	}
	helps := map[string]string{}
	help := func(cmd string) string {
		if h, ok := helps[cmd]; ok {
			return h
		}
		code, h := aegis(t, append(strings.Fields(cmd), "--help")...)
		if code != 0 {
			t.Fatalf("aegis %s --help: exit %d: %s", cmd, code, h)
		}
		helps[cmd] = h
		return h
	}

	docs, err := filepath.Glob("../../docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	docs = append(docs, "../../README.md")
	// A command, then what follows it up to the end of its code span or
	// line, a pipe, a list of commands or the next aegis command.
	mention := regexp.MustCompile("aegis (index (?:status|check|anomalies)|[a-z][a-z-]*)([^`|;&\n]*)")
	flag := regexp.MustCompile(`(?:^|[\s(\[])(--[a-z0-9][a-z0-9-]*)`)
	checked := 0
	for _, doc := range docs {
		if filepath.Base(doc) == "CONFIG.md" {
			continue
		}
		b, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		for n, line := range strings.Split(string(b), "\n") {
			for _, m := range mention.FindAllStringSubmatch(line, -1) {
				cmd, rest := m[1], m[2]
				if !commands[cmd] {
					continue
				}
				rest, _, _ = strings.Cut(rest, "aegis ")
				for _, f := range flag.FindAllStringSubmatch(rest, -1) {
					checked++
					if !strings.Contains(help(cmd), f[1]+" ") {
						t.Errorf("%s:%d: aegis %s %s: aegis %s does not read %s (its --help does not list it)",
							filepath.Base(doc), n+1, cmd, f[1], cmd, f[1])
					}
				}
			}
		}
	}
	if checked < 100 {
		t.Fatalf("only %d documented flags found: the scan is broken", checked)
	}
}
