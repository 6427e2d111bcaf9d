package runstore

import (
	"io"

	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
	"github.com/flowsteer/flowsteer/internal/cost"
)

// The store seam's interfaces, grouped by what each consumer does with a
// run: the trainer writes (Writer) and reads its own history back
// (Reader); listings, reports and TrainerService read (Reader); the web
// viewer and replay export read single episodes, traces and groups
// (Viewer). Store is all of them, what a kind's factory returns and what
// Open and Create give. Every method is one transaction of the kind's
// storage (see doc.go for what sqlite guarantees); ErrNotFound,
// ErrExists and ErrInvalid mean the same in every kind.

// Writer is what a training run records as it goes.
type Writer interface {
	CreateRun(r Run) error
	UpdateRun(id, status string, step int64, errMsg string) error
	// Truncate drops what was stored after afterStep (a resume).
	Truncate(runID string, afterStep int64) error
	RecordResume(runID string, fromStep int64) error
	PutStep(runID string, m *pb.StepMetrics) error
	PutEval(runID string, r *pb.EvalReport) error
	PutCheckpoint(runID string, step int64, path, checksum, configHash string) error
	PutEpisodes(eps []Episode) error
	PutEpisodeCosts(cs []EpisodeCost) error
	PutSpans(runID string, spans []Span) error
	PutSection(runID string, sec Section) error
}

// Reader is what listings, reports, resumes and TrainerService read.
type Reader interface {
	GetRun(id string) (Run, error)
	ListRuns() ([]Run, error)
	Steps(runID string) ([]*pb.StepMetrics, error)
	Evals(runID string) ([]*pb.EvalReport, error)
	LastCheckpoint(runID string) (c Checkpoint, ok bool, err error)
	Episodes(runID string, f EpisodeFilter) ([]Episode, error)
	TopWorkflows(runID, phase string, fromStep int64, n int) ([]WorkflowCount, error)
	EpisodeCosts(runID, phase string) ([]EpisodeCost, error)
	RunCost(runID string) (cost.Summary, error)
	Sections(runID string) ([]Section, error)
}

// Viewer is what the web viewer and replay export read.
type Viewer interface {
	EpisodeByID(runID, episodeID string) (Episode, error)
	EpisodeReplay(runID, episodeID string) ([]byte, error)
	Spans(runID string, f SpanFilter) ([]Span, error)
	EpisodeOfTrace(runID, traceID string) (string, error)
	TraceOfEpisode(runID, episodeID string) (string, error)
	Resumes(runID string) ([]Resume, error)
	Groups(runID string) ([]GroupSummary, error)
	GroupEpisodes(runID string, step int64, groupID string) ([]Episode, error)
}

// Store is one run directory's store, whatever its kind.
type Store interface {
	Reader
	Writer
	Viewer
	// IntegrityCheck fails on damaged storage; the trainer calls it on
	// resume so that a damaged store stops the run.
	IntegrityCheck() error
	io.Closer
}

var _ Store = (*SQLite)(nil)
