package main

import (
	"encoding/json"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/flowsteer/flowsteer/internal/runstore"
	"github.com/flowsteer/flowsteer/internal/telemetry"
)

// spanRecorder records the spans of `flowsteer train`, and of the runs
// the trainer service of `flowsteer serve` starts, into their run stores
// (the viewer's trace pages read them); nil for other commands or with
// --record-spans=false.
var spanRecorder *telemetry.SpanRecorder

// recorderFor makes the span recorder of commands that train.
func recorderFor(cmd *cobra.Command) *telemetry.SpanRecorder {
	switch cmd.Name() {
	case "train":
	case "serve":
		// Only runs record spans: a serve without the trainer service
		// keeps the no-op tracer unless OTEL_* asks for export.
		if ss, err := cmd.Flags().GetStringSlice("services"); err == nil && len(ss) > 0 && !slices.ContainsFunc(ss, func(s string) bool {
			return strings.EqualFold(strings.TrimSpace(s), "trainer")
		}) {
			return nil
		}
	default:
		return nil
	}
	if on, err := cmd.Flags().GetBool("record-spans"); err == nil && !on {
		return nil
	}
	ratio, err := cmd.Flags().GetFloat64("span-episodes")
	if err != nil {
		ratio = telemetry.DefaultEpisodeRatio
	}
	spanRecorder = telemetry.NewSpanRecorder(min(max(ratio, 0), 1), telemetry.DefaultFirstEpisodes)
	return spanRecorder
}

// attachSpans records the run's spans into its store until detach.
func attachSpans(st runstore.Store, runID string) (detach func()) {
	if spanRecorder == nil {
		return func() {}
	}
	return spanRecorder.Attach(runID, func(spans []telemetry.RecordedSpan) error {
		rows := make([]runstore.Span, len(spans))
		for i, s := range spans {
			attrs, err := json.Marshal(s.Attrs)
			if err != nil {
				attrs = []byte("{}")
			}
			rows[i] = runstore.Span{EpisodeID: s.EpisodeID, TraceID: s.TraceID, SpanID: s.SpanID, ParentID: s.ParentID, Name: s.Name,
				Start: s.Start, End: s.End, Status: s.Status, Attrs: string(attrs)}
		}
		return st.PutSpans(runID, rows)
	})
}
