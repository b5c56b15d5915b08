package file

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/pipelinehq/pipeline/engine"
	"github.com/pipelinehq/pipeline/inputs/internal/lineio"
)

// csvReader reads the csv codec: the first row names the cells of the rest.
type csvReader struct {
	f      *os.File
	src    *engine.Source
	head   fingerprint
	cr     *csv.Reader
	buf    *bufio.Reader // what cr reads
	stream bool          // a pipe: return what is read before waiting for more
	guard  *lineGuard
	header []string
	base   int64 // byte offset where cr started
	lines  int64 // lines before cr's start
	alloc  lineio.Records
}

// newCSVReader reads f from offset. Resuming past the header (offset > 0)
// reads the header from the start of the file first.
func newCSVReader(f *os.File, src *engine.Source, fp fingerprint, delim rune, maxLine, offset int64) (*csvReader, error) {
	r := &csvReader{f: f, src: src, head: fp, base: offset}
	if offset > 0 {
		head, err := newCSVReader(f, src, fp, delim, maxLine, 0)
		if err != nil {
			return nil, err
		}
		if err := head.readHeader(); err != nil {
			return nil, err
		}
		r.header = head.header
		if r.lines, err = countLines(f, offset); err != nil {
			return nil, fmt.Errorf("%s: %w", src.Partition, err)
		}
		if _, err := f.Seek(offset, io.SeekStart); err != nil {
			return nil, fmt.Errorf("%s: %w", src.Partition, err)
		}
	}
	r.guard = &lineGuard{r: f, max: maxLine, line: r.lines}
	r.buf = bufio.NewReaderSize(r.guard, 64<<10)
	r.cr = csv.NewReader(r.buf)
	r.cr.Comma = delim
	r.cr.FieldsPerRecord = -1
	r.cr.ReuseRecord = true
	return r, nil
}

func (r *csvReader) readHeader() error {
	row, err := r.cr.Read()
	if err == io.EOF {
		return nil
	}
	if err != nil {
		return r.wrap(err)
	}
	r.header = append([]string(nil), row...)
	seen := make(map[string]bool, len(row))
	for _, h := range r.header {
		if seen[h] {
			line, _ := r.cr.FieldPos(0)
			return fmt.Errorf("%s:%d: column %q appears twice in the header", r.src.Partition, r.lines+int64(line), h)
		}
		seen[h] = true
	}
	return nil
}

func (r *csvReader) read(ctx context.Context, max int) (engine.InputBatch, bool, error) {
	if r.header == nil {
		if err := r.readHeader(); err != nil {
			return engine.InputBatch{}, false, err
		}
		if r.header == nil { // an empty file
			return engine.InputBatch{}, true, nil
		}
	}
	recs := make([]*engine.Record, 0, min(max, 1024))
	now := time.Now().UnixMilli()
	done := false
	for len(recs) < max {
		if r.stream && len(recs) > 0 && r.buf.Buffered() == 0 {
			break // the next row is not written yet
		}
		row, err := r.cr.Read()
		if err == io.EOF {
			done = true
			break
		}
		if err != nil {
			return engine.InputBatch{}, false, r.wrap(err)
		}
		line, _ := r.cr.FieldPos(0)
		lineNo := r.lines + int64(line)
		if len(row) != len(r.header) {
			return engine.InputBatch{}, false, fmt.Errorf("%s:%d: row has %d cells, the header has %d", r.src.Partition, lineNo, len(row), len(r.header))
		}
		m := make(map[string]any, len(row))
		for i, cell := range row {
			m[r.header[i]] = cell
		}
		rec := r.alloc.New(nil, engine.Text)
		rec.SetValue(m)
		rec.Source = r.src
		rec.Offset = lineNo
		rec.Timestamp = now
		recs = append(recs, rec)
		if len(recs)%64 == 0 && ctx.Err() != nil {
			return engine.InputBatch{}, false, ctx.Err()
		}
	}
	pos := r.base + r.cr.InputOffset()
	return engine.InputBatch{Records: recs, Partition: r.src.Partition, Position: r.head.position(pos)}, done, nil
}

func (r *csvReader) wrap(err error) error {
	var tl *lineio.TooLongError
	var pe *csv.ParseError
	switch {
	case errors.As(err, &tl):
		return fmt.Errorf("%s:%d: line is longer than max_line_size (%d bytes)", r.src.Partition, tl.Line, tl.Max)
	case errors.As(err, &pe):
		return fmt.Errorf("%s:%d:%d: %v", r.src.Partition, r.lines+int64(pe.Line), pe.Column, pe.Err)
	}
	return fmt.Errorf("%s: %w", r.src.Partition, err)
}

func (r *csvReader) close() error { return r.f.Close() }

// lineGuard fails a read that would take a line past max bytes, so that a
// runaway quoted cell cannot fill memory. It sits below the csv reader's
// buffer, whose earlier lines are still parsed before the error surfaces.
type lineGuard struct {
	r    io.Reader
	max  int64
	line int64 // complete lines seen
	cur  int64 // bytes of the current line so far
	prev byte  // the byte before data's first
}

func (g *lineGuard) Read(p []byte) (int, error) {
	n, err := g.r.Read(p)
	data := p[:n]
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			g.cur += int64(len(data))
			g.prev = data[len(data)-1]
			break
		}
		length := g.cur + int64(i)
		last := g.prev
		if i > 0 {
			last = data[i-1]
		}
		if last == '\r' && length > 0 {
			length--
		}
		if length > g.max {
			return n, &lineio.TooLongError{Line: g.line + 1, Max: g.max}
		}
		g.line++
		g.cur, g.prev = 0, '\n'
		data = data[i+1:]
	}
	if g.cur > g.max+1 {
		return n, &lineio.TooLongError{Line: g.line + 1, Max: g.max}
	}
	return n, err
}

// countLines counts the line endings in the first n bytes of f.
func countLines(f *os.File, n int64) (int64, error) {
	buf := make([]byte, 64<<10)
	var lines int64
	for off := int64(0); off < n; {
		m, err := f.ReadAt(buf[:min(int64(len(buf)), n-off)], off)
		lines += int64(bytes.Count(buf[:m], []byte{'\n'}))
		off += int64(m)
		if err != nil && off < n {
			return lines, err
		}
	}
	return lines, nil
}
