package main

import (
	"crypto/tls"
	"fmt"
	"time"

	"github.com/spf13/pflag"
	"go.uber.org/zap"

	"github.com/aegisai/audit/internal/platform/httpauth"
	"github.com/aegisai/audit/internal/platform/serve"
)

// DefaultMaxConnections is --max-connections' default: far above what the
// services' callers keep open (a pool per client), low enough that a
// flood of idle connections costs tens of MB, not the process.
const DefaultMaxConnections = 10000

// apiFlags registers the settings of a role that serves an API: HTTPS,
// and the cap on connections.
func apiFlags(fs *pflag.FlagSet, f *serve.TLSFiles, maxConns *int) {
	fs.IntVar(maxConns, "max-connections", DefaultMaxConnections, "connections open at once at most; beyond, new ones wait until one closes (0: no cap)")
	fs.StringVar(&f.Cert, "tls-cert-file", "", "PEM certificate (chain) to serve HTTPS with; a renewal written over the files is served from the next connection (empty: plain HTTP)")
	fs.StringVar(&f.Key, "tls-key-file", "", "PEM private key of --tls-cert-file")
	fs.StringVar(&f.ClientCA, "tls-client-ca-file", "", "PEM CA bundle: every client must present a certificate it signed (mutual TLS; read at start)")
}

// serveTLS reads a role's HTTPS settings: nil when it serves plain HTTP.
// The certificate's expiry goes to the role's metrics.
func (c *common) serveTLS(f serve.TLSFiles, log *zap.Logger) (*tls.Config, error) {
	if !f.Enabled() {
		return nil, nil
	}
	if c.registry != nil {
		f.Metrics = c.registry
	}
	return f.Config(log.Named("tls"), flagName)
}

// checkTLS is the start-up check of a role's HTTPS settings, reported with
// its other settings' problems (the files are read again to serve).
func checkTLS(f serve.TLSFiles) error {
	if !f.Enabled() {
		return nil
	}
	_, err := f.Config(zap.NewNop(), flagName)
	return err
}

// listenAPI binds a role's API address (setting names it in errors) and
// warns when what it serves would cross the network in the clear; also
// says what else that costs (the query service's page).
func listenAPI(o serve.Options, setting, also string, log *zap.Logger) (*serve.Server, error) {
	o.HideReadyReason = true // callers reach this address; operators, --metrics-addr
	srv, err := serve.Listen(o)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", setting, err)
	}
	if o.TLS == nil && !serve.Loopback(srv.Addr()) {
		log.Warn("serving plain HTTP on an address other machines can reach: bearer tokens and answers cross the network unencrypted"+also+
			"; set --tls-cert-file and --tls-key-file, or keep a TLS-terminating proxy in front and this address private to it", zap.String("addr", srv.Addr()))
	}
	return srv, nil
}

// tokenReload is how often ingest and query look whether their token file
// changed: a token taken out of it is refused two looks later.
const tokenReload = 2 * time.Second

// warnTokens logs what is loose in a service's token file: a file every
// user of the machine may read (the tokens are in it in the clear), and
// tokens that name no use (each may both record events through ingest and
// read the trail through query).
func warnTokens(log *zap.Logger, tokens *httpauth.Tokens, path, setting string) {
	serve.WarnIfOpen(log, path, "the token file", zap.String("setting", setting))
	if names := tokens.Unscoped(); len(names) > 0 {
		log.Warn("tokens that name no use may both record events (aegis ingest) and read the trail (aegis query): "+
			"add record or read as the line's fourth field", zap.String("setting", setting), zap.Strings("tokens", names))
	}
}
