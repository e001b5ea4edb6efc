package main

import (
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// scopeHelp makes each command's --help list only the inherited flags the
// command reads (the ones docs/CONFIG.md lists for it), not every global
// flag: `aegis verify --help` showed Kafka TLS and DynamoDB settings that
// verify never uses. The flags themselves still parse everywhere.
func scopeHelp(root *cobra.Command) {
	help := root.HelpFunc()
	root.SetHelpFunc(func(c *cobra.Command, args []string) {
		var hidden []*pflag.Flag
		c.InheritedFlags().VisitAll(func(f *pflag.Flag) {
			if !f.Hidden && !reads(c, f) {
				f.Hidden = true
				hidden = append(hidden, f)
			}
		})
		defer func() {
			for _, f := range hidden {
				f.Hidden = false
			}
		}()
		help(c, args)
	})
}
