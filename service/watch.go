package service

import (
	"context"
	"crypto/sha256"
	"fmt"
	"github.com/pipelinehq/pipeline/config"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
)

// DefaultWatchDebounce is how long the config's directory must be quiet
// after a change before the file is read again: long enough for an editor's
// write-then-rename or a Kubernetes symlink swap to finish, short enough
// that a reload follows an edit at once.
const DefaultWatchDebounce = 250 * time.Millisecond

// watchPollInterval is how often the file is read anyway, in case an event
// was missed (some network filesystems send none).
const watchPollInterval = 5 * time.Second

// watchConfig asks sup for a reload whenever the content of the config file
// changes. It watches the file's directory rather than the file, because
// editors replace files (write a temporary file, rename it over the old
// one) and Kubernetes swaps a ConfigMap by pointing the directory's ..data
// symlink at a new directory: the path stays, the file behind it changes.
// Events are debounced, and the content is compared with what was last
// seen, so a touch, a chmod or a rewrite of the same bytes does nothing. A
// file that is gone is reported and waited for; the running pipeline goes
// on. The returned function stops the watcher and waits for it.
func watchConfig(ctx context.Context, path string, debounce time.Duration, sup *supervisor, log *slog.Logger) (stop func(), err error) {
	if debounce <= 0 {
		debounce = DefaultWatchDebounce
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	watcher, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, err
	}
	// The file may be a symlink into another directory (a ConfigMap's
	// ..data/pipeline.yaml is one level down): watch that one too.
	relevant := map[string]bool{filepath.Base(abs): true}
	dirs := []string{filepath.Dir(abs)}
	if target, err := filepath.EvalSymlinks(abs); err == nil && filepath.Dir(target) != dirs[0] {
		relevant[filepath.Base(target)] = true
		dirs = append(dirs, filepath.Dir(target))
	}
	for _, dir := range dirs {
		if err := watcher.Add(dir); err != nil {
			watcher.Close()
			return nil, err
		}
	}
	log.Info("watching the config for changes", "file", path, "debounce", debounce)
	last, _ := contentHash(abs)
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer watcher.Close()
		quiet := time.NewTimer(time.Hour)
		quiet.Stop()
		poll := time.NewTicker(watchPollInterval)
		defer poll.Stop()
		check := func() {
			h, err := contentHash(abs)
			if h == last {
				return
			}
			last = h
			if err != nil {
				log.Warn("the config file cannot be read; the running pipeline goes on", "file", path, "error", err)
				return
			}
			log.Info("the config file changed; reloading", "file", path)
			sup.requestReloadAsync("file change")
		}
		for {
			select {
			case <-ctx.Done():
				return
			case ev, ok := <-watcher.Events:
				if !ok {
					return
				}
				// Only the file itself and Kubernetes' ..data links
				// count: other files of the directory (logs, outputs)
				// must not keep the debounce from ever ending.
				if name := filepath.Base(ev.Name); relevant[name] || strings.HasPrefix(name, "..") {
					log.Debug("config change seen", "event", ev.String())
					quiet.Reset(debounce)
				}
			case err, ok := <-watcher.Errors:
				if !ok {
					return
				}
				log.Warn("watching the config", "error", err)
			case <-quiet.C:
				check()
			case <-poll.C:
				check()
			}
		}
	}()
	return func() {
		cancel()
		<-done
	}, nil
}

// contentHash is a hash of the file's content, or of the error reading it.
//
// It reads at most one byte more than a config may hold: a file beyond
// the limit hashes as that prefix, changes are still seen as its size or
// start changes, and the reload it triggers refuses it with the loader's
// error, without the watcher reading a huge file every poll.
func contentHash(path string) ([32]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return sha256.Sum256([]byte("unreadable: " + err.Error())), err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, io.LimitReader(f, config.MaxBytes+1))
	if err != nil {
		return sha256.Sum256([]byte("unreadable: " + err.Error())), err
	}
	fmt.Fprintf(h, "\x00%d", n)
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	return sum, nil
}
