package main

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.uber.org/zap/zapcore"

	"github.com/aegisai/audit/internal/platform/setting"
	"github.com/aegisai/audit/query"
	"github.com/aegisai/audit/shared"
)

// roleSettings says which of the shared (root) settings a command reads
// and which of its settings it cannot run without. docs/CONFIG.md lists a
// command's own flags and the shared ones it reads; start-up validation
// checks the required ones and every value it can check without I/O, and
// reports all problems at once, each with its flag and variable.
type roleSettings struct {
	// Shared are root flags, or groups of them: "s3", "dynamodb" and
	// "kafka" stand for every flag named so (--s3-region, ...).
	Shared []string
	// Required are flags, shared or the command's own, that must be set.
	Required []string
	// OneOf lists groups of flags of which at least one must be set.
	OneOf [][]string
	// Offline commands start no logger and no HTTP server.
	Offline bool
}

// always are the shared settings of every command that runs (logging,
// and the operational HTTP server of the long-running roles).
var always = []string{"log-level", "log-format", "metrics-addr", "pprof"}

// roles maps a command path to its settings. A command missing here (a new
// one) reads every shared setting and requires --chain, as every command
// did before this table.
var roles = map[string]roleSettings{
	"aegis sealer": {
		Shared:   []string{"kafka", "chain", "topic", "sealed-topic", "s3", "bucket", "prefix", "verifier-key-file"},
		Required: []string{"chain", "brokers", "bucket", "signer-key-file", "verifier-key-file"},
	},
	"aegis indexer": {
		Shared:   []string{"kafka", "sealed-topic", "dynamodb", "table"},
		Required: []string{"brokers", "table"},
	},
	"aegis verify": {
		Shared:   []string{"chain", "s3", "bucket", "prefix", "verifier-key-file"},
		Required: []string{"chain", "bucket", "verifier-key-file"},
	},
	"aegis discover": {
		Shared:   []string{"chain", "s3", "bucket", "prefix", "verifier-key-file"},
		Required: []string{"chain", "bucket", "from", "to", "verifier-key-file"},
	},
	"aegis prove": {
		Shared:   []string{"chain", "s3", "bucket", "prefix", "dynamodb", "table", "verifier-key-file"},
		Required: []string{"chain", "bucket", "table", "verifier-key-file"},
	},
	"aegis verify-proof": {
		Shared:   []string{"chain", "verifier-key-file"},
		Required: []string{"verifier-key-file"},
		Offline:  true,
	},
	"aegis rebuild": {
		Shared:   []string{"chain", "s3", "bucket", "prefix", "dynamodb", "table", "verifier-key-file"},
		Required: []string{"chain", "bucket", "table", "verifier-key-file"},
	},
	"aegis index anomalies": {
		Shared:   []string{"chain", "dynamodb", "table"},
		Required: []string{"chain", "table"},
	},
	"aegis index status": {
		Shared:   []string{"kafka", "chain", "sealed-topic", "s3", "bucket", "prefix", "dynamodb", "table", "verifier-key-file"},
		Required: []string{"chain", "brokers", "bucket", "table", "verifier-key-file"},
	},
	"aegis index check": {
		Shared:   []string{"chain", "s3", "bucket", "prefix", "dynamodb", "table", "verifier-key-file"},
		Required: []string{"chain", "bucket", "table", "verifier-key-file"},
	},
	"aegis ingest": {
		Shared:   []string{"kafka", "chain", "topic", "sealed-topic"},
		Required: []string{"brokers", "tokens-file"},
		OneOf:    [][]string{{"chain", "environments"}},
	},
	"aegis keygen":           {Required: []string{"name", "out"}, Offline: true},
	"aegis config-reference": {Offline: true},
	"aegis version":          {Offline: true},
}

// settingsOf returns the settings of cmd (see roles).
func settingsOf(cmd *cobra.Command) (roleSettings, bool) {
	rs, ok := roles[cmd.CommandPath()]
	if !ok && (cmd.Name() == "help" || cmd.HasParent() && cmd.Parent().Name() == "completion") {
		return roleSettings{Offline: true}, true // cobra's own
	}
	if !ok {
		return roleSettings{Required: []string{"chain"}}, false
	}
	return rs, true
}

// reads reports whether cmd reads the flag: its own, or a shared one its
// role names.
func reads(cmd *cobra.Command, f *pflag.Flag) bool {
	if f.Name == checkSettingsFlag || cmd.LocalNonPersistentFlags().Lookup(f.Name) != nil {
		return true
	}
	rs, known := settingsOf(cmd)
	if !known {
		return true
	}
	if !rs.Offline && slices.Contains(always, f.Name) {
		return true
	}
	for _, s := range rs.Shared {
		if f.Name == s || strings.HasPrefix(f.Name, s+"-") || s == "kafka" && f.Name == "brokers" {
			return true
		}
	}
	return false
}

// belowAMillisecond refuses a duration over 0 and under a millisecond
// (0 is the default; a negative one is refused as every negative value).
func belowAMillisecond(v string) error {
	if d, err := time.ParseDuration(v); err == nil && d > 0 && d < time.Millisecond {
		return errors.New("is below a millisecond: no call could be confirmed in time")
	}
	return nil
}

