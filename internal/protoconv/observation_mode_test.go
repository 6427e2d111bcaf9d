package protoconv

import (
	"testing"

	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
	"github.com/flowsteer/flowsteer/internal/canvas"
)

func TestObservationModeRoundTrip(t *testing.T) {
	for in, want := range map[pb.ObservationMode]canvas.ObservationMode{
		pb.ObservationMode_OBSERVATION_MODE_UNSPECIFIED: canvas.ObservationFull,
		pb.ObservationMode_OBSERVATION_MODE_FULL:        canvas.ObservationFull,
		pb.ObservationMode_OBSERVATION_MODE_INCREMENTAL: canvas.ObservationIncremental,
	} {
		cfg, _, err := ConfigFromPB(&pb.EpisodeConfig{Observation: in})
		if err != nil || cfg.Observation != want {
			t.Errorf("ConfigFromPB(%v) = %q, %v; want %q", in, cfg.Observation, err, want)
		}
		if back := ConfigToPB(cfg).GetObservation(); in != pb.ObservationMode_OBSERVATION_MODE_UNSPECIFIED && back != in {
			t.Errorf("ConfigToPB(%q) = %v, want %v", cfg.Observation, back, in)
		}
	}
	if _, _, err := ConfigFromPB(&pb.EpisodeConfig{Observation: 99}); err == nil {
		t.Error("an unknown observation mode was accepted")
	}
}
