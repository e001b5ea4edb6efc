// Package httpauth checks the bearer tokens of the HTTP services (ingest,
// query). Each token is bound to the environments (chains) it may use: a
// token for dev cannot write or read prod; and to what it may do there:
// record events (ingest) or read the trail (query).
//
// A token file has one token per line, three or four fields separated by
// spaces:
//
//	# name      token                              environments   uses
//	loginrisk   3f9c1d0e8b7a4c2f9e1d7b6a5c4f3e2d   prod,staging   record
//	auditor     9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d   *              read
//
// The name identifies the caller in logs and metrics (the token itself is
// never logged), and ingest seals it with every event the token records
// (recorded_by "token:<name>"): at most 128 of A-Z a-z 0-9 . _ - @ : / +.
// "*" allows every environment. The uses are "record",
// "read" or "record,read"; a line without them (the format before uses
// existed) may do both, and the services warn of such tokens at start.
// Tokens are at least 16 characters of printable ASCII; blank lines and
// lines starting with # are ignored. Only SHA-256 digests of the tokens
// are kept in memory. A service reads the file again when it changes
// (Watch): a token taken out of it is refused from then on.
package httpauth

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"go.uber.org/zap"
)

// MinTokenLength is the shortest token a file may hold.
const MinTokenLength = 16

var (
	// ErrUnauthenticated: no bearer token, or one not in the file (401).
	ErrUnauthenticated = errors.New("missing or unknown bearer token")
	// ErrForbidden: a known token used for an environment or a use it
	// is not bound to (403).
	ErrForbidden = errors.New("token not allowed")
)

// A Use is what a token may do in its environments.
type Use string

const (
	// Record: send events to aegis ingest.
	Record Use = "record"
	// Read: read decisions and proofs from aegis query.
	Read Use = "read"
)

// Principal is the caller a token identifies.
type Principal struct {
	Name string
	envs []string // nil: every environment
	uses []Use    // nil: every use (a line that names none)
}

// May reports whether the principal may use env.
func (p Principal) May(env string) bool { return p.envs == nil || slices.Contains(p.envs, env) }

// Can reports whether the principal may be used for u.
func (p Principal) Can(u Use) bool { return p.uses == nil || slices.Contains(p.uses, u) }

// Environments lists the environments the principal may use ("*" for all).
func (p Principal) Environments() []string {
	if p.envs == nil {
		return []string{"*"}
	}
	return slices.Clone(p.envs)
}

// Tokens is a loaded token file: the tokens in force, which Watch
// replaces when the file changes.
type Tokens struct {
	set atomic.Pointer[tokenSet]
}

// tokenSet is one reading of a token file.
type tokenSet struct {
	byDigest map[[sha256.Size]byte]Principal
	file     [sha256.Size]byte // the digest of the file's contents
}

func (t *Tokens) tokens() map[[sha256.Size]byte]Principal { return t.set.Load().byDigest }

// Load reads a token file; errors name the file and line.
func Load(path string) (*Tokens, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("token file: %w", err)
	}
	t, err := Parse(bytes.NewReader(b), path)
	if err != nil {
		return nil, err
	}
	t.set.Load().file = sha256.Sum256(b) // Watch reads it again only once it differs
	return t, nil
}

// Parse reads a token file from r; name is used in errors.
func Parse(r io.Reader, name string) (*Tokens, error) {
	set, err := parseSet(r, name)
	if err != nil {
		return nil, err
	}
	if len(set.byDigest) == 0 { // at start: a service that would refuse every request
		return nil, fmt.Errorf("token file %s: no tokens", name)
	}
	t := &Tokens{}
	t.set.Store(set)
	return t, nil
}

// Watch reads the file at path again whenever its contents change (looked
// at every interval; new contents are taken once two looks in a row find
// them, so that a file caught half written, which could parse as fewer
// tokens, is not) until ctx ends, and puts its tokens in force: a token
// removed from the file is refused from then on, without a restart, the
// last one too (a file of no tokens refuses every request). A file
// that cannot be read or does not parse leaves the tokens in force, and is
// logged; so is each reading put in force, with what it is worth warning
// of (check, may be nil).
func (t *Tokens) Watch(ctx context.Context, path string, interval time.Duration, log *zap.Logger, check func(*Tokens)) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	var failed [sha256.Size]byte // the contents last refused, not logged again
	var seen [sha256.Size]byte   // new contents are taken when the next look finds them again: not a file half written
	unreadable := false          // logged once until it can be read again
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		b, err := os.ReadFile(path)
		if err != nil {
			if !unreadable {
				log.Error("the token file cannot be read: the tokens read before stay in force", zap.String("file", path), zap.Error(err))
			}
			unreadable = true
			continue
		}
		unreadable = false
		sum := sha256.Sum256(b)
		if sum == t.set.Load().file || sum == failed {
			continue
		}
		if sum != seen {
			seen = sum
			continue
		}
		set, err := parseSet(bytes.NewReader(b), path)
		if err != nil {
			failed = sum
			log.Error("the token file changed but does not parse: the tokens read before stay in force", zap.String("file", path), zap.Error(err))
			continue
		}
		set.file, failed = sum, [sha256.Size]byte{}
		t.set.Store(set)
		if len(set.byDigest) == 0 {
			// Its last token taken out (revoked): none is in force. Kept
			// in force, as for a file that does not parse, a leaked token
			// that was a service's only one was never revoked.
			log.Error("the token file changed and holds no token now: every request is refused until one is added", zap.String("file", path))
		} else {
			log.Info("the token file changed: its tokens are in force", zap.String("file", path), zap.Int("tokens", len(set.byDigest)))
		}
		if check != nil {
			check(t)
		}
	}
}

