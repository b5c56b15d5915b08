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
use. With --data-dir they are kept on disk and survive a restart; without it
they live in memory. It is a development tool: run real Kafka in production.

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
				storage = "in " + dataDir + ": topics survive a restart"
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
	cmd.Flags().StringVar(&dataDir, "data-dir", "", "keep topics in this directory, so they survive restarts")
	cmd.Flags().IntVar(&partitions, "partitions", 1, "partitions of topics created on first use")
	return cmd
}
