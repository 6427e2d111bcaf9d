package task

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Format names accepted by Load. Each names a public data set layout, read
// with the field names the data set really uses.
const (
	FormatGSM8K     = "gsm8k"
	FormatMATH      = "math"
	FormatMathQA    = "mathqa"
	FormatAIME2025  = "aime2025"
	FormatHotpotQA  = "hotpotqa"
	FormatSQuAD2    = "squad2"
	FormatTriviaQA  = "triviaqa"
	FormatNQ        = "nq"
	FormatMBPP      = "mbpp"
	FormatHumanEval = "humaneval"
	FormatAPPS      = "apps"
	FormatDS1000    = "ds1000"
	FormatFlowsteer = "flowsteer" // the Task JSON itself
)

// converter turns one record of a layout into a Task.
type converter func(r rec) (Task, error)

var converters = map[string]converter{
	FormatGSM8K:     convGSM8K,
	FormatMATH:      convMATH,
	FormatMathQA:    convMathQA,
	FormatAIME2025:  convAIME,
	FormatHotpotQA:  convHotpotQA,
	FormatSQuAD2:    convSQuAD,
	FormatTriviaQA:  convTriviaQA,
	FormatNQ:        convNQ,
	FormatMBPP:      convMBPP,
	FormatHumanEval: convHumanEval,
	FormatAPPS:      convAPPS,
	FormatDS1000:    convDS1000,
	FormatFlowsteer: convFlowsteer,
}

// Formats lists the format names Load accepts, sorted.
func Formats() []string {
	names := make([]string, 0, len(converters))
	for n := range converters {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// LoadError is what Load returns for a bad file or record: it names the
// file, the 1-based line where the record starts (0 when the record sits in
// a nested document, which Where then locates) and what is wrong.
type LoadError struct {
	File  string
	Line  int
	Where string // JSON path inside a nested document, e.g. data[0].paragraphs[2].qas[1]
	Err   error
}

func (e *LoadError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteString(":")
		b.WriteString(strconv.Itoa(e.Line))
	}
	if e.Where != "" {
		b.WriteString(": ")
		b.WriteString(e.Where)
	}
	b.WriteString(": ")
	b.WriteString(e.Err.Error())
	return b.String()
}

func (e *LoadError) Unwrap() error { return e.Err }

// Load reads the tasks of one file, or of every .json/.jsonl file (optionally
// .gz) under a directory in lexical order, the way MATH ships one problem per
// file. format is one of Formats(), or "" / "auto" to detect each file's
// layout from the fields of its first record.
//
// A file may hold JSON Lines, a JSON array of records, a single record, or
// the nested documents of official releases (SQuAD's data[].paragraphs[].qas[],
// TriviaQA's Data[]). Records without an id of their own get
// "<source>-<file stem>-<line>" ("gsm8k-test-3"; "gsm8k-3" when the stem is
// the source name; the path below the directory for directory loads, e.g.
// "math-algebra/1-1"), so the same file always yields the same ids. Bare
// numeric ids of a layout get the source in front ("mbpp-11").
// Duplicate ids are an error: runs, caches and reports key on them.
func Load(path string, format string) ([]Task, error) {
	format = strings.ToLower(strings.TrimSpace(format))
	if format != "" && format != "auto" {
		if _, ok := converters[format]; !ok {
			return nil, fmt.Errorf("task: unknown format %q: known are auto, %s", format, strings.Join(Formats(), ", "))
		}
	}
	info, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("task: %w", err)
	}
	files := []string{path}
	root := filepath.Dir(path)
	if info.IsDir() && (format == "" || format == "auto" || format == FormatAPPS) {
		if dirs, err := appsProblemDirs(path); err != nil {
			return nil, fmt.Errorf("task: %w", err)
		} else if len(dirs) > 0 {
			return loadAPPSDirs(path, dirs)
		}
	}
	if info.IsDir() {
		root = path
		files, err = dataFiles(path)
		if err != nil {
			return nil, fmt.Errorf("task: %w", err)
		}
		if len(files) == 0 {
			return nil, fmt.Errorf("task: %s holds no .json or .jsonl files", path)
		}
	}
	var out []Task
	seen := map[string]string{}
	for _, f := range files {
		stem := fileStem(root, f, info.IsDir())
		tasks, pos, err := loadFile(f, stem, format)
		if err != nil {
			return nil, err
		}
		for i, t := range tasks {
			if first, dup := seen[t.ID]; dup {
				return nil, pos[i].errorf(f, fmt.Errorf("duplicate id %q (first at %s)", t.ID, first))
			}
			seen[t.ID] = pos[i].locate(f)
		}
		out = append(out, tasks...)
	}
	return out, nil
}

