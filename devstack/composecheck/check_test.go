package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// aegisBin builds the repository's aegis binary once per test binary.
func aegisBin(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "aegis")
	if out, err := exec.Command("go", "build", "-C", "../..", "-o", bin, "./cmd/aegis").CombinedOutput(); err != nil {
		t.Fatalf("build aegis: %v: %s", err, out)
	}
	return bin
}

// The repository's own file passes, and names each image it checked.
func TestRepositoryComposeFile(t *testing.T) {
	rep, err := Check(context.Background(), "../../docker-compose.yml", aegisBin(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"apache/kafka:", "minio/minio:", "amazon/dynamodb-local:", "6 aegis roles"} {
		if !strings.Contains(rep, want) {
			t.Errorf("report lacks %q: %s", want, rep)
		}
	}
	t.Log(rep)
}

// Each mistake the checker exists for is found and named.
func TestMistakesAreFound(t *testing.T) {
	bin := aegisBin(t)
	dir := t.TempDir()
	ignore := ".env\nkeys/\nsecrets/\nspool/\n*.key\n"
	for name, content := range map[string]string{"Dockerfile": "FROM scratch\nUSER 65532:65532\n", ".dockerignore": ignore,
		"root/Dockerfile": "FROM golang AS build\nUSER 1000\nFROM scratch\n", "root/.dockerignore": ignore,
		"named/Dockerfile": "FROM scratch\nUSER nonroot\n", "named/.dockerignore": ignore,
		"open/Dockerfile": "FROM scratch\nUSER 65532\n", "open/.dockerignore": ".git\nkeys/\n",
		"bare/Dockerfile": "FROM scratch\nUSER 65532\n"} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct{ name, file, want string }{
		{"latest", "services:\n  a:\n    image: minio/minio:latest\n", "tag latest moves"},
		{"untagged", "services:\n  a:\n    image: amazon/dynamodb-local\n", "no tag"},
		{"registry port is not a tag", "services:\n  a:\n    image: registry.local:5000/kafka\n", "no tag"},
		{"unknown dependency", "services:\n  a:\n    image: a:1\n    depends_on: [nowhere]\n", "nowhere"},
		{"not compose", "services:\n  a:\n    image: a:1\n    restartt: always\n", "restartt"},
		{"unknown flag", "services:\n  s:\n    build: .\n    command: [sealer, --batch-max-recrods, \"5\"]\n", "--batch-max-recrods"},
		{"unknown command", "services:\n  s:\n    build: .\n    command: [seal]\n", "seal"},
		{"a value aegis refuses", "services:\n  s:\n    build: .\n    user: \"1000\"\n    command: [indexer]\n    environment:\n      AEGIS_CHAIN: prod\n      AEGIS_LOG_FORMAT: jsonl\n", `--log-format (AEGIS_LOG_FORMAT) "jsonl"`},
		{"unknown variable", "services:\n  s:\n    build: .\n    command: [indexer]\n    environment:\n      AEGIS_TABEL: x\n", "AEGIS_TABEL"},
		{"unknown health command", "services:\n  s:\n    build: .\n    command: [indexer]\n    healthcheck:\n      test: [CMD, /aegis, healthz, \"http://127.0.0.1:9100/readyz\"]\n", "healthz"},
		{"missing Dockerfile", "services:\n  s:\n    build: ./nowhere\n    command: [indexer]\n", "nowhere"},
		{"no user", "services:\n  s:\n    build: .\n    command: [indexer]\n", "user \"\": none"},
		{"root user", "services:\n  s:\n    build: .\n    user: \"0:0\"\n    command: [indexer]\n", "user \"0:0\": root"},
		{"named user", "services:\n  s:\n    build: .\n    user: root\n    command: [indexer]\n", "not a numeric uid"},
		{"image's last stage as root", "services:\n  s:\n    build: ./root\n    user: \"1000\"\n    command: [indexer]\n", "last stage's USER \"\""},
		{"secrets not ignored", "services:\n  s:\n    build: ./open\n    user: \"1000\"\n    command: [indexer]\n", "does not list .env, secrets/, spool/, *.key"},
		{"no .dockerignore", "services:\n  s:\n    build: ./bare\n    user: \"1000\"\n    command: [indexer]\n", "COPY . . sends"},
		{"image's user by name", "services:\n  s:\n    build: ./named\n    user: \"1000\"\n    command: [indexer]\n", "USER \"nonroot\": not a numeric uid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, "docker-compose.yml")
			if err := os.WriteFile(path, []byte(tc.file), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := Check(context.Background(), path, bin)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error naming %q", err, tc.want)
			}
		})
	}
}
