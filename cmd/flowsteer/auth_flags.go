package main

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/flowsteer/flowsteer/clients/go/flowsteer"
	"github.com/flowsteer/flowsteer/internal/auth"
)

// tokenEnv holds the bearer token client commands send when no
// --token-file is given.
const tokenEnv = "FLOWSTEER_TOKEN"

// serverTokensEnv holds tokens serve accepts besides --auth-token-file's:
// entries separated by commas or newlines, "name:token" or the token alone.
const serverTokensEnv = "FLOWSTEER_AUTH_TOKENS"

// clientAuthFlags say how a command reaches servers that require TLS or
// a token: the same flags on every command that dials one.
type clientAuthFlags struct {
	prefix     string
	caFile     string
	certFile   string
	keyFile    string
	serverName string
	tls        bool
	tokenFile  string
	insecure   bool
}

// register adds the flags, each name after prefix ("" or "dial-" for
// serve, whose own --tls-* flags are the server's); what names the
// connections they apply to in the help.
func (a *clientAuthFlags) register(fs *pflag.FlagSet, prefix, what string) {
	a.prefix = prefix
	fs.StringVar(&a.caFile, prefix+"tls-ca", "", what+": dial with TLS, verifying the server's certificate against this CA file (PEM)")
	fs.StringVar(&a.certFile, prefix+"tls-cert", "", what+": client certificate (PEM) for servers that verify client certificates (with --"+prefix+"tls-key)")
	fs.StringVar(&a.keyFile, prefix+"tls-key", "", what+": key of --"+prefix+"tls-cert (PEM)")
	fs.StringVar(&a.serverName, prefix+"tls-server-name", "", what+": name to check the server's certificate against (default: the host dialed)")
	fs.BoolVar(&a.tls, prefix+"tls", false, what+": dial with TLS, verifying the server against the system's roots")
	fs.StringVar(&a.tokenFile, prefix+"token-file", "", what+": file holding the bearer token to send (default: $"+tokenEnv+")")
	fs.BoolVar(&a.insecure, prefix+"insecure", false, what+": send the token without TLS even to non-loopback addresses")
}

func (a *clientAuthFlags) credentials() flowsteer.Credentials {
	return flowsteer.Credentials{
		CAFile: a.caFile, CertFile: a.certFile, KeyFile: a.keyFile, ServerName: a.serverName, TLS: a.tls,
		TokenFile: a.tokenFile, TokenEnv: tokenEnv, Insecure: a.insecure,
	}
}

// dialOptions are the options for a connection to a server given on the
// command line (not for in-process servers, which listen on loopback
// without credentials).
func (a *clientAuthFlags) dialOptions() ([]grpc.DialOption, error) {
	opts, err := a.credentials().DialOptions()
	if err != nil {
		p := "--" + a.prefix
		return nil, fmt.Errorf("%stls-ca/%stls-cert/%stls-key/%stoken-file: %w", p, p, p, p, err)
	}
	return opts, nil
}

// serverAuthFlags are serve's access control: TLS, authentication and
// per-client limits.
type serverAuthFlags struct {
	certFile          string
	keyFile           string
	clientCA          string
	tokenFile         string
	insecure          bool
	rateLimit         float64
	rateBurst         int
	maxClientEpisodes int
	admins            []string
}

func (s *serverAuthFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&s.certFile, "tls-cert", "", "serve TLS with this certificate (PEM; with --tls-key)")
	fs.StringVar(&s.keyFile, "tls-key", "", "key of --tls-cert (PEM)")
	fs.StringVar(&s.clientCA, "tls-client-ca", "", "verify client certificates against this CA (PEM): a verified certificate authenticates its calls (mTLS); needs --tls-cert")
	fs.StringVar(&s.tokenFile, "auth-token-file", "", "require bearer tokens listed in this file: one per line, optionally name:token, # comments; re-read within a second of a change ($"+serverTokensEnv+" adds more)")
	fs.BoolVar(&s.insecure, "insecure", false, "allow a non-loopback --addr without TLS and authentication (logs a warning; anyone who can reach the port can use every service)")
	fs.Float64Var(&s.rateLimit, "rate-limit", 0, "requests per second each client may make (a unary call or a stream start; 0 = no limit)")
	fs.IntVar(&s.rateBurst, "rate-burst", 0, "most requests a client may make in one burst before --rate-limit paces it (0 = --rate-limit rounded up)")
	fs.IntVar(&s.maxClientEpisodes, "max-client-episodes", 0, "canvas episodes each client (tenant) may hold: every stored episode counts, however it was opened; its ended ones expire first to make room (0 = no limit)")
	fs.StringSliceVar(&s.admins, "admin", nil, "identities that see every tenant's episodes and runs (token or certificate names, e.g. ops or token:ops; repeatable)")
}

// access is serve's access control, ready to plug into server.Options.
type access struct {
	serverOpts []grpc.ServerOption
	guard      *auth.Guard
	tls        bool
	protected  bool // TLS and authentication both on
	insecure   bool
	checked    bool  // exposed already ran
	fields     []any // what the startup log line says
}

