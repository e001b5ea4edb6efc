package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/aegisai/audit/archive"
	"github.com/aegisai/audit/internal/testbed/localstack"
	"github.com/aegisai/audit/internal/testbed/pipeline"
	"github.com/aegisai/audit/sealer"
	"github.com/aegisai/audit/shared"
)

var stack *localstack.Stack

func TestMain(m *testing.M) {
	// The tests set what they read: an AEGIS_ setting left in the shell
	// (make explore prints an export line of them) changed what aegis
	// did under them (AEGIS_CHAIN failed verify-proof of another chain's
	// bundle: an outside trial).
	for _, kv := range os.Environ() {
		// AEGIS_TEST_* and AEGIS_STACK choose the test servers.
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "AEGIS_") && !strings.HasPrefix(k, "AEGIS_TEST_") && k != "AEGIS_STACK" {
			os.Unsetenv(k)
		}
	}
	os.Exit(localstack.RunTests(m, &stack))
}

// setStackEnv points aegis at the stack through the environment, as an
// operator would: brokers, endpoints and each service's credentials.
func setStackEnv(t *testing.T) {
	t.Helper()
	for _, kv := range stack.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
}

func aegis(t *testing.T, args ...string) (int, string) {
	t.Helper()
	var out bytes.Buffer
	code := run(args, &out, &out)
	return code, out.String()
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// Issue 5.5: a key in the wrong flag is named, with its flag and file.
func TestKeyFileErrorsNameTheFlagAndFile(t *testing.T) {
	dir := t.TempDir()
	if code, out := aegis(t, "keygen", "--name", "aegis-test", "--out", filepath.Join(dir, "prod")); code != 0 {
		t.Fatal(out)
	}
	pub, key := filepath.Join(dir, "prod.pub"), filepath.Join(dir, "prod.key")
	code, out := aegis(t, "sealer", "--chain", "prod", "--signer-key-file", pub, "--verifier-key-file", pub)
	if code != 1 || !strings.Contains(out, "--signer-key-file "+pub) || !strings.Contains(out, "public (verifier) key") {
		t.Fatalf("public key as the signer key: exit %d: %s", code, out)
	}
	code, out = aegis(t, "verify", "--chain", "prod", "--verifier-key-file", key)
	if code != 1 || !strings.Contains(out, "--verifier-key-file "+key) || !strings.Contains(out, "private (signer) key") {
		t.Fatalf("private key as the verifier key: exit %d: %s", code, out)
	}
	// Issue 14: the private key's text never reaches the message; its
	// file and name do.
	skey, err := os.ReadFile(key)
	if err != nil {
		t.Fatal(err)
	}
	secret := strings.TrimSpace(string(skey))
	secret = strings.SplitN(secret, "+", 5)[4] // PRIVATE+KEY+<name>+<hash>+<key>
	for _, args := range [][]string{
		{"verify", "--chain", "prod", "--verifier-key-file", key},
		{"sealer", "--chain", "prod", "--signer-key-file", key, "--verifier-key-file", key},
		{"rotate-key", "--chain", "prod", "--new-verifier-key-file", key},
		{"verify-proof", "--verifier-key-file", key, pub},
	} {
		code, out := aegis(t, args...)
		if code != 1 || strings.Contains(out, secret[:12]) || !strings.Contains(out, key) || !strings.Contains(out, "aegis-test") {
			t.Fatalf("aegis %v with a private key as the verifier key: exit %d: %s", args, code, out)
		}
	}
	if code, out := aegis(t, "keygen", "--name", "has space"); code != 1 || !strings.Contains(out, "--name") {
		t.Fatalf("keygen with a bad name: exit %d: %s", code, out)
	}
}

// Issue 5.3: verify's exit status tells scripts apart a fully signed log
// (0), a sound log with unsigned entries (2, or 0 with --allow-unsigned)
// and a broken one (1); --save-checkpoint and --known-checkpoint work
// together.
func TestVerifyExitStatus(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p := sealedChain(ctx, t, 25, 31)
	setStackEnv(t)
	pub := writeFile(t, "chain.pub", p.Cfg.VerifierKey)
	saved := filepath.Join(t.TempDir(), "kept.note")
	args := []string{"verify", "--chain", p.Cfg.Chain, "--bucket", p.Cfg.Bucket, "--s3-endpoint", stack.S3Endpoint, "--verifier-key-file", pub}

	code, out := aegis(t, append(args, "--save-checkpoint", saved)...)
	if code != 0 || !strings.Contains(out, "OK chain") || !strings.Contains(out, "signed to seq 25") {
		t.Fatalf("sound log: exit %d: %s", code, out)
	}
	if code, out := aegis(t, append(args, "--known-checkpoint", saved)...); code != 0 || !strings.Contains(out, "extends the known checkpoint") {
		t.Fatalf("with the kept checkpoint: exit %d: %s", code, out)
	}
	if code, out := aegis(t, append(args, "--json")...); code != 0 || !strings.Contains(out, `"ok":true`) || !strings.Contains(out, `"entries":26`) {
		t.Fatalf("--json: exit %d: %s", code, out)
	}
	// S3 out of reach: nothing was checked, which is not a broken chain
	// (before, exit 1 as for a tampered one: the operators' trial).
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	down := append(slices.Clone(args), "--s3-endpoint", dead.URL, "--s3-max-attempts", "1")
	if code, out := aegis(t, down...); code != 4 || !strings.Contains(out, "could not check") || strings.Contains(out, "does not verify") {
		t.Fatalf("S3 out of reach: exit %d: %s", code, out)
	}
	if code, out := aegis(t, append(down, "--json")...); code != 4 || !strings.Contains(out, `"exit_status":4`) {
		t.Fatalf("S3 out of reach, --json: exit %d: %s", code, out)
	}

	// The sealer died after writing a batch and before its checkpoint.
	store := &archive.Store{S3: p.S3, Bucket: p.Cfg.Bucket}
	head := p.Sealer.Head()
	e, err := shared.SealRecord(head, shared.Source{Topic: p.Cfg.Topic, Offset: head.Offset + 1, Timestamp: time.Now()}, []byte("not json"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	line, _ := e.Line()
	if _, err := store.Put(ctx, shared.BatchKey("audit", e), append(line, '\n'), time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if code, out := aegis(t, args...); code != 2 || !strings.Contains(out, "1 entries after seq 25") {
		t.Fatalf("unsigned tail: exit %d: %s", code, out)
	}
	if code, out := aegis(t, append(args, "--allow-unsigned")...); code != 0 || !strings.Contains(out, "not signed") {
		t.Fatalf("unsigned tail allowed: exit %d: %s", code, out)
	}
	if code, out := aegis(t, append(args, "--json")...); code != 2 || !strings.Contains(out, `"ok":false`) || !strings.Contains(out, `"unsigned":1`) {
		t.Fatalf("--json with an unsigned tail: exit %d: %s", code, out)
	}
	// discover writes the unsigned entry with "signed":false, and exits
	// 2 as verify does (it exited 0: an outside trial); a range whose
	// matches are all signed exits 0.
	day := time.Now().UTC()
	disc := []string{"discover", "--chain", p.Cfg.Chain, "--bucket", p.Cfg.Bucket, "--s3-endpoint", stack.S3Endpoint, "--verifier-key-file", pub,
		"--from", day.AddDate(0, 0, -1).Format(time.DateOnly), "--to", day.AddDate(0, 0, 2).Format(time.DateOnly), "--json"}
	if code, out := aegis(t, append(disc, "--type", "invalid")...); code != 2 || !strings.Contains(out, `"signed":false`) || !strings.Contains(out, "1 of the entries written are in the newest object") {
		t.Fatalf("discover of the unsigned entry: exit %d: %s", code, out)
	}
	if code, out := aegis(t, append(disc, "--type", "invalid", "--allow-unsigned")...); code != 0 || !strings.Contains(out, `"signed":false`) {
		t.Fatalf("discover of the unsigned entry, allowed: exit %d: %s", code, out)
	}
	if code, out := aegis(t, append(disc, "--type", "event")...); code != 0 || strings.Contains(out, `"signed":false`) || !strings.Contains(out, "25 entries matched") {
		t.Fatalf("discover of the signed entries: exit %d: %s", code, out)
	}

	// A new version over a sealed object breaks the log.
	refs, err := store.Batches(ctx, p.Cfg.Chain)
	if err != nil {
		t.Fatal(err)
	}
	victim, err := store.Get(ctx, refs[1].Key, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.S3.PutObject(ctx, putInput(p.Cfg.Bucket, refs[1].Key, bytes.Replace(victim.Body, []byte("ALLOW"), []byte("BLOCK"), 1))); err != nil {
		t.Fatal(err)
	}
	if code, out := aegis(t, args...); code != 1 || !strings.Contains(out, refs[1].Key) {
		t.Fatalf("tampered log: exit %d: %s", code, out)
	}
}

// sealedChain seals n decisions (a workload from seed) into a new chain
// of objects of 10 entries, and stops its sealer.
func sealedChain(ctx context.Context, t *testing.T, n, seed int) *pipeline.Pipeline {
	t.Helper()
	p, err := pipeline.Start(ctx, stack, pipeline.Config{Indexers: -1, Sealer: func(c *sealer.Config) { c.BatchMaxRecords = 10 }})
	if err != nil {
		t.Fatal(err)
	}
	w := pipeline.NewWorkload(p.Cfg.Chain, p.Cfg.Chain, n, 0, 3, seed, time.Now())
	prod, err := p.Producer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := prod.Publish(ctx, w.Events...); err != nil {
		t.Fatal(err)
	}
	prod.Close()
	if err := p.WaitHead(ctx, uint64(n)); err != nil {
		t.Fatal(err)
	}
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	return p
}

func putInput(bucket, key string, body []byte) *s3.PutObjectInput {
	return &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(body),
		ObjectLockMode: types.ObjectLockModeCompliance, ObjectLockRetainUntilDate: aws.Time(time.Now().Add(time.Hour))}
}

// Issue 6: prove writes a bundle from the index and S3 that verify-proof
// checks offline with the key alone; a changed byte fails it.
func TestProveAndVerifyProof(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p, w := indexedPipeline(ctx, t, 40, pipeline.NewWorkload("", "", 100, 20, 5, 41, time.Now()))
	target := w.Overrides[0].Override.DecisionID
	setStackEnv(t)
	pub := writeFile(t, "chain.pub", p.Cfg.VerifierKey)
	bundle := filepath.Join(t.TempDir(), "proof.json")
	code, out := aegis(t, "prove", target, "--out", bundle, "--chain", p.Cfg.Chain, "--bucket", p.Cfg.Bucket, "--table", p.Cfg.Table,
		"--s3-endpoint", stack.S3Endpoint, "--dynamodb-endpoint", stack.DynamoEndpoint, "--verifier-key-file", pub)
	if code != 0 {
		t.Fatalf("prove: exit %d: %s", code, out)
	}
	raw, err := os.ReadFile(bundle)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("bundle of %s: %d bytes", target, len(raw))
	code, out = aegis(t, "verify-proof", bundle, "--verifier-key-file", pub)
	if code != 0 || !strings.Contains(out, "OK decision "+target) || !strings.Contains(out, "override to") ||
		!strings.Contains(out, "not that no other override exists") {
		t.Fatalf("verify-proof: exit %d: %s (want the entries, and what a proof cannot show)", code, out)
	}
	// The chain is part of what a bundle proves: one key may sign several.
	if code, out := aegis(t, "verify-proof", bundle, "--verifier-key-file", pub, "--chain", p.Cfg.Chain); code != 0 {
		t.Fatalf("verify-proof --chain %s: exit %d: %s", p.Cfg.Chain, code, out)
	}
	if code, out := aegis(t, "verify-proof", bundle, "--verifier-key-file", pub, "--chain", "staging"); code != 1 ||
		!strings.Contains(out, "of chain "+p.Cfg.Chain+", not of --chain staging") {
		t.Fatalf("verify-proof --chain staging of a bundle of %s: exit %d: %s", p.Cfg.Chain, code, out)
	}
	// discover finds the same user's decisions straight from S3, and the
	// overrides of them (each follows its decision).
	user := w.Decisions[0].Decision.UserID
	want, theirs := 0, map[string]bool{}
	for _, d := range w.Decisions {
		if d.Decision.UserID == user {
			want++
			theirs[d.Decision.DecisionID] = true
		}
	}
	for _, o := range w.Overrides {
		if theirs[o.Override.DecisionID] {
			want++
		}
	}
	now := time.Now().UTC()
	code, out = aegis(t, "discover", "--from", now.Add(-time.Hour).Format(time.RFC3339), "--to", now.Add(time.Hour).Format(time.RFC3339),
		"--user", user, "--chain", p.Cfg.Chain, "--bucket", p.Cfg.Bucket, "--s3-endpoint", stack.S3Endpoint, "--verifier-key-file", pub)
	if got := strings.Count(out, `"signed":true`); code != 0 || got != want || !strings.Contains(out, "entries matched --user "+user+",") {
		t.Fatalf("discover --user %s: exit %d, %d entries, want %d, and the filter named in the summary: %s", user, code, got, want, out)
	}
	// A variable exported for another command filters too, and the
	// summary says where the filter came from.
	t.Setenv("AEGIS_USER", user)
	code, out = aegis(t, "discover", "--from", now.Add(-time.Hour).Format(time.RFC3339), "--to", now.Add(time.Hour).Format(time.RFC3339),
		"--chain", p.Cfg.Chain, "--bucket", p.Cfg.Bucket, "--s3-endpoint", stack.S3Endpoint, "--verifier-key-file", pub)
	if got := strings.Count(out, `"signed":true`); code != 0 || got != want || !strings.Contains(out, "--user "+user+" (AEGIS_USER is set)") {
		t.Fatalf("discover with AEGIS_USER: exit %d, %d entries, want %d, and the variable named: %s", code, got, want, out)
	}
	os.Unsetenv("AEGIS_USER")

	edited := writeFile(t, "edited.json", strings.TrimSuffix(strings.Replace(string(raw), `"size":`, `"size":1`, 1), "\n"))
	if code, out := aegis(t, "verify-proof", edited, "--verifier-key-file", pub); code != 1 || !strings.Contains(out, "does not verify") {
		t.Fatalf("verify-proof of an edited bundle: exit %d: %s", code, out)
	}
	// Issue 5: a file that is not a bundle is named as such, and what it is
	// when that is recognisable; a bundle missing its format is not one.
	receipt := writeFile(t, "receipt.json", `{"event_id":"e","durability":"sealed","chain":"prod","seq":3}`)
	noFormat := writeFile(t, "noformat.json", strings.Replace(strings.TrimSuffix(string(raw), "\n"), `"format":`, `"formal":`, 1))
	for file, want := range map[string]string{receipt: "not an evidence bundle: this is a receipt; check it with aegis verify-receipt",
		noFormat: `not an evidence bundle: no "format" member`, pub: "not an evidence bundle: not a JSON object"} {
		if code, out := aegis(t, "verify-proof", file, "--verifier-key-file", pub); code != 1 || !strings.Contains(out, want) || strings.Contains(out, "canonical") {
			t.Fatalf("verify-proof of %s: exit %d: %s", file, code, out)
		}
	}
}

// Issue 6: index status shows the gap between the index and S3's signed
// head and exits 3 past --max-lag; rebuild closes it.
func TestIndexStatusAndRebuild(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p, err := pipeline.Start(ctx, stack, pipeline.Config{Indexers: 1, Sealer: func(c *sealer.Config) { c.BatchMaxRecords = 20 }})
	if err != nil {
		t.Fatal(err)
	}
	w := pipeline.NewWorkload(p.Cfg.Chain, p.Cfg.Chain, 60, 10, 5, 61, time.Now())
	prod, err := p.Producer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	if err := prod.Publish(ctx, w.Events[:40]...); err != nil {
		t.Fatal(err)
	}
	if err := p.WaitHead(ctx, 40); err != nil {
		t.Fatal(err)
	}
	if err := p.WaitIndexed(ctx); err != nil {
		t.Fatal(err)
	}
	setStackEnv(t)
	pub := writeFile(t, "chain.pub", p.Cfg.VerifierKey)
	args := []string{"--chain", p.Cfg.Chain, "--bucket", p.Cfg.Bucket, "--table", p.Cfg.Table, "--brokers", stack.KafkaAddr,
		"--sealed-topic", p.Cfg.SealedTopic, "--s3-endpoint", stack.S3Endpoint, "--dynamodb-endpoint", stack.DynamoEndpoint, "--verifier-key-file", pub}
	status := append([]string{"index", "status", "--group", "indexer-" + p.Cfg.Table}, args...)
	if code, out := aegis(t, status...); code != 0 || !strings.Contains(out, "contiguous to seq 40") || !strings.Contains(out, "gap 0") ||
		!strings.Contains(out, ": caught up; the last entry indexed from it is seq ") || !strings.Contains(out, "(the indexer group's offset ") ||
		!strings.Contains(out, "group indexer-"+p.Cfg.Table+": Stable, 1 member: ") || !strings.Contains(out, "(partitions 0, 1, 2, 3, 4, 5)") {
		t.Fatalf("index caught up: exit %d: %s", code, out)
	}
	// A group no indexer joined is named, with the flag to give.
	if code, out := aegis(t, append([]string{"index", "status", "--group", "no-such-group"}, args...)...); code != 1 ||
		!strings.Contains(out, "no indexer has joined it") || !strings.Contains(out, "--group") {
		t.Fatalf("index status of a group no indexer joined: exit %d: %s", code, out)
	}
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	// The indexers are gone; the sealer goes on.
	cfg := p.Cfg
	cfg.Indexers = -1
	q, err := pipeline.Start(ctx, stack, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Stop()
	if err := prod.Publish(ctx, w.Events[40:]...); err != nil {
		t.Fatal(err)
	}
	n := uint64(len(w.Events))
	if err := q.WaitHead(ctx, n); err != nil {
		t.Fatal(err)
	}
	code, out := aegis(t, status...)
	if code != 0 || !strings.Contains(out, fmt.Sprintf("gap %d", n-40)) ||
		!strings.Contains(out, "group indexer-"+p.Cfg.Table+": Empty, 0 members; no indexer is running in it") {
		t.Fatalf("index behind, no --max-lag (the gap told, not judged): exit %d: %s", code, out)
	}
	if code, out := aegis(t, append(status, "--max-lag", fmt.Sprint(n-40))...); code != 0 {
		t.Fatalf("index behind by exactly --max-lag: exit %d: %s", code, out)
	}
	if code, out := aegis(t, append(status, "--max-lag", fmt.Sprint(n-41))...); code != 3 || !strings.Contains(out, "more than --max-lag") {
		t.Fatalf("index behind past --max-lag: exit %d: %s", code, out)
	}
	if code, out := aegis(t, append([]string{"index", "check"}, args...)...); code != 1 || !strings.Contains(out, "missing") {
		t.Fatalf("index check: exit %d: %s", code, out)
	}
	// The same check with its keys spilled to disk (2 a chunk): one JSON
	// object a missing item, the scratch folder gone afterwards.
	tmp := t.TempDir()
	spilled := append([]string{"index", "check", "--json", "--keys-in-memory", "2", "--temp-dir", tmp}, args...)
	if code, out := aegis(t, spilled...); code != 1 || strings.Count(out, `{"kind":"missing","seq":`) != int(n-40) {
		t.Fatalf("index check --keys-in-memory 2 --json: exit %d, want %d missing items: %s", code, n-40, out)
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Fatalf("index check left %v in --temp-dir", left)
	}
	if code, out := aegis(t, append([]string{"index", "check", "--temp-dir", filepath.Join(tmp, "none"), "--keys-in-memory", "2"}, args...)...); code != 1 ||
		!strings.Contains(out, "--temp-dir (AEGIS_TEMP_DIR)") {
		t.Fatalf("index check with a --temp-dir that does not exist: exit %d: %s", code, out)
	}
	// Issue 25: what --only-missing read and what it mended are told apart,
	// and each item mended is listed.
	missing := n - 40
	if code, out := aegis(t, append([]string{"rebuild", "--only-missing"}, args...)...); code != 0 ||
		!strings.Contains(out, fmt.Sprintf("; %d items mended: %d missing written, 0 different rewritten, 0 extra deleted", missing, missing)) ||
		strings.Count(out, "  mended missing item of seq ") != int(missing) || strings.Contains(out, "items written") {
		t.Fatalf("rebuild --only-missing: exit %d: %s", code, out)
	}
	if code, out := aegis(t, append([]string{"index", "check"}, args...)...); code != 0 {
		t.Fatalf("index check after the rebuild: exit %d: %s", code, out)
	}
}

// indexedPipeline starts a pipeline with one indexer and batches of batch
// entries, publishes w's events (w's ids and chain are replaced by the
// pipeline's own) and waits until they are sealed and indexed. The pipeline
// stops with the test.
func indexedPipeline(ctx context.Context, t *testing.T, batch int, w *pipeline.Workload) (*pipeline.Pipeline, *pipeline.Workload) {
	t.Helper()
	p, err := pipeline.Start(ctx, stack, pipeline.Config{Indexers: 1, Sealer: func(c *sealer.Config) { c.BatchMaxRecords = batch }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Stop() })
	for _, ev := range w.Events {
		ev.Environment = p.Cfg.Chain
		ev.EventID = p.Cfg.Chain + ev.EventID
		if ev.Decision != nil {
			ev.Decision.DecisionID = p.Cfg.Chain + ev.Decision.DecisionID
		} else {
			ev.Override.DecisionID = p.Cfg.Chain + ev.Override.DecisionID
		}
	}
	prod, err := p.Producer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	if err := prod.Publish(ctx, w.Events...); err != nil {
		t.Fatal(err)
	}
	if err := p.WaitHead(ctx, uint64(len(w.Events))); err != nil {
		t.Fatal(err)
	}
	if err := p.WaitIndexed(ctx); err != nil {
		t.Fatal(err)
	}
	return p, w
}
