package main

import (
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// aliasFlags lets cmd take other names for some of its flags: the HTTP
// services' address and token file are --listen/--tokens-file on ingest
// and --addr/--token-file on query, and either spelling works on both
// (an outside trial tried one service's names on the other). The aliases
// are not listed in --help or docs/CONFIG.md; the flag's own name is.
func aliasFlags(cmd *cobra.Command, aliases map[string]string) {
	cmd.Flags().SetNormalizeFunc(func(_ *pflag.FlagSet, name string) pflag.NormalizedName {
		if to, ok := aliases[name]; ok {
			name = to
		}
		return pflag.NormalizedName(name)
	})
}
