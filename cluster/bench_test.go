package cluster

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BenchmarkTenNodes simulates a cluster of ten nodes in one process, on
// one embedded NATS server, with clientsPerNode real TCP clients on each
// that logged linesPerClient entries (one in ten matching "error"), and
// times, from one node's admin port, a CLUSTER CLIENTS (every client of
// the cluster, text) and a CLUSTER GREP (the newest 1000 matches of the
// cluster's 10,000, text and JSON).
//
//	go test -run '^$' -bench TenNodes -benchtime 20x ./cluster/
func BenchmarkTenNodes(b *testing.B) {
	const nodes, clientsPerNode, linesPerClient = 10, 100, 100
	ns := startNATS(b, 0)
	var tns []*testNode
	for i := range nodes {
		tns = append(tns, startNode(b, "node"+strconv.Itoa(i), ns.ClientURL(), func(c *Config) { c.Timeout = 5 * time.Second }))
	}
	waitPeers(b, tns...)
	for _, tn := range tns {
		for c := range clientsPerNode {
			dc := dialData(b, tn.data(), fmt.Sprintf("%s-client%03d", tn.name, c))
			lines := make([]string, linesPerClient)
			for l := range lines {
				word := "info"
				if l%10 == 0 {
					word = "error"
				}
				lines[l] = fmt.Sprintf("LOG %s line %d of client %d: something happened", word, l, c)
			}
			dc.send(b, lines...)
		}
	}
	a := dialAdmin(b, tns[0].admin())
	poll(b, 60*time.Second, func() bool {
		_, d := a.do(b, "CLUSTER STATS")
		total := 0
		for _, l := range d {
			if v, ok := strings.CutPrefix(l, "lines_total "); ok {
				n, _ := strconv.Atoi(v)
				total += n
			}
		}
		return total == nodes*clientsPerNode*linesPerClient
	})
	j := dialAdmin(b, tns[0].admin())
	j.doJSON(b, "FORMAT json")
	b.Run("CLIENTS", func(b *testing.B) {
		for b.Loop() {
			if head, d := a.do(b, "CLUSTER CLIENTS"); head != "OK 1000" || len(d) != 1000 {
				b.Fatalf("%q, %d lines", head, len(d))
			}
		}
	})
	b.Run("GREP", func(b *testing.B) {
		for b.Loop() {
			if head, d := a.do(b, "CLUSTER GREP error"); head != "OK 1000" || len(d) != 1000 {
				b.Fatalf("%q, %d lines", head, len(d))
			}
		}
	})
	b.Run("GREP-all-10000", func(b *testing.B) {
		for b.Loop() {
			if head, d := a.do(b, "CLUSTER GREP error limit=10000"); head != "OK 10000" || len(d) != 10000 {
				b.Fatalf("%q, %d lines", head, len(d))
			}
		}
	})
	b.Run("GREP-json", func(b *testing.B) {
		for b.Loop() {
			if l := j.doJSON(b, "CLUSTER GREP error"); !strings.HasPrefix(l, `{"missing":[],"items":[[`) {
				b.Fatalf("%.100s", l)
			}
		}
	})
}