// Detect reports the layout of a file from the fields of its first record.
func Detect(path string) (string, error) {
	data, err := readData(path)
	if err != nil {
		return "", fmt.Errorf("task: %w", err)
	}
	recs, err := splitRecords(path, data)
	if err != nil {
		return "", err
	}
	if len(recs) == 0 {
		return "", &LoadError{File: path, Err: errNoRecords}
	}
	f, err := DetectRecord(recs[0].fields)
	if err != nil {
		return "", recs[0].errorf(path, err)
	}
	return f, nil
}

// DetectRecord names the layout a record's fields belong to. Order matters:
// several layouts share "question" and "answer", so the distinctive fields
// are tested first.
func DetectRecord(fields map[string]json.RawMessage) (string, error) {
	has := func(names ...string) bool {
		for _, n := range names {
			v, ok := fields[n]
			if !ok || string(v) == "null" {
				return false
			}
		}
		return true
	}
	kind := func(name string) string { return jsonKind(fields[name]) }
	switch {
	case has("family") && (has("id") || has("question")):
		return FormatFlowsteer, nil
	case has("code_context") || has("reference_code"):
		return FormatDS1000, nil
	case has("entry_point", "canonical_solution") || (has("entry_point", "test") && has("prompt")):
		return FormatHumanEval, nil
	case has("test_list"):
		return FormatMBPP, nil
	case has("input_output"):
		return FormatAPPS, nil
	case has("Problem", "options"):
		return FormatMathQA, nil
	case has("question_text") && has("document_text"):
		return "", errors.New("NaturalQuestions full/simplified layout (question_text, document_text) is not supported: use the NQ-open form {question, answer: [...]}")
	case has("supporting_facts") || (has("question", "context") && (kind("context") == "array" || kind("context") == "object")):
		return FormatHotpotQA, nil
	case has("context", "answers") || has("is_impossible"):
		return FormatSQuAD2, nil
	case has("question_id") || (has("question", "answer") && kind("answer") == "object"):
		return FormatTriviaQA, nil
	case has("Question", "Answer"):
		return FormatTriviaQA, nil
	case has("question") && (kind("answer") == "array" || kind("answers") == "array"):
		return FormatNQ, nil
	// AIME releases (yentinglin/aime_2025 and its copies) carry problem,
	// solution and an integer answer like MATH-500 does, but no MATH level,
	// type or subject.
	case (has("problem") || has("question")) && has("answer") && !has("level") && !has("type") && !has("subject") &&
		(kind("answer") == "number" || plainNumRe.MatchString(strings.TrimSpace(rawString(fields["answer"])))):
		return FormatAIME2025, nil
	case has("problem", "solution"):
		return FormatMATH, nil
	case has("question", "answer") && kind("answer") == "string" && strings.Contains(rawString(fields["answer"]), "####"):
		return FormatGSM8K, nil
	case (has("problem") || has("question")) && has("answer") && (kind("answer") == "number" || plainNumRe.MatchString(strings.TrimSpace(rawString(fields["answer"])))):
		return FormatAIME2025, nil
	}
	names := make([]string, 0, len(fields))
	for n := range fields {
		names = append(names, n)
	}
	sort.Strings(names)
	return "", fmt.Errorf("cannot detect the layout from fields [%s]: pass a format (%s)", strings.Join(names, ", "), strings.Join(Formats(), ", "))
}

// ReadJSONL reads tasks in the project's own format (one Task JSON per line)
// and validates each; duplicate ids are an error, as in Load.
func ReadJSONL(r io.Reader) ([]Task, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("task: %w", err)
	}
	const name = "jsonl"
	recs, err := splitRecords(name, data)
	if err != nil {
		return nil, err
	}
	out := make([]Task, 0, len(recs))
	seen := map[string]int{}
	for _, rc := range recs {
		t, err := convFlowsteer(rec{format: FormatFlowsteer, f: rc.fields, raw: rc.raw, defID: fmt.Sprintf("task-%d", rc.line)})
		if err != nil {
			return nil, rc.errorf(name, err)
		}
		// As in Load: runs, caches and reports key on ids.
		if first, dup := seen[t.ID]; dup {
			return nil, rc.errorf(name, fmt.Errorf("duplicate id %q (first at line %d)", t.ID, first))
		}
		seen[t.ID] = rc.line
		out = append(out, t)
	}
	return out, nil
}

