package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"github.com/aegisai/audit/shared"
)

// commit is set by `make build` (-ldflags -X main.commit=...) where the Go
// build embeds no VCS information (GOFLAGS=-buildvcs=false).
var commit string

// build is what this binary is: its module version, the commit it was
// built from (with "+dirty" for uncommitted changes), and the revision of
// the sealed log format it seals and verifies.
type build struct {
	Version, Revision, Time, Go string
}

func thisBuild() build {
	b := build{Version: "(unknown)", Revision: "(unknown)", Go: runtime.Version()}
	if commit != "" {
		b.Revision = commit
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return b
	}
	b.Version = info.Main.Version
	dirty := false
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			b.Revision = s.Value
		case "vcs.time":
			b.Time = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if dirty {
		b.Revision += "+dirty"
	}
	return b
}

func (b build) String() string {
	s := fmt.Sprintf("aegis %s, commit %s", b.Version, b.Revision)
	if b.Time != "" {
		s += " of " + b.Time
	}
	return s + fmt.Sprintf(", %s; sealed log format version %d, revision %s (docs/FORMAT.md)", b.Go, shared.FormatVersion, shared.FormatRevision)
}

// versionCommand is `aegis version`: which build runs, to check a fleet
// is upgraded in the order the README's "Upgrading" gives.
func (c *common) versionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print this build's version, commit and the revision of the log format it seals and verifies",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			fmt.Fprintln(c.stdout, thisBuild())
			return nil
		},
	}
}

// buildInfo is the aegis_build_info metric every role serves, so that the
// fleet's versions can be seen where its metrics are.
func buildInfo() prometheus.Collector {
	b := thisBuild()
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "aegis_build_info",
		Help: "Always 1: the labels say which build runs and the revision of the log format it seals and verifies.",
		ConstLabels: prometheus.Labels{"version": b.Version, "commit": b.Revision, "go": b.Go,
			"format_version": fmt.Sprint(shared.FormatVersion), "format_revision": shared.FormatRevision}})
	g.Set(1)
	return g
}
