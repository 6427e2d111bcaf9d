package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"time"

	"github.com/flowsteer/flowsteer/internal/trainer"
	trainersvc "github.com/flowsteer/flowsteer/services/trainer"
)

// runEstimate plays the pilot in a scratch run directory (removed after)
// and prints the projection.
func runEstimate(ctx context.Context, out io.Writer, cfg trainer.Config) error {
	dir, err := os.MkdirTemp("", "flowsteer-estimate-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	p, err := trainersvc.Prepare(ctx, cfg, trainersvc.Options{Dir: dir + "/run"})
	if err != nil {
		return err
	}
	defer p.Close()
	est, err := p.Trainer.Estimate(ctx)
	if err != nil {
		return err
	}
	fmt.Fprint(out, FormatEstimate(est, p.Simulated))
	return nil
}

// FormatEstimate prints an estimate for a terminal.
func FormatEstimate(e trainer.Estimate, simulated bool) string {
	s := fmt.Sprintf("pilot: %d groups, %d episodes, %.1fs; %s\n", e.PilotGroups, e.PilotEpisodes, e.PilotCost.WallSeconds, e.PilotCost)
	s += fmt.Sprintf("full run: %d training groups + %d evaluation episodes\n", e.TrainGroups, e.EvalEpisodes)
	s += fmt.Sprintf("  executor tokens (billed) %s\n", fmtInterval(e.ExecutorTokens, "%.0f"))
	s += fmt.Sprintf("  money                    %s\n", fmtInterval(e.Money, "%.4f"))
	wall := func(v float64) string {
		if math.IsInf(v, 0) {
			return "inf"
		}
		return (time.Duration(v * float64(time.Second))).Round(time.Second).String()
	}
	s += fmt.Sprintf("  wall time                %s [%s, %s]\n", wall(e.WallSeconds.Mean), wall(e.WallSeconds.Low), wall(e.WallSeconds.High))
	s += "  (95% prediction intervals from the pilot's spread; they do not cover a policy whose workflows change as it learns, nor cache reuse in later epochs)\n"
	if len(e.Unpriced) > 0 {
		s += fmt.Sprintf("  unpriced (money 0): %v\n", e.Unpriced)
	}
	if simulated {
		s += "  executor: SIMULATED — token counts come from the offline sim, not a real model\n"
	}
	return s
}

func fmtInterval(i trainer.Interval, f string) string {
	return fmt.Sprintf(f+" [95%% "+f+", "+f+"]", i.Mean, i.Low, i.High)
}
