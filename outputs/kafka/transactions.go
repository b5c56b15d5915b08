package kafka

import (
	"fmt"
	"slices"
	"strings"

	"github.com/pipelinehq/pipeline/engine"
	"github.com/pipelinehq/pipeline/internal/kafkatxn"
)

// Under exactly-once the output writes through the pipeline's transactional
// session: its records commit with the input's offsets or not at all. The
// session is one producer for every output, so linger, batch size,
// compression and max_in_flight of the output do not apply then.

// Cluster names the brokers the output writes to.
func (o *Output) Cluster() string {
	brokers := slices.Clone(o.conn.Brokers)
	slices.Sort(brokers)
	return strings.Join(brokers, ",")
}

// WriteThrough makes the output produce through the session.
func (o *Output) WriteThrough(t engine.Transactions) error {
	session, ok := t.(*kafkatxn.Session)
	if !ok {
		return fmt.Errorf("a kafka output writes only through a Kafka transactional session, not %T", t)
	}
	o.txn = session
	return nil
}
