// Package kafkaconn turns the Kafka connection settings every role shares
// (seed brokers, TLS, SASL) into franz-go client options, so that the
// sealer, the indexer and the tools reach a secured cluster (Confluent
// Cloud, MSK, a self-run cluster with SCRAM users) the same way.
//
// Secrets are never part of an error: errors name the setting and the
// file, not the password or the key.
package kafkaconn

import (
	"crypto/tls"
	"errors"
	"fmt"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/aegisai/audit/internal/platform/capool"
)

// SASL mechanisms.
const (
	Plain       = "PLAIN"
	ScramSHA256 = "SCRAM-SHA-256"
	ScramSHA512 = "SCRAM-SHA-512"
)

// Config is how to reach the Kafka cluster. Zero values: plaintext, no
// authentication.
type Config struct {
	// Brokers are the seed brokers (required).
	Brokers []string
	// TLS encrypts every connection, verifying the brokers against CAFile
	// (PEM; empty: the system's roots) and ServerName (empty: the
	// broker's host). Any of the TLS files turns TLS on.
	TLS        bool
	CAFile     string
	ServerName string
	// CertFile and KeyFile are a client certificate and its key (PEM), for
	// brokers that authenticate clients by mutual TLS.
	CertFile, KeyFile string
	// SASLMechanism is "" (none), PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512,
	// with Username and Password. PLAIN sends the password as it is: use
	// it only over TLS.
	SASLMechanism, Username, Password string
	// Setting is the prefix of the settings that fill this Config, for
	// errors ("--kafka-").
	Setting string
}

// Options returns the client options: seed brokers, TLS and SASL. Every
// problem is reported at once, each naming its setting.
func (c Config) Options() ([]kgo.Opt, error) {
	var errs []error
	name := func(s string) string { return c.Setting + s }
	if len(c.Brokers) == 0 {
		errs = append(errs, errors.New("no Kafka seed brokers"))
	}
	opts := []kgo.Opt{kgo.SeedBrokers(c.Brokers...)}
	if c.TLS || c.CAFile != "" || c.CertFile != "" || c.KeyFile != "" || c.ServerName != "" {
		cfg, err := c.tlsConfig(name)
		if err != nil {
			errs = append(errs, err)
		} else {
			opts = append(opts, kgo.DialTLSConfig(cfg))
		}
	}
	m, err := c.mechanism(name)
	if err != nil {
		errs = append(errs, err)
	} else if m != nil {
		opts = append(opts, kgo.SASL(m))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return opts, nil
}

func (c Config) tlsConfig(name func(string) string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: c.ServerName}
	var errs []error
	if c.CAFile != "" {
		var err error
		if cfg.RootCAs, err = capool.Load(name("tls-ca-file"), c.CAFile); err != nil {
			errs = append(errs, err)
		}
	}
	switch {
	case c.CertFile != "" && c.KeyFile != "":
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			// The error of LoadX509KeyPair quotes no key material.
			errs = append(errs, fmt.Errorf("%s %s and %s %s: %w", name("tls-cert-file"), c.CertFile, name("tls-key-file"), c.KeyFile, err))
		} else {
			cfg.Certificates = []tls.Certificate{cert}
		}
	case c.CertFile != "" || c.KeyFile != "":
		errs = append(errs, fmt.Errorf("%s and %s go together", name("tls-cert-file"), name("tls-key-file")))
	}
	return cfg, errors.Join(errs...)
}

func (c Config) mechanism(name func(string) string) (sasl.Mechanism, error) {
	if c.SASLMechanism == "" {
		if c.Username != "" {
			return nil, fmt.Errorf("%s is set but %s is not", name("sasl-username"), name("sasl-mechanism"))
		}
		return nil, nil
	}
	if c.Username == "" || c.Password == "" {
		return nil, fmt.Errorf("%s %s needs %s and a password", name("sasl-mechanism"), c.SASLMechanism, name("sasl-username"))
	}
	switch strings.ToUpper(c.SASLMechanism) {
	case Plain:
		return plain.Auth{User: c.Username, Pass: c.Password}.AsMechanism(), nil
	case ScramSHA256:
		return scram.Auth{User: c.Username, Pass: c.Password}.AsSha256Mechanism(), nil
	case ScramSHA512:
		return scram.Auth{User: c.Username, Pass: c.Password}.AsSha512Mechanism(), nil
	}
	return nil, fmt.Errorf("%s %q: want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", name("sasl-mechanism"), c.SASLMechanism)
}
