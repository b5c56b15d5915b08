package e2e

// The editor proof: the real yaml-language-server (what VS Code's YAML
// extension runs) opens configs that name schema/pipeline.schema.json in their
// modeline, and the diagnostics it publishes are the ones an editor shows.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const (
	lspInstallTimeout = 3 * time.Minute  // npm install on a cold cache
	lspReplyTimeout   = 20 * time.Second // one request, or one document's diagnostics
	lspSettle         = 300 * time.Millisecond
)

func TestEditorDiagnostics(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	schemaPath := filepath.Join(root, "schema", "pipeline.schema.json")
	if _, err := os.Stat(schemaPath); err != nil {
		t.Fatalf("the committed schema is missing (run `go test ./schema -update`): %v", err)
	}
	bin := installYAMLLanguageServer(t, root)
	work := t.TempDir()
	ls := startLanguageServer(t, bin, work)

	modeline := "# yaml-language-server: $schema=" + fileURI(schemaPath) + "\n"

	t.Run("misspelled key and wrong type", func(t *testing.T) {
		// LSP lines are 0-based: the modeline is line 0.
		doc := modeline + // 0
			"name: editor-check\n" + // 1
			"input:\n" + // 2
			"  file:\n" + // 3
			"    paths: [in.txt]\n" + // 4
			"    codecc: lines\n" + // 5: misspelled codec
			"    batch_size: lots\n" + // 6: not an integer
			"output:\n" + // 7
			"  stdout: {}\n" // 8
		diags := ls.diagnostics(t, filepath.Join(work, "broken.yaml"), doc)
		byLine := map[int][]string{}
		for _, d := range diags {
			byLine[d.Range.Start.Line] = append(byLine[d.Range.Start.Line], d.Message)
		}
		if lines := sortedKeys(byLine); fmt.Sprint(lines) != "[5 6]" {
			t.Fatalf("diagnostics on lines %v, want exactly lines 5 and 6 (0-based):\n%s", lines, describeDiagnostics(diags))
		}
		if !anyContains(byLine[5], "codecc") || !anyContains(byLine[5], "not allowed") {
			t.Errorf("line 5 (codecc): messages %q do not say the property codecc is not allowed", byLine[5])
		}
		if !anyContains(byLine[6], "integer") {
			t.Errorf("line 6 (batch_size: lots): messages %q do not say an integer is wanted", byLine[6])
		}
	})

	t.Run("unknown component and two components", func(t *testing.T) {
		doc := modeline + // 0
			"input:\n" + // 1
			"  fiel: {paths: [in.txt]}\n" + // 2: no such input
			"pipeline:\n" + // 3
			"  processors:\n" + // 4
			"    - filter: 'value != \"\"'\n" + // 5: shorthand, fine
			"    - map: {value: 'value'}\n" + // 6
			"      filter: 'true'\n" + // 7: a second processor in one slot
			"output:\n" + // 8
			"  stdout: {}\n" // 9
		diags := ls.diagnostics(t, filepath.Join(work, "slots.yaml"), doc)
		byLine := map[int][]string{}
		for _, d := range diags {
			byLine[d.Range.Start.Line] = append(byLine[d.Range.Start.Line], d.Message)
		}
		if !anyContains(byLine[2], "fiel") {
			t.Errorf("no diagnostic naming fiel on line 2:\n%s", describeDiagnostics(diags))
		}
		if !anyContains(byLine[6], "filter") && !anyContains(byLine[7], "filter") {
			t.Errorf("no diagnostic naming the second component (filter) on line 6 or 7:\n%s", describeDiagnostics(diags))
		}
		for _, m := range byLine[1] {
			// The server also names what the slot lacks at its key.
			if !strings.HasPrefix(m, "Missing property") {
				t.Errorf("unexpected diagnostic on line 1: %q", m)
			}
		}
		for _, line := range []int{0, 3, 4, 5, 8, 9} {
			if len(byLine[line]) > 0 {
				t.Errorf("unexpected diagnostics on line %d: %q", line, byLine[line])
			}
		}
	})

	t.Run("misspelled required key", func(t *testing.T) {
		doc := modeline + // 0
			"input:\n" + // 1
			"  file:\n" + // 2
			"    pathz: [in.txt]\n" + // 3: paths misspelled
			"output:\n" + // 4
			"  drop: {}\n" // 5
		diags := ls.diagnostics(t, filepath.Join(work, "required.yaml"), doc)
		byLine := map[int][]string{}
		for _, d := range diags {
			byLine[d.Range.Start.Line] = append(byLine[d.Range.Start.Line], d.Message)
		}
		if !anyContains(byLine[3], "pathz is not allowed") {
			t.Errorf("line 3: no diagnostic saying pathz is not allowed:\n%s", describeDiagnostics(diags))
		}
		var missing bool
		for _, d := range diags {
			missing = missing || strings.Contains(d.Message, `Missing property "paths"`)
		}
		if !missing {
			t.Errorf("no diagnostic saying the required paths is missing:\n%s", describeDiagnostics(diags))
		}
		for _, line := range []int{0, 1, 4, 5} {
			if len(byLine[line]) > 0 {
				t.Errorf("unexpected diagnostics on line %d: %q", line, byLine[line])
			}
		}
	})

	t.Run("valid config", func(t *testing.T) {
		doc := modeline +
			"name: editor-check\n" +
			"input:\n" +
			"  generate:\n" +
			"    value: '{\"n\": meta.offset}'\n" +
			"    count: ${COUNT:5}\n" +
			"pipeline:\n" +
			"  processors:\n" +
			"    - filter: 'value.n % 2 == 0'\n" +
			"    - map:\n" +
			"        set: { even: 'true' }\n" +
			"output:\n" +
			"  stdout: { codec: json_lines }\n" +
			"max_in_flight: ${MAX_IN_FLIGHT:16}\n" +
			"shutdown_timeout: 5s\n"
		if diags := ls.diagnostics(t, filepath.Join(work, "valid.yaml"), doc); len(diags) > 0 {
			t.Errorf("a valid config has diagnostics:\n%s", describeDiagnostics(diags))
		}
	})

	t.Run("relative modeline", func(t *testing.T) {
		// The examples' own modeline, from a document beside them (never
		// written to disk): the schema must be found, or the clean results
		// below would prove nothing.
		doc := "# yaml-language-server: $schema=../schema/pipeline.schema.json\n" + // 0
			"input: {generate: {value: '1'}}\n" + // 1
			"output: {stdot: {}}\n" // 2
		diags := ls.diagnostics(t, filepath.Join(root, "pipelines", "editor-check-not-on-disk.yaml"), doc)
		if len(diags) == 0 || !strings.Contains(describeDiagnostics(diags), "stdot") {
			t.Errorf("a relative modeline did not bring the schema: want a diagnostic naming stdot, got:\n%s", describeDiagnostics(diags))
		}
	})

	t.Run("examples", func(t *testing.T) {
		files, _ := filepath.Glob(filepath.Join(root, "pipelines", "*.yaml"))
		if len(files) == 0 {
			t.Skip("no pipelines/*.yaml yet")
		}
		for _, f := range files {
			name := filepath.Base(f)
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			first, _, _ := strings.Cut(string(data), "\n")
			if !strings.HasPrefix(first, "# yaml-language-server: $schema=") {
				t.Errorf("pipelines/%s: the first line is not a `# yaml-language-server: $schema=../schema/pipeline.schema.json` modeline, so editors do not check it", name)
				continue
			}
			// Opened where it lies, so that its relative modeline resolves.
			if diags := ls.diagnostics(t, f, string(data)); len(diags) > 0 {
				t.Errorf("pipelines/%s has diagnostics:\n%s", name, describeDiagnostics(diags))
			}
		}
	})
}

