package engine

import (
	"context"
	"fmt"
	"time"
)

// Chain is an ordered list of processors.
type Chain struct {
	steps []*step
}

type step struct {
	proc        Processor
	label, path string
	metrics     *componentMetrics
}

// Process runs every processor over the batch in order.
func (c *Chain) Process(ctx context.Context, b *Batch) error {
	return c.processFrom(ctx, 0, b)
}

func (c *Chain) processFrom(ctx context.Context, from int, b *Batch) error {
	for i := from; i < len(c.steps); i++ {
		if len(b.Records) == 0 {
			return nil
		}
		if err := c.processStep(ctx, i, b); err != nil {
			return err
		}
	}
	return nil
}

// processStep runs the i-th processor over the batch.
func (c *Chain) processStep(ctx context.Context, i int, b *Batch) error {
	s := c.steps[i]
	if len(b.Records) == 0 {
		return nil
	}
	caller := b.step
	defer func() { b.step = caller }()
	in, failedBefore := len(b.Records), len(b.outcome.failures)
	b.step = s.path
	start := time.Now()
	if err := s.proc.Process(ctx, b); err != nil {
		return fmt.Errorf("%s: %w", s.path, err)
	}
	s.metrics.observe(start, in, len(b.Records), len(b.outcome.failures)-failedBefore)
	return nil
}

// Flush asks every processor that holds records back to release them, chunk
// by chunk. Each chunk runs through the processors after the one that
// released it and is handed to emit; chunks are made by newChunk.
func (c *Chain) Flush(ctx context.Context, newChunk func() *Batch, emit func(*Batch) error) error {
	for i, s := range c.steps {
		f, ok := s.proc.(Flusher)
		if !ok {
			continue
		}
		for more := true; more; {
			chunk := newChunk()
			chunk.step = s.path
			var err error
			if more, err = f.Flush(ctx, chunk); err != nil {
				return fmt.Errorf("%s: %w", s.path, err)
			}
			s.metrics.sent.Add(float64(len(chunk.Records)))
			if err := c.processFrom(ctx, i+1, chunk); err != nil {
				return err
			}
			if err := emit(chunk); err != nil {
				return err
			}
		}
	}
	return nil
}

// FlushInto is Flush for a nested chain (a branch case): every chunk's
// records, routes and failures are gathered into b.
func (c *Chain) FlushInto(ctx context.Context, b *Batch) error {
	return c.Flush(ctx, func() *Batch { return b.Derive(nil) }, func(chunk *Batch) error {
		b.Records = append(b.Records, chunk.Records...)
		return nil
	})
}

// Terminal reports whether no record can reach the end of the chain.
func (c *Chain) Terminal() bool {
	if len(c.steps) == 0 {
		return false
	}
	t, ok := c.steps[len(c.steps)-1].proc.(Terminal)
	return ok && t.Terminal()
}

// Len is the number of processors.
func (c *Chain) Len() int { return len(c.steps) }

// Start starts the processors that implement Starter.
func (c *Chain) Start(ctx context.Context) error {
	for _, s := range c.steps {
		if st, ok := s.proc.(Starter); ok {
			if err := st.Start(ctx); err != nil {
				return fmt.Errorf("%s: %w", s.path, err)
			}
		}
	}
	return nil
}

// Close closes the processors that implement Closer.
func (c *Chain) Close(ctx context.Context) error {
	var first error
	for _, s := range c.steps {
		if cl, ok := s.proc.(Closer); ok {
			if err := cl.Close(ctx); err != nil && first == nil {
				first = fmt.Errorf("%s: %w", s.path, err)
			}
		}
	}
	return first
}

// FlushState hands every StateFlusher processor's pending changes to the
// state stores.
func (c *Chain) FlushState() error {
	for _, s := range c.steps {
		if f, ok := s.proc.(StateFlusher); ok {
			if err := f.FlushState(); err != nil {
				return fmt.Errorf("%s: %w", s.path, err)
			}
		}
	}
	return nil
}
