package produce

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aegisai/audit/ingest"
	"github.com/aegisai/audit/internal/testbed/pipeline"
	"github.com/aegisai/audit/internal/testbed/testcerts"
)

// aegis ingest over HTTPS with client certificates (--tls-cert-file,
// --tls-key-file, --tls-client-ca-file): a service with a certificate of
// the clients' CA records a decision, which is sealed; a client without
// one, with one of another CA, or speaking plain HTTP is not served. The
// bearer token is still required over mutual TLS.
func TestIngestOverMutualTLS(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p := pipeline.ForTest(t, stack, pipeline.Config{Indexers: -1})
	dir := t.TempDir()
	serverCA, clientCA := testcerts.NewCA(t), testcerts.NewCA(t)
	srv := serverCA.Server(t, dir, "ingest.test", 2)
	clientsFile := filepath.Join(dir, "clients.pem")
	testcerts.Write(t, clientsFile, clientCA.PEM)
	service := clientCA.Client(t, dir, "login-risk", 3).Pair(t)
	in := startIngestWith(t, p, &tls.Config{RootCAs: serverCA.Pool(), Certificates: []tls.Certificate{service}},
		"--tls-cert-file", srv.CertFile, "--tls-key-file", srv.KeyFile, "--tls-client-ca-file", clientsFile)

	code, body := in.post("/v1/decisions", in.token, decisionBody(p.Cfg.Chain, "over-tls"))
	var created ingest.Created
	if code != 201 || json.Unmarshal(body, &created) != nil || created.EventID == "" {
		t.Fatalf("decision over mutual TLS: %d %s", code, body)
	}
	if code, body := in.post("/v1/decisions", "", decisionBody(p.Cfg.Chain, "no-token")); code != 401 {
		t.Fatalf("no bearer token over mutual TLS: %d %s", code, body)
	}
	waitSealed(t, ctx, p, map[string]bool{created.EventID: true})

	stranger := testcerts.NewCA(t).Client(t, dir, "stranger", 4).Pair(t)
	for name, c := range map[string]*http.Client{
		"no client certificate":              {Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: serverCA.Pool()}}},
		"a client certificate of another CA": {Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: serverCA.Pool(), Certificates: []tls.Certificate{stranger}}}},
	} {
		if resp, err := c.Get(in.base + "/readyz"); err == nil {
			resp.Body.Close()
			t.Errorf("%s: served %d", name, resp.StatusCode)
		}
	}
	if resp, err := http.Get("http://" + strings.TrimPrefix(in.base, "https://") + "/readyz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("plain HTTP to the TLS port: %d", resp.StatusCode)
		}
	}
	// A refusal over mutual TLS names the client certificate too.
	if code, _ := in.post("/v1/decisions", "not-a-token-0123456789", decisionBody(p.Cfg.Chain, "refused")); code != 401 {
		t.Fatalf("an unknown token over mutual TLS: %d", code)
	}
	log, err := os.ReadFile(in.Log.Name())
	if err != nil || !strings.Contains(string(log), `"url":"`+in.base+`"`) {
		t.Errorf("the log does not give the https URL served: %s", log)
	}
	if !strings.Contains(string(log), `"client_certificate":"CN=login-risk"`) {
		t.Errorf("the refusal does not name the client certificate: %s", log)
	}
}

// A token taken out of the token file of a running ingest is refused
// within seconds, without a restart; the other tokens keep working.
func TestIngestRevokesATokenTakenOutOfItsFile(t *testing.T) {
	p := pipeline.ForTest(t, stack, pipeline.Config{Indexers: -1})
	in := startIngest(t, p)
	if code, body := in.post("/v1/decisions", in.token, decisionBody(p.Cfg.Chain, "before")); code != 201 {
		t.Fatalf("before: %d %s", code, body)
	}
	other := "other-0123456789abcdef"
	if err := os.WriteFile(in.tokensFile, []byte("second "+other+" "+p.Cfg.Chain+" record\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		code, _ := in.post("/v1/decisions", in.token, decisionBody(p.Cfg.Chain, "after"))
		if code == 401 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the revoked token still answered %d after 15 s", code)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if code, body := in.post("/v1/decisions", other, decisionBody(p.Cfg.Chain, "new")); code != 201 {
		t.Fatalf("the token added: %d %s", code, body)
	}
}
