package flowsteer

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/credentials/local"
	"google.golang.org/grpc/status"
)

// Credentials say how to reach a server that requires TLS and/or
// authentication. The zero value dials plaintext without a token, like
// Dial alone. Use it with Dial (options given after Dial's defaults win):
//
//	opts, err := flowsteer.Credentials{CAFile: "ca.pem", TokenEnv: "FLOWSTEER_TOKEN"}.DialOptions()
//	if err != nil { ... }
//	c, err := flowsteer.Dial("canvas.example:50051", opts...)
//
// TLS is used when CAFile, CertFile or ServerName is set, or TLS is true
// (the system's roots verify the server then). A token is sent as
// "authorization: Bearer TOKEN" on every call. Over TLS that is safe.
// Without TLS the token is sent only to loopback peers: the connection is
// checked with grpc's local credentials, which refuse any other peer
// address, unless Insecure allows plaintext everywhere (a trusted network
// behind `flowsteer serve --insecure`).
type Credentials struct {
	// CAFile verifies the server's certificate (PEM); empty: system roots.
	CAFile string `yaml:"ca_file,omitempty"`
	// CertFile and KeyFile are a client certificate (PEM), for servers
	// that verify client certificates (mTLS).
	CertFile string `yaml:"cert_file,omitempty"`
	KeyFile  string `yaml:"key_file,omitempty"`
	// ServerName overrides the name checked against the server's
	// certificate (when dialing an IP, say).
	ServerName string `yaml:"server_name,omitempty"`
	// TLS asks for TLS with the system's roots when nothing above is set.
	TLS bool `yaml:"tls,omitempty"`
	// The bearer token: Token itself, else the first non-comment line of
	// TokenFile, else the environment variable TokenEnv names (unset or
	// empty: no token). Prefer TokenFile or TokenEnv to a token in a
	// config file.
	Token     string `yaml:"token,omitempty"`
	TokenFile string `yaml:"token_file,omitempty"`
	TokenEnv  string `yaml:"token_env,omitempty"`
	// Insecure allows sending the token without TLS to any address.
	Insecure bool `yaml:"insecure,omitempty"`
}

// UsesTLS says whether these credentials dial with TLS.
func (c Credentials) UsesTLS() bool {
	return c.TLS || c.CAFile != "" || c.CertFile != "" || c.KeyFile != "" || c.ServerName != ""
}

// ResolveToken returns the bearer token the credentials name, or "".
func (c Credentials) ResolveToken() (string, error) {
	switch {
	case c.Token != "":
		return strings.TrimSpace(c.Token), nil
	case c.TokenFile != "":
		data, err := os.ReadFile(c.TokenFile)
		if err != nil {
			return "", fmt.Errorf("flowsteer: token file: %w", err)
		}
		for line := range strings.SplitSeq(string(data), "\n") {
			if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
				return line, nil
			}
		}
		return "", fmt.Errorf("flowsteer: token file %s holds no token (one line, the token; # starts a comment)", c.TokenFile)
	case c.TokenEnv != "":
		return strings.TrimSpace(os.Getenv(c.TokenEnv)), nil
	}
	return "", nil
}

// DialOptions returns the transport and per-call credentials as dial
// options. They always include transport credentials, so they also work
// with grpc.NewClient directly.
func (c Credentials) DialOptions() ([]grpc.DialOption, error) {
	token, err := c.ResolveToken()
	if err != nil {
		return nil, err
	}
	if c.UsesTLS() {
		if c.Insecure {
			return nil, errors.New("flowsteer: credentials set both TLS (ca_file, cert_file, server_name or tls) and insecure; choose one")
		}
		cfg, err := c.tlsConfig()
		if err != nil {
			return nil, err
		}
		opts := []grpc.DialOption{grpc.WithTransportCredentials(credentials.NewTLS(cfg))}
		if token != "" {
			opts = append(opts, grpc.WithPerRPCCredentials(bearer{token: token, requireTLS: true}))
		}
		return opts, nil
	}
	switch {
	case token == "":
		return []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, nil
	case c.Insecure:
		return []grpc.DialOption{
			grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithPerRPCCredentials(bearer{token: token}),
		}, nil
	}
	return []grpc.DialOption{
		grpc.WithTransportCredentials(loopbackOnly{local.NewCredentials()}),
		grpc.WithPerRPCCredentials(bearer{token: token}),
	}, nil
}

func (c Credentials) tlsConfig() (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: c.ServerName}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("flowsteer: CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("flowsteer: CA file %s holds no PEM certificate", c.CAFile)
		}
		cfg.RootCAs = pool
	}
	if (c.CertFile == "") != (c.KeyFile == "") {
		return nil, errors.New("flowsteer: a client certificate needs both cert_file and key_file")
	}
	if c.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("flowsteer: client certificate: %w", err)
		}
		// Sent whatever CAs the server names as acceptable (crypto/tls
		// would otherwise send none), so a wrong certificate fails the
		// handshake plainly instead of looking like a missing one.
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil }
	}
	return cfg, nil
}

// bearer sends the token on every call (credentials.PerRPCCredentials).
type bearer struct {
	token      string
	requireTLS bool
}

func (b bearer) GetRequestMetadata(ctx context.Context, _ ...string) (map[string]string, error) {
	if b.requireTLS {
		ri, _ := credentials.RequestInfoFromContext(ctx)
		if err := credentials.CheckSecurityLevel(ri.AuthInfo, credentials.PrivacyAndIntegrity); err != nil {
			return nil, status.Errorf(codes.Unauthenticated, "flowsteer: not sending the bearer token over a connection without TLS: %v", err)
		}
	}
	return map[string]string{"authorization": "Bearer " + b.token}, nil
}

func (b bearer) RequireTransportSecurity() bool { return b.requireTLS }

// loopbackOnly is grpc's local transport credentials with an error that
// says what to do when the peer is not on this machine.
type loopbackOnly struct {
	credentials.TransportCredentials
}

func (l loopbackOnly) ClientHandshake(ctx context.Context, authority string, conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	c, ai, err := l.TransportCredentials.ClientHandshake(ctx, authority, conn)
	if err != nil {
		return nil, nil, fmt.Errorf("flowsteer: without TLS a bearer token is only sent to loopback addresses, and %s is not one: "+
			"give the server's CA (ca_file, --tls-ca) or tls: true, or set insecure (--insecure) to send the token in plaintext anyway: %w",
			conn.RemoteAddr(), err)
	}
	return c, ai, nil
}

func (l loopbackOnly) Clone() credentials.TransportCredentials {
	return loopbackOnly{l.TransportCredentials.Clone()}
}
