package main

import (
	"context"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aegisai/audit/indexer/layout"
	"github.com/aegisai/audit/internal/testbed/localstack"
)

// closedAddr returns a local address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// Issue 15: a service that cannot be reached, or credentials that cannot
// be found, are named with the settings that decide them, the SDK's or the
// client's text kept after the hint.
func TestConnectionFailuresNameTheirSettings(t *testing.T) {
	setStackEnv(t)
	pub := keyPair(t, t.TempDir(), "k1")
	down := "http://" + closedAddr(t)
	table := emptyTable(t, "connhint")
	for _, tc := range []struct {
		name   string
		args   []string
		env    map[string]string
		want   []string
		status int // exitFailed unless set
	}{
		{"S3 down", []string{"verify", "--chain", "prod", "--verifier-key-file", pub, "--s3-endpoint", down, "--s3-max-attempts", "1"}, nil,
			[]string{"could not check: ", "S3 could not be reached at " + down + " (check --s3-endpoint (AEGIS_S3_ENDPOINT)): ", "connection refused"}, exitUnavailable},
		{"DynamoDB down", []string{"get", "d1", "--chain", "prod", "--dynamodb-endpoint", down, "--dynamodb-max-attempts", "1"}, nil,
			[]string{"could not check: ", "DynamoDB could not be reached at " + down + " (check --dynamodb-endpoint (AEGIS_DYNAMODB_ENDPOINT)): ", "connection refused"}, exitUnavailable},
		{"no such table", []string{"get", "d1", "--chain", "prod", "--table", "nope"}, nil,
			[]string{"table nope not found at " + stack.DynamoEndpoint + " (check --table (AEGIS_TABLE) and --dynamodb-endpoint (AEGIS_DYNAMODB_ENDPOINT)): ", "ResourceNotFoundException"}, 0},
		{"Kafka down", []string{"index", "status", "--chain", "prod", "--table", table, "--verifier-key-file", pub, "--brokers", closedAddr(t)}, nil,
			[]string{"could not check: ", "could not be reached (check --brokers (AEGIS_BROKERS), --kafka-tls-* and --kafka-sasl-*): ", "connection refused"}, exitUnavailable},
		{"no credentials", []string{"verify", "--chain", "prod", "--verifier-key-file", pub, "--s3-access-key-id", ""},
			map[string]string{"AEGIS_S3_SECRET_ACCESS_KEY": "", "AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_PROFILE": "",
				"AWS_EC2_METADATA_DISABLED": "true", "HOME": t.TempDir(), "AWS_CONFIG_FILE": os.DevNull, "AWS_SHARED_CREDENTIALS_FILE": os.DevNull},
			[]string{"S3: no AWS credentials found (set --s3-access-key-id (AEGIS_S3_ACCESS_KEY_ID) with AEGIS_S3_SECRET_ACCESS_KEY, or --s3-profile", "get credentials"}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			status := tc.status
			if status == 0 {
				status = exitFailed
			}
			failsWithStatus(t, status, tc.args, tc.want...)
		})
	}
	// aegis health dials the URL it is given: no Kafka hint there.
	if out := failsWith(t, []string{"health", "http://" + closedAddr(t) + "/readyz"}, "connection refused"); strings.Contains(out, "--brokers") {
		t.Fatalf("aegis health of a closed port: %s", out)
	}
}

// Issue 18: aegis query checks its table before it listens, as the indexer
// does: DynamoDB down or the table missing stops it without a "listening"
// line, naming the setting.
func TestQueryChecksItsTableBeforeListening(t *testing.T) {
	setStackEnv(t)
	tokens := writeFile(t, "tokens", "auditor tok-0123456789abcdef prod")
	base := []string{"query", "--chain", "prod", "--token-file", tokens, "--verifier-key-file", keyPair(t, t.TempDir(), "k1"), "--addr", closedAddr(t)}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no table", []string{"--table", localstack.Name("absent")}, "table does not exist"},
		{"DynamoDB down", []string{"--dynamodb-endpoint", "http://" + closedAddr(t), "--dynamodb-max-attempts", "1"}, "dynamodb could not be reached"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logs, err := os.CreateTemp(t.TempDir(), "stderr")
			if err != nil {
				t.Fatal(err)
			}
			stderr := os.Stderr
			os.Stderr = logs // the logger writes to the process's standard error
			code, out := aegis(t, append(base, tc.args...)...)
			os.Stderr = stderr
			logged, _ := os.ReadFile(logs.Name())
			if code != exitFailed || !strings.Contains(strings.ToLower(out), tc.want) || strings.Contains(string(logged), "listening") {
				t.Fatalf("exit %d: %s\nlog:\n%s", code, out, logged)
			}
		})
	}
}

// emptyTable creates an index table of its own for a test.
func emptyTable(t *testing.T, prefix string) string {
	t.Helper()
	db, err := stack.DynamoDB(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	table := localstack.Name(prefix)
	if err := layout.EnsureTable(context.Background(), db, table); err != nil {
		t.Fatal(err)
	}
	return table
}

// The sealer refused by S3 for its keys names the credential settings
// (before: "access to the bucket denied" alone, operators' trial).
func TestSealerRefusedCredentialsNameTheSettings(t *testing.T) {
	setStackEnv(t)
	dir := t.TempDir()
	pub := keyPair(t, dir, "k1")
	t.Setenv("AEGIS_S3_SECRET_ACCESS_KEY", "not-the-secret")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	done := make(chan struct{})
	var code int
	var out string
	go func() {
		code, out = aegis(t, "sealer", "--chain", "prod", "--bucket", stack.Bucket("creds"), "--create-bucket", "--signer-key-file", dir+"/k1.key",
			"--verifier-key-file", pub, "--s3-access-key-id", localstack.AccessKey, "--brokers", stack.KafkaAddr)
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		t.Fatal("the sealer kept retrying refused credentials")
	}
	if code != exitFailed || !strings.Contains(out, "AEGIS_S3_SECRET_ACCESS_KEY") || !strings.Contains(out, "--s3-access-key-id") {
		t.Fatalf("exit %d: %s", code, out)
	}
}