// installYAMLLanguageServer runs e2e/setup/yaml-language-server.sh and
// returns the server's path. Without npm or the registry the test skips,
// except under CI=true, where it fails.
func installYAMLLanguageServer(t *testing.T, root string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), lspInstallTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", filepath.Join(root, "e2e", "setup", "yaml-language-server.sh"))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	bin := strings.TrimSpace(stdout.String())
	if err == nil && bin != "" {
		return bin
	}
	msg := fmt.Sprintf("installing yaml-language-server: %v\n%s", err, strings.TrimSpace(stderr.String()))
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

func fileURI(path string) string {
	return (&url.URL{Scheme: "file", Path: filepath.ToSlash(path)}).String()
}

// languageServer is a minimal LSP client over the server's stdio.
type languageServer struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stderr *syncBuffer
	done   chan struct{} // closed when the reader stops (the server's stdout closed)

	writeMu sync.Mutex
	mu      sync.Mutex
	nextID  int
	pending map[int]chan rpcMessage
	diags   map[string][]publishedDiagnostics // by document URI, in arrival order
	notify  chan struct{}                     // a diagnostics notification arrived
	version int
}

type rpcMessage struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id,omitempty"`
	Method  string          `json:"method,omitempty"`
	Params  json.RawMessage `json:"params,omitempty"`
	Result  json.RawMessage `json:"result,omitempty"`
	Error   *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error,omitempty"`
}

