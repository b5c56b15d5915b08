package stdin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/pipelinehq/pipeline/config"
	"github.com/pipelinehq/pipeline/engine"
	"github.com/pipelinehq/pipeline/inputs/internal/lineio"
)

// Partition is the one partition of the stdin input.
const Partition = "stdin"

// readSize is the most one read from the reader takes.
const readSize = 64 << 10

// Plugin is the stdin input type.
func Plugin() engine.InputPlugin {
	return engine.InputPlugin{
		Spec: config.Spec{
			Name:    "stdin",
			Summary: "Reads lines or JSON lines from standard input until it ends.",
			Description: "All records belong to the partition \"stdin\"; a record's offset is its 1-based line number and " +
				"a batch's position the byte offset after its last record. A batch holds the lines available at once, " +
				"up to batch_size, so interactive input flows line by line.",
			Fields: []config.Field{
				config.String("codec", "How input becomes records. lines: one text record per line, without the line ending. json_lines: one JSON record per line, blank lines skipped.").
					Default("lines").Enum("lines", "json_lines").Example("json_lines"),
				config.Int("batch_size", "The most records in one batch.").
					Default(1024).Example(1, 256).Advanced(),
				config.ByteSize("max_line_size", "The longest line accepted; a longer one stops the input with an error naming the line.").
					Default("16MiB").Example("1MiB").Advanced(),
			},
			Example: `input:
  stdin:
    codec: json_lines`,
		},
		New: func(conf *config.Parsed, res *engine.Resources) (engine.Input, error) {
			return newInput(conf, res, os.Stdin)
		},
	}
}

// Input is a running stdin input.
type Input struct {
	r         io.Reader
	format    engine.Format
	batchSize int
	src       *engine.Source
	split     *lineio.Splitter
	alloc     lineio.Records

	chunks  chan []byte   // data read by the reading goroutine; closed at its end
	stop    chan struct{} // closed by Close
	exited  chan struct{} // closed when the reading goroutine returns
	readErr error         // the reader's final error, valid once chunks is closed
	ended   bool          // chunks is closed and drained
	started bool
	once    sync.Once
}

func newInput(conf *config.Parsed, res *engine.Resources, r io.Reader) (*Input, error) {
	in := &Input{
		r:         r,
		batchSize: conf.Int("batch_size"),
		src:       &engine.Source{Input: res.Label, Partition: Partition},
		split:     lineio.New(conf.ByteSize("max_line_size"), 0, 0),
	}
	if conf.String("codec") == "json_lines" {
		in.format = engine.JSON
	}
	var errs config.Errors
	if in.batchSize < 1 {
		errs = append(errs, conf.Errorf("batch_size", "must be at least 1, got %d", in.batchSize))
	}
	if conf.ByteSize("max_line_size") < 1 {
		errs = append(errs, conf.Errorf("max_line_size", "must be at least 1 byte"))
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return in, nil
}

// Start starts the goroutine that reads the input, so that a read blocked on
// the terminal never blocks Read (and so shutdown).
func (in *Input) Start(context.Context) error {
	if in.started {
		return errors.New("stdin input started twice")
	}
	in.started = true
	in.chunks = make(chan []byte, 4)
	in.stop = make(chan struct{})
	in.exited = make(chan struct{})
	go in.readLoop()
	return nil
}

func (in *Input) readLoop() {
	defer close(in.exited)
	buf := make([]byte, readSize)
	for {
		n, err := in.r.Read(buf)
		if n > 0 {
			// The splitter keeps what it is fed: hand it a copy of exactly
			// what was read, so a short interactive line holds no big buffer.
			data := make([]byte, n)
			copy(data, buf[:n])
			select {
			case in.chunks <- data:
			case <-in.stop:
				return
			}
		}
		if err != nil {
			in.readErr = err
			close(in.chunks)
			return
		}
	}
}

// Read returns the lines available, at least one, up to batch_size; io.EOF
// once the input ended and every line was returned.
func (in *Input) Read(ctx context.Context) (engine.InputBatch, error) {
	if !in.started {
		return engine.InputBatch{}, errors.New("stdin input is not started")
	}
	var recs []*engine.Record
	for {
		for len(recs) < in.batchSize {
			line, ok, err := in.split.Next()
			if err != nil {
				var tl *lineio.TooLongError
				if errors.As(err, &tl) {
					return engine.InputBatch{}, fmt.Errorf("stdin:%d: line is longer than max_line_size (%d bytes)", tl.Line, tl.Max)
				}
				return engine.InputBatch{}, err
			}
			if !ok {
				break
			}
			if in.format == engine.JSON && lineio.IsBlank(line) {
				continue
			}
			rec := in.alloc.New(line, in.format)
			rec.Source = in.src
			rec.Offset = in.split.Line()
			recs = append(recs, rec)
		}
		switch {
		case len(recs) == in.batchSize:
			return in.batch(recs), nil
		case in.ended:
			if len(recs) > 0 {
				return in.batch(recs), nil
			}
			if in.readErr != io.EOF {
				return engine.InputBatch{}, fmt.Errorf("stdin: %w", in.readErr)
			}
			return engine.InputBatch{}, io.EOF
		case len(recs) > 0:
			// Take more if it is already there, but do not wait for it.
			select {
			case data, ok := <-in.chunks:
				in.accept(data, ok)
			default:
				return in.batch(recs), nil
			}
		default:
			select {
			case data, ok := <-in.chunks:
				in.accept(data, ok)
			case <-ctx.Done():
				return engine.InputBatch{}, ctx.Err()
			}
		}
	}
}

func (in *Input) accept(data []byte, ok bool) {
	if !ok {
		in.ended = true
		in.split.SetEOF()
		return
	}
	in.split.Feed(data)
}

func (in *Input) batch(recs []*engine.Record) engine.InputBatch {
	now := time.Now().UnixMilli()
	for _, r := range recs {
		r.Timestamp = now
	}
	return engine.InputBatch{Records: recs, Partition: Partition, Position: engine.IntPosition("offset", in.split.Offset())}
}

// Close stops the reading goroutine. A reader that can be interrupted (one
// with SetReadDeadline, such as a pipe in non-blocking mode, or any closable
// reader other than an *os.File) is interrupted and the goroutine waited for.
// A read blocked on a plain terminal or file descriptor cannot be interrupted
// in Go: that goroutine ends by itself when its read returns, without
// touching anything else.
func (in *Input) Close(ctx context.Context) error {
	if !in.started {
		return nil
	}
	interrupted := false
	in.once.Do(func() {
		close(in.stop)
		if d, ok := in.r.(interface{ SetReadDeadline(time.Time) error }); ok && d.SetReadDeadline(time.Unix(1, 0)) == nil {
			interrupted = true
		} else if _, isFile := in.r.(*os.File); !isFile {
			if c, ok := in.r.(io.Closer); ok {
				c.Close()
				interrupted = true
			}
		}
	})
	if !interrupted {
		// Perhaps it already ended (EOF): then it is gone, else leave it.
		select {
		case <-in.exited:
		default:
		}
		return nil
	}
	select {
	case <-in.exited:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
