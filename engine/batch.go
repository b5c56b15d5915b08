package engine

// Batch is the unit that moves through the processor chain: records of one
// input batch, and the routes and failures found while processing them.
type Batch struct {
	Records []*Record
	// Partition is the input partition the records came from; stateful
	// processors keep one state shard per partition. Empty for records
	// released at the end of input.
	Partition string
	outcome   *outcome
	// step is the path of the processor running, so failures name it.
	step string
}

type outcome struct {
	routed   [][]*Record // by output index
	failures []Failure
}

// Failure is a record a processor could not handle.
type Failure struct {
	Record    *Record
	Component string
	Err       error
}

// OutputRef names an output a branch may route to, resolved at build time.
type OutputRef struct {
	index int
	name  string
}

// Name is the output's name in the config.
func (o OutputRef) Name() string { return o.name }

func newBatch(records []*Record, outputs int) *Batch {
	return &Batch{Records: records, outcome: &outcome{routed: make([][]*Record, outputs)}}
}

// Fail takes a record out of the flow: it goes to the dead-letter output
// with err, or stops the pipeline, as the config's on_error says.
func (b *Batch) Fail(r *Record, err error) {
	b.outcome.failures = append(b.outcome.failures, Failure{Record: r, Component: b.step, Err: err})
}

// Route sends a record to a named output; it leaves the chain.
func (b *Batch) Route(out OutputRef, r *Record) {
	b.outcome.routed[out.index] = append(b.outcome.routed[out.index], r)
}

// Derive makes a batch of other records that shares this batch's routes and
// failures, for running a nested processor list (a branch case).
func (b *Batch) Derive(records []*Record) *Batch {
	return &Batch{Records: records, Partition: b.Partition, outcome: b.outcome, step: b.step}
}
