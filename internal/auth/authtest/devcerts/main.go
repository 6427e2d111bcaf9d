// Command devcerts writes certificates for trying flowsteer's TLS and
// client certificates locally, without openssl:
//
//	go run ./internal/auth/authtest/devcerts -out certs -host 127.0.0.1,localhost -client trainer
//
// It writes certs/ca.pem, certs/server.pem, certs/server-key.pem and
// certs/client-NAME.pem, certs/client-NAME-key.pem. These are for
// development: use your organisation's CA in production.
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/flowsteer/flowsteer/internal/auth/authtest"
)

func main() {
	out := flag.String("out", "certs", "directory to write the PEM files into")
	hosts := flag.String("host", "127.0.0.1,localhost", "comma-separated IPs and DNS names of the server certificate")
	clients := flag.String("client", "", "comma-separated names of client certificates to make (for --tls-client-ca)")
	days := flag.Int("days", 30, "validity in days")
	flag.Parse()
	var cs []string
	for c := range strings.SplitSeq(*clients, ",") {
		if c = strings.TrimSpace(c); c != "" {
			cs = append(cs, c)
		}
	}
	var hs []string
	for h := range strings.SplitSeq(*hosts, ",") {
		if h = strings.TrimSpace(h); h != "" {
			hs = append(hs, h)
		}
	}
	f, err := authtest.WritePKI(*out, hs, cs, time.Duration(*days)*24*time.Hour, false)
	if err != nil {
		fmt.Fprintln(os.Stderr, "devcerts:", err)
		os.Exit(1)
	}
	fmt.Printf("CA:     %s\nserver: %s %s (hosts %s)\n", f.CA, f.ServerCert, f.ServerKey, strings.Join(hs, ","))
	for _, c := range cs {
		fmt.Printf("client: %s %s (CN %s)\n", f.ClientCert[c], f.ClientKey[c], c)
	}
}
