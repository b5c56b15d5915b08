package kafkaclient

import (
	"context"

	"github.com/twmb/franz-go/pkg/kgo"
)

// A group consumer's Close waits for the group's loop, and that loop may be
// in a JoinGroup the coordinator holds until the rebalance completes: up
// to the rebalance timeout (45 s by default) while the group waits for a
// member that crashed. franz-go sends the join under the client's own
// context, so canceling that context first lets Close return at once. Only
// a clean leave is lost, which a static member does not send anyway, and
// the engine commits before it closes inputs.

// Interruptible is a client option whose context interrupt cancels: call
// interrupt just before Close so that Close does not wait for a join.
func Interruptible() (opt kgo.Opt, interrupt func()) {
	ctx, cancel := context.WithCancel(context.Background())
	return kgo.WithContext(ctx), cancel
}
