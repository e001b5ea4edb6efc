package kafkaconn

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Every problem is named by its setting, all at once, and no error holds
// the password.
func TestProblemsAreNamedWithoutSecrets(t *testing.T) {
	const secret = "Sup3r-Secret-Pass"
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		cfg  Config
		want []string
	}{
		{Config{}, []string{"no Kafka seed brokers"}},
		{Config{Brokers: []string{"b:9092"}, SASLMechanism: "SCRAM-SHA-1", Username: "u", Password: secret}, []string{`--kafka-sasl-mechanism "SCRAM-SHA-1"`}},
		{Config{Brokers: []string{"b:9092"}, SASLMechanism: ScramSHA512, Password: secret}, []string{"needs --kafka-sasl-username"}},
		{Config{Brokers: []string{"b:9092"}, Username: "u"}, []string{"--kafka-sasl-username is set but --kafka-sasl-mechanism is not"}},
		{Config{Brokers: []string{"b:9092"}, CAFile: notPEM, CertFile: "c.pem", SASLMechanism: Plain, Username: "u"},
			[]string{"--kafka-tls-ca-file " + notPEM + ": no PEM", "--kafka-tls-cert-file and --kafka-tls-key-file go together", "needs --kafka-sasl-username and a password"}},
		{Config{Brokers: []string{"b:9092"}, CAFile: filepath.Join(dir, "missing.pem")}, []string{"--kafka-tls-ca-file: open"}},
	} {
		tc.cfg.Setting = "--kafka-"
		_, err := tc.cfg.Options()
		if err == nil {
			t.Fatalf("%+v: no error", tc.cfg)
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%v: want %q", err, w)
			}
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("the error holds the password: %v", err)
		}
	}
}

func TestOptionsForEachMechanism(t *testing.T) {
	for _, m := range []string{"", Plain, ScramSHA256, ScramSHA512, "scram-sha-256"} {
		c := Config{Brokers: []string{"b:9092"}, TLS: true, SASLMechanism: m}
		if m != "" {
			c.Username, c.Password = "u", "p"
		}
		opts, err := c.Options()
		if err != nil {
			t.Fatalf("%q: %v", m, err)
		}
		want := 2 // seed brokers, TLS
		if m != "" {
			want = 3
		}
		if len(opts) != want {
			t.Errorf("%q: %d options, want %d", m, len(opts), want)
		}
	}
}