type lspPosition struct {
	Line      int `json:"line"`
	Character int `json:"character"`
}

type diagnostic struct {
	Range struct {
		Start lspPosition `json:"start"`
		End   lspPosition `json:"end"`
	} `json:"range"`
	Severity int    `json:"severity"`
	Message  string `json:"message"`
	Source   string `json:"source"`
}

type publishedDiagnostics struct {
	URI         string       `json:"uri"`
	Diagnostics []diagnostic `json:"diagnostics"`
}

// startLanguageServer starts `yaml-language-server --stdio`, initializes it
// with workspace as its root and validation on, and stops it (killing it if
// it does not exit) when the test ends.
func startLanguageServer(t *testing.T, bin, workspace string) *languageServer {
	t.Helper()
	cmd := exec.Command(bin, "--stdio")
	cmd.Dir = workspace
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // its own group, so a kill reaches any child
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	ls := &languageServer{cmd: cmd, stdin: stdin, stderr: &syncBuffer{}, done: make(chan struct{}),
		pending: map[int]chan rpcMessage{}, diags: map[string][]publishedDiagnostics{}, notify: make(chan struct{}, 1)}
	cmd.Stderr = ls.stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", bin, err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() { ls.stop(t, exited) })
	go ls.read(stdout)

	wsURI := fileURI(workspace)
	if _, err := ls.call("initialize", map[string]any{
		"processId":        os.Getpid(),
		"rootUri":          wsURI,
		"workspaceFolders": []any{map[string]any{"uri": wsURI, "name": filepath.Base(workspace)}},
		"capabilities": map[string]any{
			"textDocument": map[string]any{"publishDiagnostics": map[string]any{}},
			"workspace":    map[string]any{"workspaceFolders": true},
		},
	}); err != nil {
		t.Fatalf("initialize: %v\n%s", err, ls.stderr)
	}
	ls.notifyServer(t, "initialized", map[string]any{})
	ls.notifyServer(t, "workspace/didChangeConfiguration", map[string]any{"settings": map[string]any{
		"yaml": map[string]any{
			"validate":    true,
			"hover":       false,
			"completion":  false,
			"format":      map[string]any{"enable": false},
			"schemaStore": map[string]any{"enable": false}, // no network: never fetch the catalog
			"schemas":     map[string]any{},
		},
	}})
	return ls
}

func (ls *languageServer) stop(t *testing.T, exited chan struct{}) {
	// Ask politely; kill the process group the server leads only if it
	// is still running.
	if _, err := ls.callTimeout("shutdown", nil, 5*time.Second); err == nil {
		_ = ls.send(rpcMessage{JSONRPC: "2.0", Method: "exit"})
	}
	_ = ls.stdin.Close()
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
		t.Logf("yaml-language-server did not exit; killing it")
		_ = syscall.Kill(-ls.cmd.Process.Pid, syscall.SIGKILL)
		<-exited
	}
}

func (ls *languageServer) read(stdout io.Reader) {
	defer close(ls.done)
	r := bufio.NewReader(stdout)
	for {
		length := -1
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			line = strings.TrimRight(line, "\r\n")
			if line == "" {
				break
			}
			if v, ok := strings.CutPrefix(line, "Content-Length:"); ok {
				length, _ = strconv.Atoi(strings.TrimSpace(v))
			}
		}
		if length < 0 {
			return
		}
		body := make([]byte, length)
		if _, err := io.ReadFull(r, body); err != nil {
			return
		}
		var m rpcMessage
		if err := json.Unmarshal(body, &m); err != nil {
			continue
		}
		switch {
		case m.Method != "" && len(m.ID) > 0:
			// A request from the server (workspace/configuration,
			// client/registerCapability, ...): answer so it never waits.
			var result any
			if m.Method == "workspace/configuration" {
				var p struct {
					Items []any `json:"items"`
				}
				_ = json.Unmarshal(m.Params, &p)
				items := make([]any, len(p.Items))
				result = items
			}
			res, _ := json.Marshal(result)
			_ = ls.send(rpcMessage{JSONRPC: "2.0", ID: m.ID, Result: res})
		case m.Method == "textDocument/publishDiagnostics":
			var p publishedDiagnostics
			if json.Unmarshal(m.Params, &p) == nil {
				ls.mu.Lock()
				ls.diags[p.URI] = append(ls.diags[p.URI], p)
				ls.mu.Unlock()
				select {
				case ls.notify <- struct{}{}:
				default:
				}
			}
		case m.Method == "":
			id, err := strconv.Atoi(string(m.ID))
			if err != nil {
				continue
			}
			ls.mu.Lock()
			ch := ls.pending[id]
			delete(ls.pending, id)
			ls.mu.Unlock()
			if ch != nil {
				ch <- m
			}
		}
	}
}

