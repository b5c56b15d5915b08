package engine

import (
	"context"
	"sync"
)

// A task processes the batches of one partition of one input, in order.
// Within a task, every top-level processor runs in a goroutine of its own
// and batches pass from one stage to the next, so the steps of a chain work
// on consecutive batches at once, while each step (and its state shard)
// still sees one batch at a time, in order.

// taskItem is one read batch on its way to its task.
type taskItem struct {
	input   string // the input's path, named by failures found at intake
	records []*Record
	ack     *batchAck
}

// taskKey names a task: an input and one of its partitions. Two inputs
// whose partitions share a name never share a task, a state shard or a
// position.
type taskKey struct {
	input     int
	partition string
}

// StatePartition is the name of the state shard of an input's partition:
// the partition's name, qualified by the input's path for every input but
// the main one (`input:`), so that partitions of two inputs never share a
// shard. The main input's shards keep their plain names, as they had before
// inputs were told apart: state written then still means the same.
func StatePartition(inputPath, partition string) string {
	if inputPath == mainInputPath {
		return partition
	}
	return inputPath + "/" + partition
}

// mainInputPath is the config path of the main input.
const mainInputPath = "input"

// taskSet is the tasks one reader started, by key, and the co-partitioned
// tasks, which every reader shares.
type taskSet struct {
	r      *runner
	tasks  map[taskKey]chan taskItem
	shared *sharedTasks
}

// sharedTasks are the co-partitioned tasks: several readers send to them,
// and they end once the last of those readers is done.
type sharedTasks struct {
	mu      sync.Mutex
	tasks   map[taskKey]chan taskItem
	readers int // readers not done yet
}

func newSharedTasks(readers int) *sharedTasks {
	return &sharedTasks{tasks: map[taskKey]chan taskItem{}, readers: readers}
}

func (r *runner) newTaskSet() *taskSet {
	return &taskSet{r: r, tasks: map[taskKey]chan taskItem{}, shared: r.sharedTasks}
}

// send hands an item to the task of an input's partition, starting the
// task on its first.
func (ts *taskSet) send(ctx context.Context, input int, partition string, item taskItem) {
	key := ts.r.taskKeyOf(input, partition)
	if key.input != coPartitionedTask {
		ch, ok := ts.tasks[key]
		if !ok {
			ch = ts.r.startTask(ctx, ts.r.shardOf(key))
			ts.tasks[key] = ch
		}
		ch <- item
		return
	}
	sh := ts.shared
	sh.mu.Lock()
	ch, ok := sh.tasks[key]
	if !ok {
		ch = ts.r.startTask(ctx, ts.r.shardOf(key))
		sh.tasks[key] = ch
	}
	sh.mu.Unlock()
	ch <- item
}

func (r *runner) startTask(ctx context.Context, shard string) chan taskItem {
	ch := make(chan taskItem, 2)
	r.taskWG.Go(func() { r.runTask(ctx, shard, ch) })
	return ch
}

// close ends the tasks once they processed what they were sent; the shared
// ones once every reader closed its set.
func (ts *taskSet) close() {
	for _, ch := range ts.tasks {
		close(ch)
	}
	if sh := ts.shared; sh != nil {
		sh.mu.Lock()
		defer sh.mu.Unlock()
		if sh.readers--; sh.readers == 0 {
			for _, ch := range sh.tasks {
				close(ch)
			}
		}
	}
}

// runTask processes one partition's batches in order, a stage per
// top-level processor.
func (r *runner) runTask(ctx context.Context, shard string, items <-chan taskItem) {
	// A stop request must not cut a batch in half: processing uses a context
	// that is not cancelled by it.
	ctx = context.WithoutCancel(ctx)
	if r.p.chain.Len() <= 1 {
		for item := range items {
			b := r.newTaskBatch(shard, item)
			r.finish(b, item.ack, r.p.chain.Process(ctx, b))
		}
		return
	}
	stages := make([]chan stagedBatch, r.p.chain.Len())
	for i := range stages {
		stages[i] = make(chan stagedBatch, 1)
	}
	var wg sync.WaitGroup
	for i := range stages {
		wg.Go(func() { r.runStage(ctx, i, stages) })
	}
	for item := range items {
		stages[0] <- stagedBatch{b: r.newTaskBatch(shard, item), ack: item.ack}
	}
	close(stages[0])
	wg.Wait()
}

// stagedBatch is a batch between two stages of a task; err is the failure
// of a stage before, which the later ones pass on.
type stagedBatch struct {
	b   *Batch
	ack *batchAck
	err error
}

// runStage runs step i over the batches of its stage, handing each to the
// next stage, or, after the last step, to the outputs.
func (r *runner) runStage(ctx context.Context, i int, stages []chan stagedBatch) {
	last := i == len(stages)-1
	if !last {
		defer close(stages[i+1])
	}
	for sb := range stages[i] {
		if sb.err == nil {
			sb.err = r.p.chain.processStep(ctx, i, sb.b)
		}
		if last {
			r.finish(sb.b, sb.ack, sb.err)
		} else {
			stages[i+1] <- sb
		}
	}
}

// newTaskBatch makes the batch the chain runs over. A value that its input's
// codec cannot read fails here, at intake, rather than when (or if) a
// processor first looks at it: a JSON input never passes invalid JSON on.
func (r *runner) newTaskBatch(shard string, item taskItem) *Batch {
	b := newBatch(item.records, len(r.p.outputs))
	b.Partition = shard
	b.step = item.input
	kept := item.records[:0]
	for i, rec := range item.records {
		rec.seq = int32(i)
		if err := rec.checkDecodable(); err != nil {
			b.Fail(rec, err)
			continue
		}
		kept = append(kept, rec)
	}
	b.Records = kept
	b.step = ""
	return b
}

// finish sends a processed batch to its outputs, or fails the run when
// processing it failed.
func (r *runner) finish(b *Batch, ack *batchAck, err error) {
	if err != nil {
		r.failBatch(ack, err)
		return
	}
	r.dispatch(b, ack)
	r.commitIfCacheFull()
}
