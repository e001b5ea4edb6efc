package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

// checkEnv is the environment the file is interpolated with: the values
// `make up` writes to .env, so that required variables resolve.
var checkEnv = []string{"MINIO_ROOT_USER=check", "MINIO_ROOT_PASSWORD=checkpassword", "RUN_AS=1000:1000"}

// Check validates the compose file at path and returns a report of what
// it checked, or every problem found.
func Check(ctx context.Context, path, aegis string) (string, error) {
	opts, err := cli.NewProjectOptions([]string{path}, cli.WithName("aegis"), cli.WithEnv(checkEnv),
		cli.WithWorkingDirectory(filepath.Dir(path)), cli.WithConsistency(true), cli.WithResolvedPaths(true))
	if err != nil {
		return "", err
	}
	p, err := opts.LoadProject(ctx)
	if err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	var bin *aegisBinary
	if aegis != "" {
		if bin, err = newAegisBinary(ctx, aegis); err != nil {
			return "", err
		}
	}
	var errs []error
	var images []string
	var aegisServices int
	names := p.ServiceNames()
	sort.Strings(names)
	for _, name := range names {
		s := p.Services[name]
		switch {
		case s.Image != "":
			if err := pinned(s.Image); err != nil {
				errs = append(errs, fmt.Errorf("service %s: image %s: %w", name, s.Image, err))
			}
			images = append(images, s.Image)
		case s.Build == nil:
			errs = append(errs, fmt.Errorf("service %s: neither image nor build", name))
		}
		if s.Build != nil {
			df := s.Build.Dockerfile
			if df == "" {
				df = "Dockerfile"
			}
			if !filepath.IsAbs(df) {
				df = filepath.Join(s.Build.Context, df)
			}
			if err := nonRootImage(df); err != nil {
				errs = append(errs, fmt.Errorf("service %s: build: %w", name, err))
			}
			if err := secretsIgnored(s.Build.Context); err != nil {
				errs = append(errs, fmt.Errorf("service %s: build: %w", name, err))
			}
			if err := nonRoot(s.User); err != nil {
				errs = append(errs, fmt.Errorf("service %s: user %q: %w", name, s.User, err))
			}
			if bin != nil {
				aegisServices++
				if err := checkAegis(ctx, bin, name, s); err != nil {
					errs = append(errs, err)
				}
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return "", err
	}
	sort.Strings(images)
	return fmt.Sprintf("%s: valid; %d services (%d aegis roles checked against %s); images pinned: %s\n",
		path, len(names), aegisServices, aegis, strings.Join(images, ", ")), nil
}

// nonRoot checks that a service's user is a number other than root's (a
// name could be root under another name).
func nonRoot(user string) error {
	uid, _, _ := strings.Cut(user, ":")
	n, err := strconv.Atoi(uid)
	switch {
	case user == "":
		return errors.New("none: the container would run as the image's user; set a non-root uid")
	case err != nil:
		return errors.New("not a numeric uid")
	case n == 0:
		return errors.New("root")
	}
	return nil
}

// nonRootImage checks that a Dockerfile's last stage ends with a numeric
// USER other than root's, so that the image itself never runs as root.
func nonRootImage(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	user := ""
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) == 0:
		case strings.EqualFold(f[0], "FROM"):
			user = "" // a new stage starts as its base image's user
		case strings.EqualFold(f[0], "USER") && len(f) > 1:
			user = f[1]
		}
	}
	if err := nonRoot(user); err != nil {
		return fmt.Errorf("%s: its last stage's USER %q: %w", path, user, err)
	}
	return nil
}

// secretPaths are what make up writes into the build context and no build
// may be sent: the signing keys, the bearer tokens, the passwords, the
// spool of escalated decisions.
var secretPaths = []string{".env", "keys/", "secrets/", "spool/", "*.key"}

