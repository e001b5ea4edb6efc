// Package httpauth checks the bearer tokens of the HTTP services (ingest,
// query). Each token is bound to the environments (chains) it may use: a
// token for dev cannot write or read prod.
//
// A token file has one token per line, three fields separated by spaces:
//
//	# name      token                              environments
//	loginrisk   3f9c1d0e8b7a4c2f9e1d7b6a5c4f3e2d   prod,staging
//	auditor     9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d   *
//
// The name identifies the caller in logs and metrics (the token itself is
// never logged); "*" allows every environment. Tokens are at least 16
// characters of printable ASCII; blank lines and lines starting with # are
// ignored. Only SHA-256 digests of the tokens are kept in memory.
package httpauth

import (
	"bufio"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
)

// MinTokenLength is the shortest token a file may hold.
const MinTokenLength = 16

var (
	// ErrUnauthenticated: no bearer token, or one not in the file (401).
	ErrUnauthenticated = errors.New("missing or unknown bearer token")
	// ErrForbidden: a known token used for an environment it is not
	// bound to (403).
	ErrForbidden = errors.New("token not allowed for this environment")
)

// Principal is the caller a token identifies.
type Principal struct {
	Name string
	envs []string // nil: every environment
}

// May reports whether the principal may use env.
func (p Principal) May(env string) bool { return p.envs == nil || slices.Contains(p.envs, env) }

// Environments lists the environments the principal may use ("*" for all).
func (p Principal) Environments() []string {
	if p.envs == nil {
		return []string{"*"}
	}
	return slices.Clone(p.envs)
}

// Tokens is a loaded token file.
type Tokens struct {
	byDigest map[[sha256.Size]byte]Principal
}

// Load reads a token file; errors name the file and line.
func Load(path string) (*Tokens, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("token file: %w", err)
	}
	defer f.Close()
	return Parse(f, path)
}

// Parse reads a token file from r; name is used in errors.
func Parse(r io.Reader, name string) (*Tokens, error) {
	t := &Tokens{byDigest: map[[sha256.Size]byte]Principal{}}
	names := map[string]bool{}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 3 {
			return nil, fmt.Errorf("token file %s line %d: want 3 fields (name token environments), got %d", name, n, len(f))
		}
		pname, token, envs := f[0], f[1], f[2]
		if len(token) < MinTokenLength {
			return nil, fmt.Errorf("token file %s line %d: the token of %q is shorter than %d characters", name, n, pname, MinTokenLength)
		}
		for _, c := range token {
			if c < 0x21 || c > 0x7e {
				return nil, fmt.Errorf("token file %s line %d: the token of %q has a character that is not printable ASCII", name, n, pname)
			}
		}
		if names[pname] {
			return nil, fmt.Errorf("token file %s line %d: name %q appears twice", name, n, pname)
		}
		names[pname] = true
		d := sha256.Sum256([]byte(token))
		if _, dup := t.byDigest[d]; dup {
			return nil, fmt.Errorf("token file %s line %d: the token of %q is also another name's token", name, n, pname)
		}
		p := Principal{Name: pname}
		if envs != "*" {
			for _, e := range strings.Split(envs, ",") {
				if e == "" || e == "*" {
					return nil, fmt.Errorf("token file %s line %d: environments of %q: want \"*\" or a comma-separated list of names", name, n, pname)
				}
				p.envs = append(p.envs, e)
			}
		}
		t.byDigest[d] = p
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("token file %s: %w", name, err)
	}
	if len(t.byDigest) == 0 {
		return nil, fmt.Errorf("token file %s: no tokens", name)
	}
	return t, nil
}

// Authenticate returns the principal of the request's bearer token, or
// ErrUnauthenticated.
// AnyMay reports whether some token of the file may use env: a service
// serving env with a file where none may answers every request 403.
func (t *Tokens) AnyMay(env string) bool {
	for _, p := range t.byDigest {
		if p.May(env) {
			return true
		}
	}
	return false
}

func (t *Tokens) Authenticate(r *http.Request) (Principal, error) {
	h := r.Header.Get("Authorization")
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return Principal{}, ErrUnauthenticated
	}
	// A map lookup by digest: timing reveals at most something about the
	// digest, never about the token.
	p, ok := t.byDigest[sha256.Sum256([]byte(strings.TrimSpace(token)))]
	if !ok {
		return Principal{}, ErrUnauthenticated
	}
	return p, nil
}

// Authorize authenticates the request and checks that its token may use
// env: ErrUnauthenticated (answer 401) or ErrForbidden (403).
func (t *Tokens) Authorize(r *http.Request, env string) (Principal, error) {
	p, err := t.Authenticate(r)
	if err != nil {
		return p, err
	}
	if !p.May(env) {
		return p, fmt.Errorf("%w: %q may use %s, not %q", ErrForbidden, p.Name, strings.Join(p.Environments(), ","), env)
	}
	return p, nil
}
