package canvas

import (
	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
	"github.com/flowsteer/flowsteer/internal/canvas"
)

func observationToPB(m canvas.ObservationMode) pb.ObservationMode {
	if m == canvas.ObservationIncremental {
		return pb.ObservationMode_OBSERVATION_MODE_INCREMENTAL
	}
	return pb.ObservationMode_OBSERVATION_MODE_FULL
}
