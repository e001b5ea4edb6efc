// Package localstack starts the real local servers the pipeline runs on in
// development and tests: franz-go's kfake Kafka broker (in process), versitygw
// (S3 with Object Lock, posix backend with a versioning dir) and dynalite
// (DynamoDB on Node.js). Each binds a free loopback port, is waited on until it
// answers, and is stopped by Close; child processes are also killed if this
// process dies (Pdeathsig).
//
// The servers are installed by the Makefile (make tools): bin/versitygw and
// devstack/dynalite/node_modules. Set AEGIS_STACK=containers (and build with
// -tags containers) to use testcontainers-go where a Docker engine exists,
// or AEGIS_STACK=external to use servers that already run (see external.go).
package localstack

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/aegisai/audit/internal/platform/awsconn"
)

// Static credentials of the local S3 and DynamoDB servers: letters and
// digits only, since DynamoDB Local refuses an access key id with a hyphen
// or an underscore. The two services have different keys, as S3 and
// DynamoDB accounts often do, so that a client given the wrong service's
// keys fails against versitygw.
const (
	AccessKey       = "aegislocal"
	SecretKey       = "aegislocalsecret"
	DynamoAccessKey = "aegisdynamo"
	DynamoSecretKey = "aegisdynamosecret"
)

// Options configures Start.
type Options struct {
	// Dir holds the servers' state (kafka/, s3/, dynamodb/). Empty: a new
	// temporary directory, removed by Close. A given Dir is kept, so a second
	// Start continues where the first stopped.
	Dir string
	// Root is the repository root holding bin/ and devstack/. Empty: found
	// from $AEGIS_ROOT or by walking up from the working directory.
	Root string
	// Log receives the servers' stderr; nil discards it.
	Log *os.File
}

// Stack is a running set of local servers.
type Stack struct {
	// Brokers are the Kafka seed brokers; KafkaAddr is the first.
	Brokers   []string
	KafkaAddr string
	// Kafka is the in-process broker, for fault injection in tests
	// (kfake.Cluster.ControlKey). Nil when the broker is a container or
	// an external server.
	Kafka *kfake.Cluster
	// S3Endpoint and DynamoEndpoint are base URLs (empty: AWS, only on an
	// external stack).
	S3Endpoint     string
	DynamoEndpoint string
	// S3DataDir is versitygw's posix data root: <dir>/<bucket>/<key>
	// (empty when the S3 server's disk is not reachable).
	S3DataDir string
	// BucketPrefix starts the name of every bucket tests create.
	BucketPrefix string

	s3, dynamo awsconn.Config
	closers    []func()
	kafkaDir   string
}

// Close stops every server, newest first.
func (s *Stack) Close() {
	for i := len(s.closers) - 1; i >= 0; i-- {
		s.closers[i]()
	}
	s.closers = nil
}

// Start starts Kafka, S3 and DynamoDB and waits until each answers.
func Start(ctx context.Context, o Options) (_ *Stack, err error) {
	switch os.Getenv("AEGIS_STACK") {
	case "", "native":
	case "containers":
		return startContainers(ctx)
	case "external":
		return startExternal(ctx)
	default:
		return nil, fmt.Errorf("AEGIS_STACK=%q: want native (the default), containers or external", os.Getenv("AEGIS_STACK"))
	}
	s := &Stack{}
	s.setCredentials()
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	if o.Dir == "" {
		dir, err := os.MkdirTemp("", "aegis-stack-")
		if err != nil {
			return nil, fmt.Errorf("state dir: %w", err)
		}
		o.Dir = dir
		s.closers = append(s.closers, func() { os.RemoveAll(dir) })
	}
	if o.Root == "" {
		if o.Root, err = FindRoot(); err != nil {
			return nil, err
		}
	}
	// Test binaries of several packages start stacks at once. Between
	// picking a free port and a server binding it, another stack could pick
	// the same port, and its readiness check would then reach our server.
	// One machine-wide lock around port picking and startup prevents that.
	unlock, err := lockStartup()
	if err != nil {
		return nil, err
	}
	defer unlock()
	if err := s.startKafka(filepath.Join(o.Dir, "kafka")); err != nil {
		return nil, err
	}
	if err := s.startS3(ctx, o); err != nil {
		return nil, err
	}
	if err := s.startDynamo(ctx, o); err != nil {
		return nil, err
	}
	return s, nil
}

// FindRoot returns $AEGIS_ROOT or the nearest parent of the working directory
// holding devstack/go.mod.
func FindRoot() (string, error) {
	if r := os.Getenv("AEGIS_ROOT"); r != "" {
		return r, nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "devstack", "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("repository root not found (no devstack/go.mod above the working directory); set AEGIS_ROOT")
		}
		dir = parent
	}
}

func (s *Stack) startKafka(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("kafka dir: %w", err)
	}
	var lastErr error
	for range 5 {
		port, err := freePort()
		if err != nil {
			return err
		}
		c, err := newKafka(port, dir)
		if err != nil {
			lastErr = err
			continue
		}
		s.KafkaAddr, s.Kafka, s.kafkaDir = c.ListenAddrs()[0], c, dir
		s.Brokers = []string{s.KafkaAddr}
		s.closers = append(s.closers, func() {
			if s.Kafka != nil {
				s.closeKafka()
			}
		})
		return nil
	}
	return fmt.Errorf("start kfake: %w", lastErr)
}

