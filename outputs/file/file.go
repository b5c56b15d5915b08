package file

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/pipelinehq/pipeline/config"
	"github.com/pipelinehq/pipeline/engine"
	"github.com/pipelinehq/pipeline/internal/fifo"
	"github.com/pipelinehq/pipeline/outputs/internal/encode"
)

// Modes.
const (
	modeAppend   = "append"
	modeTruncate = "truncate"
)

// Plugin is the file output type.
func Plugin() engine.OutputPlugin {
	return engine.OutputPlugin{
		Spec: config.Spec{
			Name:    "file",
			Summary: "Writes records to a file, one line each.",
			Description: "Each batch is written with one write call; when a write returns, the records are handed to " +
				"the operating system (and, with sync, on disk). Parent directories are created at start. In append mode, a file that does " +
				"not end with a line ending ends in a record torn by a crash during a write: that tail is cut at start (with a warning), " +
				"and the record, never acknowledged, is written again whole.",
			Fields: []config.Field{
				config.String("path", "The file to write.").
					Required().Example("out/results.jsonl", "${OUT_DIR:/tmp}/dead_letters.jsonl"),
				encode.CodecField(),
				config.String("mode", "append: add to the file if it exists. truncate: empty the file at start.").
					Default(modeAppend).Enum(modeAppend, modeTruncate).Example(modeTruncate),
				config.Bool("sync", "Flush each batch to disk (fsync) before it counts as written. Slower, and it survives a machine crash.").
					Default(false).Example(true).Advanced(),
			},
			Example: `output:
  file:
    path: out/events.jsonl
    codec: json_lines`,
		},
		New: New,
	}
}

// Output is a running file output.
type Output struct {
	path     string
	truncate bool
	sync     bool
	enc      *encode.Encoder
	log      *slog.Logger

	f    *os.File
	size int64 // bytes in the file after the last successful write
	pipe bool  // the path is a named pipe: written as a stream
}

// New builds a file output from its config. It opens nothing.
func New(conf *config.Parsed, res *engine.Resources) (engine.Output, error) {
	enc, err := encode.New(conf.String("codec"))
	if err != nil {
		return nil, conf.Errorf("codec", "%v", err)
	}
	o := &Output{path: conf.String("path"), truncate: conf.String("mode") == modeTruncate, sync: conf.Bool("sync"), enc: enc, log: res.Logger}
	if o.log == nil {
		o.log = slog.New(slog.DiscardHandler)
	}
	if o.path == "" {
		return nil, conf.Errorf("path", "want a file path, got an empty string")
	}
	return o, nil
}

// Start creates the parent directories and opens the file; a named pipe
// once a reader opens it.
func (o *Output) Start(ctx context.Context) error {
	if o.f != nil {
		return errors.New("file output started twice")
	}
	if fifo.Is(o.path) {
		f, err := openPipe(ctx, o.path, func() { o.log.Info("waiting for a reader of the named pipe", "path", o.path) })
		if err != nil {
			return fmt.Errorf("%s: %w", o.path, err)
		}
		o.f, o.pipe = f, true
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(o.path), 0o755); err != nil {
		return err
	}
	flags := os.O_RDWR | os.O_CREATE | os.O_APPEND
	if o.truncate {
		flags |= os.O_TRUNC
	}
	f, err := os.OpenFile(o.path, flags, 0o644)
	if err != nil {
		return err
	}
	if st, err := f.Stat(); err == nil {
		o.size = st.Size()
	}
	o.f = f
	if err := o.cutTornLine(); err != nil {
		f.Close()
		o.f = nil
		return fmt.Errorf("%s: %w", o.path, err)
	}
	return nil
}

// cutTornLine removes what follows the file's last line ending: a record
// torn by a crash in the middle of a write (the kernel stops a write for a
// fatal signal between pages). Its batch was never acknowledged, so its
// position was not committed and the restart writes it again, whole.
func (o *Output) cutTornLine() error {
	if o.size == 0 {
		return nil
	}
	end := o.size
	buf := make([]byte, 64<<10)
	for end > 0 {
		n := min(int64(len(buf)), end)
		if _, err := o.f.ReadAt(buf[:n], end-n); err != nil {
			return err
		}
		if i := bytes.LastIndexByte(buf[:n], '\n'); i >= 0 {
			end = end - n + int64(i) + 1
			break
		}
		end -= n
	}
	if end == o.size {
		return nil
	}
	if err := o.f.Truncate(end); err != nil {
		return err
	}
	o.log.Warn("the file output ended in a torn record, left by a crash during a write: cut; the record is written again whole",
		"path", o.path, "bytes_cut", o.size-end)
	o.size = end
	return nil
}

// Write writes the records with one write call, then fsyncs with sync. A
// write that failed half way is cut back off a regular file, so that the
// engine's retry does not leave a broken line. Records the codec cannot
// encode are left out and rejected (engine.RecordsRejected).
func (o *Output) Write(ctx context.Context, records []*engine.Record) error {
	if o.f == nil {
		return errors.New("file output is not open")
	}
	buf, rejected := o.enc.Encode(records)
	if o.pipe {
		defer fifo.CutWrites(ctx, o.f)()
	}
	n, err := o.f.Write(buf)
	if err != nil {
		err = fifo.Err(ctx, err)
		if n > 0 && !o.pipe {
			_ = o.f.Truncate(o.size)
		}
		return fmt.Errorf("%s: %w", o.path, err)
	}
	o.size += int64(n)
	if o.sync && !o.pipe {
		if err := o.f.Sync(); err != nil {
			return fmt.Errorf("%s: sync: %w", o.path, err)
		}
	}
	return rejected
}

// Close closes the file.
func (o *Output) Close(context.Context) error {
	if o.f == nil {
		return nil
	}
	err := o.f.Close()
	o.f = nil
	return err
}
