package main

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// warnMisspelt warns of each AEGIS_ variable of env that is no setting of
// any aegis command but an edit or two from one (AEGIS_TABEL for
// AEGIS_TABLE): such a variable is read by nothing, and the setting it
// was meant for keeps its default without a word (the operators' trial).
// Variables far from every setting (other tools', a test harness's) pass.
func warnMisspelt(w io.Writer, root *cobra.Command, env []string) {
	known := map[string]bool{}
	var walk func(c *cobra.Command)
	add := func(f *pflag.Flag) {
		if hasVariable(f) {
			known["AEGIS_"+envName(f.Name)] = true
		}
	}
	walk = func(c *cobra.Command) {
		c.Flags().VisitAll(add)
		c.PersistentFlags().VisitAll(add)
		for alias := range flagAliases[c] {
			known["AEGIS_"+envName(alias)] = true
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	for _, s := range secretSettings {
		known[s.Name] = true
	}
	names := make([]string, 0, len(known))
	for n := range known {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, "AEGIS_") || known[name] {
			continue
		}
		// One edit (a swap of neighbours counts one), or two in a long
		// name: close enough to be a typo, far from a harness's names
		// (AEGIS_ROOT is two edits from AEGIS_OUT).
		allowed := 1
		if len(name)-len("AEGIS_") >= 10 {
			allowed = 2
		}
		for _, n := range names {
			if editDistance(name, n) <= allowed {
				fmt.Fprintf(w, "warning: %s is no aegis setting and is ignored; did you mean %s? (docs/CONFIG.md lists every variable)\n", name, n)
				break
			}
		}
	}
}

// editDistance is the edit distance of a and b (bytes) counting a swap of
// two neighbours as one edit (optimal string alignment).
func editDistance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}
