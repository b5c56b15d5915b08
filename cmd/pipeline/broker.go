package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kfake"
)

func (c *cli) brokerCommand() *cobra.Command {
	var addr, dataDir string
	var partitions int
	cmd := &cobra.Command{
		Use:   "broker",
		Short: "Start an in-process Kafka broker for development",
		Long: `Broker starts a single-process Kafka-compatible broker (franz-go's kfake) for
trying pipelines without a Kafka installation. Topics are created on first
use. Without --data-dir they live in memory.

With --data-dir, only a clean stop (Ctrl-C, SIGTERM) keeps data: the broker
saves its topics to the directory as it stops and loads them at the next
start. A broker that is killed (SIGKILL, a crash, the OOM killer) loses
every topic created since it started, with all of its records, although it
acknowledged them; and nothing is synced to disk, so a power loss may lose
any record. It is a development broker: run real Kafka where data must
survive.

It runs until interrupted (Ctrl-C, SIGTERM).`,
		Example: `  pipeline broker
  pipeline broker --addr 127.0.0.1:19092 --data-dir ./kafka-data
  KAFKA_BROKERS=127.0.0.1:9092 pipeline run -c pipelines/wordcount-kafka.yaml
  kcat -b 127.0.0.1:9092 -L`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			host, portText, err := net.SplitHostPort(addr)
			port, perr := strconv.Atoi(portText)
			if err != nil || perr != nil || port < 0 || port > 65535 {
				fmt.Fprintf(c.stderr, "error: --addr %q: want host:port\n", addr)
				return exitError{exitUsage}
			}
			opts := []kfake.Opt{
				kfake.NumBrokers(1),
				kfake.Ports(port),
				kfake.AllowAutoTopicCreation(),
				kfake.DefaultNumPartitions(partitions),
				kfake.ListenFn(func(network, _ string) (net.Listener, error) {
					return net.Listen(network, net.JoinHostPort(host, strconv.Itoa(port)))
				}),
			}
			if dataDir != "" {
				if err := os.MkdirAll(dataDir, 0o755); err != nil {
					fmt.Fprintf(c.stderr, "error: --data-dir: %v\n", err)
					return exitError{exitFailure}
				}
				opts = append(opts, kfake.DataDir(dataDir))
			}
			cluster, err := kfake.NewCluster(opts...)
			if err != nil {
				fmt.Fprintf(c.stderr, "error: starting the broker: %v\n", err)
				return exitError{exitFailure}
			}
			defer cluster.Close()
			listen := cluster.ListenAddrs()[0]
			storage := "in memory: topics are gone when it stops"
			if dataDir != "" {
				storage = "in " + dataDir + ", saved when it stops cleanly: a kill loses the topics created since the start"
			}
			fmt.Fprintf(c.stdout, `development Kafka broker listening on %s (topics %s)
  pipelines: KAFKA_BROKERS=%s pipeline run -c pipelines/wordcount-kafka.yaml
  kcat:      kcat -b %s -L
stop it with Ctrl-C
`, listen, storage, listen, listen)
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			<-ctx.Done()
			fmt.Fprintln(c.stdout, "broker stopped")
			return nil
		},
	}
	cmd.Flags().StringVar(&addr, "addr", "127.0.0.1:9092", "host:port to listen on")
	cmd.Flags().StringVar(&dataDir, "data-dir", "", "save topics in this directory when the broker stops cleanly (Ctrl-C, SIGTERM), and load them at start; a kill loses what was created since the start")
	cmd.Flags().IntVar(&partitions, "partitions", 1, "partitions of topics created on first use")
	return cmd
}
