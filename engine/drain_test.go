package engine

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/pipelinehq/pipeline/config"
)

// stuckOutput's writes block, ignoring their context, until released.
type stuckOutput struct{ release chan struct{} }

func (o *stuckOutput) Write(context.Context, []*Record) error { <-o.release; return nil }
func (o *stuckOutput) Close(context.Context) error            { <-o.release; return nil }

// stuckInput reads one batch, then blocks, ignoring its context, until
// released.
type stuckInput struct {
	testInput
	release chan struct{}
}

func (in *stuckInput) Read(ctx context.Context) (InputBatch, error) {
	if in.next == 0 {
		return in.testInput.Read(ctx)
	}
	<-in.release
	return InputBatch{}, ctx.Err()
}

// hangingCommitInput reads one batch and then waits; its Commit blocks,
// ignoring its context, until released (a commit to a broker that stopped
// answering).
type hangingCommitInput struct {
	testInput
	release chan struct{}
}

func (in *hangingCommitInput) Commit(_ context.Context, cps []Checkpoint) error {
	<-in.release
	return in.testInput.Commit(context.Background(), cps)
}

// A stop ends the run within shutdown_timeout and the grace after it, also
// when an output's write and close and an input's read ignore their
// contexts; nothing is committed of what was not written.
func TestStopEndsWhateverComponentsDo(t *testing.T) {
	for _, stuck := range []string{"output", "input", "commit"} {
		t.Run(stuck, func(t *testing.T) {
			release := make(chan struct{})
			t.Cleanup(func() { close(release) })
			in := &stuckInput{testInput: testInput{batches: [][]string{{`1`}}, blockLast: true}, release: release}
			var input Input = in
			if stuck == "commit" {
				input = &hangingCommitInput{testInput: testInput{batches: [][]string{{`1`}}, blockLast: true}, release: release}
			}
			f := newFixture(&in.testInput)
			f.reg.AddInput(InputPlugin{Spec: config.Spec{Name: "stuck"}, New: func(*config.Parsed, *Resources) (Input, error) { return input, nil }})
			f.reg.AddOutput(OutputPlugin{Spec: config.Spec{Name: "stuck"}, New: func(*config.Parsed, *Resources) (Output, error) {
				return &stuckOutput{release: release}, nil
			}})
			output := "collect: {name: main}"
			if stuck == "output" {
				output = "stuck: {}"
			}
			p := f.build(t, `
input: {stuck: {}}
output: {`+output+`}
shutdown_timeout: 300ms
commit_interval: 1h
`)
			ctx, cancel := context.WithCancel(context.Background())
			ended := make(chan error, 1)
			go func() { ended <- p.Run(ctx) }()
			time.Sleep(200 * time.Millisecond)
			stopped := time.Now()
			cancel()
			select {
			case err := <-ended:
				took := time.Since(stopped)
				if took > 300*time.Millisecond+time.Second {
					t.Errorf("the run ended %s after the stop, more than shutdown_timeout and a second", took)
				}
				if stuck == "output" && (err == nil || !strings.Contains(err.Error(), "drain did not finish within shutdown_timeout (300ms)")) {
					t.Errorf("want the abandoned drain's error, got %v", err)
				}
				if stuck == "commit" && (err == nil || !strings.Contains(err.Error(), "the stop did not finish within shutdown_timeout (300ms): the last commit")) {
					t.Errorf("want the abandoned commit's error, got %v", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("the run did not end within 5s of the stop")
			}
			if stuck == "output" && in.lastCommit() != "" {
				t.Errorf("nothing was written, yet position %q was committed", in.lastCommit())
			}
		})
	}
}
