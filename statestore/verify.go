package statestore

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
	"github.com/dgraph-io/badger/v4/table"
	"github.com/dgraph-io/ristretto/v2/z"
)

// Corruption. Badger keeps a checksum for every block and for the index of
// every table (SST), and for every value-log entry, but a corrupt table
// handed to Badger is not safe: its own check at open runs in goroutines of
// its own, where some damage panics beyond any recover (a failed block read
// dereferences a nil block in Table.VerifyChecksum; a damaged block trailer
// slices out of range), and a block that fails its checksum later, in a
// read, comes back as a missing key rather than an error. So Open verifies
// every table itself, in its own goroutine, before Badger sees them, and
// refuses a store that fails with a *CorruptError.

// CorruptError is a state directory whose data fails its checksums or
// cannot be parsed.
type CorruptError struct {
	Dir   string
	Cause error
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("state in %s is corrupt (%v)", e.Dir, e.Cause)
}

func (e *CorruptError) Unwrap() error { return e.Cause }

// verifyTables checks every table the manifest lists: its footer, its
// index's checksum and every block's checksum.
func verifyTables(dir string) error {
	tables, err := listedTables(dir)
	if err != nil {
		return &CorruptError{Dir: dir, Cause: err}
	}
	for _, id := range slices.Sorted(maps.Keys(tables)) {
		if tables[id].KeyID != 0 {
			continue // encrypted: never written by this package; Badger refuses it
		}
		if err := verifyTable(table.NewFilename(id, dir), tables[id].Compression); err != nil {
			return &CorruptError{Dir: dir, Cause: fmt.Errorf("table %s %w", table.IDToFilename(id), err)}
		}
	}
	return nil
}

// listedTables reads the manifest: the tables of the store, with how each
// is compressed. A directory without one holds no tables.
func listedTables(dir string) (map[uint64]badger.TableManifest, error) {
	f, err := os.Open(filepath.Join(dir, badger.ManifestFilename))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	manifest, _, err := badger.ReplayManifestFile(f, 0, badger.Options{})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", badger.ManifestFilename, err)
	}
	return manifest.Tables, nil
}

// verifyTable opens one table as Badger does, without letting Badger verify
// it (its failure path crashes), and verifies it: every failure, a panic or
// a memory fault reading the mapped file included, is an error.
func verifyTable(path string, compression options.CompressionType) (err error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return errors.New("is missing")
	}
	if err != nil {
		return fmt.Errorf("cannot be opened: %w", err)
	}
	defer f.Close()
	if info, err := f.Stat(); err != nil || info.Size() == 0 {
		return cmp.Or(err, errors.New("is empty"))
	}
	mf, err := z.OpenMmapFileUsing(f, 0, false)
	if err != nil {
		return fmt.Errorf("cannot be mapped: %s", firstLine(err.Error()))
	}
	defer z.Munmap(mf.Data)
	defer func(prev bool) {
		debug.SetPanicOnFault(prev)
		if r := recover(); r != nil {
			err = errors.New("cannot be parsed")
			if re, ok := r.(runtime.Error); ok {
				err = fmt.Errorf("cannot be parsed: %v", re)
			}
		}
	}(debug.SetPanicOnFault(true))
	t, err := table.OpenTable(mf, table.Options{
		ChkMode:     options.NoVerification, // VerifyChecksum below checks every block
		Compression: compression,
		BlockSize:   blockSize,
	})
	if err != nil {
		return fmt.Errorf("has an unreadable index: %s", innermost(err))
	}
	if err := t.VerifyChecksum(); err != nil {
		if m := failedBlock.FindStringSubmatch(err.Error()); m != nil {
			return fmt.Errorf("fails at block %s (offset %s): %s", m[1], m[2], innermost(err))
		}
		return fmt.Errorf("fails its checksums: %s", badgerMessage(err))
	}
	return nil
}

// failedBlock finds the block in Badger's error from Table.VerifyChecksum.
var failedBlock = regexp.MustCompile(`block: (\d+), offset:(\d+)`)

// innermost is the cause Badger's error ends with.
func innermost(err error) string {
	parts := strings.Split(err.Error(), " err: ")
	return strings.TrimSpace(parts[len(parts)-1])
}

// badgerMessage shortens Badger's errors, which repeat their causes with
// " err: " between them: the innermost cause, and the first context.
func badgerMessage(err error) string {
	parts := strings.Split(err.Error(), " err: ")
	if len(parts) == 1 {
		return innermost(err)
	}
	return strings.TrimSpace(parts[0]) + ": " + innermost(err)
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// looksCorrupt reports whether an error from Badger says that data on disk
// failed a check. Badger formats its errors into strings (y.Wrap), so only
// their text says what they are.
func looksCorrupt(err error) bool {
	msg := strings.ToLower(err.Error())
	return strings.Contains(msg, "checksum") || strings.Contains(msg, "corrupt")
}

// badgerFiles are the names Badger gives the files of a database.
func isBadgerFile(name string) bool {
	switch name {
	case badger.ManifestFilename, badger.KeyRegistryFileName, "MANIFEST-REWRITE", "KEYREGISTRY-REWRITE", "DISCARD", "LOCK":
		return true
	}
	for _, suffix := range []string{".sst", ".vlog", ".mem"} {
		if strings.HasSuffix(name, suffix) {
			return true
		}
	}
	return false
}

// Remove deletes the state in dir (Badger's files, nothing else), so that
// the next Open starts empty: for a store found corrupt whose data can be
// rebuilt elsewhere (a changelog). It fails while another process has the
// store open.
func Remove(dir string) error {
	lock, err := lockDir(dir)
	if err != nil {
		return err
	}
	defer lock.release()
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.Type().IsRegular() && isBadgerFile(e.Name()) {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}