// secretsIgnored checks that the build context's .dockerignore lists each
// secret path (COPY . . sent keys/prod.key to the daemon before it had one).
func secretsIgnored(context string) error {
	b, err := os.ReadFile(filepath.Join(context, ".dockerignore"))
	if err != nil {
		return fmt.Errorf("%w: without it COPY . . sends %s to the daemon", err, strings.Join(secretPaths, ", "))
	}
	listed := map[string]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		listed[strings.TrimSpace(line)] = true
	}
	var missing []string
	for _, p := range secretPaths {
		if !listed[p] && !listed[strings.TrimSuffix(p, "/")] {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%s does not list %s", filepath.Join(context, ".dockerignore"), strings.Join(missing, ", "))
	}
	return nil
}

// pinned checks that an image reference names a tag other than latest, or
// a digest.
func pinned(image string) error {
	if strings.Contains(image, "@sha256:") {
		return nil
	}
	name := image[strings.LastIndex(image, "/")+1:] // not a registry's :port
	_, tag, ok := strings.Cut(name, ":")
	if !ok || tag == "" {
		return errors.New("no tag: pin a version")
	}
	if tag == "latest" {
		return errors.New("tag latest moves: pin a version")
	}
	return nil
}

// checkAegis runs the service's command with its variables through `aegis
// --check-settings`, its health check with --help, and checks that each
// AEGIS_ variable of the service is one aegis documents.
func checkAegis(ctx context.Context, bin *aegisBinary, name string, s types.ServiceConfig) error {
	if len(s.Command) == 0 {
		return fmt.Errorf("service %s: built from the repository but runs no aegis command", name)
	}
	var errs []error
	// Its command and flags with its variables alone, as the role checks
	// them at start.
	var env []string
	for k, v := range s.Environment {
		if v != nil {
			env = append(env, k+"="+*v)
		}
	}
	if err := bin.settings(ctx, s.Command, env); err != nil {
		errs = append(errs, fmt.Errorf("service %s: %w", name, err))
	}
	// A health check that runs the image's own binary must be a command
	// it has, with flags it accepts.
	if hc := s.HealthCheck; hc != nil && len(hc.Test) > 2 && hc.Test[0] == "CMD" && hc.Test[1] == "/aegis" {
		args := append(append([]string(nil), hc.Test[2:]...), "--help")
		if out, err := exec.CommandContext(ctx, bin.path, args...).CombinedOutput(); err != nil {
			errs = append(errs, fmt.Errorf("service %s: healthcheck aegis %s: %v: %s", name, strings.Join(hc.Test[2:], " "), err, bytes.TrimSpace(out)))
		}
	}
	names := make([]string, 0, len(s.Environment))
	for k := range s.Environment {
		names = append(names, k)
	}
	if err := bin.variables(names); err != nil {
		errs = append(errs, fmt.Errorf("service %s: %w", name, err))
	}
	return errors.Join(errs...)
}

// aegisBinary is the aegis binary a file is checked against, with its
// settings reference (docs/CONFIG.md), read once per check.
type aegisBinary struct {
	path      string
	reference []byte
	commands  map[string]bool // the first word of each command ("index" of "index check")
}

func newAegisBinary(ctx context.Context, path string) (*aegisBinary, error) {
	ref, err := exec.CommandContext(ctx, path, "config-reference").Output()
	if err != nil {
		return nil, fmt.Errorf("%s config-reference: %w", path, err)
	}
	b := &aegisBinary{path: path, reference: ref, commands: map[string]bool{}}
	for _, line := range strings.Split(string(ref), "\n") {
		if f := strings.Fields(line); len(f) > 2 && f[0] == "##" && f[1] == "aegis" {
			b.commands[f[2]] = true
		}
	}
	return b, nil
}

// variables checks that each AEGIS_ name is a variable aegis reads.
func (b *aegisBinary) variables(names []string) error {
	sort.Strings(names)
	var errs []error
	for _, k := range names {
		if strings.HasPrefix(k, "AEGIS_") && !bytes.Contains(b.reference, []byte("`"+k+"`")) {
			errs = append(errs, fmt.Errorf("%s is not a setting of aegis (docs/CONFIG.md)", k))
		}
	}
	return errors.Join(errs...)
}
