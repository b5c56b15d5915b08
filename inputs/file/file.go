package file

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/pipelinehq/pipeline/config"
	"github.com/pipelinehq/pipeline/engine"
	"github.com/pipelinehq/pipeline/inputs/internal/lineio"
	"github.com/pipelinehq/pipeline/internal/fifo"
)

// Codecs.
const (
	codecLines     = "lines"
	codecJSONLines = "json_lines"
	codecCSV       = "csv"
)

// Plugin is the file input type.
func Plugin() engine.InputPlugin {
	return engine.InputPlugin{
		Spec: config.Spec{
			Name:    "file",
			Summary: "Reads files one after another, each file a partition, as lines, JSON lines or CSV rows.",
			Description: "Each file is one partition named by its path, read in the order of paths (the matches of a glob in " +
				"lexical order; a file matched twice is read once). Every record's offset is its 1-based line number, " +
				"its timestamp the time it was read, and meta.path the file's path. A batch's position is the byte " +
				"offset after its last record.",
			Fields: []config.Field{
				config.StringList("paths", "Files to read, in order. Each entry may be a glob (*, ?, [a-z]); a pattern that matches no file is an error at start.").
					Required().Example([]any{"data/events.jsonl"}, []any{"logs/*.log", "extra/today.log"}),
				config.String("codec", "How a file becomes records. lines: one text record per line, without the line ending. json_lines: one JSON record per line, blank lines skipped. csv: the first row is the header; each further row becomes an object of header to cell (all strings).").
					Default(codecLines).Enum(codecLines, codecJSONLines, codecCSV).Example(codecJSONLines),
				config.String("csv_delimiter", "The cell separator of the csv codec: one character.").
					Default(",").Example(";", "\t").Advanced(),
				config.Int("batch_size", "The most records in one batch.").
					Default(1024).Example(256, 4096).Advanced(),
				config.ByteSize("max_line_size", "The longest line (row) accepted; a longer one stops the input with an error naming the file and line.").
					Default("16MiB").Example("1MiB", "64MiB").Advanced(),
			},
			Example: `input:
  file:
    paths: ["data/*.jsonl"]
    codec: json_lines`,
		},
		New: New,
	}
}

// Input is a running file input.
type Input struct {
	patterns  []string
	codec     string
	delimiter rune
	batchSize int
	maxLine   int64
	label     string
	conf      *config.Parsed

	resume map[string]resumePoint // committed positions by path, from Resume
	log    *slog.Logger
	paths  []string // expanded at Start
	next   int      // index in paths of the next file to open
	cur    reader   // the file being read, nil between files
	pipe   *os.File // the file being read, when it is a named pipe
	closed bool
}

