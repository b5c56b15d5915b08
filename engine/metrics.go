package engine

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics holds the engine's Prometheus collectors. It is made once per
// process and shared by every graph built, so counters continue across a
// reload.
type Metrics struct {
	Registry  *prometheus.Registry
	received  *prometheus.CounterVec
	sent      *prometheus.CounterVec
	errors    *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	inFlight  prometheus.Gauge
	committed *prometheus.CounterVec
	// Exactly-once.
	transactions *prometheus.CounterVec
	restored     prometheus.Counter
	restoring    prometheus.Gauge
	customMu     sync.Mutex
	custom       map[string]*prometheus.CounterVec
}

// NewMetrics registers the engine's collectors with reg.
func NewMetrics(reg *prometheus.Registry) *Metrics {
	labels := []string{"kind", "label", "path"}
	m := &Metrics{
		Registry: reg,
		received: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "pipeline_component_received_total",
			Help: "Records a component received."}, labels),
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "pipeline_component_sent_total",
			Help: "Records a component passed on (processors) or wrote (outputs)."}, labels),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "pipeline_component_errors_total",
			Help: "Records a component failed on, and failed writes."}, labels),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "pipeline_component_latency_seconds",
			Help: "Time a component took for one batch.", Buckets: prometheus.ExponentialBuckets(0.00001, 4, 12)}, labels),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{Name: "pipeline_in_flight_batches",
			Help: "Input batches read but not yet fully written."}),
		committed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "pipeline_input_commits_total",
			Help: "Position commits of an input."}, []string{"label"}),
		transactions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "pipeline_transactions_total",
			Help: "Transactions ended under exactly-once, by result: committed or aborted."}, []string{"result"}),
		restored: prometheus.NewCounter(prometheus.CounterOpts{Name: "pipeline_state_restored_records_total",
			Help: "Changelog records applied to local state while restoring it."}),
		restoring: prometheus.NewGauge(prometheus.GaugeOpts{Name: "pipeline_state_restoring",
			Help: "1 while local state is being restored from changelogs."}),
		custom: map[string]*prometheus.CounterVec{},
	}
	reg.MustRegister(m.received, m.sent, m.errors, m.latency, m.inFlight, m.committed, m.transactions, m.restored, m.restoring)
	return m
}

type componentMetrics struct {
	received, sent, errors prometheus.Counter
	latency                prometheus.Observer
}

func (m *Metrics) component(kind, label, path string) *componentMetrics {
	return &componentMetrics{
		received: m.received.WithLabelValues(kind, label, path),
		sent:     m.sent.WithLabelValues(kind, label, path),
		errors:   m.errors.WithLabelValues(kind, label, path),
		latency:  m.latency.WithLabelValues(kind, label, path),
	}
}

func (c *componentMetrics) observe(start time.Time, in, out, failed int) {
	c.latency.Observe(time.Since(start).Seconds())
	c.received.Add(float64(in))
	c.sent.Add(float64(out))
	if failed > 0 {
		c.errors.Add(float64(failed))
	}
}

// Counter returns a counter a component exports under its own name, labelled
// with the component's label and path.
func (m *Metrics) counter(name, help, label, path string) prometheus.Counter {
	m.customMu.Lock()
	defer m.customMu.Unlock()
	vec, ok := m.custom[name]
	if !ok {
		vec = prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, []string{"label", "path"})
		if err := m.Registry.Register(vec); err != nil {
			if are, ok := err.(prometheus.AlreadyRegisteredError); ok {
				vec = are.ExistingCollector.(*prometheus.CounterVec)
			} else {
				panic(err)
			}
		}
		m.custom[name] = vec
	}
	return vec.WithLabelValues(label, path)
}