func parseSet(r io.Reader, name string) (*tokenSet, error) {
	t := &tokenSet{byDigest: map[[sha256.Size]byte]Principal{}}
	names := map[string]bool{}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 3 && len(f) != 4 {
			return nil, fmt.Errorf("token file %s line %d: want 3 or 4 fields (name token environments [uses]), got %d", name, n, len(f))
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
		if err := checkName(pname); err != nil {
			// %+q: a look-alike letter of another script shows as its escape.
			return nil, fmt.Errorf("token file %s line %d: the name %+q %v", name, n, pname, err)
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
		if len(f) == 4 {
			for _, u := range strings.Split(f[3], ",") {
				if u := Use(u); (u != Record && u != Read) || slices.Contains(p.uses, u) {
					return nil, fmt.Errorf("token file %s line %d: uses of %q: want record, read or record,read", name, n, pname)
				}
				p.uses = append(p.uses, Use(u))
			}
		}
		t.byDigest[d] = p
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("token file %s: %w", name, err)
	}
	return t, nil
}

// AnyMay reports whether some token of the file may use env for u: a
// service serving env with a file where none may answers every request
// 403.
func (t *Tokens) AnyMay(env string, u Use) bool {
	for _, p := range t.tokens() {
		if p.May(env) && p.Can(u) {
			return true
		}
	}
	return false
}

// Unscoped names the tokens whose line names no uses (sorted): each may
// both record events and read the trail.
func (t *Tokens) Unscoped() []string {
	var names []string
	for _, p := range t.tokens() {
		if p.uses == nil {
			names = append(names, p.Name)
		}
	}
	slices.Sort(names)
	return names
}

// Authenticate returns the principal of the request's bearer token, or
// ErrUnauthenticated. A request with more than one Authorization header
// is not authenticated: which one a proxy in front checked is unknown.
func (t *Tokens) Authenticate(r *http.Request) (Principal, error) {
	hs := r.Header.Values("Authorization")
	if len(hs) != 1 {
		return Principal{}, ErrUnauthenticated
	}
	scheme, token, ok := strings.Cut(hs[0], " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return Principal{}, ErrUnauthenticated
	}
	// A map lookup by digest: timing reveals at most something about the
	// digest, never about the token.
	p, ok := t.tokens()[sha256.Sum256([]byte(strings.TrimSpace(token)))]
	if !ok {
		return Principal{}, ErrUnauthenticated
	}
	return p, nil
}

// Authorize authenticates the request and checks that its token may use
// env for u: ErrUnauthenticated (answer 401) or ErrForbidden (403).
func (t *Tokens) Authorize(r *http.Request, env string, u Use) (Principal, error) {
	p, err := t.Authenticate(r)
	if err != nil {
		return p, err
	}
	if err := p.Allow(u); err != nil {
		return p, err
	}
	if !p.May(env) {
		return p, fmt.Errorf("%w: %q may use %s, not %q", ErrForbidden, p.Name, strings.Join(p.Environments(), ","), env)
	}
	return p, nil
}

// Allow is nil when the principal may be used for u, else ErrForbidden
// naming what it may do.
func (p Principal) Allow(u Use) error {
	if p.Can(u) {
		return nil
	}
	may := make([]string, len(p.uses))
	for i, x := range p.uses {
		may[i] = string(x)
	}
	return fmt.Errorf("%w: %q is a token to %s, not to %s (the fourth field of its line in the token file)", ErrForbidden, p.Name, strings.Join(may, ","), u)
}

// LogDenied logs a request refused 401 or 403: who sent it (the token's
// name when it was known), from where, for what, and why. The token is
// never logged.
func LogDenied(log *zap.Logger, r *http.Request, name string, err error) {
	fields := []zap.Field{zap.String("remote", r.RemoteAddr), zap.String("method", r.Method), zap.String("path", r.URL.Path), zap.Error(err)}
	if name != "" {
		fields = append(fields, zap.String("token", name))
	}
	if fwd := r.Header.Get("X-Forwarded-For"); fwd != "" {
		fields = append(fields, zap.String("forwarded_for", fwd)) // as sent: a proxy's or the caller's
	}
	log.Warn("request refused", append(fields, ClientCertificate(r)...)...)
}

// ClientCertificate is the log field of the client certificate a request
// came with over mutual TLS (its subject), if any.
func ClientCertificate(r *http.Request) []zap.Field {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return nil
	}
	return []zap.Field{zap.String("client_certificate", r.TLS.PeerCertificates[0].Subject.String())}
}

// MaxNameLength is the longest token name: ingest seals "token:" and the
// name as an id, which may be 256 bytes.
const MaxNameLength = 128

// checkName applies the rule of a token's name: ingest seals it with the
// events the token records, where an auditor must tell one name from
// another at a glance. Printable ASCII letters, digits and . _ - @ : / +
// only: a format character (U+202E), a blank-looking letter, another
// script's look-alike or two Unicode spellings of one text would let a
// name pass for another's.
func checkName(name string) error {
	if len(name) > MaxNameLength {
		return fmt.Errorf("is %d bytes, longer than %d", len(name), MaxNameLength)
	}
	for i, r := range name {
		switch {
		case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9', r < utf8.RuneSelf && strings.IndexByte("._-@:/+", byte(r)) >= 0:
		default:
			what := fmt.Sprintf("%U", r)
			if r == utf8.RuneError {
				what = fmt.Sprintf("the byte %#02x, not UTF-8", name[i])
			}
			return fmt.Errorf("holds %s at byte %d: a name may hold only letters A-Z a-z, digits and . _ - @ : / + (ingest seals it with every event the token records)", what, i)
		}
	}
	return nil
}