// New builds a file input from its config. It opens nothing.
func New(conf *config.Parsed, res *engine.Resources) (engine.Input, error) {
	in := &Input{
		patterns:  conf.StringList("paths"),
		codec:     conf.String("codec"),
		batchSize: conf.Int("batch_size"),
		maxLine:   conf.ByteSize("max_line_size"),
		label:     res.Label,
		conf:      conf,
		log:       res.Logger,
	}
	if in.log == nil {
		in.log = slog.New(slog.DiscardHandler)
	}
	var errs config.Errors
	if len(in.patterns) == 0 {
		errs = append(errs, conf.Errorf("paths", "want at least one path"))
	}
	for i, p := range in.patterns {
		if p == "" {
			errs = append(errs, pathError(conf, i, "want a path, got an empty string"))
		} else if _, err := filepath.Match(p, ""); err != nil {
			errs = append(errs, pathError(conf, i, "invalid glob pattern %q: %v", p, err))
		}
	}
	delim := conf.String("csv_delimiter")
	r, size := utf8.DecodeRuneInString(delim)
	switch {
	case conf.Has("csv_delimiter") && in.codec != codecCSV:
		errs = append(errs, conf.Errorf("csv_delimiter", "csv_delimiter applies only to codec csv (codec is %s)", in.codec))
	case size == 0 || size != len(delim) || r == utf8.RuneError:
		errs = append(errs, conf.Errorf("csv_delimiter", "want one character, got %q", delim))
	case r == '"' || r == '\r' || r == '\n':
		errs = append(errs, conf.Errorf("csv_delimiter", "%q cannot be a delimiter", delim))
	}
	in.delimiter = r
	if in.batchSize < 1 {
		errs = append(errs, conf.Errorf("batch_size", "must be at least 1, got %d", in.batchSize))
	}
	if in.maxLine < 1 {
		errs = append(errs, conf.Errorf("max_line_size", "must be at least 1 byte"))
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return in, nil
}

// pathError locates an error at the i-th entry of paths.
func pathError(conf *config.Parsed, i int, format string, args ...any) *config.Error {
	e := conf.Errorf("paths", format, args...)
	if n := conf.Node("paths"); n != nil && i < len(n.Content) {
		e.Pos.Line, e.Pos.Col = n.Content[i].Line, n.Content[i].Column
		e.Path = config.JoinPath(e.Path, strconv.Itoa(i))
	}
	return e
}

// Start expands the globs. A pattern that matches no file is an error.
func (in *Input) Start(ctx context.Context) error {
	in.paths, in.next = nil, 0
	seen := map[string]bool{}
	for i, p := range in.patterns {
		matches, err := filepath.Glob(p)
		if err != nil {
			return pathError(in.conf, i, "invalid glob pattern %q: %v", p, err)
		}
		found := 0
		for _, m := range matches {
			st, err := os.Stat(m)
			if err != nil {
				return fmt.Errorf("%s: %w", m, err)
			}
			if st.IsDir() {
				if m == p {
					return pathError(in.conf, i, "%q is a directory", p)
				}
				continue
			}
			found++
			if !seen[m] {
				seen[m] = true
				in.paths = append(in.paths, m)
			}
		}
		if found == 0 {
			if hasMeta(p) {
				return pathError(in.conf, i, "pattern %q matches no file", p)
			}
			return pathError(in.conf, i, "file %q does not exist", p)
		}
	}
	return nil
}

func hasMeta(p string) bool {
	for _, c := range p {
		switch c {
		case '*', '?', '[', '\\':
			return true
		}
	}
	return false
}

// Resume makes each listed file start at its committed byte offset, unless
// the file under that path changed since (see position.go): then it is read
// from the start, with a warning.
func (in *Input) Resume(points []engine.Checkpoint) error {
	in.resume = make(map[string]resumePoint, len(points))
	for _, cp := range points {
		p, err := parseResumePoint(cp)
		if err != nil {
			return err
		}
		in.resume[cp.Partition] = p
	}
	return nil
}

// Read returns the next batch of the current file, moving on to the next file
// when one ends, and io.EOF after the last.
func (in *Input) Read(ctx context.Context) (engine.InputBatch, error) {
	for {
		if in.closed {
			return engine.InputBatch{}, errors.New("file input is closed")
		}
		if err := ctx.Err(); err != nil {
			return engine.InputBatch{}, err
		}
		if in.cur == nil {
			if in.next >= len(in.paths) {
				return engine.InputBatch{}, io.EOF
			}
			path := in.paths[in.next]
			in.next++
			r, err := in.open(ctx, path)
			if err != nil {
				in.pipe = nil
				return engine.InputBatch{}, fifo.Err(ctx, err)
			}
			in.cur = r
		}
		batch, done, err := in.readCurrent(ctx)
		if err != nil {
			return engine.InputBatch{}, err
		}
		if done {
			err := in.cur.close()
			in.cur, in.pipe = nil, nil
			if err != nil {
				return engine.InputBatch{}, err
			}
		}
		if len(batch.Records) > 0 {
			return batch, nil
		}
	}
}

// Close closes the file being read.
func (in *Input) Close(context.Context) error {
	in.closed = true
	if in.cur == nil {
		return nil
	}
	err := in.cur.close()
	in.cur, in.pipe = nil, nil
	return err
}

// readCurrent reads a batch of the current file; of a pipe, only until
// ctx ends.
func (in *Input) readCurrent(ctx context.Context) (engine.InputBatch, bool, error) {
	if in.pipe != nil {
		defer fifo.CutReads(ctx, in.pipe)()
	}
	batch, done, err := in.cur.read(ctx, in.batchSize)
	return batch, done, fifo.Err(ctx, err)
}

// reader reads one file.
type reader interface {
	// read returns up to max records; done says the file is fully read.
	read(ctx context.Context, max int) (b engine.InputBatch, done bool, err error)
	close() error
}

// open opens path and positions its reader where the committed position
// says, or at the start. A named pipe is read from what it delivers.
func (in *Input) open(ctx context.Context, path string) (reader, error) {
	pipe := fifo.Is(path)
	var f *os.File
	var err error
	if pipe {
		f, err = openPipe(ctx, path)
	} else {
		f, err = os.Open(path)
	}
	if err != nil {
		return nil, err
	}
	if pipe {
		in.pipe = f
	}
	head, offset, err := in.startOf(f, path)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	src := &engine.Source{Input: in.label, Partition: path, Meta: map[string]any{"path": path}}
	if in.codec == codecCSV {
		r, err := newCSVReader(f, src, head, in.delimiter, in.maxLine, offset)
		if err != nil {
			f.Close()
			return nil, err
		}
		r.stream = pipe
		return r, nil
	}
	var lines int64
	if offset > 0 {
		// Resuming in the middle of a file: count the lines before the
		// resume point so that offsets stay line numbers.
		if lines, err = countLines(f, offset); err == nil {
			_, err = f.Seek(offset, io.SeekStart)
		}
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	format := engine.Text
	if in.codec == codecJSONLines {
		format = engine.JSON
	}
	return &lineReader{f: f, src: src, head: head, format: format, stream: pipe, split: lineio.New(in.maxLine, offset, lines)}, nil
}

// startOf fingerprints the file and finds where to start reading it: at its
// committed offset, or at 0 when it has none or the file changed since.
func (in *Input) startOf(f *os.File, path string) (fingerprint, int64, error) {
	st, err := f.Stat()
	if err != nil {
		return fingerprint{}, 0, err
	}
	if !st.Mode().IsRegular() {
		if _, ok := in.resume[path]; ok {
			in.log.Info("not a regular file: read from what it delivers now, not from its committed position", "path", path)
		}
		return fingerprint{}, 0, nil
	}
	head, err := fingerprintOf(f, min(headBytes, st.Size()))
	if err != nil {
		return fingerprint{}, 0, err
	}
	p, ok := in.resume[path]
	if !ok {
		return head, 0, nil
	}
	why, err := p.changedSince(f, st.Size())
	if err != nil || why == "" {
		return head, p.offset, err
	}
	in.log.Warn("the file changed since its position was committed: reading it from the start",
		"path", path, "reason", why, "committed_offset", p.offset)
	return head, 0, nil
}

// lineReader reads the lines and json_lines codecs.
type lineReader struct {
	f      *os.File
	src    *engine.Source
	head   fingerprint
	format engine.Format
	stream bool // a pipe: return what is read before waiting for more
	split  *lineio.Splitter
	alloc  lineio.Records
}

func (r *lineReader) read(ctx context.Context, max int) (engine.InputBatch, bool, error) {
	recs := make([]*engine.Record, 0, min(max, 1024))
	now := time.Now().UnixMilli()
	done := false
	for len(recs) < max {
		line, ok, err := r.split.Next()
		if err != nil {
			var tl *lineio.TooLongError
			if errors.As(err, &tl) {
				return engine.InputBatch{}, false, fmt.Errorf("%s:%d: line is longer than max_line_size (%d bytes)", r.src.Partition, tl.Line, tl.Max)
			}
			return engine.InputBatch{}, false, fmt.Errorf("%s: %w", r.src.Partition, err)
		}
		if !ok {
			if r.split.EOF() {
				done = true
				break
			}
			if err := ctx.Err(); err != nil {
				return engine.InputBatch{}, false, err
			}
			if r.stream && len(recs) > 0 {
				break // the next line is not written yet
			}
			if err := r.split.Fill(r.f, lineio.DefaultChunk); err != nil {
				return engine.InputBatch{}, false, fmt.Errorf("%s: %w", r.src.Partition, err)
			}
			continue
		}
		if r.format == engine.JSON && lineio.IsBlank(line) {
			continue
		}
		rec := r.alloc.New(line, r.format)
		rec.Source = r.src
		rec.Offset = r.split.Line()
		rec.Timestamp = now
		recs = append(recs, rec)
	}
	return engine.InputBatch{Records: recs, Partition: r.src.Partition, Position: r.head.position(r.split.Offset())}, done, nil
}

func (r *lineReader) close() error { return r.f.Close() }
