package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"golang.org/x/mod/sumdb/note"

	"github.com/aegisai/audit/internal/platform/kafkaconn"
	"github.com/aegisai/audit/internal/testbed/chaos"
	"github.com/aegisai/audit/internal/testbed/localstack"
	"github.com/aegisai/audit/internal/testbed/pipeline"
	"github.com/aegisai/audit/producer"
	"github.com/aegisai/audit/query"
	"github.com/aegisai/audit/replayer"
)

// tlsFiles makes a CA and a certificate for 127.0.0.1 signed by it; it
// returns the server's TLS certificate and the CA's PEM file.
func tlsFiles(t *testing.T) (tls.Certificate, string) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "aegis test CA"}, IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	srvKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	srv := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "kafka"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	srvDER, err := x509.CreateCertificate(rand.Reader, srv, ca, &srvKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o644); err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{srvDER}, PrivateKey: srvKey}, caFile
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// role is one aegis process whose output is kept in a file.
type role struct {
	name string
	cmd  *exec.Cmd
	out  string
	done chan struct{}
}

func startRole(t *testing.T, bin, name string, env []string, args ...string) *role {
	t.Helper()
	r := &role{name: name, out: filepath.Join(t.TempDir(), name+".log"), done: make(chan struct{})}
	f, err := os.Create(r.out)
	if err != nil {
		t.Fatal(err)
	}
	r.cmd = exec.Command(bin, args...)
	r.cmd.Env, r.cmd.Stdout, r.cmd.Stderr = env, f, f
	if err := localstack.StartChild(r.cmd); err != nil {
		t.Fatal(err)
	}
	go func() { _ = r.cmd.Wait(); f.Close(); close(r.done) }()
	t.Cleanup(func() { r.stop(syscall.SIGKILL) })
	return r
}

// stop signals the process and waits for it; it returns the exit code.
func (r *role) stop(sig syscall.Signal) int {
	select {
	case <-r.done:
	default:
		_ = r.cmd.Process.Signal(sig)
		select {
		case <-r.done:
		case <-time.After(40 * time.Second):
			_ = r.cmd.Process.Kill()
			<-r.done
		}
	}
	return r.cmd.ProcessState.ExitCode()
}

