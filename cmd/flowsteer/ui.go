package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/flowsteer/flowsteer/internal/auth"
	"github.com/flowsteer/flowsteer/internal/ui"
)

// uiFlags configure the web viewer (flowsteer ui, serve --ui).
type uiFlags struct {
	addr      string
	runsDir   string
	jaegerURL string
	certFile  string
	keyFile   string
	tokenFile string
	insecure  bool
}

func newUICmd() *cobra.Command {
	f := &uiFlags{}
	cmd := &cobra.Command{
		Use:   "ui",
		Short: "Serve the read-only web viewer: runs, live curves, groups, episodes turn by turn, traces",
		Long: "Serve a read-only web viewer over the run directories under --runs-dir: every run with its status, live curves " +
			"(server-sent events), evaluations and frequent workflows; each group's episodes side by side by advantage; each episode " +
			"turn by turn with its workflow graph, node outputs and reward breakdown; its trace from the spans flowsteer recorded; " +
			"search by run, episode id or trace id; every page has a JSON twin (?format=json). It listens on 127.0.0.1 by default; " +
			"any other address needs --tls-cert/--tls-key and --auth-token-file (or $" + serverTokensEnv + "), or --insecure.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ready := make(chan string, 1)
			go func() {
				if a, ok := <-ready; ok {
					fmt.Fprintf(cmd.OutOrStdout(), "flowsteer viewer on %s (runs under %s)\n", a, f.runsDir)
				}
			}()
			return serveUI(cmd.Context(), f, ready)
		},
	}
	f.register(cmd, "addr", "127.0.0.1:8080", "address of the web viewer")
	cmd.Flags().StringVar(&f.runsDir, "runs-dir", "runs", "where run directories live")
	cmd.Flags().StringVar(&f.certFile, "tls-cert", "", "serve HTTPS with this certificate (PEM; with --tls-key)")
	cmd.Flags().StringVar(&f.keyFile, "tls-key", "", "key of --tls-cert (PEM)")
	cmd.Flags().StringVar(&f.tokenFile, "auth-token-file", "", "require bearer tokens listed in this file (the format serve uses; $"+serverTokensEnv+" adds more)")
	cmd.Flags().BoolVar(&f.insecure, "insecure", false, "allow a non-loopback --addr without TLS and a token (logs a warning)")
	return cmd
}

// register adds the flags shared with serve --ui.
func (f *uiFlags) register(cmd *cobra.Command, addrFlag, def, help string) {
	cmd.Flags().StringVar(&f.addr, addrFlag, def, help)
	cmd.Flags().StringVar(&f.jaegerURL, "jaeger-url", "", "Jaeger UI base URL for trace links (default: $FLOWSTEER_JAEGER_URL, else port 16686 of $OTEL_EXPORTER_OTLP_ENDPOINT's host when that is set)")
}

// jaeger picks the Jaeger link base.
func (f *uiFlags) jaeger() string {
	if f.jaegerURL != "" {
		return f.jaegerURL
	}
	if v := os.Getenv("FLOWSTEER_JAEGER_URL"); v != "" {
		return v
	}
	ep := os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
	if ep == "" {
		ep = os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT")
	}
	if ep == "" {
		return ""
	}
	u, err := url.Parse(ep)
	if err != nil || u.Hostname() == "" {
		return ""
	}
	return "http://" + net.JoinHostPort(u.Hostname(), "16686")
}

// serveUI serves the viewer until ctx ends. ready receives the bound address.
func serveUI(ctx context.Context, f *uiFlags, ready chan<- string) error {
	log := slog.Default()
	if (f.certFile == "") != (f.keyFile == "") {
		return errors.New("--tls-cert and --tls-key go together: give both")
	}
	loop, err := auth.IsLoopbackAddr(f.addr)
	if err != nil {
		return err
	}
	var tokens *auth.TokenStore
	if f.tokenFile != "" || os.Getenv(serverTokensEnv) != "" {
		if tokens, err = auth.NewTokenStore(auth.TokenOptions{File: f.tokenFile, EnvName: serverTokensEnv, EnvValue: os.Getenv(serverTokensEnv), Reload: time.Second, Logger: log}); err != nil {
			return err
		}
	}
	protected := f.certFile != "" && tokens != nil
	if !loop && !protected {
		if !f.insecure {
			return fmt.Errorf("the viewer at %s would be reachable from other machines without TLS and a token: add --tls-cert, --tls-key and --auth-token-file, listen on 127.0.0.1, or pass --insecure on a network you trust", f.addr)
		}
		log.Warn("the viewer listens beyond loopback without TLS and a token (--insecure): anyone who can reach it can read every run", "addr", f.addr)
	}
	srv, err := ui.New(ui.Options{RunsDir: f.runsDir, Version: buildVersion(), JaegerURL: f.jaeger(), Logger: log})
	if err != nil {
		return err
	}
	defer srv.Close()
	var h http.Handler = srv
	if tokens != nil {
		h = ui.RequireToken(h, tokens, f.certFile != "")
	}
	lis, err := net.Listen("tcp", f.addr)
	if err != nil {
		return fmt.Errorf("viewer: listen on %s: %w", f.addr, err)
	}
	if !auth.IsLoopbackListener(lis.Addr()) && !protected && !f.insecure {
		lis.Close()
		return fmt.Errorf("the viewer bound %s, which is not loopback: add TLS and a token, or --insecure", lis.Addr())
	}
	// Requests live in ctx, so event streams end when the viewer stops.
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		BaseContext: func(net.Listener) context.Context { return ctx }}
	if f.certFile != "" {
		cert, err := tls.LoadX509KeyPair(f.certFile, f.keyFile)
		if err != nil {
			lis.Close()
			return fmt.Errorf("--tls-cert/--tls-key: %w", err)
		}
		hs.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		lis = tls.NewListener(lis, hs.TLSConfig)
	}
	if ready != nil {
		scheme := "http"
		if f.certFile != "" {
			scheme = "https"
		}
		ready <- scheme + "://" + lis.Addr().String()
		close(ready)
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(lis) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		return hs.Close()
	}
	return nil
}
