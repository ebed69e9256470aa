package bench

import (
	"bytes"
	"fmt"
	"html"
	"math"
	"slices"
)

// chartStyle gives each server a colour and a dash pattern that stays
// distinguishable in grey print.
var chartStyle = map[string]struct{ color, dash string }{
	"logatron":  {"#d62728", ""},
	"goroutine": {"#1f77b4", "8 4"},
	"ceiling":   {"#555555", "2 4"},
	"redis":     {"#2ca02c", "12 4 2 4"},
}

type chartPoint struct{ x, y float64 }

// chartSVG draws lines/s (y, linear) against connections (x, log scale),
// one line per server, from the loads marked Chart.
func chartSVG(rep *Report) []byte {
	const (
		w, h                     = 760, 460
		left, right, top, bottom = 80, 170, 60, 60
	)
	pw, ph := float64(w-left-right), float64(h-top-bottom)
	series := map[string][]chartPoint{}
	var xs []float64
	maxY := 0.0
	for _, ld := range rep.Loads {
		if !ld.Chart {
			continue
		}
		for _, name := range rep.Servers {
			s := find(rep, ld.ID, name)
			if s == nil || s.LinesPerSec <= 0 {
				continue
			}
			series[name] = append(series[name], chartPoint{float64(ld.Conns), s.LinesPerSec})
			xs = append(xs, float64(ld.Conns))
			maxY = max(maxY, s.LinesPerSec)
		}
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="Helvetica, Arial, sans-serif" font-size="13">`+"\n", w, h, w, h)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", w, h)
	fmt.Fprintf(&b, `<text x="%d" y="24" font-size="16" font-weight="bold">Lines stored per second against connections</text>`+"\n", left)
	runs := ""
	if rep.Repeat > 1 {
		runs = fmt.Sprintf("; median of %d runs", rep.Repeat)
	}
	sub := fmt.Sprintf("64-byte LOG lines, 64 per write; server-confirmed%s; %s cores: %s", runs, rep.Machine["cpus"], rep.Machine["cpu"])
	fmt.Fprintf(&b, `<text x="%d" y="42" font-size="11" fill="#444">%s</text>`+"\n", left, html.EscapeString(sub))
	if len(xs) == 0 {
		fmt.Fprintf(&b, `<text x="%d" y="%d">no throughput load (a, b or f) was run</text></svg>`+"\n", left, top+40)
		return b.Bytes()
	}

	// x: log10, the data's range and a margin of a tenth of it (at least a
	// tenth of a decade) on each side, so no point sits on the frame.
	lo, hi := math.Log10(slices.Min(xs)), math.Log10(slices.Max(xs))
	margin := math.Max(0.1, (hi-lo)/10)
	x0, x1 := lo-margin, hi+margin
	px := func(x float64) float64 { return float64(left) + (math.Log10(x)-x0)/(x1-x0)*pw }
	// y: linear from 0 to a round maximum.
	step := niceStep(maxY / 5)
	y1 := math.Ceil(maxY*1.05/step) * step
	py := func(y float64) float64 { return float64(top) + ph - y/y1*ph }

	// Grid and ticks.
	fmt.Fprintf(&b, `<g stroke="#ddd" stroke-width="1">`+"\n")
	for y := 0.0; y <= y1+step/2; y += step {
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f"/>`+"\n", left, py(y), w-right, py(y))
	}
	for d := math.Ceil(x0); d <= x1; d++ {
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d"/>`+"\n", px(math.Pow(10, d)), top, px(math.Pow(10, d)), h-bottom)
	}
	fmt.Fprintf(&b, "</g>\n")
	// Minor x ticks (2..9 of each decade).
	fmt.Fprintf(&b, `<g stroke="#999" stroke-width="1">`+"\n")
	for d := math.Floor(x0); d <= x1; d++ {
		for m := 2.0; m <= 9; m++ {
			v := m * math.Pow(10, d)
			if l := math.Log10(v); l >= x0 && l <= x1 {
				fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d"/>`+"\n", px(v), h-bottom, px(v), h-bottom+4)
			}
		}
	}
	fmt.Fprintf(&b, "</g>\n")
	fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.0f" height="%.0f" fill="none" stroke="#333"/>`+"\n", left, top, pw, ph)
	for y := 0.0; y <= y1+step/2; y += step {
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n", left-6, py(y)+4, yLabel(y, step))
	}
	for d := math.Ceil(x0); d <= x1; d++ {
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", px(math.Pow(10, d)), h-bottom+18, commas(int64(math.Pow(10, d))))
	}
	fmt.Fprintf(&b, `<text x="%.0f" y="%d" text-anchor="middle">connections (log scale)</text>`+"\n", float64(left)+pw/2, h-16)
	fmt.Fprintf(&b, `<text transform="translate(20 %.0f) rotate(-90)" text-anchor="middle">lines stored per second (millions)</text>`+"\n", float64(top)+ph/2)

	// Series and legend, in the servers' order.
	ly := top + 10
	for _, name := range rep.Servers {
		pts := series[name]
		if len(pts) == 0 {
			continue
		}
		slices.SortFunc(pts, func(a, b chartPoint) int { return int(a.x - b.x) })
		st, ok := chartStyle[name]
		if !ok {
			st.color = "#9467bd"
		}
		width := 2.0
		if name == "logatron" {
			width = 3
		}
		var path bytes.Buffer
		for i, p := range pts {
			cmd := "L"
			if i == 0 {
				cmd = "M"
			}
			fmt.Fprintf(&path, "%s%.1f %.1f ", cmd, px(p.x), py(p.y))
		}
		dash := ""
		if st.dash != "" {
			dash = fmt.Sprintf(` stroke-dasharray="%s"`, st.dash)
		}
		fmt.Fprintf(&b, `<path d="%s" fill="none" stroke="%s" stroke-width="%.0f"%s/>`+"\n", bytes.TrimSpace(path.Bytes()), st.color, width, dash)
		for _, p := range pts {
			fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="4" fill="%s"><title>%s: %s connections, %s lines/s</title></circle>`+"\n",
				px(p.x), py(p.y), st.color, name, commas(int64(p.x)), human(p.y))
		}
		lx := w - right + 16
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="%.0f"%s/>`+"\n", lx, ly, lx+30, ly, st.color, width, dash)
		fmt.Fprintf(&b, `<circle cx="%d" cy="%d" r="4" fill="%s"/>`+"\n", lx+15, ly, st.color)
		fmt.Fprintf(&b, `<text x="%d" y="%d">%s</text>`+"\n", lx+38, ly+4, html.EscapeString(name))
		ly += 22
	}
	fmt.Fprintf(&b, "</svg>\n")
	return b.Bytes()
}

// niceStep rounds v up to 1, 2 or 5 times a power of ten.
func niceStep(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

// yLabel prints a lines/s tick in millions.
func yLabel(y, step float64) string {
	if step >= 1e6 {
		return fmt.Sprintf("%.0f", y/1e6)
	}
	dec := int(math.Max(0, math.Ceil(-math.Log10(step/1e6))))
	return fmt.Sprintf("%.*f", dec, y/1e6)
}

func commas(n int64) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