func (r *role) output(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(r.out)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func waitHTTP(ctx context.Context, url string) error {
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: not 200 in time (last: %v)", url, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Issue 10, operations: the sealer, the indexer and the ingest service run
// as their own processes, as in production, against a Kafka cluster that
// wants TLS and SASL/SCRAM, with JSON logs at debug level; half the events
// come through aegis ingest, half through the producer library with the
// same TLS and SASL settings (kafkaconn). They answer /healthz and
// /readyz once ready; the events are sealed, verified and indexed; a
// SIGTERM drains the sealer in the documented order; and nothing any of
// them printed (nor a run with a wrong password) holds a secret: the SASL
// password, the AWS secret keys and session token, the signing key.
func TestSecuredPipelineKeepsSecretsOutOfLogs(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	bin, err := chaos.BuildAegis(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	const user, password = "aegis-sealer", "Kafka-Pass-7f3e9b2c"
	cert, caFile := tlsFiles(t)
	var cluster *kfake.Cluster
	for range 5 {
		cluster, err = kfake.NewCluster(kfake.Ports(0), kfake.NumBrokers(1), kfake.GroupMinSessionTimeout(time.Second),
			kfake.EnableSASL(), kfake.Superuser(kafkaconn.ScramSHA256, user, password),
			kfake.TLS(&tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}))
		if err == nil {
			break
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	broker := cluster.ListenAddrs()[0]

	chain, sealed, table := localstack.Name("ops"), localstack.Name("sealed"), localstack.Name("ops")
	bucket := stack.Bucket("ops")
	s3c, err := stack.S3(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := localstack.CreateLockedBucket(ctx, s3c, bucket); err != nil {
		t.Fatal(err)
	}
	skey, vkey, err := note.GenerateKey(rand.Reader, "aegis-"+chain)
	if err != nil {
		t.Fatal(err)
	}
	keys := t.TempDir()
	keyFile, pubFile := filepath.Join(keys, "chain.key"), filepath.Join(keys, "chain.pub")
	if err := os.WriteFile(keyFile, []byte(skey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pubFile, []byte(vkey+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	// A signer key is PRIVATE+KEY+<name>+<hash>+<base64>, and base64 may
	// hold '+' itself: the secret is what follows the fourth '+' (after the
	// last one, it was now and then two letters, found in any log).
	parts := strings.SplitN(skey, "+", 5)
	if len(parts) != 5 || len(parts[4]) < 40 {
		t.Fatalf("signer key of an unexpected form: %d parts", len(parts))
	}
	secrets := map[string]string{"the SASL password": password, "the signing key": skey,
		"the signing key's secret part": parts[4]}
	env := append(os.Environ(), stack.Env()...)
	if dc := stack.DynamoConfig(); dc.AccessKeyID == localstack.DynamoAccessKey {
		// The local DynamoDB accepts any session token: send one, to
		// check that it never shows either.
		env = append(env, "AEGIS_DYNAMODB_SESSION_TOKEN=FwoGZXIvYXdzEDYaDDynamoSessionToken")
	}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		if strings.HasSuffix(k, "_SECRET_ACCESS_KEY") || strings.HasSuffix(k, "_SESSION_TOKEN") {
			if v != "" {
				secrets[k] = v
			}
		}
	}
	env = append(env, "AEGIS_KAFKA_SASL_PASSWORD="+password, "AEGIS_BROKERS="+broker, "AEGIS_KAFKA_SASL_MECHANISM=SCRAM-SHA-256",
		"AEGIS_KAFKA_SASL_USERNAME="+user, "AEGIS_KAFKA_TLS_CA_FILE="+caFile, "AEGIS_LOG_LEVEL=debug", "AEGIS_LOG_FORMAT=json",
		"AEGIS_SEALED_TOPIC="+sealed, "AEGIS_TABLE="+table, "AEGIS_BUCKET="+bucket, "AEGIS_VERIFIER_KEY_FILE="+pubFile)
	sealerAddr, indexerAddr, ingestAddr := freeAddr(t), freeAddr(t), freeAddr(t)
	sealerProc := startRole(t, bin, "sealer", env, "sealer", "--chain", chain, "--signer-key-file", keyFile, "--retention", "24h",
		"--batch-max-age", "100ms", "--identity", "ops", "--metrics-addr", sealerAddr)
	indexerProc := startRole(t, bin, "indexer", env, "indexer", "--create-table", "--group", localstack.Name("indexers"), "--metrics-addr", indexerAddr)
	const ingestToken = "3f9c1d0e8b7a4c2f9e1d7b6a5c4f3e2d"
	secrets["the ingest token"] = ingestToken
	tokens := filepath.Join(keys, "tokens")
	if err := os.WriteFile(tokens, []byte("ops "+ingestToken+" "+chain+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ingestProc := startRole(t, bin, "ingest", env, "ingest", "--chain", chain, "--tokens-file", tokens, "--listen", ingestAddr)
	for _, addr := range []string{sealerAddr, indexerAddr, ingestAddr} {
		for _, path := range []string{"/healthz", "/readyz"} {
			if err := waitHTTP(ctx, "http://"+addr+path); err != nil {
				t.Fatalf("%v\nsealer:\n%s\nindexer:\n%s\ningest:\n%s", err, sealerProc.output(t), indexerProc.output(t), ingestProc.output(t))
			}
		}
	}

	// Publish through the secured cluster, as services would: half over
	// HTTP to aegis ingest, half with the producer library.
	w := pipeline.NewWorkload(chain, chain, 40, 5, 5, 11, time.Now())
	half := len(w.Events) / 2
	for _, ev := range w.Events[:half] {
		viaIngest := *ev
		viaIngest.RecordedBy = "" // ingest states it from the token
		b, err := viaIngest.Record()
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+ingestAddr+"/v1/"+string(ev.Type)+"s", bytes.NewReader(b))
		req.Header.Set("Authorization", "Bearer "+ingestToken)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("ingest answered %s: %s\n%s", resp.Status, body, ingestProc.output(t))
		}
	}
	kafka, err := kafkaconn.Config{Brokers: []string{broker}, CAFile: caFile, SASLMechanism: "SCRAM-SHA-256", Username: user, Password: password}.Options()
	if err != nil {
		t.Fatal(err)
	}
	prod, err := producer.New(ctx, producer.Config{Brokers: []string{broker}, Kafka: kafka, Environment: chain})
	if err != nil {
		t.Fatal(err)
	}
	if err := prod.Publish(ctx, w.Events[half:]...); err != nil {
		t.Fatal(err)
	}
	prod.Close()
	db, err := stack.DynamoDB(ctx)
	if err != nil {
		t.Fatal(err)
	}
	index := &query.Reader{DB: db, Table: table}
	last := w.Decisions[len(w.Decisions)-1].Decision.DecisionID
	for {
		rep, verr := replayer.Verify(ctx, replayer.Config{S3: s3c, Bucket: bucket, Chain: chain, VerifierKey: vkey})
		_, ierr := index.Decision(ctx, last)
		if verr == nil && rep.Events == uint64(len(w.Events)) && rep.Unsigned == 0 && ierr == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("not sealed and indexed in time: verify %v (%d events), index %v\nsealer:\n%s\nindexer:\n%s",
				verr, rep.Events, ierr, sealerProc.output(t), indexerProc.output(t))
		}
		time.Sleep(100 * time.Millisecond)
	}
	verify := exec.CommandContext(ctx, bin, "verify", "--chain", chain)
	verify.Env = env
	verifyOut, err := verify.CombinedOutput()
	if err != nil || !bytes.HasPrefix(verifyOut, []byte("OK chain "+chain)) {
		t.Fatalf("aegis verify: %v: %s", err, verifyOut)
	}

	// A wrong password: the role fails and says so, without the password.
	const wrong = "Wrong-Pass-31c8d0aa"
	secrets["the wrong password"] = wrong
	badEnv := append(append([]string(nil), env...), "AEGIS_KAFKA_SASL_PASSWORD="+wrong)
	bad := startRole(t, bin, "indexer-bad-password", badEnv, "indexer", "--group", localstack.Name("indexers"))
	select {
	case <-bad.done:
	case <-time.After(30 * time.Second):
		bad.stop(syscall.SIGTERM)
	}

	if code := sealerProc.stop(syscall.SIGTERM); code != 0 {
		t.Fatalf("sealer exited %d after SIGTERM:\n%s", code, sealerProc.output(t))
	}
	if code := indexerProc.stop(syscall.SIGTERM); code != 0 {
		t.Fatalf("indexer exited %d after SIGTERM:\n%s", code, indexerProc.output(t))
	}
	if code := ingestProc.stop(syscall.SIGTERM); code != 0 {
		t.Fatalf("ingest exited %d after SIGTERM:\n%s", code, ingestProc.output(t))
	}

	// Production logs: every line one JSON object; the drain in order.
	var steps []string
	sc := bufio.NewScanner(strings.NewReader(sealerProc.output(t)))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var line struct {
			Msg string `json:"msg"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("a sealer log line is not JSON: %q", sc.Text())
		}
		for _, s := range []string{"1/5", "2/5", "3/5", "4/5", "5/5", "sealer session ended"} {
			if strings.HasPrefix(line.Msg, s) {
				steps = append(steps, s)
			}
		}
	}
	if got := strings.Join(steps, " "); got != "1/5 2/5 3/5 4/5 5/5 sealer session ended" {
		t.Fatalf("shutdown steps in the sealer's log: %q", got)
	}

	outputs := map[string]string{"sealer": sealerProc.output(t), "indexer": indexerProc.output(t), "ingest": ingestProc.output(t),
		"indexer with a wrong password": bad.output(t), "verify": string(verifyOut)}
	if bad.cmd.ProcessState.ExitCode() != 1 || !strings.Contains(outputs["indexer with a wrong password"], "--kafka-sasl-") {
		t.Errorf("the run with a wrong password does not say what failed:\n%s", outputs["indexer with a wrong password"])
	}
	size := 0
	for who, out := range outputs {
		size += len(out)
		for what, secret := range secrets {
			if strings.Contains(out, secret) {
				t.Errorf("the %s output holds %s", who, what)
			}
		}
	}
	t.Logf("%d secrets looked for in %d bytes of output of 5 processes", len(secrets), size)
}
