package lineio

import "github.com/pipelinehq/pipeline/engine"

const maxBlock = 1024

// Records hands out records from blocks allocated together, so that reading
// a batch costs a few allocations instead of one per record. A block stays
// alive while any of its records does.
type Records struct {
	block []engine.Record
	size  int
}

// New returns a record as engine.NewRecord makes it.
func (a *Records) New(value []byte, format engine.Format) *engine.Record {
	if len(a.block) == 0 {
		a.size = min(max(a.size*2, 16), maxBlock)
		a.block = make([]engine.Record, a.size)
	}
	r := &a.block[0]
	a.block = a.block[1:]
	*r = *engine.NewRecord(value, format)
	return r
}
