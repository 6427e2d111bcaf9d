package chatapi

import (
	"cmp"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// DefaultAPIKeyEnv is the environment variable read for the API key when
// Options.APIKeyEnv is empty.
const DefaultAPIKeyEnv = "OPENAI_API_KEY"

// Settings are the transport fields every chat-completions config carries,
// named in config files timeout, max_retries, backoff_base, backoff_max and
// max_concurrency.
type Settings struct {
	// Timeout bounds one HTTP attempt, not the call with its retries; the
	// caller's context bounds that. Zero (after defaults) means no
	// per-attempt deadline.
	Timeout time.Duration
	// MaxRetries is the number of retries after the first attempt. In a
	// config 0 takes the default and a negative value disables retrying;
	// WithDefaults turns the latter into 0.
	MaxRetries  int
	BackoffBase time.Duration
	BackoffMax  time.Duration
	// MaxConcurrency bounds the requests in flight through one Client.
	MaxConcurrency int
}

// WithDefaults fills the zero fields of s from d and turns a negative
// MaxRetries ("no retries") into 0.
func (s Settings) WithDefaults(d Settings) Settings {
	s.Timeout = cmp.Or(s.Timeout, d.Timeout)
	if s.MaxRetries == 0 {
		s.MaxRetries = d.MaxRetries
	} else if s.MaxRetries < 0 {
		s.MaxRetries = 0
	}
	s.BackoffBase = cmp.Or(s.BackoffBase, d.BackoffBase)
	s.BackoffMax = cmp.Or(s.BackoffMax, d.BackoffMax)
	s.MaxConcurrency = cmp.Or(s.MaxConcurrency, d.MaxConcurrency)
	return s
}

// Store writes s into a config's own transport fields (the ones Settings
// was read from), so a config can fill its defaults in one call:
//
//	c.settings().WithDefaults(d).Store(&c.Timeout, &c.MaxRetries, &c.BackoffBase, &c.BackoffMax, &c.MaxConcurrency)
func (s Settings) Store(timeout *time.Duration, maxRetries *int, backoffBase, backoffMax *time.Duration, maxConcurrency *int) {
	*timeout, *maxRetries, *backoffBase, *backoffMax, *maxConcurrency = s.Timeout, s.MaxRetries, s.BackoffBase, s.BackoffMax, s.MaxConcurrency
}

// CheckExtraBody reports the first of reserved that extra (a config's
// extra_body) sets: those request fields are set by owner itself ("the
// backend", "the policy") and may not be overridden. section names the
// config in the error (e.g. "openai").
func CheckExtraBody(section, owner string, extra map[string]any, reserved []string) error {
	for _, k := range reserved {
		if _, ok := extra[k]; ok {
			return fmt.Errorf("%s.extra_body.%s is set by %s itself and may not be overridden", section, k, owner)
		}
	}
	return nil
}

// Validate reports the first bad field of s, named as in config files under
// section (e.g. "openai.timeout"). The backoff order is checked with the
// defaults d filled in, since either bound may be left to its default.
func (s Settings) Validate(section string, d Settings) error {
	switch {
	case s.Timeout < 0:
		return fmt.Errorf("%s.timeout must not be negative, got %s", section, s.Timeout)
	case s.BackoffBase < 0:
		return fmt.Errorf("%s.backoff_base must not be negative, got %s", section, s.BackoffBase)
	case s.BackoffMax < 0:
		return fmt.Errorf("%s.backoff_max must not be negative, got %s", section, s.BackoffMax)
	case s.MaxConcurrency < 0:
		return fmt.Errorf("%s.max_concurrency must not be negative, got %d", section, s.MaxConcurrency)
	}
	if f := s.WithDefaults(d); f.BackoffBase > f.BackoffMax {
		return fmt.Errorf("%s.backoff_base (%s) must not exceed %s.backoff_max (%s)", section, f.BackoffBase, section, f.BackoffMax)
	}
	return nil
}

// ValidateBaseURL checks that raw is an absolute http(s) URL with a host.
// field names it in the error (e.g. "openai.base_url"), which shows the URL
// with any password redacted.
func ValidateBaseURL(field, raw string) error {
	u, err := url.Parse(raw)
	if err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" {
		return nil
	}
	shown := fmt.Sprintf("%q", raw)
	if err == nil {
		shown = fmt.Sprintf("%q", u.Redacted())
	}
	return fmt.Errorf("%s must be an http(s) URL, got %s", field, shown)
}

// Endpoint is the chat-completions URL under baseURL (an OpenAI-compatible
// root such as http://127.0.0.1:8000/v1), trailing slashes ignored.
func Endpoint(baseURL string) string {
	return strings.TrimRight(baseURL, "/") + "/chat/completions"
}

// Redact hides the password of a URL that may carry user:password; a URL
// that does not parse is returned as it is.
func Redact(rawURL string) string {
	if u, err := url.Parse(rawURL); err == nil {
		return u.Redacted()
	}
	return rawURL
}