// settingChecks check a flag's value without I/O; they run for every flag
// the command reads that has a value.
var settingChecks = map[string]func(string) error{
	"chain": func(v string) error {
		if !shared.ValidIdentifier(v) {
			return errors.New("a chain id is 1 to 128 characters of A-Z a-z 0-9 . _ - starting with a letter or digit")
		}
		return nil
	},
	"log-level": func(v string) error {
		var l zapcore.Level
		return l.UnmarshalText([]byte(v))
	},
	"log-format": func(v string) error {
		if v != "json" && v != "console" {
			return errors.New("want json or console")
		}
		return nil
	},
	"metrics-addr": func(v string) error {
		_, _, err := net.SplitHostPort(v)
		return err
	},
	// ingest's waits (and probe's): under a millisecond no event can be
	// confirmed in time, and every decision was answered 503 with the
	// fail-safe action for as long as the service ran (outside trial h1;
	// the producer library refuses them too, naming its Go field).
	"timeout":      belowAMillisecond,
	"seal-timeout": belowAMillisecond,
	// get's and list's page size: 0 was taken as the default of 50, where
	// the docs and the HTTP API say 1 to 500 (an outside trial).
	"limit": func(v string) error {
		if n, err := strconv.Atoi(v); err != nil || n < 1 || n > query.MaxLimit {
			return fmt.Errorf("must be 1 to %d", query.MaxLimit)
		}
		return nil
	},
}

// validate checks the settings cmd reads: required ones are set, values
// are well formed, numbers and durations are not negative; then the
// command's preflight, if any (its checks that read files or ask its
// library, preflight.go). Every problem is reported, each naming its flag
// and environment variable.
func validate(cmd *cobra.Command, preflight func() error) error {
	rs, _ := settingsOf(cmd)
	var errs []error
	bad := map[string]bool{} // flags with a problem reported
	name := func(f string) string { bad[f] = true; return flagName(f) }
	for _, r := range rs.Required {
		f := cmd.Flags().Lookup(r)
		if f == nil {
			continue
		}
		if v := f.Value.String(); v == "" || v == "[]" {
			errs = append(errs, fmt.Errorf("%s is required", name(r)))
		}
	}
	for _, group := range rs.OneOf {
		set := false
		var names []string
		for _, r := range group {
			if f := cmd.Flags().Lookup(r); f != nil && f.Value.String() != "" && f.Value.String() != "[]" {
				set = true
			}
			names = append(names, name(r))
		}
		if !set {
			errs = append(errs, fmt.Errorf("one of %s is required", strings.Join(names, ", ")))
		}
	}
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if !reads(cmd, f) {
			return
		}
		v := f.Value.String()
		if check, ok := settingChecks[f.Name]; ok && v != "" {
			if err := check(v); err != nil {
				errs = append(errs, fmt.Errorf("%s %q: %w", name(f.Name), v, err))
			}
		}
		switch f.Value.Type() {
		case "int", "int64", "duration":
			if strings.HasPrefix(v, "-") {
				errs = append(errs, fmt.Errorf("%s %s: must not be negative", name(f.Name), v))
			}
		case "stringSlice":
			if strings.Contains(v, ",,") || strings.HasPrefix(v, "[,") || strings.HasSuffix(v, ",]") {
				errs = append(errs, fmt.Errorf("%s %s: an empty entry", name(f.Name), v))
			}
		}
	})
	if preflight != nil {
		// A setting already reported is not reported again by the
		// preflight (an invalid --chain would be twice).
		for _, p := range setting.Problems(preflight()) {
			if fs := setting.Fields(p); len(fs) == 1 && bad[fieldFlags[fs[0].Field]] {
				continue
			}
			errs = append(errs, renameFields(cmd, p))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%s: invalid settings:\n%w", cmd.CommandPath(), err)
	}
	return nil
}

// flagName is how messages name a flag: with its environment variable.
func flagName(f string) string { return fmt.Sprintf("--%s (%s)", f, "AEGIS_"+envName(f)) }

// fieldFlags maps the library Config fields the commands fill to the flags
// that fill them, so that a library's *setting.Error names the flag and
// its variable instead of a Go field (renameFields).
var fieldFlags = map[string]string{
	"Brokers": "brokers", "Chain": "chain", "Bucket": "bucket", "Prefix": "prefix", "Table": "table",
	"Topic": "topic", "SealedTopic": "sealed-topic", "Group": "group", "TransactionalID": "transactional-id",
	"Identity": "identity", "SessionTimeout": "session-timeout", "MaxInFlight": "max-in-flight",
	"SignerKey": "signer-key-file", "NextSignerKey": "next-signer-key-file", "VerifierKey": "verifier-key-file",
	"BatchMaxRecords": "batch-max-records", "BatchMaxBytes": "batch-max-bytes", "BatchMaxAge": "batch-max-age",
	"Retention": "retention", "From": "from", "To": "to", "Type": "type",
	"KeysInMemory": "keys-in-memory", "TempDir": "temp-dir", "Workers": "workers",
}

// renameFields returns err with each *setting.Error naming the flag of cmd
// that filled its field (and, for a file, the file).
func renameFields(cmd *cobra.Command, err error) error {
	if err == nil {
		return nil
	}
	return setting.Rename(err, func(field string) string {
		f := cmd.Flags().Lookup(fieldFlags[field])
		if f == nil {
			return ""
		}
		if strings.HasSuffix(f.Name, "-file") && f.Value.String() != "" {
			return fmt.Sprintf("--%s %s (AEGIS_%s):", f.Name, f.Value.String(), envName(f.Name))
		}
		return flagName(f.Name)
	})
}