// build checks the flags against the listen address and loads the
// certificates and tokens. A non-loopback address needs TLS and
// authentication, or --insecure.
func (s *serverAuthFlags) build(addr string, episodeTTL time.Duration, log *slog.Logger) (*access, error) {
	if (s.certFile == "") != (s.keyFile == "") {
		return nil, fmt.Errorf("--tls-cert and --tls-key go together: give both (the server's certificate and its key, PEM)")
	}
	if s.clientCA != "" && s.certFile == "" {
		return nil, fmt.Errorf("--tls-client-ca needs --tls-cert and --tls-key: client certificates are checked in the TLS handshake")
	}
	if s.rateLimit < 0 || s.rateBurst < 0 || s.maxClientEpisodes < 0 {
		return nil, fmt.Errorf("--rate-limit, --rate-burst and --max-client-episodes must not be negative (0 turns a limit off)")
	}
	a := &access{insecure: s.insecure}
	// --max-client-episodes is enforced by the canvas's episode store,
	// which counts every stored episode of a tenant however it was opened
	// (serve.go); the guard's stream counter would miss some.
	cfg := auth.Config{ClientCerts: s.clientCA != "", RateLimit: s.rateLimit, RateBurst: s.rateBurst,
		EpisodeTTL: episodeTTL, Admins: s.admins}
	envTokens := os.Getenv(serverTokensEnv)
	if s.tokenFile != "" || strings.TrimSpace(envTokens) != "" {
		store, err := auth.NewTokenStore(auth.TokenOptions{File: s.tokenFile, EnvName: serverTokensEnv, EnvValue: envTokens, Reload: auth.DefaultReload, Logger: log})
		if err != nil {
			return nil, fmt.Errorf("--auth-token-file/$%s: %w", serverTokensEnv, err)
		}
		if store.Len() == 0 {
			return nil, fmt.Errorf("--auth-token-file %s lists no token: add lines like `alice:TOKEN` (make a token with `head -c 32 /dev/urandom | base64`)", s.tokenFile)
		}
		cfg.Tokens = store
		a.fields = append(a.fields, "tokens", store.Len())
	}
	hasTLS := s.certFile != ""
	if hasTLS {
		tcfg, err := auth.ServerTLS(s.certFile, s.keyFile, s.clientCA)
		if err != nil {
			return nil, fmt.Errorf("--tls-cert/--tls-key/--tls-client-ca: %w", err)
		}
		a.serverOpts = append(a.serverOpts, grpc.Creds(credentials.NewTLS(tcfg)))
		a.tls = true
	}
	a.guard = auth.NewGuard(cfg)
	a.protected = hasTLS && a.guard.RequiresAuth()
	a.fields = append(a.fields, "tls", hasTLS, "client_certs", cfg.ClientCerts, "auth_required", a.guard.RequiresAuth())
	if s.rateLimit > 0 {
		a.fields = append(a.fields, "rate_limit", s.rateLimit, "rate_burst", auth.EffectiveBurst(s.rateLimit, s.rateBurst))
	}
	if s.maxClientEpisodes > 0 {
		a.fields = append(a.fields, "max_client_episodes", s.maxClientEpisodes)
	}
	loopback, err := auth.IsLoopbackAddr(addr)
	if err != nil {
		return nil, fmt.Errorf("--addr: %w", err)
	}
	if !loopback {
		if err := a.exposed(addr, log); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// checkBound repeats the exposure check on the address actually bound
// (a host name can resolve to more than the pre-check saw).
func (a *access) checkBound(bound net.Addr, log *slog.Logger) error {
	if a.checked || auth.IsLoopbackListener(bound) {
		return nil
	}
	return a.exposed(bound.String(), log)
}

// exposed decides about a non-loopback address: fine when protected,
// allowed with a warning under --insecure, refused otherwise with the
// flags to add.
func (a *access) exposed(addr string, log *slog.Logger) error {
	a.checked = true
	if a.protected {
		return nil
	}
	var missing, add []string
	if !a.tls {
		missing = append(missing, "no TLS")
		add = append(add, "--tls-cert FILE --tls-key FILE")
	}
	if !a.guard.RequiresAuth() {
		missing = append(missing, "no authentication")
		add = append(add, "--auth-token-file FILE (or $"+serverTokensEnv+") and/or --tls-client-ca FILE")
	}
	if a.insecure {
		log.Warn("INSECURE: serving on a non-loopback address with "+strings.Join(missing, " and ")+" (--insecure): anyone who can reach it can use every service and read every message",
			"addr", addr)
		return nil
	}
	return fmt.Errorf("refusing to serve on %s: other machines can reach it and there is %s. Add %s, or pass --insecure to serve it unprotected anyway (or listen on 127.0.0.1)",
		addr, strings.Join(missing, " and "), strings.Join(add, " plus "))
}
