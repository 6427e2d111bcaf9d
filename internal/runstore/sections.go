package runstore

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"regexp"
	"time"
)

// Section is a titled block of a run's report that a tool outside the
// trainer adds (scripts/run_llm.py's before/after table of the LLM run):
// the tool stores it here and internal/report renders it, so nobody edits
// the generated HTML. The JSON form is what `flowsteer runs add-section`
// reads and `flowsteer runs show --json` prints.
type Section struct {
	// Key names the section within its run (lower-case letters, digits and
	// dashes); adding a section under a key already stored replaces it.
	Key   string `json:"key"`
	Title string `json:"title"`
	// Facts are short lines shown as a list above the table.
	Facts []string      `json:"facts,omitempty"`
	Table *SectionTable `json:"table,omitempty"`
}

// SectionTable is a plain table of text cells; every row has as many
// cells as the header.
type SectionTable struct {
	Header []string   `json:"header"`
	Rows   [][]string `json:"rows"`
}

var sectionKey = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,63}$`)

// Validate names the first bad field.
func (s Section) Validate() error {
	if !sectionKey.MatchString(s.Key) {
		return fmt.Errorf("%w: section key %q: want 1-64 lower-case letters, digits or dashes", ErrInvalid, s.Key)
	}
	if s.Title == "" {
		return fmt.Errorf("%w: section %q: empty title", ErrInvalid, s.Key)
	}
	if s.Table != nil {
		if len(s.Table.Header) == 0 {
			return fmt.Errorf("%w: section %q: table without a header", ErrInvalid, s.Key)
		}
		for i, r := range s.Table.Rows {
			if len(r) != len(s.Table.Header) {
				return fmt.Errorf("%w: section %q: table row %d has %d cells, the header %d", ErrInvalid, s.Key, i, len(r), len(s.Table.Header))
			}
		}
	}
	return nil
}

// PutSection stores sec for the run, replacing a section with the same key
// but keeping its place in the order.
func (s *SQLite) PutSection(runID string, sec Section) error {
	if err := sec.Validate(); err != nil {
		return err
	}
	body, err := json.Marshal(sec)
	if err != nil {
		return fmt.Errorf("runstore: section %q: %w", sec.Key, err)
	}
	return s.write(func(tx *sql.Tx) error {
		if err := requireRun(tx, runID); err != nil {
			return err
		}
		_, err := tx.Exec(`INSERT INTO report_sections (run_id, key, body, created) VALUES (?, ?, ?, ?)
			ON CONFLICT (run_id, key) DO UPDATE SET body = excluded.body`,
			runID, sec.Key, string(body), time.Now().UnixNano())
		if err != nil {
			return fmt.Errorf("runstore: put section %q: %w", sec.Key, err)
		}
		return nil
	})
}

// Sections lists the run's sections in the order they were first added.
func (s *SQLite) Sections(runID string) ([]Section, error) {
	rows, err := s.db.Query(`SELECT body FROM report_sections WHERE run_id = ? ORDER BY created, key`, runID)
	if err != nil {
		return nil, fmt.Errorf("runstore: sections of %q: %w", runID, err)
	}
	defer rows.Close()
	var out []Section
	for rows.Next() {
		var body string
		if err := rows.Scan(&body); err != nil {
			return nil, fmt.Errorf("runstore: sections of %q: %w", runID, err)
		}
		var sec Section
		if err := json.Unmarshal([]byte(body), &sec); err != nil {
			return nil, fmt.Errorf("runstore: sections of %q: %w", runID, err)
		}
		out = append(out, sec)
	}
	return out, rows.Err()
}
