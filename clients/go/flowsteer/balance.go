package flowsteer

// Fan-out: one gRPC connection per service, spread over its replicas
// (BalancedConn, DialBalanced), and the errors after which work may start
// again on another replica (Retryable).

import (
	"errors"
	"fmt"
	"net"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	_ "google.golang.org/grpc/health" // registers client-side health checking
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"
	"google.golang.org/grpc/status"

	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
)

// ServiceConfig is the service config of a balanced connection to service
// (its full name, e.g. "flowsteer.v1.CanvasService"): round_robin over the
// resolved replicas, each health-checked for service.
func ServiceConfig(service string) string {
	return fmt.Sprintf(`{"loadBalancingConfig":[{"round_robin":{}}],"healthCheckConfig":{"serviceName":%q}}`, service)
}

// BalancedConn connects to the replicas of service (its full name, e.g.
// "flowsteer.v1.CanvasService") with ONE grpc.ClientConn.
//
// The unit of balancing is the stream or call: a round_robin policy puts
// each new one on the next healthy replica. An episode is one Interact
// stream, so it stays on the replica that opened it (episodes live in that
// replica's memory) while episodes spread evenly. Client-side health
// checking is on: each replica's grpc.health.v1 status for service is
// watched, and a replica that reports NOT_SERVING (a canvas shutting down
// reports it before it drains) or cannot be reached gets no new streams.
//
// Targets:
//
//   - one "host:port": resolved by DNS (grpc's default resolver); when the
//     name has several addresses, each is a replica.
//   - one target with a scheme, e.g. "dns:///canvas.internal:50051" (a
//     Kubernetes headless Service) or "unix:///run/canvas.sock": handed to
//     grpc as it is.
//   - several "host:port" (list entries, or comma-separated): a fixed set
//     of replicas (google.golang.org/grpc/resolver/manual).
//
// Without options the connection is plaintext; opts come after the
// defaults, so transport credentials (Credentials.DialOptions), per-RPC
// credentials or a context dialer given here win.
func BalancedConn(service string, targets []string, opts ...grpc.DialOption) (*grpc.ClientConn, error) {
	target, r, err := balancedTarget(targets)
	if err != nil {
		return nil, err
	}
	all := append(baseOptions(), grpc.WithDefaultServiceConfig(ServiceConfig(service)))
	if r != nil {
		all = append(all, grpc.WithResolvers(r))
	}
	conn, err := grpc.NewClient(target, append(all, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("flowsteer: dial %s: %w", strings.Join(targets, ","), err)
	}
	return conn, nil
}

// DialBalanced connects to the canvas replicas named by targets with one
// balanced connection: each episode opened on the returned Client lands on
// one healthy replica, round robin. Keep one Client for all episodes.
func DialBalanced(targets []string, opts ...grpc.DialOption) (*Client, error) {
	conn, err := BalancedConn(pb.CanvasService_ServiceDesc.ServiceName, targets, opts...)
	if err != nil {
		return nil, err
	}
	c := New(conn)
	c.owned = true
	return c, nil
}

// manualScheme names the resolver of a fixed list of replicas; it is
// registered per connection (grpc.WithResolvers), never globally.
const manualScheme = "flowsteer-replicas"

// balancedTarget turns targets into a gRPC target, with a manual resolver
// when they are a list of addresses.
func balancedTarget(targets []string) (string, resolver.Builder, error) {
	var list []string
	for _, t := range targets {
		for _, part := range strings.Split(t, ",") {
			if part = strings.TrimSpace(part); part != "" {
				list = append(list, part)
			}
		}
	}
	switch len(list) {
	case 0:
		return "", nil, errors.New("flowsteer: no address given: want host:port, dns:///name:port or a list of host:port")
	case 1:
		return list[0], nil, nil
	}
	seen := map[string]bool{}
	var eps []resolver.Endpoint
	for _, a := range list {
		if strings.Contains(a, "://") || strings.HasPrefix(a, "unix:") {
			return "", nil, fmt.Errorf("flowsteer: address %q in a list of %d: a list holds host:port entries only; give a name with several addresses as one target, dns:///name:port", a, len(list))
		}
		host, port, err := net.SplitHostPort(a)
		if err != nil || port == "" {
			return "", nil, fmt.Errorf("flowsteer: address %q: want host:port", a)
		}
		if seen[a] {
			return "", nil, fmt.Errorf("flowsteer: address %q is listed twice", a)
		}
		seen[a] = true
		// ServerName keeps TLS verifying each replica against its own host
		// name rather than the manual target's.
		eps = append(eps, resolver.Endpoint{Addresses: []resolver.Address{{Addr: a, ServerName: host}}})
	}
	r := manual.NewBuilderWithScheme(manualScheme)
	r.InitialState(resolver.State{Endpoints: eps})
	return manualScheme + ":///replicas", r, nil
}

// Retryable reports whether err means the replica serving a call went
// away rather than the call being wrong: Unavailable (the replica died,
// is draining, or none was reachable) or a stream reset by the peer. A
// client that gets it can start the work again, from the beginning, on
// another replica. InvalidArgument, NotFound, FailedPrecondition, Internal
// errors of a handler and the caller's own cancellation are not retryable.
func Retryable(err error) bool {
	if err == nil {
		return false
	}
	s, ok := status.FromError(err)
	if !ok {
		return false
	}
	switch s.Code() {
	case codes.Unavailable:
		return true
	case codes.Internal, codes.Unknown:
		// A peer that resets the HTTP/2 stream (process killed behind a
		// proxy, connection torn down mid-frame) surfaces as an RST_STREAM
		// status; a handler's Internal error never says so.
		return strings.Contains(s.Message(), "RST_STREAM")
	}
	return false
}

// PeerOf returns the address of the replica that answered err, when the
// client knows it ("" otherwise). Episode.Peer gives it for open episodes.
func PeerOf(err error) string {
	var pe *peerError
	if errors.As(err, &pe) {
		return pe.peer
	}
	return ""
}

// peerError is a gRPC error from a known replica: its text and status are
// the original error's, and it carries the replica's address.
type peerError struct {
	err  error
	peer string
}

func (e *peerError) Error() string              { return e.err.Error() }
func (e *peerError) Unwrap() error              { return e.err }
func (e *peerError) GRPCStatus() *status.Status { return status.Convert(e.err) }

// Peer is the replica's address (the rollout package reads it through
// this method without importing gRPC).
func (e *peerError) Peer() string { return e.peer }

// withPeer attaches peer to a gRPC status error; other errors and an
// unknown peer leave err as it is.
func withPeer(err error, peer string) error {
	if err == nil || peer == "" {
		return err
	}
	if _, ok := status.FromError(err); !ok {
		return err
	}
	return &peerError{err: err, peer: peer}
}
