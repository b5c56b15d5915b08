package kafka

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// A record recordBatchBytes lets through is never failed by the producer
// for its size, near the limit too, and it does not reject much more than
// the producer would.
func TestRecordBatchBytesBoundsWhatTheProducerTakes(t *testing.T) {
	cluster := kfake.MustCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "sizes"))
	defer cluster.Close()
	const limit = 4096
	client, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...), kgo.ProducerBatchMaxBytes(limit), kgo.DefaultProduceTopic("sizes"))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	headers := []kgo.RecordHeader{{Key: "h", Value: []byte("v")}}
	largestTaken := 0
	for size := limit - 160; size <= limit; size++ {
		r := &kgo.Record{Key: []byte("key"), Value: []byte(strings.Repeat("x", size)), Headers: headers, Timestamp: time.Now()}
		bound := recordBatchBytes(r)
		err := client.ProduceSync(ctx, r).FirstErr()
		if bound <= limit && err != nil {
			t.Fatalf("a value of %d bytes: bound %d within the limit %d, but the producer failed it: %v", size, bound, limit, err)
		}
		if err == nil {
			largestTaken = size
		}
	}
	allowed := 0
	for size := limit - 160; size <= limit; size++ {
		if recordBatchBytes(&kgo.Record{Key: []byte("key"), Value: []byte(strings.Repeat("x", size)), Headers: headers}) <= limit {
			allowed = size
		}
	}
	if largestTaken-allowed > 16 {
		t.Fatalf("the producer took values up to %d bytes, the bound only up to %d", largestTaken, allowed)
	}
}
