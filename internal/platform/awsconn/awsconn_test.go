package awsconn

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// isolate clears every AWS setting of the environment and points the
// shared config and credentials files at the given contents.
func isolate(t *testing.T, configFile, credentialsFile string) {
	t.Helper()
	for _, k := range []string{"AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ACCESS_KEY_ID",
		"AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_MAX_ATTEMPTS", "AWS_RETRY_MODE", "AWS_ENDPOINT_URL",
		"AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN",
		"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	t.Setenv("AWS_CONFIG_FILE", write("config", configFile))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", write("credentials", credentialsFile))
}

func retrieve(t *testing.T, cfg aws.Config) aws.Credentials {
	t.Helper()
	creds, err := cfg.Credentials.Retrieve(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return creds
}

func TestRegionComesFromTheDefaultChain(t *testing.T) {
	ctx := context.Background()
	isolate(t, "[profile eu]\nregion = eu-central-1\n", "")
	t.Setenv("AWS_REGION", "eu-west-3")
	cfg, err := Config{Service: "s3"}.Load(ctx)
	if err != nil || cfg.Region != "eu-west-3" {
		t.Fatalf("AWS_REGION=eu-west-3: region %q, %v", cfg.Region, err)
	}
	if cfg, err = (Config{Region: "ap-south-1"}).Load(ctx); err != nil || cfg.Region != "ap-south-1" {
		t.Fatalf("the override: region %q, %v", cfg.Region, err)
	}
	os.Unsetenv("AWS_REGION")
	if cfg, err = (Config{Profile: "eu"}).Load(ctx); err != nil || cfg.Region != "eu-central-1" {
		t.Fatalf("profile eu: region %q, %v", cfg.Region, err)
	}
}

func TestNoRegionNamesTheSettings(t *testing.T) {
	isolate(t, "", "")
	_, err := Config{Service: "dynamodb", Setting: "--dynamodb-"}.Load(context.Background())
	if !errors.Is(err, ErrNoRegion) || !strings.Contains(err.Error(), "AWS_REGION") || !strings.Contains(err.Error(), "--dynamodb-region") {
		t.Fatalf("got %v, want ErrNoRegion naming AWS_REGION and --dynamodb-region", err)
	}
	cfg, err := Config{Endpoint: "http://127.0.0.1:1"}.Load(context.Background())
	if err != nil || cfg.Region != LocalRegion {
		t.Fatalf("against a local endpoint: region %q, %v; want %s", cfg.Region, err, LocalRegion)
	}
}

func TestCredentialsKeepTheSessionToken(t *testing.T) {
	ctx := context.Background()
	isolate(t, "", "")
	t.Setenv("AWS_REGION", "us-west-2")
	t.Setenv("AWS_ACCESS_KEY_ID", "ASIAENVKEY")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "envsecret")
	t.Setenv("AWS_SESSION_TOKEN", "envtoken")
	cfg, err := Config{}.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if c := retrieve(t, cfg); c.AccessKeyID != "ASIAENVKEY" || c.SessionToken != "envtoken" {
		t.Fatalf("from the environment: %q with token %q, want ASIAENVKEY with envtoken", c.AccessKeyID, c.SessionToken)
	}
	cfg, err = Config{AccessKeyID: "ASIAFLAG", SecretAccessKey: "flagsecret", SessionToken: "flagtoken"}.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if c := retrieve(t, cfg); c.AccessKeyID != "ASIAFLAG" || c.SessionToken != "flagtoken" {
		t.Fatalf("overridden: %q with token %q", c.AccessKeyID, c.SessionToken)
	}
}

// S3 and DynamoDB in different accounts: each Config picks its own profile.
func TestProfilesPerService(t *testing.T) {
	ctx := context.Background()
	isolate(t, "[profile storage]\nregion = us-west-2\nmax_attempts = 7\n[profile index]\nregion = eu-west-1\n",
		"[storage]\naws_access_key_id = AKIASTORAGE\naws_secret_access_key = s1\n[index]\naws_access_key_id = AKIAINDEX\naws_secret_access_key = s2\naws_session_token = t2\n")
	s3cfg, err := Config{Profile: "storage"}.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	dbcfg, err := Config{Profile: "index"}.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if c := retrieve(t, s3cfg); c.AccessKeyID != "AKIASTORAGE" || s3cfg.Region != "us-west-2" || s3cfg.RetryMaxAttempts != 7 {
		t.Fatalf("storage profile: key %q region %q attempts %d", c.AccessKeyID, s3cfg.Region, s3cfg.RetryMaxAttempts)
	}
	if c := retrieve(t, dbcfg); c.AccessKeyID != "AKIAINDEX" || c.SessionToken != "t2" || dbcfg.Region != "eu-west-1" {
		t.Fatalf("index profile: key %q token %q region %q", c.AccessKeyID, c.SessionToken, dbcfg.Region)
	}
	if _, err := (Config{Profile: "missing"}).Load(ctx); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("a missing profile: %v", err)
	}
}

func TestRetriesFromTheEnvironmentAndOverride(t *testing.T) {
	ctx := context.Background()
	isolate(t, "", "")
	t.Setenv("AWS_REGION", "us-east-2")
	t.Setenv("AWS_MAX_ATTEMPTS", "9")
	cfg, err := Config{}.Load(ctx)
	if err != nil || cfg.RetryMaxAttempts != 9 {
		t.Fatalf("AWS_MAX_ATTEMPTS=9: %d, %v", cfg.RetryMaxAttempts, err)
	}
	if cfg, err = (Config{MaxAttempts: 2}).Load(ctx); err != nil || cfg.RetryMaxAttempts != 2 {
		t.Fatalf("override 2: %d, %v", cfg.RetryMaxAttempts, err)
	}
}

