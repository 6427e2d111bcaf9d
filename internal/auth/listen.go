package auth

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"time"
)

// IsLoopbackAddr says whether a listen address ("host:port") can only be
// reached from this machine: its host is a loopback IP or a name that
// resolves to loopback IPs only. An empty host, 0.0.0.0 or :: listen on
// every interface and are not loopback.
func IsLoopbackAddr(addr string) (bool, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false, fmt.Errorf("address %q: %w (use HOST:PORT, e.g. 127.0.0.1:50051)", addr, err)
	}
	if host == "" {
		return false, nil
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		return ip.IsLoopback(), nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return false, fmt.Errorf("address %q: %w", addr, err)
	}
	for _, ip := range ips {
		if !ip.Unmap().IsLoopback() {
			return false, nil
		}
	}
	return len(ips) > 0, nil
}

// IsLoopbackListener says whether a bound listener accepts connections
// from this machine only: the authoritative check, made on the address
// the kernel actually bound.
func IsLoopbackListener(a net.Addr) bool {
	if t, ok := a.(*net.TCPAddr); ok {
		return t.IP.IsLoopback()
	}
	return false
}
