package engine

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// Co-partitioning: a processor that joins two streams (Resources.
// CoPartition) needs both sides of a key in one task, with one state shard,
// as a Kafka Streams task holds partition N of every co-partitioned topic.
// Batches of the co-partitioned inputs therefore go to the task of their
// partition's number (NumberedPartitions; 0 for an input without numbered
// partitions), whichever input and topic they come from, in the order they
// were read. The shard is named after the inputs and the number.

// coPartitioning says which inputs share tasks by partition number.
type coPartitioning struct {
	inputs []bool // by input index; nil: none
	name   string // the co-partitioned inputs' labels joined by "+"
}

// coPartitioning resolves what the processors asked for.
func (b *builder) coPartitioning(p *Pipeline) coPartitioning {
	if !b.coPartitionAll && len(b.coPartitioned) == 0 {
		return coPartitioning{}
	}
	c := coPartitioning{inputs: make([]bool, len(p.inputs))}
	var labels []string
	for i, in := range p.inputs {
		if b.coPartitionAll || b.coPartitioned[in.label] {
			c.inputs[i] = true
			labels = append(labels, in.label)
		}
	}
	c.name = strings.Join(labels, "+")
	return c
}

func (c coPartitioning) includes(input int) bool { return c.inputs != nil && c.inputs[input] }

// taskKeyOf is the task a batch of an input's partition goes to.
func (r *runner) taskKeyOf(input int, partition string) taskKey {
	if !r.p.coPartition.includes(input) {
		return taskKey{input: input, partition: partition}
	}
	var n int32
	if np, ok := r.p.inputs[input].input.(NumberedPartitions); ok {
		n, _ = np.PartitionNumber(partition)
	}
	return taskKey{input: coPartitionedTask, partition: strconv.Itoa(int(n))}
}

// shardOf names the state shard of a task: the input's partition, or for
// co-partitioned inputs, their labels and the partition number.
func (r *runner) shardOf(key taskKey) string {
	if key.input == coPartitionedTask {
		return r.p.coPartition.name + "/" + key.partition
	}
	return StatePartition(r.p.inputs[key.input].path, key.partition)
}

// coPartitionedTask stands for the co-partitioned inputs in a taskKey.
const coPartitionedTask = -1

// checkCoPartitioning refuses to run co-partitioned inputs whose topics
// have different numbers of partitions: partition N of one would meet
// partition N of the other although their keys were spread differently.
// It runs once the inputs started.
func (r *runner) checkCoPartitioning(ctx context.Context) error {
	c := r.p.coPartition
	counts := map[string]int{} // "input: topic" → partitions
	for i, in := range r.p.inputs {
		if !c.includes(i) {
			continue
		}
		np, ok := in.input.(NumberedPartitions)
		if !ok {
			continue
		}
		per, err := np.PartitionCounts(ctx)
		if err != nil {
			return fmt.Errorf("%s: counting the partitions of its topics, which are co-partitioned with %s: %w", in.path, c.name, err)
		}
		for topic, n := range per {
			counts[fmt.Sprintf("topic %s (%s)", topic, in.path)] = n
		}
	}
	names := slices.Sorted(maps.Keys(counts))
	for _, name := range names[min(1, len(names)):] {
		if counts[name] != counts[names[0]] {
			return fmt.Errorf("%s has %d partitions and %s has %d: records joined by key must be partitioned alike (co-partitioned), "+
				"so their topics need the same number of partitions, and the same partitioner", names[0], counts[names[0]], name, counts[name])
		}
	}
	return nil
}