func TestInvalidOverridesAreNamed(t *testing.T) {
	isolate(t, "", "")
	for _, c := range []Config{
		{Setting: "--s3-", SecretAccessKey: "x"},
		{Setting: "--s3-", AccessKeyID: "x"},
		{Setting: "--s3-", SessionToken: "x"},
		{Setting: "--s3-", MaxAttempts: -1, Endpoint: "http://x"},
	} {
		if _, err := c.Load(context.Background()); err == nil || !strings.Contains(err.Error(), "--s3-") {
			t.Errorf("%+v: %v, want an error naming the --s3- setting", c, err)
		}
	}
}

// What the clients send: the session token on every request, the region in
// the signature's scope, path-style addressing against an endpoint.
func TestClientsSignWithTheTokenAndRegion(t *testing.T) {
	ctx := context.Background()
	isolate(t, "", "")
	t.Setenv("AWS_REGION", "eu-north-1")
	var mu sync.Mutex
	var seen []*http.Request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r)
		mu.Unlock()
		if r.Header.Get("X-Amz-Target") != "" { // DynamoDB
			w.Header().Set("Content-Type", "application/x-amz-json-1.0")
			w.Write([]byte(`{"TableNames":[]}`))
			return
		}
		w.Write([]byte(`<ListObjectsV2Result><Name>b</Name></ListObjectsV2Result>`))
	}))
	defer srv.Close()
	cfg := Config{Endpoint: srv.URL, AccessKeyID: "ASIAS3", SecretAccessKey: "s", SessionToken: "s3token"}
	s3c, err := S3(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s3c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("b")}); err != nil {
		t.Fatal(err)
	}
	cfg.AccessKeyID, cfg.SessionToken = "ASIADB", "dbtoken"
	db, err := DynamoDB(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ListTables(ctx, &dynamodb.ListTablesInput{}); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 2 {
		t.Fatalf("%d requests", len(seen))
	}
	for i, want := range []struct{ key, token, path string }{{"ASIAS3", "s3token", "/b"}, {"ASIADB", "dbtoken", "/"}} {
		r := seen[i]
		auth := r.Header.Get("Authorization")
		if r.Header.Get("X-Amz-Security-Token") != want.token || !strings.Contains(auth, "Credential="+want.key+"/") ||
			!strings.Contains(auth, "/eu-north-1/") || r.URL.Path != want.path {
			t.Errorf("request %d: path %s token %q auth %q; want %+v in eu-north-1", i, r.URL.Path, r.Header.Get("X-Amz-Security-Token"), auth, want)
		}
	}
}

// An indexer makes many DynamoDB calls at once, a verification many S3
// requests; each client keeps a connection for each instead of opening one
// per call beyond the SDK's 10.
func TestClientsKeepConnectionsForConcurrentCalls(t *testing.T) {
	isolate(t, "", "")
	ctx := context.Background()
	db, err := DynamoDB(ctx, Config{Endpoint: "http://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	s3c, err := S3(ctx, Config{Endpoint: "http://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		hc   any
		want int
	}{{"DynamoDB", db.Options().HTTPClient, DynamoIdleConns}, {"S3", s3c.Options().HTTPClient, S3IdleConns}} {
		hc, ok := c.hc.(*awshttp.BuildableClient)
		if !ok {
			t.Fatalf("%s: HTTP client %T", c.name, c.hc)
		}
		if tr := hc.GetTransport(); tr.MaxIdleConnsPerHost < c.want || tr.MaxIdleConns < c.want {
			t.Fatalf("%s: idle connections per host %d, in all %d; want at least %d", c.name, tr.MaxIdleConnsPerHost, tr.MaxIdleConns, c.want)
		}
	}
}

// A server that takes the connection and never answers (SIGSTOP on
// versitygw or dynalite, a hung proxy) fails each call within the SDK's
// attempts of ResponseTimeout, as an outage: before, every reader of S3
// or DynamoDB waited for it for ever.
func TestAHungServerFailsTheCallAsAnOutage(t *testing.T) {
	isolate(t, "", "")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var held []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c) // read nothing, answer nothing
			mu.Unlock()
		}
	}()
	defer func() {
		ln.Close()
		mu.Lock()
		for _, c := range held {
			c.Close()
		}
		mu.Unlock()
	}()
	defer func(d time.Duration) { ResponseTimeout = d }(ResponseTimeout)
	ResponseTimeout = 200 * time.Millisecond
	ctx := context.Background()
	cfg := Config{Endpoint: "http://" + ln.Addr().String(), AccessKeyID: "a", SecretAccessKey: "s", MaxAttempts: 2}
	s3c, err := S3(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	db, err := DynamoDB(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for name, call := range map[string]func(context.Context) error{
		"S3 GetObject": func(ctx context.Context) error {
			_, err := s3c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("b"), Key: aws.String("k")})
			return err
		},
		"DynamoDB GetItem": func(ctx context.Context) error {
			_, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("t"), Key: map[string]ddbtypes.AttributeValue{"pk": &ddbtypes.AttributeValueMemberS{Value: "x"}}})
			return err
		},
	} {
		cctx, cancel := context.WithTimeout(ctx, 20*time.Second) // the test's own bound, far past the attempts
		start := time.Now()
		err := call(cctx)
		expired := cctx.Err() != nil
		cancel()
		took := time.Since(start)
		if err == nil || expired || took > 10*time.Second {
			t.Fatalf("%s against a server that never answers: %v after %s; want a timeout within the attempts", name, err, took)
		}
		if !Unavailable(err) {
			t.Fatalf("%s: %v is not an outage", name, err)
		}
	}
}
