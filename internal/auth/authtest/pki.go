// Package authtest makes certificates for tests and local trials of
// flowsteer's TLS: a CA, a server certificate for chosen hosts, and client
// certificates signed by the CA, written as PEM files. It uses
// crypto/x509 only (no openssl). The command in ./devcerts writes the same
// files from the command line.
package authtest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// CA is a certificate authority that can sign certificates.
type CA struct {
	Cert *x509.Certificate
	Key  crypto.Signer
	PEM  []byte
}

// NewCA makes a self-signed CA named cn.
func NewCA(cn string, validity time.Duration) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"flowsteer dev"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &CA{Cert: cert, Key: key, PEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}, nil
}

// Pair is a signed certificate and its key, PEM encoded.
type Pair struct {
	CertPEM, KeyPEM []byte
}

// Server signs a server certificate for hosts (IPs or DNS names).
func (ca *CA) Server(hosts []string, validity time.Duration) (Pair, error) {
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: hosts[0]},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	return ca.sign(tmpl, validity)
}

// Client signs a client certificate whose common name is cn.
func (ca *CA) Client(cn string, validity time.Duration) (Pair, error) {
	return ca.sign(&x509.Certificate{
		Subject:     pkix.Name{CommonName: cn},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, validity)
}

func (ca *CA) sign(tmpl *x509.Certificate, validity time.Duration) (Pair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return Pair{}, err
	}
	tmpl.SerialNumber = serial()
	tmpl.NotBefore = time.Now().Add(-time.Hour)
	tmpl.NotAfter = time.Now().Add(validity)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		return Pair{}, err
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return Pair{}, err
	}
	return Pair{
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}),
	}, nil
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return n
}

// Files are the paths WritePKI wrote.
type Files struct {
	Dir                         string
	CA                          string // the CA certificate: clients' --tls-ca, serve's --tls-client-ca
	ServerCert, ServerKey       string
	ClientCert, ClientKey       map[string]string // by client name
	UntrustedCA                 string            // only when untrusted clients were asked for
	UntrustedCert, UntrustedKey string            // a client certificate from another CA
}

// WritePKI writes a CA, a server certificate for hosts and one client
// certificate per name into dir (created if needed), keys with mode 0600.
// With untrusted set it also writes a client certificate ("untrusted")
// signed by a second CA that the first does not know, for negative tests.
func WritePKI(dir string, hosts, clients []string, validity time.Duration, untrusted bool) (Files, error) {
	if len(hosts) == 0 {
		return Files{}, fmt.Errorf("give at least one host for the server certificate")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Files{}, err
	}
	f := Files{Dir: dir, ClientCert: map[string]string{}, ClientKey: map[string]string{}}
	ca, err := NewCA("flowsteer dev CA", validity)
	if err != nil {
		return f, err
	}
	f.CA = filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(f.CA, ca.PEM, 0o644); err != nil {
		return f, err
	}
	srv, err := ca.Server(hosts, validity)
	if err != nil {
		return f, err
	}
	if f.ServerCert, f.ServerKey, err = writePair(dir, "server", srv); err != nil {
		return f, err
	}
	for _, name := range clients {
		p, err := ca.Client(name, validity)
		if err != nil {
			return f, err
		}
		if f.ClientCert[name], f.ClientKey[name], err = writePair(dir, "client-"+name, p); err != nil {
			return f, err
		}
	}
	if untrusted {
		other, err := NewCA("untrusted CA", validity)
		if err != nil {
			return f, err
		}
		f.UntrustedCA = filepath.Join(dir, "untrusted-ca.pem")
		if err := os.WriteFile(f.UntrustedCA, other.PEM, 0o644); err != nil {
			return f, err
		}
		p, err := other.Client("intruder", validity)
		if err != nil {
			return f, err
		}
		if f.UntrustedCert, f.UntrustedKey, err = writePair(dir, "untrusted-client", p); err != nil {
			return f, err
		}
	}
	return f, nil
}

func writePair(dir, base string, p Pair) (string, string, error) {
	cert, key := filepath.Join(dir, base+".pem"), filepath.Join(dir, base+"-key.pem")
	if err := os.WriteFile(cert, p.CertPEM, 0o644); err != nil {
		return "", "", err
	}
	if err := os.WriteFile(key, p.KeyPEM, 0o600); err != nil {
		return "", "", err
	}
	return cert, key, nil
}

// PKI writes, for a test, a CA, a server certificate for 127.0.0.1 and
// localhost, a client certificate "alice" from that CA and an untrusted
// client certificate, in a temporary directory.
func PKI(t testing.TB) Files {
	t.Helper()
	f, err := WritePKI(t.TempDir(), []string{"127.0.0.1", "localhost"}, []string{"alice"}, time.Hour, true)
	if err != nil {
		t.Fatalf("make test certificates: %v", err)
	}
	return f
}