// WriteJSONL writes tasks one JSON object per line, the format ReadJSONL and
// Load(path, "flowsteer") read back.
func WriteJSONL(w io.Writer, tasks []Task) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false) // code and LaTeX stay readable in the file
	for i := range tasks {
		if err := enc.Encode(&tasks[i]); err != nil {
			return fmt.Errorf("task %s: %w", tasks[i].ID, err)
		}
	}
	return nil
}

func loadFile(path, stem, format string) ([]Task, []rawRecord, error) {
	data, err := readData(path)
	if err != nil {
		return nil, nil, fmt.Errorf("task: %w", err)
	}
	recs, err := splitRecords(path, data)
	if err != nil {
		return nil, nil, err
	}
	if len(recs) == 0 {
		return nil, nil, nil
	}
	fmtName := format
	if fmtName == "" || fmtName == "auto" {
		fmtName, err = DetectRecord(recs[0].fields)
		if err != nil {
			return nil, nil, recs[0].errorf(path, err)
		}
	}
	conv := converters[fmtName]
	tasks := make([]Task, 0, len(recs))
	for _, rc := range recs {
		id := fmt.Sprintf("%s-%s-%d", fmtName, stem, rc.line)
		if stem == "" || stem == fmtName {
			id = fmt.Sprintf("%s-%d", fmtName, rc.line)
		}
		if rc.where != "" {
			id = fmt.Sprintf("%s-%s-%d", fmtName, stem, len(tasks)+1)
		}
		t, err := conv(rec{format: fmtName, f: rc.fields, raw: rc.raw, defID: id})
		if err != nil {
			return nil, nil, rc.errorf(path, err)
		}
		tasks = append(tasks, t)
	}
	return tasks, recs, nil
}

// rawRecord is one record with where it came from.
type rawRecord struct {
	line   int
	where  string
	raw    json.RawMessage
	fields map[string]json.RawMessage
}

func (r rawRecord) errorf(file string, err error) error {
	return &LoadError{File: file, Line: r.line, Where: r.where, Err: err}
}

func (r rawRecord) locate(file string) string {
	if r.where != "" {
		return file + ": " + r.where
	}
	return fmt.Sprintf("%s:%d", file, r.line)
}

// splitRecords cuts a file into records, whatever the container: JSON Lines
// (or any stream of JSON values), a top-level array, a single object, or a
// nested official release.
func splitRecords(file string, data []byte) ([]rawRecord, error) {
	lc := lineCounter{data: data}
	dec := json.NewDecoder(bytes.NewReader(data))
	var values []rawRecord
	for {
		start := skipSpace(data, int(dec.InputOffset()))
		var v json.RawMessage
		err := dec.Decode(&v)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, &LoadError{File: file, Line: lc.line(errOffset(err, start)), Err: fmt.Errorf("invalid JSON: %w", err)}
		}
		values = append(values, rawRecord{line: lc.line(start), raw: v})
	}
	// A lone array is a JSON-array file: its elements are the records.
	if len(values) == 1 && len(values[0].raw) > 0 && values[0].raw[0] == '[' {
		return splitArray(file, data, &lc)
	}
	if len(values) == 1 {
		var top map[string]json.RawMessage
		if json.Unmarshal(values[0].raw, &top) == nil {
			if recs, ok, err := splitNested(file, top); ok || err != nil {
				return recs, err
			}
		}
	}
	for i := range values {
		if err := json.Unmarshal(values[i].raw, &values[i].fields); err != nil || values[i].fields == nil {
			return nil, values[i].errorf(file, fmt.Errorf("record is a JSON %s, not an object", jsonKind(values[i].raw)))
		}
	}
	return values, nil
}

func splitArray(file string, data []byte, lc *lineCounter) ([]rawRecord, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	if _, err := dec.Token(); err != nil { // the '['
		return nil, &LoadError{File: file, Err: fmt.Errorf("invalid JSON: %w", err)}
	}
	var recs []rawRecord
	for dec.More() {
		start := skipSpaceComma(data, int(dec.InputOffset()))
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, &LoadError{File: file, Line: lc.line(errOffset(err, start)), Err: fmt.Errorf("invalid JSON: %w", err)}
		}
		// Where names the element: a one-line array (MathQA's test.json)
		// gives every record the same line, so the line alone cannot.
		r := rawRecord{line: lc.line(start), where: fmt.Sprintf("[%d]", len(recs)), raw: v}
		if err := json.Unmarshal(v, &r.fields); err != nil || r.fields == nil {
			return nil, r.errorf(file, fmt.Errorf("array element is a JSON %s, not an object", jsonKind(v)))
		}
		recs = append(recs, r)
	}
	return recs, nil
}

