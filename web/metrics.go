package web

import (
	"context"
	"runtime"
	"runtime/debug"
	"strconv"

	"github.com/logatron/logatron/loop"
	"github.com/logatron/logatron/store"
	"github.com/prometheus/client_golang/prometheus"
)

// collector exposes STATS as Prometheus metrics, read from the loop at
// scrape time, so the metrics and STATS can never disagree.
type collector struct {
	srv       *loop.Server
	descs     map[string]*prometheus.Desc
	info      *prometheus.Desc
	up        *prometheus.Desc
	rejected  *prometheus.Desc
	closed    *prometheus.Desc
	durations *prometheus.Desc
	build     [2]string // VCS revision and Go version, read once
}

// metricNames maps STATS fields to conventional metric names (base units,
// _total on counters).
var metricNames = map[string]struct{ name, help string }{
	"uptime_s":               {"logatron_uptime_seconds", "Seconds since the server started."},
	"clients":                {"logatron_clients", "Identified clients connected now."},
	"max_clients":            {"logatron_max_clients", "Data connections allowed at once."},
	"clients_total":          {"logatron_identified_total", "Successful IAMs since start."},
	"rejected_total":         {"logatron_rejected_total", "Connections closed with a fatal ERR since start."},
	"lines_total":            {"logatron_lines_total", "LOG lines received since start (truncated ones included)."},
	"bytes_total":            {"logatron_received_bytes_total", "Bytes received from identified clients on the data port since start."},
	"errors_total":           {"logatron_errors_total", "Non-fatal client errors since start."},
	"truncated_total":        {"logatron_truncated_total", "LOG lines stored truncated since start."},
	"admin_connections":      {"logatron_admin_connections", "Admin connections open now."},
	"watchers":               {"logatron_watchers", "Event watchers now (admin WATCH, WebSocket, Go subscribers)."},
	"watchers_dropped_total": {"logatron_watchers_dropped_total", "Watchers dropped for falling behind since start."},
	"heap_bytes":             {"logatron_heap_bytes", "Bytes of live and unswept heap objects."},
	"gc_cpu_fraction":        {"logatron_gc_cpu_fraction", "Share of the process's CPU time spent in GC since start."},
	"closed_clients":         {"logatron_closed_clients", "Clients whose connection ended, kept now (retention)."},
	"forgotten_total":        {"logatron_forgotten_total", "Closed clients removed since start: by time, count, FORGET or memory."},
	"store_bytes":            {"logatron_store_bytes", "Ring and state bytes of every client held."},
	"max_memory":             {"logatron_max_memory_bytes", "The budget store_bytes stays under (-max-memory)."},
	"evicted_total":          {"logatron_evicted_total", "Entries evicted to stay under -max-memory since start."},
	"log_dropped_total":      {"logatron_log_dropped_total", "Lines of the server's own log dropped since start (stalled stderr)."},
	"nats_dropped_total":     {"logatron_nats_dropped_total", "Events not published to NATS since start (queue full or NATS away)."},
	"sets_total":             {"logatron_sets_total", "SET lines stored since start."},
}

func newCollector(srv *loop.Server) *collector {
	c := &collector{srv: srv, descs: map[string]*prometheus.Desc{}}
	for field, m := range metricNames {
		c.descs[field] = prometheus.NewDesc(m.name, m.help, nil, nil)
	}
	c.info = prometheus.NewDesc("logatron_build_info", "Always 1; the version, VCS revision and Go version are labels.", []string{"version", "revision", "goversion"}, nil)
	c.up = prometheus.NewDesc("logatron_up", "1 when the event loop answered this scrape.", nil, nil)
	c.rejected = prometheus.NewDesc("logatron_rejected_by_reason_total", "Connections closed with a fatal ERR since start, by reason.", []string{"reason"}, nil)
	c.closed = prometheus.NewDesc("logatron_closed_by_reason_total", "Connections of identified clients that ended since start, by close_reason (error: <text> counts as error).", []string{"reason"}, nil)
	c.durations = prometheus.NewDesc("logatron_connection_duration_seconds", "How long identified clients' connections lasted.", nil, nil)
	c.build = [2]string{"unknown", runtime.Version()}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, kv := range bi.Settings {
			if kv.Key == "vcs.revision" {
				c.build[0] = kv.Value
			}
		}
	}
	return c
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
	ch <- c.info
	ch <- c.up
	ch <- c.rejected
	ch <- c.closed
	ch <- c.durations
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	st, err := c.srv.Stats(context.Background())
	if err != nil {
		ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 1)
	ch <- prometheus.MustNewConstMetric(c.info, prometheus.GaugeValue, 1, st.Version, c.build[0], c.build[1])
	if m, err := c.srv.Metrics(context.Background()); err == nil {
		for i, r := range loop.RejectReasons {
			ch <- prometheus.MustNewConstMetric(c.rejected, prometheus.CounterValue, float64(m.RejectedBy[i]), r)
		}
		for i, r := range store.CloseReasons {
			ch <- prometheus.MustNewConstMetric(c.closed, prometheus.CounterValue, float64(m.Closes.ByReason[i]), r)
		}
		buckets := make(map[float64]uint64, len(store.DurationBuckets))
		n := uint64(0)
		for i, b := range store.DurationBuckets {
			n += m.Closes.Durations[i]
			buckets[b] = n
		}
		n += m.Closes.Durations[len(store.DurationBuckets)]
		ch <- prometheus.MustNewConstHistogram(c.durations, n, m.Closes.Seconds, buckets)
	}
	for _, f := range st.Fields() {
		d, ok := c.descs[f.Name]
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(f.Value, 64)
		if err != nil {
			continue
		}
		kind := prometheus.GaugeValue
		if f.Counter {
			kind = prometheus.CounterValue
		}
		ch <- prometheus.MustNewConstMetric(d, kind, v)
	}
}
