// Package alertcheck checks the repository's Prometheus alerting rules
// (deploy/prometheus/aegis-alerts.yml) the way Prometheus loads them, and
// against the code: every metric a rule reads is one the roles export,
// every rule says how bad it is and which runbook applies. It is a
// module of its own so that Prometheus's dependencies stay out of the
// project's and the local servers' builds.
package alertcheck

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
)

// Severities are the values an alert's severity label may take.
var Severities = []string{"critical", "warning"}

// builtin are series Prometheus makes itself, which a rule may read.
var builtin = map[string]bool{"up": true, "scrape_duration_seconds": true}

// Report is what Check found in one rules file.
type Report struct {
	// Alerts maps each alert's name to its expression.
	Alerts map[string]string
	// Metrics are the metric names the rules read.
	Metrics []string
}

func (r Report) String() string {
	return fmt.Sprintf("%d alerts over %d metrics: %s", len(r.Alerts), len(r.Metrics), strings.Join(r.Metrics, ", "))
}

// Check parses rulesFile with Prometheus's own rule parser and checks each
// alerting rule against the code in repoRoot: the metrics it reads are
// defined there (a non-test Go file names them), it has a severity of
// Severities, a summary and a description, and its runbook is a file of
// repoRoot with an anchor that file has. Every problem is returned,
// each naming its rule.
func Check(rulesFile, repoRoot string) (Report, error) {
	rep := Report{Alerts: map[string]string{}}
	p := parser.NewParser(parser.Options{})
	groups, errs := rulefmt.ParseFile(rulesFile, false, model.UTF8Validation, p, slog.New(slog.DiscardHandler))
	if len(errs) > 0 {
		return rep, errors.Join(errs...)
	}
	known, err := MetricNames(repoRoot)
	if err != nil {
		return rep, err
	}
	read := map[string]bool{}
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				errs = append(errs, fmt.Errorf("group %s: recording rule %s: only alerting rules are expected here", g.Name, r.Record))
				continue
			}
			if _, dup := rep.Alerts[r.Alert]; dup {
				errs = append(errs, fmt.Errorf("alert %s: defined twice", r.Alert))
			}
			rep.Alerts[r.Alert] = r.Expr
			fail := func(format string, a ...any) {
				errs = append(errs, fmt.Errorf("alert %s: %s", r.Alert, fmt.Sprintf(format, a...)))
			}
			if s := r.Labels["severity"]; !slices.Contains(Severities, s) {
				fail("severity %q: want one of %s", s, strings.Join(Severities, ", "))
			}
			for _, a := range []string{"summary", "description", "runbook"} {
				if strings.TrimSpace(r.Annotations[a]) == "" {
					fail("no %s annotation", a)
				}
			}
			if rb := r.Annotations["runbook"]; rb != "" {
				if err := checkRunbook(repoRoot, rb); err != nil {
					fail("runbook %s: %v", rb, err)
				}
			}
			expr, err := p.ParseExpr(r.Expr)
			if err != nil {
				fail("%v", err) // rulefmt has already refused it; kept for safety
				continue
			}
			for _, name := range selectedMetrics(expr, fail) {
				read[name] = true
				if !known[baseName(name, known)] && !builtin[name] {
					fail("reads %s, which no role exports (a typo, or a metric renamed in the code?)", name)
				}
			}
		}
	}
	for m := range read {
		rep.Metrics = append(rep.Metrics, m)
	}
	sort.Strings(rep.Metrics)
	return rep, errors.Join(errs...)
}

// selectedMetrics returns the metric names expr's selectors read; a
// selector that does not name its metric exactly is a problem (it cannot
// be checked, and it silently reads nothing after a rename).
func selectedMetrics(expr parser.Expr, fail func(string, ...any)) []string {
	var names []string
	parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		name := vs.Name
		for _, m := range vs.LabelMatchers {
			if m.Name == labels.MetricName {
				if m.Type != labels.MatchEqual {
					fail("selector %s matches metric names by a pattern", vs)
				} else {
					name = m.Value
				}
			}
		}
		if name != "" {
			names = append(names, name)
		}
		return nil
	})
	return names
}

// baseName is the metric a histogram's or summary's series belongs to
// (x_bucket, x_sum, x_count are x's), when x is known.
func baseName(name string, known map[string]bool) string {
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if b, ok := strings.CutSuffix(name, suffix); ok && known[b] {
			return b
		}
	}
	return name
}

// metricDef matches a metric's name where the code defines it
// (prometheus.CounterOpts{Name: "aegis_..."} and the like).
var metricDef = regexp.MustCompile(`Name:\s*"(aegis_[a-z0-9_]+)"`)

// MetricNames returns the aegis_ metric names the repository's non-test
// Go code defines (outside devstack, which holds no role).
func MetricNames(repoRoot string) (map[string]bool, error) {
	names := map[string]bool{}
	err := filepath.WalkDir(repoRoot, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case ".git", "devstack", "node_modules", "testdata", "testbed":
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range metricDef.FindAllSubmatch(b, -1) {
			names[string(m[1])] = true
		}
		return nil
	})
	if err == nil && len(names) == 0 {
		err = fmt.Errorf("no metric definitions found under %s", repoRoot)
	}
	return names, err
}

// checkRunbook checks that runbook ("FILE#anchor") names a Markdown file
// of repoRoot and a heading of it, by GitHub's anchors.
func checkRunbook(repoRoot, runbook string) error {
	file, anchor, ok := strings.Cut(runbook, "#")
	if !ok || anchor == "" {
		return errors.New("want FILE#anchor, a section of a file of the repository")
	}
	b, err := os.ReadFile(filepath.Join(repoRoot, filepath.FromSlash(file)))
	if err != nil {
		return err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if h, ok := strings.CutPrefix(line, "#"); ok && Anchor(strings.TrimLeft(h, "#")) == anchor {
			return nil
		}
	}
	return fmt.Errorf("%s has no heading whose anchor is #%s", file, anchor)
}

// Anchor is the anchor GitHub gives a Markdown heading: lower case,
// punctuation dropped but for hyphens and underscores, spaces as hyphens.
func Anchor(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(heading)) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r > 127:
			b.WriteRune(r)
		}
	}
	return b.String()
}
