package join_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/pipelinehq/pipeline/engine"
	"github.com/pipelinehq/pipeline/inputs/generate"
	"github.com/pipelinehq/pipeline/processors/internal/proctest"
)

// TestTableInMemoryAndOnDiskJoinAlike: a table that fits half of
// state.cache_size is held in memory, one that does not is read from the
// state directory; both give every record the same row. The table (a
// generate input, keyed) has rows for even keys only, so a left join finds
// some rows and not others.
func TestTableInMemoryAndOnDiskJoinAlike(t *testing.T) {
	run := func(cacheSize string, wantInMemory bool) []string {
		var stream []string
		for i := range 300 {
			stream = append(stream, fmt.Sprintf(`{"id":%d,"c":%d}`, i, (i*7)%400))
		}
		h := proctest.New(proctest.JSON(stream...))
		h.Extra = append(h.Extra, func(r *engine.Registry) { r.AddInput(generate.Plugin()) })
		var logs bytes.Buffer
		h.Logger = slog.New(slog.NewTextHandler(&logs, nil))
		h.MustRun(t, proctest.Pipeline(`
- join:
    table: {generate: {value: '{"tier": meta.offset % 5, "pad": "`+strings.Repeat("x", 200)+`"}', key: 'meta.offset % 2 == 0 ? meta.offset : nil', count: 400}}
    key: value.c
    type: left
    value: 'string(value.id) + ":" + (table == nil ? "-" : string(table.tier))'
`)+fmt.Sprintf("state: {dir: %q, cache_size: %s}\n", t.TempDir(), cacheSize))
		if got := strings.Contains(logs.String(), "in_memory=true"); got != wantInMemory {
			t.Fatalf("cache_size %s: the table in memory is %v, want %v:\n%s", cacheSize, got, wantInMemory, logs.String())
		}
		return h.Values("collect")
	}
	inMemory, onDisk := run("64MiB", true), run("40KiB", false)
	if len(inMemory) != 300 || strings.Join(inMemory, " ") != strings.Join(onDisk, " ") {
		t.Fatalf("in memory:\n%v\non disk:\n%v", inMemory, onDisk)
	}
	for i, v := range inMemory {
		c := (i * 7) % 400
		want := fmt.Sprintf("%d:-", i)
		if c%2 == 0 {
			want = fmt.Sprintf("%d:%d", i, c%5)
		}
		if v != want {
			t.Fatalf("result %d is %q, want %q", i, v, want)
		}
	}
}