func (ls *languageServer) send(m rpcMessage) error {
	body, err := json.Marshal(m)
	if err != nil {
		return err
	}
	ls.writeMu.Lock()
	defer ls.writeMu.Unlock()
	_, err = fmt.Fprintf(ls.stdin, "Content-Length: %d\r\n\r\n%s", len(body), body)
	return err
}

func (ls *languageServer) call(method string, params any) (json.RawMessage, error) {
	return ls.callTimeout(method, params, lspReplyTimeout)
}

func (ls *languageServer) callTimeout(method string, params any, timeout time.Duration) (json.RawMessage, error) {
	p, err := json.Marshal(params)
	if err != nil {
		return nil, err
	}
	ls.mu.Lock()
	ls.nextID++
	id := ls.nextID
	ch := make(chan rpcMessage, 1)
	ls.pending[id] = ch
	ls.mu.Unlock()
	if err := ls.send(rpcMessage{JSONRPC: "2.0", ID: json.RawMessage(strconv.Itoa(id)), Method: method, Params: p}); err != nil {
		return nil, err
	}
	select {
	case m := <-ch:
		if m.Error != nil {
			return nil, fmt.Errorf("%s: error %d: %s", method, m.Error.Code, m.Error.Message)
		}
		return m.Result, nil
	case <-ls.done:
		return nil, fmt.Errorf("%s: the server closed its output", method)
	case <-time.After(timeout):
		return nil, fmt.Errorf("%s: no reply in %s", method, timeout)
	}
}

func (ls *languageServer) notifyServer(t *testing.T, method string, params any) {
	t.Helper()
	p, err := json.Marshal(params)
	if err != nil {
		t.Fatal(err)
	}
	if err := ls.send(rpcMessage{JSONRPC: "2.0", Method: method, Params: p}); err != nil {
		t.Fatalf("%s: %v\n%s", method, err, ls.stderr)
	}
}

// diagnostics opens text as the document at path and returns the
// diagnostics the server publishes for it, once they have settled; then it
// closes the document.
func (ls *languageServer) diagnostics(t *testing.T, path, text string) []diagnostic {
	t.Helper()
	uri := fileURI(path)
	ls.mu.Lock()
	ls.version++
	version := ls.version
	seen := len(ls.diags[uri])
	ls.mu.Unlock()
	ls.notifyServer(t, "textDocument/didOpen", map[string]any{"textDocument": map[string]any{
		"uri": uri, "languageId": "yaml", "version": version, "text": text,
	}})
	defer ls.notifyServer(t, "textDocument/didClose", map[string]any{"textDocument": map[string]any{"uri": uri}})

	deadline := time.After(lspReplyTimeout)
	var settle <-chan time.Time
	for {
		ls.mu.Lock()
		n := len(ls.diags[uri])
		var last []diagnostic
		if n > seen {
			last = ls.diags[uri][n-1].Diagnostics
		}
		ls.mu.Unlock()
		if n > seen {
			seen = n
			settle = time.After(lspSettle) // wait for a later publish that replaces it
		}
		select {
		case <-ls.notify:
		case <-settle:
			t.Logf("%s:\n%s", filepath.Base(path), describeDiagnostics(last))
			return last
		case <-ls.done:
			t.Fatalf("yaml-language-server exited:\n%s", ls.stderr)
		case <-deadline:
			t.Fatalf("no diagnostics for %s within %s\nserver stderr:\n%s", path, lspReplyTimeout, ls.stderr)
		}
	}
}

func describeDiagnostics(diags []diagnostic) string {
	var b strings.Builder
	for _, d := range diags {
		fmt.Fprintf(&b, "\tline %d col %d: %s\n", d.Range.Start.Line, d.Range.Start.Character, d.Message)
	}
	return b.String()
}

func sortedKeys(m map[int][]string) []int {
	keys := make([]int, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	return keys
}

func anyContains(msgs []string, s string) bool {
	for _, m := range msgs {
		if strings.Contains(m, s) {
			return true
		}
	}
	return false
}

// syncBuffer collects the server's stderr for failure messages.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
