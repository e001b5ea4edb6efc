package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// aliasFlags lets cmd take other names for some of its flags: the HTTP
// services' address and token file are --listen/--tokens-file on ingest
// and --addr/--token-file on query, and either spelling works on both
// (an outside trial tried one service's names on the other). The aliases
// are not listed in --help or docs/CONFIG.md; the flag's own name is.
func aliasFlags(cmd *cobra.Command, aliases map[string]string) {
	flagAliases[cmd] = aliases
	cmd.Flags().SetNormalizeFunc(func(_ *pflag.FlagSet, name string) pflag.NormalizedName {
		if to, ok := aliases[name]; ok {
			name = to
		}
		return pflag.NormalizedName(name)
	})
}

// flagAliases are the aliases of each command's flags, so that their
// variables work too (AEGIS_LISTEN for query's --addr, found refused by
// the operators' trial).
var flagAliases = map[*cobra.Command]map[string]string{}

// aliasEnv sets, for each alias of cmd whose variable is set, the flag it
// names, unless the flag was given or its own variable is set.
func aliasEnv(cmd *cobra.Command) error {
	for alias, name := range flagAliases[cmd] {
		v, ok := os.LookupEnv("AEGIS_" + envName(alias))
		f := cmd.Flags().Lookup(name)
		if !ok || f == nil || f.Changed {
			continue
		}
		if _, own := os.LookupEnv("AEGIS_" + envName(name)); own {
			continue
		}
		if err := cmd.Flags().Set(name, v); err != nil {
			return fmt.Errorf("AEGIS_%s (--%s): %w", envName(alias), name, err)
		}
	}
	return nil
}
