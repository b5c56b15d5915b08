package kafka

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
)

// A Kafka input is a static member of its group (KIP-345) unless told
// otherwise: its group.instance.id survives a restart, so a restarted
// instance replaces its old member at once and gets its partitions back,
// instead of joining as a new member while the group waits for the old one
// (dead after a SIGKILL) to time out. The id must therefore be the same
// after a restart and differ between instances running at once: two
// members with one id fence each other.
//
// Under exactly-once the id is the transactional id, which only one
// instance can hold (InitProducerID fences any other); otherwise it is the
// instance's name (the pipeline's name, the host and a hash of the state
// directory, engine.Resources.Instance) and a hash of the input's place in
// the config.

// instanceIDUnsafe is what Kafka does not take in a group instance id (the
// rules of a topic name).
var instanceIDUnsafe = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// maxInstanceIDLength is the longest group instance id Kafka takes.
const maxInstanceIDLength = 249

// checkInstanceID tells what Kafka would refuse in a configured id.
func checkInstanceID(id string) error {
	switch {
	case id == "." || id == "..":
		return fmt.Errorf("%q cannot be a group instance id", id)
	case len(id) > maxInstanceIDLength:
		return fmt.Errorf("is %d characters long; Kafka takes at most %d", len(id), maxInstanceIDLength)
	case instanceIDUnsafe.MatchString(id):
		return fmt.Errorf("%q holds %q: Kafka takes only ASCII letters, digits, '.', '_' and '-'", id, instanceIDUnsafe.FindString(id))
	}
	return nil
}

// sessionInstanceID is the default id under exactly-once: the transactional
// id, made safe.
func sessionInstanceID(transactionalID string) string { return safeInstanceID(transactionalID) }

// defaultInstanceID is the default id of an input outside a session: the
// running instance's name (<pipeline>-<host>-<hash of its state directory>)
// and 8 hex digits of the input's path, as a pipeline may have several
// kafka inputs in one group.
func defaultInstanceID(instance, inputPath string) string {
	sum := sha256.Sum256([]byte(inputPath))
	return safeInstanceID(instance + "-" + hex.EncodeToString(sum[:4]))
}

// safeInstanceID replaces what Kafka does not take and keeps the end of an
// id too long, where the parts that tell instances apart are.
func safeInstanceID(id string) string {
	id = instanceIDUnsafe.ReplaceAllString(id, "-")
	if len(id) > maxInstanceIDLength {
		id = id[len(id)-maxInstanceIDLength:]
	}
	if id == "." || id == ".." || id == "" {
		id = "pipeline"
	}
	return id
}
