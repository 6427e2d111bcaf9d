package main

import (
	"encoding/json"

	"github.com/spf13/cobra"

	"github.com/flowsteer/flowsteer/internal/runstore"
	"github.com/flowsteer/flowsteer/internal/telemetry"
)

// spanRecorder records the spans of `flowsteer train` into its run store
// (the viewer's trace pages read them); nil for other commands or with
// --record-spans=false.
var spanRecorder *telemetry.SpanRecorder

// recorderFor makes the span recorder of commands that train.
func recorderFor(cmd *cobra.Command) *telemetry.SpanRecorder {
	if cmd.Name() != "train" {
		return nil
	}
	if on, err := cmd.Flags().GetBool("record-spans"); err == nil && !on {
		return nil
	}
	spanRecorder = telemetry.NewSpanRecorder()
	return spanRecorder
}

// attachSpans records the run's spans into its store until detach.
func attachSpans(st *runstore.Store, runID string) (detach func()) {
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
