// Package auth is the access control of flowsteer's gRPC servers: TLS
// configuration (optionally verifying client certificates), bearer tokens
// read from a file that is re-read when it changes, interceptors that
// authenticate every call except health checks and reflection and put the
// caller's identity in the context, and per-client limits (request rate,
// open canvas episodes) keyed by that identity.
//
// The interceptors come from go-grpc-middleware v2 (auth, selector,
// ratelimit); this package supplies what they plug in.
package auth

import (
	"context"
	"net"

	"google.golang.org/grpc/peer"
)

// Kind says how a caller was identified.
type Kind string

const (
	// KindToken: a bearer token from the token file or environment.
	KindToken Kind = "token"
	// KindCert: a client certificate the server verified against its client CA.
	KindCert Kind = "cert"
	// KindPeer: no authentication is configured; the caller is its peer address.
	KindPeer Kind = "peer"
)

// Identity is who made a call, as far as the server knows.
type Identity struct {
	Kind Kind
	// Name is the token's name (from a name:token line, else a short
	// fingerprint), the certificate's common name, or the peer's IP.
	Name string
	// Admin: the operator named this identity with --admin; it sees every
	// tenant's episodes and runs.
	Admin bool
}

// Tenant is the owner recorded on what a call creates (episodes, runs,
// checkpoints) and compared on every later call naming it: the
// identity's String form, or "" (the one anonymous tenant) for a caller
// that no authentication identified, as on an open loopback server.
func Tenant(ctx context.Context) string {
	id, ok := FromContext(ctx)
	if !ok || id.Kind == KindPeer {
		return ""
	}
	return id.String()
}

// CanAccess says whether the caller in ctx may see something owned by
// owner: its own tenant's, or anything for an admin.
func CanAccess(ctx context.Context, owner string) bool {
	if id, ok := FromContext(ctx); ok && id.Admin {
		return true
	}
	return Tenant(ctx) == owner
}

// String is the form used in logs and as the key of per-client limits,
// e.g. "token:alice", "cert:trainer-1", "peer:127.0.0.1".
func (i Identity) String() string { return string(i.Kind) + ":" + i.Name }

type identityKey struct{}

// NewContext returns ctx carrying id.
func NewContext(ctx context.Context, id Identity) context.Context {
	return context.WithValue(ctx, identityKey{}, id)
}

// FromContext returns the identity the authenticating interceptor put in
// ctx, if any.
func FromContext(ctx context.Context) (Identity, bool) {
	id, ok := ctx.Value(identityKey{}).(Identity)
	return id, ok
}

// peerIdentity names an unauthenticated caller by its IP (without the
// port: one client opens many connections).
func peerIdentity(ctx context.Context) Identity {
	p, ok := peer.FromContext(ctx)
	if !ok || p.Addr == nil {
		return Identity{Kind: KindPeer, Name: "unknown"}
	}
	s := p.Addr.String()
	if host, _, err := net.SplitHostPort(s); err == nil {
		s = host
	}
	return Identity{Kind: KindPeer, Name: s}
}

// clientKey is the identity limits are counted under. Calls that passed
// no authenticating interceptor (a server built without one) count under
// their peer address.
func clientKey(ctx context.Context) string {
	if id, ok := FromContext(ctx); ok {
		return id.String()
	}
	return peerIdentity(ctx).String()
}
