package lineio

import (
	"bytes"
	"fmt"
	"io"
)

// DefaultChunk is how much a Fill asks the reader for: large reads keep the
// syscall count low on the hot path.
const DefaultChunk = 256 << 10

// TooLongError reports a line longer than the splitter's limit.
type TooLongError struct {
	Line int64 // 1-based number of the offending line
	Max  int64
}

func (e *TooLongError) Error() string {
	return fmt.Sprintf("line %d is longer than max_line_size (%d bytes)", e.Line, e.Max)
}

// Splitter cuts a byte stream into lines. A line is returned as a sub-slice of
// the splitter's buffer, capped so that appending to it cannot overwrite the
// bytes after it; buffers are replaced, never reused, so lines stay valid for
// as long as their holder needs them.
//
// A splitter may start anywhere in a stream (New's offset and line), which is
// what resuming from a committed byte position needs.
type Splitter struct {
	buf    []byte // buf[pos:] is not yet consumed
	pos    int
	offset int64 // stream offset of buf[pos]
	line   int64 // lines consumed so far
	max    int64
	eof    bool
}

// New returns a splitter whose stream starts at byte offset and line number
// line+1. Lines longer than maxLine bytes (not counting the line ending) are
// an error.
func New(maxLine, offset, line int64) *Splitter {
	return &Splitter{max: maxLine, offset: offset, line: line}
}

// Offset is the stream offset after the last consumed byte.
func (s *Splitter) Offset() int64 { return s.offset }

// Line is the number of the last line returned (lines consumed so far).
func (s *Splitter) Line() int64 { return s.line }

// EOF reports whether the stream has ended and every byte was consumed.
func (s *Splitter) EOF() bool { return s.eof && s.pos == len(s.buf) }

// SetEOF marks the end of the stream: what is pending becomes the last line.
func (s *Splitter) SetEOF() { s.eof = true }

// Next returns the next line without its "\n" or "\r\n". ok is false when the
// buffer holds no complete line: Fill or Feed more, or, at the end of the
// stream, there is nothing left.
func (s *Splitter) Next() (line []byte, ok bool, err error) {
	data := s.buf[s.pos:]
	i := bytes.IndexByte(data, '\n')
	consumed := i + 1
	if i < 0 {
		if int64(len(data)) > s.max+1 { // +1: a '\r' may still come before the '\n'
			return nil, false, &TooLongError{Line: s.line + 1, Max: s.max}
		}
		if !s.eof || len(data) == 0 {
			return nil, false, nil
		}
		i, consumed = len(data), len(data) // the last line has no line ending
	}
	line = data[:i:i]
	if i > 0 && line[i-1] == '\r' {
		line = line[: i-1 : i-1]
	}
	if int64(len(line)) > s.max {
		return nil, false, &TooLongError{Line: s.line + 1, Max: s.max}
	}
	s.pos += consumed
	s.offset += int64(consumed)
	s.line++
	return line, true, nil
}

// Fill reads more of the stream from r, at least one byte unless r fails or
// ends; io.EOF marks the end of the stream and is returned as nil. Reads go
// into spare room of the current buffer when there is a good amount of it,
// otherwise into a new buffer of chunk bytes (more when a long line is
// pending), into which the pending bytes are copied first.
func (s *Splitter) Fill(r io.Reader, chunk int) error {
	if s.eof {
		return nil
	}
	pending := len(s.buf) - s.pos
	if cap(s.buf)-len(s.buf) < chunk/8 || cap(s.buf)-len(s.buf) == 0 {
		nb := make([]byte, max(chunk, 2*pending))
		copy(nb, s.buf[s.pos:])
		s.buf, s.pos = nb[:pending], 0
	}
	for range 100 {
		n, err := r.Read(s.buf[len(s.buf):cap(s.buf)])
		s.buf = s.buf[:len(s.buf)+n]
		if err == io.EOF {
			s.eof = true
			return nil
		}
		if err != nil || n > 0 {
			return err
		}
	}
	return io.ErrNoProgress
}

// Feed appends data to the stream. The splitter may keep data: the caller
// must not reuse it.
func (s *Splitter) Feed(data []byte) {
	pending := len(s.buf) - s.pos
	switch {
	case pending == 0:
		s.buf, s.pos = data, 0
	case cap(s.buf)-len(s.buf) >= len(data):
		// Spare room past the end is referenced by no line.
		s.buf = append(s.buf, data...)
	default:
		// Grow by doubling, so a long line fed in pieces costs linear time.
		nb := make([]byte, pending+len(data), 2*(pending+len(data)))
		copy(nb, s.buf[s.pos:])
		copy(nb[pending:], data)
		s.buf, s.pos = nb, 0
	}
}

// IsBlank reports whether a line holds only spaces and tabs.
func IsBlank(line []byte) bool {
	for _, c := range line {
		if c != ' ' && c != '\t' && c != '\r' {
			return false
		}
	}
	return true
}