// splitNested flattens the official SQuAD (data[].paragraphs[].qas[]) and
// TriviaQA (Data[]) documents into flat records the converters read. ok is
// false when top is not such a document.
func splitNested(file string, top map[string]json.RawMessage) ([]rawRecord, bool, error) {
	if raw, ok := top["Data"]; ok && jsonKind(raw) == "array" {
		var items []map[string]json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			return nil, true, &LoadError{File: file, Where: "Data", Err: fmt.Errorf("not an array of objects: %w", err)}
		}
		recs := make([]rawRecord, len(items))
		for i, it := range items {
			recs[i] = rawRecord{where: fmt.Sprintf("Data[%d]", i), fields: it}
		}
		return recs, true, nil
	}
	raw, ok := top["data"]
	if !ok || jsonKind(raw) != "array" {
		return nil, false, nil
	}
	var articles []struct {
		Title      string `json:"title"`
		Paragraphs []struct {
			Context string                       `json:"context"`
			QAs     []map[string]json.RawMessage `json:"qas"`
		} `json:"paragraphs"`
	}
	if err := json.Unmarshal(raw, &articles); err != nil {
		return nil, true, &LoadError{File: file, Where: "data", Err: fmt.Errorf("not SQuAD's data[].paragraphs[].qas[] layout: %w", err)}
	}
	var recs []rawRecord
	for ai, a := range articles {
		for pi, p := range a.Paragraphs {
			for qi, qa := range p.QAs {
				f := make(map[string]json.RawMessage, len(qa)+2)
				for k, v := range qa {
					f[k] = v
				}
				f["context"], _ = json.Marshal(p.Context)
				f["title"], _ = json.Marshal(a.Title)
				recs = append(recs, rawRecord{where: fmt.Sprintf("data[%d].paragraphs[%d].qas[%d]", ai, pi, qi), fields: f})
			}
		}
	}
	return recs, true, nil
}

func readData(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	// gzip is recognised by its magic bytes, whatever the name says.
	if len(data) >= 2 && data[0] == 0x1f && data[1] == 0x8b {
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		defer zr.Close()
		if data, err = io.ReadAll(zr); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	return data, nil
}

func dataFiles(dir string) ([]string, error) {
	var files []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != dir && strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir
			}
			return nil
		}
		n := strings.TrimSuffix(d.Name(), ".gz")
		if strings.HasSuffix(n, ".json") || strings.HasSuffix(n, ".jsonl") {
			files = append(files, p)
		}
		return nil
	})
	sort.Strings(files)
	return files, err
}

// fileStem names a file inside generated ids: its base name without
// extensions, or for directory loads its path below the directory, so that
// MATH's algebra/1.json and geometry/1.json get different ids.
func fileStem(root, path string, inDir bool) string {
	name := filepath.Base(path)
	if inDir {
		if rel, err := filepath.Rel(root, path); err == nil {
			name = filepath.ToSlash(rel)
		}
	}
	name = strings.TrimSuffix(name, ".gz")
	name = strings.TrimSuffix(name, ".jsonl")
	name = strings.TrimSuffix(name, ".json")
	return name
}

type lineCounter struct {
	data     []byte
	off, cur int // lines counted up to off; cur is the 1-based line at off
}

// line maps a byte offset to its 1-based line. Offsets arrive mostly in
// increasing order, so counting resumes from the last one.
func (c *lineCounter) line(off int) int {
	if off > len(c.data) {
		off = len(c.data)
	}
	if off < c.off || c.cur == 0 {
		c.off, c.cur = 0, 1
	}
	c.cur += bytes.Count(c.data[c.off:off], []byte{'\n'})
	c.off = off
	return c.cur
}

func errOffset(err error, fallback int) int {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return int(se.Offset)
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return int(te.Offset)
	}
	return fallback
}

func skipSpace(data []byte, i int) int {
	for i < len(data) && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r') {
		i++
	}
	return i
}

func skipSpaceComma(data []byte, i int) int {
	for i < len(data) && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r' || data[i] == ',') {
		i++
	}
	return i
}

// jsonKind names the JSON type of a raw value for error messages.
func jsonKind(v json.RawMessage) string {
	v = bytes.TrimSpace(v)
	if len(v) == 0 {
		return "nothing"
	}
	switch v[0] {
	case '"':
		return "string"
	case '{':
		return "object"
	case '[':
		return "array"
	case 't', 'f':
		return "bool"
	case 'n':
		return "null"
	}
	return "number"
}

func rawString(v json.RawMessage) string {
	var s string
	_ = json.Unmarshal(v, &s)
	return s
}
