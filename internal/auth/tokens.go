package auth

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"
)

// MinTokenLen is the shortest token accepted. Short tokens can be guessed;
// `head -c 32 /dev/urandom | base64` makes a good one.
const MinTokenLen = 16

// DefaultReload is how often, at most, the token file is re-read.
const DefaultReload = time.Second

type tokenEntry struct {
	name   string
	digest [sha256.Size]byte
}

// parseTokens reads token entries: one per line (commas also separate
// entries when commaSep is set, for environment variables), blank lines
// and lines starting with # ignored, "name:token" naming the client, a
// bare token named by a short fingerprint. source names the input in
// errors; errors never quote a token.
func parseTokens(data []byte, source string, commaSep bool) ([]tokenEntry, error) {
	var out []tokenEntry
	seen := map[[sha256.Size]byte]string{}
	lines := strings.Split(string(data), "\n")
	for i, line := range lines {
		items := []string{line}
		if commaSep {
			items = strings.Split(line, ",")
		}
		for _, item := range items {
			item = strings.TrimSpace(item)
			if item == "" || strings.HasPrefix(item, "#") {
				continue
			}
			where := fmt.Sprintf("%s line %d", source, i+1)
			name, tok, named := strings.Cut(item, ":")
			if !named {
				name, tok = "", item
			}
			name, tok = strings.TrimSpace(name), strings.TrimSpace(tok)
			if named && name == "" {
				return nil, fmt.Errorf("%s: empty client name before ':' (write name:token, or the token alone)", where)
			}
			if strings.ContainsAny(tok, " \t\r") {
				return nil, fmt.Errorf("%s: the token contains whitespace", where)
			}
			if len(tok) < MinTokenLen {
				return nil, fmt.Errorf("%s: the token is shorter than %d characters; make one with `head -c 32 /dev/urandom | base64`", where, MinTokenLen)
			}
			d := sha256.Sum256([]byte(tok))
			if name == "" {
				// A fingerprint lets logs tell unnamed clients apart
				// without showing the token.
				name = "sha256-" + hex.EncodeToString(d[:4])
			}
			if prev, dup := seen[d]; dup && prev != name {
				return nil, fmt.Errorf("%s: the same token is already listed as %q", where, prev)
			}
			seen[d] = name
			out = append(out, tokenEntry{name: name, digest: d})
		}
	}
	return out, nil
}

// TokenStore holds the accepted bearer tokens: fixed ones (from the
// environment) and those of a file re-read at most every Reload, so a
// token removed from the file stops working without a restart.
type TokenStore struct {
	path   string
	static []tokenEntry
	reload time.Duration
	log    *slog.Logger
	now    func() time.Time

	mu        sync.Mutex
	file      []tokenEntry
	raw       []byte
	lastCheck time.Time
	fileErr   error
}

// TokenOptions say where a TokenStore finds its tokens.
type TokenOptions struct {
	// File holds one entry per line; it is re-read at most every Reload.
	File string
	// EnvName and EnvValue: an environment variable holding entries
	// separated by newlines or commas, read once (EnvName names it in errors).
	EnvName, EnvValue string
	// Reload is how often, at most, File is re-read (0: on every call).
	Reload time.Duration
	Logger *slog.Logger
}

// NewTokenStore loads the tokens. It fails when the file cannot be read or
// an entry is invalid, so a broken file stops a server at start rather
// than locking every client out later.
func NewTokenStore(o TokenOptions) (*TokenStore, error) {
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	s := &TokenStore{path: o.File, reload: o.Reload, log: log, now: time.Now}
	if strings.TrimSpace(o.EnvValue) != "" {
		static, err := parseTokens([]byte(o.EnvValue), "$"+o.EnvName, true)
		if err != nil {
			return nil, err
		}
		s.static = static
	}
	if o.File != "" {
		data, err := os.ReadFile(o.File)
		if err != nil {
			return nil, fmt.Errorf("token file: %w", err)
		}
		if s.file, err = parseTokens(data, o.File, false); err != nil {
			return nil, err
		}
		s.raw, s.lastCheck = data, s.now()
	}
	return s, nil
}

// Len is the number of tokens accepted now.
func (s *TokenStore) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refreshLocked()
	return len(s.static) + len(s.file)
}

// refreshLocked re-reads the file when Reload has passed since the last
// look. Reading a small file once a second is cheaper than reasoning about
// mtime granularity. A file that becomes unreadable or invalid removes all
// of its tokens (fail closed) and is logged once per distinct problem.
func (s *TokenStore) refreshLocked() {
	if s.path == "" || s.now().Sub(s.lastCheck) < s.reload {
		return
	}
	s.lastCheck = s.now()
	data, err := os.ReadFile(s.path)
	if err == nil && s.fileErr == nil && bytes.Equal(data, s.raw) {
		return
	}
	var entries []tokenEntry
	if err == nil {
		entries, err = parseTokens(data, s.path, false)
	}
	if err != nil {
		if s.fileErr == nil || s.fileErr.Error() != err.Error() {
			s.log.Error("token file unusable: its tokens are refused until it is fixed", "path", s.path, "error", err)
		}
		s.fileErr, s.file, s.raw = err, nil, nil
		return
	}
	if s.fileErr != nil {
		s.log.Info("token file usable again", "path", s.path)
	}
	s.fileErr, s.file, s.raw = nil, entries, data
	s.log.Info("token file reloaded", "path", s.path, "tokens", len(entries))
}

// Lookup returns the name of token when it is accepted. Every stored
// token is compared, with crypto/subtle on SHA-256 digests (equal
// lengths), so the time taken says nothing about which token, or how much
// of one, matched.
func (s *TokenStore) Lookup(token string) (string, bool) {
	d := sha256.Sum256([]byte(token))
	s.mu.Lock()
	s.refreshLocked()
	file := s.file
	s.mu.Unlock()
	name, found := "", 0
	for _, set := range [][]tokenEntry{s.static, file} {
		for _, e := range set {
			if subtle.ConstantTimeCompare(d[:], e.digest[:]) == 1 {
				name, found = e.name, 1
			}
		}
	}
	return name, found == 1
}

// ErrNoTokens is returned by Validate for a store that accepts nothing.
var ErrNoTokens = errors.New("no tokens: the token file and environment list none")

// Validate reports a store that accepts no token.
func (s *TokenStore) Validate() error {
	if s.Len() == 0 {
		return ErrNoTokens
	}
	return nil
}
