package web

import (
	"context"
	"strconv"

	"github.com/logatron/logatron/loop"
	"github.com/prometheus/client_golang/prometheus"
)

// collector exposes STATS as Prometheus metrics, read from the loop at
// scrape time, so the metrics and STATS can never disagree.
type collector struct {
	srv   *loop.Server
	descs map[string]*prometheus.Desc
	info  *prometheus.Desc
	up    *prometheus.Desc
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
}

func newCollector(srv *loop.Server) *collector {
	c := &collector{srv: srv, descs: map[string]*prometheus.Desc{}}
	for field, m := range metricNames {
		c.descs[field] = prometheus.NewDesc(m.name, m.help, nil, nil)
	}
	c.info = prometheus.NewDesc("logatron_build_info", "Always 1; the version is a label.", []string{"version"}, nil)
	c.up = prometheus.NewDesc("logatron_up", "1 when the event loop answered this scrape.", nil, nil)
	return c
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
	ch <- c.info
	ch <- c.up
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	st, err := c.srv.Stats(context.Background())
	if err != nil {
		ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 1)
	ch <- prometheus.MustNewConstMetric(c.info, prometheus.GaugeValue, 1, st.Version)
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
