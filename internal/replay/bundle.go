package replay

import (
	"encoding/json"
	"fmt"
	"os"
	"runtime"

	"github.com/flowsteer/flowsteer/internal/runstore"
)

// Versions are the versions that produced a bundle.
type Versions struct {
	Flowsteer string `json:"flowsteer"`
	Go        string `json:"go"`
	// Schema is the run store's schema version, Format the replay
	// record's.
	Schema int `json:"schema"`
	Format int `json:"format"`
}

// Bundle is a self-contained, exported episode: everything Replay needs,
// as one JSON document (`flowsteer episodes export`).
type Bundle struct {
	RunID     string   `json:"run_id"`
	EpisodeID string   `json:"episode_id"`
	Step      int64    `json:"step"`
	Phase     string   `json:"phase"`
	GroupID   string   `json:"group_id"`
	TaskID    string   `json:"task_id"`
	Versions  Versions `json:"versions"`
	Record
}

// Export reads an episode's replay record from the store.
func Export(st runstore.Viewer, runID, episodeID, flowsteerVersion string) (*Bundle, error) {
	ep, err := st.EpisodeByID(runID, episodeID)
	if err != nil {
		return nil, err
	}
	data, err := st.EpisodeReplay(runID, episodeID)
	if err != nil {
		return nil, err
	}
	rec, err := DecodeRecord(data)
	if err != nil {
		return nil, err
	}
	return &Bundle{RunID: runID, EpisodeID: episodeID, Step: ep.Step, Phase: ep.Phase, GroupID: ep.GroupID, TaskID: ep.TaskID,
		Versions: Versions{Flowsteer: flowsteerVersion, Go: runtime.Version(), Schema: runstore.SchemaVersion(), Format: rec.Format},
		Record:   *rec}, nil
}

// Marshal writes the bundle as indented JSON.
func (b *Bundle) Marshal() ([]byte, error) {
	out, err := json.MarshalIndent(b, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("replay: encode bundle: %w", err)
	}
	return append(out, '\n'), nil
}

// ReadBundle reads a bundle file.
func ReadBundle(path string) (*Bundle, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseBundle(data)
}

// ParseBundle decodes a bundle and checks what Replay relies on.
func ParseBundle(data []byte) (*Bundle, error) {
	var b Bundle
	if err := json.Unmarshal(data, &b); err != nil {
		return nil, fmt.Errorf("replay: bundle: %w", err)
	}
	switch {
	case b.Format == 0:
		return nil, fmt.Errorf("replay: bundle: no format: not a flowsteer episode bundle")
	case b.Format > FormatVersion:
		return nil, fmt.Errorf("replay: bundle format %d is newer than this build's %d", b.Format, FormatVersion)
	case len(b.Task) == 0:
		return nil, fmt.Errorf("replay: bundle: no task")
	}
	return &b, nil
}