func (s *Stack) startS3(ctx context.Context, o Options) error {
	bin := filepath.Join(o.Root, "bin", "versitygw")
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("versitygw not installed at %s: run `make tools`: %w", bin, err)
	}
	s.S3DataDir = filepath.Join(o.Dir, "s3", "data")
	versions := filepath.Join(o.Dir, "s3", "versions")
	for _, d := range []string{s.S3DataDir, versions} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("s3 dir: %w", err)
		}
	}
	return s.startProcess(ctx, o, "versitygw", func(port int) *exec.Cmd {
		// --keep-alive: versitygw closes each connection after one answer
		// without it (AWS S3 and MinIO keep them), so every request, ours
		// and each benchmark's raw baseline, paid a new TCP connection.
		cmd := exec.Command(bin, "--port", fmt.Sprintf("127.0.0.1:%d", port), "--health", "/health", "--quiet", "--keep-alive",
			"posix", "--versioning-dir", versions, s.S3DataDir)
		cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY_ID="+AccessKey, "ROOT_SECRET_ACCESS_KEY="+SecretKey)
		return cmd
	}, func(base string) bool {
		resp, err := http.Get(base + "/health")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, &s.S3Endpoint)
}

func (s *Stack) startDynamo(ctx context.Context, o Options) error {
	if _, err := os.Stat(filepath.Join(o.Root, "devstack", "dynalite", "node_modules", "dynalite", "cli.js")); err != nil {
		return fmt.Errorf("dynalite not installed: run `make tools`: %w", err)
	}
	// serve.js runs dynalite's cli.js, surviving clients that drop a
	// request half sent (a killed indexer), which end dynalite itself.
	cli := filepath.Join(o.Root, "devstack", "dynalite", "serve.js")
	dir := filepath.Join(o.Dir, "dynamodb")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("dynamodb dir: %w", err)
	}
	return s.startProcess(ctx, o, "dynalite", func(port int) *exec.Cmd {
		return exec.Command("node", cli, "--host", "127.0.0.1", "--port", fmt.Sprint(port),
			"--createTableMs", "0", "--deleteTableMs", "0", "--updateTableMs", "0", "--path", dir)
	}, func(base string) bool {
		resp, err := http.Get(base)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return true
	}, &s.DynamoEndpoint)
}

// startProcess runs a server on a free port and waits until ready(base)
// holds, retrying with another port if the process exits early.
func (s *Stack) startProcess(ctx context.Context, o Options, name string, mk func(port int) *exec.Cmd, ready func(base string) bool, endpoint *string) error {
	var lastErr error
attempts:
	for range 3 {
		port, err := freePort()
		if err != nil {
			return err
		}
		cmd := mk(port)
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if o.Log != nil {
			cmd.Stdout, cmd.Stderr = o.Log, o.Log
		}
		if err := startChild(cmd); err != nil {
			return fmt.Errorf("start %s: %w", name, err)
		}
		exited := make(chan error, 1)
		var stopping atomic.Bool
		go func() {
			err := cmd.Wait()
			if !stopping.Load() {
				// A server dying under a test is otherwise only seen as
				// "connection refused" somewhere later.
				fmt.Fprintf(os.Stderr, "localstack: %s (pid %d, %s) exited unexpectedly: %v\n", name, cmd.Process.Pid, cmd.Path, err)
			}
			exited <- err
		}()
		stop := func() {
			stopping.Store(true)
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(5 * time.Second):
				_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
				<-exited
			}
		}
		base := fmt.Sprintf("http://127.0.0.1:%d", port)
		deadline := time.Now().Add(60 * time.Second)
		for {
			if ready(base) {
				select {
				case err := <-exited:
					// Something else answered on the port; ours is gone.
					lastErr = fmt.Errorf("%s exited (%v) while another server answered on %s", name, err, base)
					continue attempts
				default:
				}
				*endpoint = base
				s.closers = append(s.closers, stop)
				return nil
			}
			select {
			case err := <-exited:
				lastErr = fmt.Errorf("%s exited before it was ready: %v: %s", name, err, stderr.String())
			case <-ctx.Done():
				stop()
				return ctx.Err()
			case <-time.After(50 * time.Millisecond):
				if time.Now().Before(deadline) {
					continue
				}
				stop()
				return fmt.Errorf("%s not ready on %s after 60s: %s", name, base, stderr.String())
			}
			break
		}
	}
	return lastErr
}

// Pdeathsig fires when the OS thread that started the child exits, not
// when the process does, and the Go runtime may end threads. Children are
// therefore started from one goroutine locked to its thread for the life of
// the process, so they die with the process and never before.
var (
	spawnOnce sync.Once
	spawnReq  chan spawnCall
)

type spawnCall struct {
	cmd  *exec.Cmd
	done chan error
}

func startChild(cmd *exec.Cmd) error {
	spawnOnce.Do(func() {
		spawnReq = make(chan spawnCall)
		go func() {
			runtime.LockOSThread() // never unlocked: this thread lives as long as the process
			for c := range spawnReq {
				c.done <- c.cmd.Start()
			}
		}()
	})
	done := make(chan error, 1)
	spawnReq <- spawnCall{cmd: cmd, done: done}
	return <-done
}

func lockStartup() (func(), error) {
	f, err := os.OpenFile(filepath.Join(os.TempDir(), "aegis-localstack.lock"), os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		return nil, fmt.Errorf("startup lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("startup lock: %w", err)
	}
	return func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// StartChild starts cmd so that it dies with this process (Pdeathsig, from
// the locked spawning thread), in its own process group.
func StartChild(cmd *exec.Cmd) error {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	return startChild(cmd)
}
