package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"

	"github.com/flowsteer/flowsteer/clients/go/flowsteer"
	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
)

type demoFlags struct {
	canvas string
	auth   clientAuthFlags // --canvas connection
}

func newDemoCmd() *cobra.Command {
	f := &demoFlags{}
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Play one scripted episode on a canvas and print every turn",
		Long: "demo starts a canvas in this process on a free loopback port (or uses --canvas ADDR),\n" +
			"opens an episode on a small math task and plays a scripted Flow-Director through the\n" +
			"Interact stream, printing each reply, the canvas feedback and the workflow after it.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDemo(cmd.Context(), cmd.OutOrStdout(), f)
		},
	}
	cmd.Flags().StringVar(&f.canvas, "canvas", "", "address of a running canvas (default: start one in this process)")
	f.auth.register(cmd.Flags(), "", "--canvas connection")
	return cmd
}

// demoReplies is a scripted Flow-Director: actions, the prompts the canvas
// asks for after each add, one deliberate mistake and its repair.
var demoReplies = []string{
	"<reasoning>Start with a plan.</reasoning><action>add</action><operator>Plan</operator>",
	"Outline the quantities involved and the order of the arithmetic steps.",
	"<reasoning>Several independent solvers, then a vote.</reasoning><action>add</action><structure>parallel</structure><operators>Programmer, AnswerGenerate, Custom</operators>",
	"Write Python that computes the number of apples left and print it.",
	"Reason step by step and give the final number.",
	"Solve carefully and state only the final number at the end.",
	"<reasoning>Vote inside the block?</reasoning><action>add</action><structure>parallel</structure><operators>AnswerGenerate, ScEnsemble</operators>",
	"<reasoning>ScEnsemble belongs after the block.</reasoning><action>add</action><operator>ScEnsemble</operator>",
	"Pick the answer most solutions agree on.",
	"<reasoning>Finish early?</reasoning><action>finish</action>",
	"<reasoning>Repair a wrong solution.</reasoning><action>add</action><structure>conditional</structure><condition>Review</condition><true>Revise</true><false>done</false>",
	"Check that the arithmetic matches the problem statement.",
	"Fix the arithmetic named in the review feedback.",
	"<action>add</action><operator>Format</operator><prompt>Return only the final number.</prompt>",
	"<reasoning>All finish rules hold.</reasoning><action>finish</action>",
}

func runDemo(ctx context.Context, out io.Writer, f *demoFlags) error {
	addr := f.canvas
	var dialOpts []grpc.DialOption
	if addr != "" {
		var err error
		if dialOpts, err = f.auth.dialOptions(); err != nil {
			return err
		}
	} else {
		sctx, stop := context.WithCancel(ctx)
		ready := make(chan string, 1)
		done := make(chan error, 1)
		go func() {
			sf := &serveFlags{addr: "127.0.0.1:0", services: []string{"canvas"}, grace: 5 * time.Second,
				maxEpisodes: 16, idleTTL: time.Hour}
			sf.backendFlags = backendFlags{backend: "sim", runTimeout: time.Minute}
			done <- serve(sctx, sf, ready)
		}()
		defer func() { stop(); <-done }()
		select {
		case addr = <-ready:
		case err := <-done:
			return fmt.Errorf("start canvas: %w", err)
		}
		fmt.Fprintf(out, "canvas started on %s (in this process), executor: sim — SIMULATED, offline; not a real model\n", addr)
	}
	c, err := flowsteer.Dial(addr, dialOpts...)
	if err != nil {
		return err
	}
	defer c.Close()
	task := &pb.Task{
		Id: "demo-apples", Family: pb.TaskFamily_TASK_FAMILY_MATH, Source: "demo",
		Question: "Ann has 23 apples. She gives 7 to Ben and buys 3 bags of 4 apples. How many apples does she have now?",
		Answers:  []string{"28"},
	}
	octx, cancel := context.WithTimeout(ctx, 10*time.Second)
	ep, err := c.Open(octx, task)
	cancel()
	if err != nil {
		return fmt.Errorf("open episode: %w", err)
	}
	defer ep.Close()
	obs := ep.First()
	fmt.Fprintf(out, "episode %s on task %q\n%s\n", ep.ID(), task.Question, obs.GetFeedback())
	for _, reply := range demoReplies {
		if obs.GetDone() {
			break
		}
		sctx, cancel := context.WithTimeout(ctx, time.Minute)
		obs, err = ep.Step(sctx, flowsteer.Text(reply))
		cancel()
		if err != nil {
			return fmt.Errorf("turn: %w", err)
		}
		printTurn(out, reply, obs)
	}
	if !obs.GetDone() {
		return errors.New("the scripted episode did not end")
	}
	r := obs.GetReward()
	fmt.Fprintf(out, "\nepisode ended (%s) after %d turns\nfinal workflow: %s\n", strings.ToLower(strings.TrimPrefix(obs.GetEndReason().String(), "END_REASON_")), obs.GetTurn(), obs.GetWorkflow().GetDsl())
	if r != nil {
		fmt.Fprintf(out, "structure score %.1f (checker %.1f, Format %.1f, size %.1f, structure %.1f), correctness released: %v, reward %.2f\n",
			r.GetStructureTotal(), r.GetChecker(), r.GetFormat(), r.GetSize(), r.GetStructure(), r.GetReleased(), r.GetReward())
		if ex := obs.GetExecution(); !ex.GetExecuted() {
			fmt.Fprintf(out, "note: %s; correctness is 0 until an executor backend runs the workflow\n", ex.GetNote())
		}
	}
	return nil
}

func printTurn(out io.Writer, reply string, obs *pb.Observation) {
	mark := "ok"
	if !obs.GetValid() {
		mark = "INVALID"
	}
	fmt.Fprintf(out, "\n[turn %d/%d] %s: %s\n  reply:    %s\n  feedback: %s\n  workflow: %s\n",
		obs.GetTurn(), obs.GetMaxRounds(), mark, obs.GetLastAction(), oneLine(reply, 110), oneLine(obs.GetFeedback(), 160), orEmpty(obs.GetWorkflow().GetDsl()))
	if a := obs.GetAwaiting(); a != nil {
		fmt.Fprintf(out, "  awaiting: prompt for %s (%s)\n", a.GetNodeId(), a.GetOperator())
	}
}

func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

func orEmpty(s string) string {
	if s == "" {
		return "(empty)"
	}
	return s
}
