package main

import (
	"bytes"
	"strings"
	"testing"
)

// A variable within two edits of a setting is named with the setting it
// was likely meant for; the settings themselves, their aliases, the
// environment-only secrets and names far from every setting pass.
func TestMisspeltVariablesAreNamed(t *testing.T) {
	var out bytes.Buffer
	code := run([]string{"--help"}, &out, &out) // builds the command tree
	if code != 0 {
		t.Fatalf("--help: %d %s", code, out.String())
	}
	t.Setenv("AEGIS_TABEL", "x")
	t.Setenv("AEGIS_BATCH_MAXAGE", "1s")
	t.Setenv("AEGIS_TABLE", "t")
	t.Setenv("AEGIS_LISTEN", "127.0.0.1:0")
	t.Setenv("AEGIS_S3_SECRET_ACCESS_KEY", "s")
	t.Setenv("AEGIS_SOMETHING_ELSE_ENTIRELY", "x")
	out.Reset()
	run([]string{"--help"}, &out, &out)
	got := out.String()
	for _, want := range []string{"AEGIS_TABEL is no aegis setting and is ignored; did you mean AEGIS_TABLE?",
		"AEGIS_BATCH_MAXAGE is no aegis setting and is ignored; did you mean AEGIS_BATCH_MAX_AGE?"} {
		if !strings.Contains(got, want) {
			t.Errorf("lacks %q:\n%s", want, got)
		}
	}
	for _, quiet := range []string{"AEGIS_TABLE is", "AEGIS_LISTEN is", "AEGIS_S3_SECRET_ACCESS_KEY is", "AEGIS_SOMETHING_ELSE_ENTIRELY"} {
		if strings.Contains(got, quiet) {
			t.Errorf("warns of %s:\n%s", quiet, got)
		}
	}
}
