package bench

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// printTables prints one table per load, with ratios to logatron.
func printTables(w io.Writer, rep *Report) {
	fmt.Fprintf(w, "\nmachine: %s, %s cpus, %s, %s, Go %s; scale %g\n",
		rep.Machine["cpu"], rep.Machine["cpus"], rep.Machine["memory"], rep.Machine["kernel"], rep.Machine["go"], rep.Scale)
	for name, why := range rep.Skipped {
		fmt.Fprintf(w, "skipped %s: %s\n", name, why)
	}
	for _, ld := range rep.Loads {
		rows := rowsOf(rep, ld.ID)
		if len(rows) == 0 {
			continue
		}
		runs := "1 run each"
		if rows[0].Runs > 1 {
			runs = fmt.Sprintf("median of %d runs", rows[0].Runs)
		}
		fmt.Fprintf(w, "\n(%s) %s — %s\n", ld.ID, ld.Title, runs)
		if ld.ID == "c" {
			fmt.Fprintf(w, "    sent/s is the generator's pace (%s/s asked): below it, the generator could not keep its pace on this machine\n", human(ld.Rate))
		}
		if ld.Conns != nominalConns(ld.ID) || ld.Lines != nominalLines(ld.ID) {
			fmt.Fprintf(w, "    scaled: %d connections, %d lines each\n", ld.Conns, ld.Lines)
		}
		base := find(rep, ld.ID, "logatron")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		switch {
		case ld.ID == "c":
			fmt.Fprintln(tw, "server\tsent/s\tstored/s\tserver CPU %\tPING p50\tPING p99\tCLIENTS p50\tCLIENTS p99\tRSS MiB\tgc_cpu\t")
			for _, s := range rows {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%.1f\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.Server, human(s.SentPerSec), human(s.LinesPerSec), s.CPUPercent,
					pingCell(s, s.PingP50), pingCell(s, s.PingP99), clientsCell(s, s.ClientsP50), clientsCell(s, s.ClientsP99),
					mib(s.RSS), gcCell(s), errCell(s))
			}
		case ld.Hold && ld.ID != "e":
			fmt.Fprintln(tw, "server\tclients\tidle RSS MiB\tRSS MiB\tKiB/client\tx logatron\theap MiB\tgc_cpu\tPING p99\tCLIENTS p50\tCLIENTS p99\t")
			for _, s := range rows {
				fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%.2f\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.Server, s.Conns, mib(s.IdleRSS), mib(s.RSS),
					s.PerClientBytes/1024, ratio(s.PerClientBytes, base, func(b *Summary) float64 { return b.PerClientBytes }),
					mib(s.HeapBytes), gcCell(s), pingCell(s, s.PingP99), clientsCell(s, s.ClientsP50), clientsCell(s, s.ClientsP99), errCell(s))
			}
		case ld.ID == "e":
			fmt.Fprintln(tw, "server\tclients\tconnect+identify s\tx logatron\tRSS MiB\t")
			for _, s := range rows {
				fmt.Fprintf(tw, "%s\t%d\t%.3f\t%s\t%s\t%s\n", s.Server, s.Conns, s.ConnectS,
					ratio(s.ConnectS, base, func(b *Summary) float64 { return b.ConnectS }), mib(s.RSS), errCell(s))
			}
		default:
			fmt.Fprintln(tw, "server\tlines/s\tx logatron\tMB/s\tserver CPU-s\tlines/CPU-s\tx logatron\tCPU %\tRSS MiB\tPING p99\tCLIENTS p99\t")
			for _, s := range rows {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%.0f\t%.2f\t%s\t%s\t%.0f\t%s\t%s\t%s\t%s\n", s.Server, human(s.LinesPerSec),
					ratio(s.LinesPerSec, base, func(b *Summary) float64 { return b.LinesPerSec }), s.MBPerSec,
					s.CPUSeconds, human(s.LinesPerCPU), ratio(s.LinesPerCPU, base, func(b *Summary) float64 { return b.LinesPerCPU }),
					s.CPUPercent, mib(s.RSS), pingCell(s, s.PingP99), clientsCell(s, s.ClientsP99), errCell(s))
			}
		}
		_ = tw.Flush()
	}
}

func rowsOf(rep *Report, load string) []Summary {
	var out []Summary
	for _, s := range rep.Summary {
		if s.Load == load {
			out = append(out, s)
		}
	}
	return out
}

func nominalConns(id string) int {
	switch id {
	case "a":
		return 100
	case "b":
		return 1000
	case "e":
		return 19000
	}
	return 10000
}

func nominalLines(id string) int {
	switch id {
	case "a":
		return 100000
	case "b":
		return 10000
	case "d":
		return 128
	case "f":
		return 1000
	}
	return 0
}

func mib(b int64) string { return fmt.Sprintf("%.1f", float64(b)/(1<<20)) }

func ratio(v float64, base *Summary, of func(*Summary) float64) string {
	if base == nil || of(base) == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2fx", v/of(base))
}

func clientsCell(s Summary, v float64) string {
	switch {
	case s.ClientsCount == 0 && s.ClientsNote != "":
		return "n/a"
	case s.ClientsCount == 0:
		return "-"
	}
	return fmtMs(v)
}

func pingCell(s Summary, v float64) string {
	if s.PingCount == 0 {
		return "-"
	}
	return fmtMs(v)
}

func gcCell(s Summary) string {
	if s.Server == "redis" {
		return "-"
	}
	return fmt.Sprintf("%.2f%%", 100*s.GCCPUFraction)
}

func errCell(s Summary) string {
	if s.Err == "" {
		return ""
	}
	e := s.Err
	if len(e) > 60 {
		e = e[:60] + "…"
	}
	return "ERROR: " + strings.ReplaceAll(e, "\t", " ")
}
