package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"

	"github.com/flowsteer/flowsteer/clients/go/flowsteer"
	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
	"github.com/flowsteer/flowsteer/internal/policy"
	"github.com/flowsteer/flowsteer/internal/protoconv"
	"github.com/flowsteer/flowsteer/internal/rollout"
	"github.com/flowsteer/flowsteer/internal/system"
)

type playFlags struct {
	backendFlags
	pol        policyFlags
	taskFile   string
	format     string
	canvasAddr string
	limit      int
	maxRounds  int
	seed       int64
	greedy     bool
	auth       clientAuthFlags // --canvas and --policy-addr connections
}

func newPlayCmd() *cobra.Command {
	f := &playFlags{}
	cmd := &cobra.Command{
		Use:   "play",
		Short: "Play episodes with a policy against a canvas and print every turn",
		Long: "play drives one episode per task of --task-file with the chosen policy and prints each turn:\n" +
			"the reflection, the action, and the canvas feedback, then the reward.\n\n" +
			"Policies (--policy): " + policy.Kinds.Describe() + ".\n" +
			"Each kind's options are the flags named after it below (docs/config.md).",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runPlay(cmd.Context(), cmd.OutOrStdout(), f) },
	}
	f.register(cmd.Flags())
	f.pol.register(cmd.Flags(), "random", "the policy")
	cmd.Flags().StringVar(&f.taskFile, "task-file", "", "task file (required)")
	cmd.Flags().StringVar(&f.format, "format", "auto", "task file layout")
	cmd.Flags().StringVar(&f.canvasAddr, "canvas", "", "address of a running canvas (default: one in this process)")
	cmd.Flags().IntVar(&f.limit, "limit", 3, "play at most this many tasks (0 = all)")
	cmd.Flags().IntVar(&f.maxRounds, "max-rounds", 20, "rounds per episode")
	cmd.Flags().Int64Var(&f.seed, "seed", 1, "sampling seed")
	cmd.Flags().BoolVar(&f.greedy, "greedy", false, "take the most likely decision instead of sampling")
	f.auth.register(cmd.Flags(), "", "--canvas and --policy-addr connections")
	_ = cmd.MarkFlagRequired("task-file")
	return cmd
}

func runPlay(ctx context.Context, out io.Writer, f *playFlags) error {
	if f.canvasAddr == "" {
		// The in-process canvas's backend: bad options are named before
		// anything starts.
		if _, err := f.options(); err != nil {
			return err
		}
	}
	p, closeP, err := f.pol.build(ctx, f.seed, &f.auth)
	if err != nil {
		return err
	}
	defer closeP()
	tasks, dropped, err := system.LoadTasks(ctx, f.taskFile, f.format, nil, f.limit, nil)
	if err != nil {
		return err
	}
	if dropped > 0 {
		fmt.Fprintf(out, "public tests: %d examples dropped because the data set's reference solution fails them (flowsteer tasks inspect lists them)\n", dropped)
	}
	addr := f.canvasAddr
	var dialOpts []grpc.DialOption
	if addr != "" {
		if dialOpts, err = f.auth.dialOptions(); err != nil {
			return err
		}
	} else {
		sctx, stop := context.WithCancel(ctx)
		ready := make(chan string, 1)
		done := make(chan error, 1)
		sf := &serveFlags{backendFlags: f.backendFlags, addr: "127.0.0.1:0", services: []string{"canvas"}, grace: 5 * time.Second, maxEpisodes: 1000, idleTTL: time.Hour}
		go func() { done <- serve(sctx, sf, ready) }()
		defer func() { stop(); <-done }()
		select {
		case addr = <-ready:
		case err := <-done:
			done <- err // for the deferred wait, which would block on an empty channel
			return fmt.Errorf("start canvas: %w", err)
		}
	}
	c, err := flowsteer.Dial(addr, dialOpts...)
	if err != nil {
		return err
	}
	defer c.Close()
	info := p.Info()
	fmt.Fprintf(out, "policy: %s (%s)\n", info.Kind, info.Version)
	mr := int32(f.maxRounds)
	for i, t := range tasks {
		fmt.Fprintf(out, "\n=== [%d/%d] %s (%s): %s\n", i+1, len(tasks), t.ID, t.Family, oneLine(t.Question, 100))
		actor, err := rollout.ActorFor(ctx, p)
		if err != nil {
			return err
		}
		seed := f.seed + int64(i)
		rec, err := rollout.Play(ctx, canvasOpener{c}, printingActor{actor, out}, protoconv.TaskToPB(t), &pb.EpisodeConfig{MaxRounds: &mr}, policy.Sampling{Greedy: f.greedy, Seed: &seed})
		if err != nil {
			return err
		}
		// The last turn's feedback ("Finish accepted", "reached max_rounds")
		// comes with the final observation, which no Act ever sees.
		printFeedback(out, rec.Final)
		r := rec.Final.GetReward()
		fmt.Fprintf(out, "--- ended (%s) after %d turns, %d invalid\n    workflow: %s\n    answer: %s\n    score: %.2f %s\n    reward %+.2f (structure %.1f, released %v, correctness %.2f)\n",
			strings.ToLower(strings.TrimPrefix(rec.Final.GetEndReason().String(), "END_REASON_")), rec.Final.GetTurn(), rec.Invalid,
			rec.Final.GetWorkflow().GetDsl(), oneLine(rec.Final.GetExecution().GetFinalAnswer(), 100), r.GetScore().GetValue(), r.GetScore().GetExplanation(),
			r.GetReward(), r.GetStructureTotal(), r.GetReleased(), r.GetCorrectness())
	}
	return nil
}

// canvasOpener adapts the Go client to rollout.Canvas.
type canvasOpener struct{ c *flowsteer.Client }

func (o canvasOpener) Open(ctx context.Context, t *pb.Task, cfg *pb.EpisodeConfig) (rollout.Episode, error) {
	return o.c.Open(ctx, t, cfg)
}

// printingActor prints each decision as it is made; the canvas feedback
// follows in the next observation, printed before the next decision.
type printingActor struct {
	a   rollout.Actor
	out io.Writer
}

func (p printingActor) Act(ctx context.Context, obs *pb.Observation, s policy.Sampling) (*pb.Decision, error) {
	if obs.GetTurn() > 0 {
		printFeedback(p.out, obs)
		fmt.Fprintf(p.out, "    workflow: %s\n", orEmpty(obs.GetWorkflow().GetDsl()))
	}
	d, err := p.a.Act(ctx, obs, s)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(p.out, "[turn %d] ", obs.GetTurn()+1)
	if r := d.GetReasoning(); r != "" {
		fmt.Fprintf(p.out, "reflection: %s\n          ", oneLine(r, 120))
	}
	fmt.Fprintf(p.out, "action: %s\n", oneLine(rollout.ActionText(d), 140))
	return d, nil
}

func (p printingActor) Close() error { return p.a.Close() }

// printFeedback prints the canvas's answer to the turn that produced obs.
func printFeedback(out io.Writer, obs *pb.Observation) {
	mark := "ok"
	if !obs.GetValid() {
		mark = "INVALID"
	}
	fmt.Fprintf(out, "    feedback [%s]: %s\n", mark, oneLine(obs.GetFeedback(), 150))
}
