package auth

import (
	"context"
	"crypto/x509"
	"fmt"
	"strings"
	"time"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors"
	grpcauth "github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/auth"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/logging"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/ratelimit"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/selector"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// openServices answer without authentication and outside per-client
// limits: load balancers and orchestrators probe health without
// credentials, and reflection only describes the API.
var openServices = []string{
	"grpc.health.v1.Health",
	"grpc.reflection.v1.ServerReflection",
	"grpc.reflection.v1alpha.ServerReflection",
}

// IsOpenMethod says whether fullMethod ("/pkg.Service/Method") is served
// without authentication.
func IsOpenMethod(fullMethod string) bool {
	svc, _, _ := strings.Cut(strings.TrimPrefix(fullMethod, "/"), "/")
	for _, s := range openServices {
		if svc == s {
			return true
		}
	}
	return false
}

// Config configures a Guard.
type Config struct {
	// Tokens, when set, are accepted as "authorization: Bearer TOKEN".
	Tokens *TokenStore
	// ClientCerts: a client certificate verified by the TLS handshake
	// (see ServerTLS with a client CA) authenticates its connection.
	ClientCerts bool
	// RateLimit is the requests per second each client may make (0: no
	// limit); RateBurst how many it may make at once (0: RateLimit
	// rounded up). A unary call or the start of a stream is one request.
	RateLimit float64
	RateBurst int
	// MaxClientEpisodes bounds the canvas episodes each client holds open
	// at once (0: no limit); EpisodeTTL is the canvas's idle expiry, after
	// which a created episode no longer counts.
	MaxClientEpisodes int
	EpisodeTTL        time.Duration
	// Admins are identities (in String form, "token:ops", or a bare
	// token or certificate name, "ops") that see every tenant's
	// episodes and runs.
	Admins []string
}

// Guard authenticates calls and applies per-client limits. Put its
// interceptors after logging and recovery and before anything else (see
// server.Options.GuardUnary).
type Guard struct {
	cfg      Config
	rates    *clientRates
	episodes *episodeLimiter
}

// NewGuard builds a guard. Without tokens or client certificates it
// authenticates nobody: callers are identified by their peer address.
func NewGuard(c Config) *Guard {
	g := &Guard{cfg: c}
	if c.RateLimit > 0 {
		g.rates = newClientRates(c.RateLimit, c.RateBurst)
	}
	if c.MaxClientEpisodes > 0 {
		g.episodes = newEpisodeLimiter(c.MaxClientEpisodes, c.EpisodeTTL)
	}
	return g
}

// RequiresAuth says whether calls must authenticate.
func (g *Guard) RequiresAuth() bool { return g.cfg.Tokens != nil || g.cfg.ClientCerts }

// guarded selects every method but the open ones.
var guarded = selector.MatchFunc(func(_ context.Context, c interceptors.CallMeta) bool {
	return !IsOpenMethod(c.FullMethod())
})

// Unary returns the guard's unary interceptors, in order: authenticate,
// rate limit, episode limit.
func (g *Guard) Unary() []grpc.UnaryServerInterceptor {
	out := []grpc.UnaryServerInterceptor{selector.UnaryServerInterceptor(grpcauth.UnaryServerInterceptor(g.authenticate), guarded)}
	if g.rates != nil {
		out = append(out, selector.UnaryServerInterceptor(ratelimit.UnaryServerInterceptor(g.rates), guarded))
	}
	if g.episodes != nil {
		out = append(out, g.episodes.unary)
	}
	return out
}

// Stream returns the guard's stream interceptors, in the order of Unary.
func (g *Guard) Stream() []grpc.StreamServerInterceptor {
	out := []grpc.StreamServerInterceptor{selector.StreamServerInterceptor(grpcauth.StreamServerInterceptor(g.authenticate), guarded)}
	if g.rates != nil {
		out = append(out, selector.StreamServerInterceptor(ratelimit.StreamServerInterceptor(g.rates), guarded))
	}
	if g.episodes != nil {
		out = append(out, g.episodes.stream)
	}
	return out
}

// authenticate is the go-grpc-middleware AuthFunc: it finds who is
// calling, puts the identity in the context (and the call's log line), or
// answers Unauthenticated. A bearer token, when the server takes tokens
// and the call carries one, must be valid; otherwise a verified client
// certificate identifies the caller; without either, only a server that
// requires no authentication lets the call through, naming the peer.
// Messages and logs never contain the token.
func (g *Guard) authenticate(ctx context.Context) (context.Context, error) {
	id, err := g.identify(ctx)
	if err != nil {
		return nil, err
	}
	for _, a := range g.cfg.Admins {
		if id.Kind != KindPeer && (a == id.String() || a == id.Name) {
			id.Admin = true
		}
	}
	logging.AddFields(ctx, logging.Fields{"grpc.client", id.String()})
	return NewContext(ctx, id), nil
}

func (g *Guard) identify(ctx context.Context) (Identity, error) {
	if g.cfg.Tokens != nil {
		if vals := metadata.ValueFromIncomingContext(ctx, "authorization"); len(vals) > 0 {
			scheme, tok, ok := strings.Cut(strings.TrimSpace(vals[0]), " ")
			if !ok || !strings.EqualFold(scheme, "bearer") || strings.TrimSpace(tok) == "" {
				return Identity{}, status.Error(codes.Unauthenticated, `malformed authorization metadata: send "authorization: Bearer TOKEN"`)
			}
			name, ok := g.cfg.Tokens.Lookup(strings.TrimSpace(tok))
			if !ok {
				return Identity{}, status.Error(codes.Unauthenticated, "the bearer token is not valid (unknown, mistyped or removed from the server's token file): ask the server's operator for a current token")
			}
			return Identity{Kind: KindToken, Name: name}, nil
		}
	}
	if g.cfg.ClientCerts {
		if cert := verifiedClientCert(ctx); cert != nil {
			return Identity{Kind: KindCert, Name: certName(cert)}, nil
		}
	}
	if !g.RequiresAuth() {
		return peerIdentity(ctx), nil
	}
	return Identity{}, status.Error(codes.Unauthenticated, g.missingMessage())
}

func (g *Guard) missingMessage() string {
	var ways []string
	if g.cfg.Tokens != nil {
		ways = append(ways, `a bearer token ("authorization: Bearer TOKEN" metadata; flowsteer clients: --token-file FILE or $FLOWSTEER_TOKEN)`)
	}
	if g.cfg.ClientCerts {
		ways = append(ways, "a client certificate signed by the server's client CA (flowsteer clients: --tls-cert FILE --tls-key FILE)")
	}
	return "this server requires authentication: send " + strings.Join(ways, ", or ")
}

// verifiedClientCert is the leaf of the first chain the TLS handshake
// verified, or nil (no TLS, no client certificate).
func verifiedClientCert(ctx context.Context) *x509.Certificate {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return nil
	}
	ti, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(ti.State.VerifiedChains) == 0 || len(ti.State.VerifiedChains[0]) == 0 {
		return nil
	}
	return ti.State.VerifiedChains[0][0]
}

func certName(c *x509.Certificate) string {
	switch {
	case c.Subject.CommonName != "":
		return c.Subject.CommonName
	case len(c.DNSNames) > 0:
		return c.DNSNames[0]
	case len(c.EmailAddresses) > 0:
		return c.EmailAddresses[0]
	case len(c.URIs) > 0:
		return c.URIs[0].String()
	}
	return fmt.Sprintf("serial-%x", c.SerialNumber)
}
