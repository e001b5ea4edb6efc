package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/aegisai/audit/internal/platform/kafkaconn"
)

func init() {
	secretSettings = append(secretSettings, envSetting{Name: "AEGIS_KAFKA_SASL_PASSWORD", Group: "kafka",
		Usage: "SASL password of --kafka-sasl-username (or --kafka-sasl-password-file)"})
}

// kafkaFlags registers the Kafka connection settings: TLS and SASL.
func kafkaFlags(fs *pflag.FlagSet, c *kafkaconn.Config, passwordFile *string) {
	c.Setting = "--kafka-"
	fs.BoolVar(&c.TLS, "kafka-tls", false, "connect to the brokers over TLS (implied by any --kafka-tls-* file)")
	fs.StringVar(&c.CAFile, "kafka-tls-ca-file", "", "PEM CA bundle the brokers' certificates are checked against (empty: the system's roots)")
	fs.StringVar(&c.ServerName, "kafka-tls-server-name", "", "name the brokers' certificates must carry (empty: the broker's host)")
	fs.StringVar(&c.CertFile, "kafka-tls-cert-file", "", "PEM client certificate, for brokers that require mutual TLS")
	fs.StringVar(&c.KeyFile, "kafka-tls-key-file", "", "PEM private key of --kafka-tls-cert-file")
	fs.StringVar(&c.SASLMechanism, "kafka-sasl-mechanism", "", "SASL mechanism: SCRAM-SHA-256, SCRAM-SHA-512 or PLAIN (PLAIN only over TLS; empty: none)")
	fs.StringVar(&c.Username, "kafka-sasl-username", "", "SASL user name")
	fs.StringVar(passwordFile, "kafka-sasl-password-file", "", "file holding the SASL password (else AEGIS_KAFKA_SASL_PASSWORD)")
}

// kafkaOptions returns the franz-go options for the configured cluster:
// seed brokers, TLS and SASL.
func (c *common) kafkaOptions() ([]kgo.Opt, error) {
	k := c.kafka
	k.Brokers = c.brokers
	k.Password = os.Getenv("AEGIS_KAFKA_SASL_PASSWORD")
	if c.kafkaPasswordFile != "" {
		b, err := os.ReadFile(c.kafkaPasswordFile)
		if err != nil {
			return nil, fmt.Errorf("--kafka-sasl-password-file: %w", err)
		}
		k.Password = strings.TrimSpace(string(b))
	}
	return k.Options()
}

// kafkaConnect returns the client options after checking that a broker
// accepts a connection with them, so that a wrong address, certificate or
// password is named at start (a broker that refuses SASL often just closes
// the connection, which the client reports as EOF).
func (c *common) kafkaConnect(ctx context.Context) ([]kgo.Opt, error) {
	opts, err := c.kafkaOptions()
	if err != nil {
		return nil, err
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("kafka client: %w", err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := cl.Ping(ctx); err != nil {
		return nil, fmt.Errorf("kafka %v: no broker accepted the connection (check --brokers, --kafka-tls-* and --kafka-sasl-*): %w", c.brokers, err)
	}
	return opts, nil
}
