package auth

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
)

// DialAllow is the list of addresses a server may dial on a client's
// behalf (a trainer's canvases and policies, an executor's base_url,
// Evaluate's remote policy): `flowsteer serve --allow-dial`. Without it a
// client could point the server at any host and use it as a proxy into
// the server's network. Entries:
//
//	loopback          127.0.0.0/8, ::1 and the name localhost (the default)
//	10.0.0.0/8        a network (CIDR) or one IP
//	canvas.internal   a host name, any port (compared as written: the name is not resolved)
//	host:port         one host and port
//	*                 anything (a trusted deployment)
type DialAllow struct {
	any      bool
	loopback bool
	nets     []netip.Prefix
	hosts    map[string]bool // host or host:port, lower case
	spec     []string
}

// DefaultDialAllow is loopback only.
var DefaultDialAllow = []string{"loopback"}

// NewDialAllow parses the entries above.
func NewDialAllow(entries []string) (*DialAllow, error) {
	d := &DialAllow{hosts: map[string]bool{}, spec: entries}
	for _, e := range entries {
		e = strings.TrimSpace(e)
		switch {
		case e == "":
			continue
		case e == "*":
			d.any = true
		case e == "loopback":
			d.loopback = true
		case strings.Contains(e, "/"):
			p, err := netip.ParsePrefix(e)
			if err != nil {
				return nil, fmt.Errorf("--allow-dial %q: %v", e, err)
			}
			d.nets = append(d.nets, p.Masked())
		default:
			if ip, err := netip.ParseAddr(strings.Trim(e, "[]")); err == nil {
				d.nets = append(d.nets, netip.PrefixFrom(ip, ip.BitLen()))
				continue
			}
			d.hosts[strings.ToLower(e)] = true
		}
	}
	return d, nil
}

// String is the list as given, for messages.
func (d *DialAllow) String() string { return strings.Join(d.spec, ",") }

// Check says whether addr may be dialled: a gRPC target (host:port,
// dns:///host:port, ipv4:a,b, passthrough:///host:port) or a URL
// (http://host:port/v1). Unix sockets and other schemes are refused
// unless the list is "*".
func (d *DialAllow) Check(addr string) error {
	if d == nil || d.any {
		return nil
	}
	hosts, err := targetHosts(addr)
	if err != nil {
		return err
	}
	for _, hp := range hosts {
		if !d.allows(hp) {
			return fmt.Errorf("%s is not among the addresses this server may dial (flowsteer serve --allow-dial %s)", hp, d.String())
		}
	}
	return nil
}

func (d *DialAllow) allows(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = hostport
	}
	host = strings.ToLower(strings.Trim(host, "[]"))
	if d.hosts[strings.ToLower(hostport)] || d.hosts[host] {
		return true
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return d.loopback && host == "localhost"
	}
	ip = ip.Unmap()
	if d.loopback && ip.IsLoopback() {
		return true
	}
	for _, p := range d.nets {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// targetHosts returns the host[:port] parts a target or URL names.
func targetHosts(addr string) ([]string, error) {
	a := strings.TrimSpace(addr)
	if a == "" {
		return nil, fmt.Errorf("empty address")
	}
	low := strings.ToLower(a)
	switch {
	case strings.HasPrefix(low, "http://"), strings.HasPrefix(low, "https://"):
		u, err := url.Parse(a)
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("%q is not a URL with a host", clip(a, 80))
		}
		return []string{u.Host}, nil
	case strings.HasPrefix(low, "dns:"), strings.HasPrefix(low, "passthrough:"):
		rest := a[strings.Index(a, ":")+1:]
		if strings.HasPrefix(rest, "//") {
			// dns://AUTHORITY/host:port: the authority is a DNS server the
			// client would have us query, which is dialling too.
			auth, path, _ := strings.Cut(rest[2:], "/")
			if auth != "" {
				return nil, fmt.Errorf("%q names a DNS authority: use dns:///host:port", clip(a, 80))
			}
			rest = path
		}
		return []string{rest}, nil
	case strings.HasPrefix(low, "ipv4:"), strings.HasPrefix(low, "ipv6:"):
		return strings.Split(a[5:], ","), nil
	case strings.Contains(low, "://"), strings.HasPrefix(low, "unix:"), strings.HasPrefix(low, "unix-abstract:"), strings.HasPrefix(low, "vsock:"):
		return nil, fmt.Errorf("%q: only host:port, dns:///host:port and http(s) URLs may be dialled for a client", clip(a, 80))
	}
	return []string{a}, nil
}

// clip bounds client input echoed into messages and logs.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + fmt.Sprintf("...(%d bytes)", len(s))
}

// Clip bounds a piece of client input echoed into a status message or a
// log line to n bytes, saying how long it was.
func Clip(s string, n int) string { return clip(s, n) }
