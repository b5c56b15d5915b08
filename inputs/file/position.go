package file

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"

	"github.com/pipelinehq/pipeline/engine"
)

// A file's position is its byte offset and a fingerprint of the file: a
// hash of its first bytes (at most headBytes), taken when it was opened.
// A file found under the same path on resume that is shorter than the
// offset, or whose first bytes differ, is another file: it is read from
// the start, and the change is reported.
const (
	fieldOffset    = "offset"
	fieldHead      = "head"
	fieldHeadBytes = "head_bytes"
	headBytes      = 1024
)

// fingerprint identifies one file's content by its first bytes.
type fingerprint struct {
	hash  string
	bytes int64
}

// fingerprintOf hashes the first n bytes of f (fewer when f is shorter).
func fingerprintOf(f *os.File, n int64) (fingerprint, error) {
	h := sha256.New()
	read, err := io.Copy(h, io.NewSectionReader(f, 0, n))
	if err != nil {
		return fingerprint{}, err
	}
	return fingerprint{hash: hex.EncodeToString(h.Sum(nil)[:8]), bytes: read}, nil
}

// position is where a batch of the file ends.
func (fp fingerprint) position(offset int64) engine.Position {
	return engine.IntPosition(fieldOffset, offset).WithString(fieldHead, fp.hash).WithInt(fieldHeadBytes, fp.bytes)
}

// resumePoint is a committed position of a file, read back.
type resumePoint struct {
	offset int64
	head   fingerprint
}

func parseResumePoint(cp engine.Checkpoint) (resumePoint, error) {
	offset, err := cp.Position.Int(fieldOffset)
	if err == nil && offset < 0 {
		err = fmt.Errorf("offset %d is negative", offset)
	}
	var p resumePoint
	p.offset = offset
	if err == nil {
		p.head.hash, err = cp.Position.Str(fieldHead)
	}
	if err == nil {
		p.head.bytes, err = cp.Position.Int(fieldHeadBytes)
	}
	if err != nil {
		return resumePoint{}, fmt.Errorf("%s: committed position %s is not a file position: %v", cp.Partition, cp.Position, err)
	}
	return p, nil
}

// changedSince tells why f, of size bytes, is not the file p was committed
// for, or "" when it is.
func (p resumePoint) changedSince(f *os.File, size int64) (string, error) {
	if size < p.offset {
		return fmt.Sprintf("it has %d bytes, fewer than the %d already read", size, p.offset), nil
	}
	now, err := fingerprintOf(f, p.head.bytes)
	if err != nil {
		return "", err
	}
	if now != p.head {
		return fmt.Sprintf("its first %d bytes differ from those read before", p.head.bytes), nil
	}
	return "", nil
}
