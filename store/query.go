package store

import (
	"cmp"
	"slices"

	"github.com/logatron/logatron/query"
)

// Queries over the whole store run in bounded slices: the caller takes a
// Cursor, asks for the next slice on the store's goroutine, and does the
// rest (sorting, rendering, writing) elsewhere, so no slice holds up ingest
// for long however much the store holds. Clients are kept sorted by name
// (byName), which gives every scan a stable position between slices:
// the name it stopped after.

// index adds cl to the sorted name index.
func (s *Store) index(cl *Client) {
	i, _ := slices.BinarySearchFunc(s.byName, cl.name, byClientName)
	s.byName = slices.Insert(s.byName, i, cl)
}

// unindex removes cl from the sorted name index.
func (s *Store) unindex(cl *Client) {
	if i, ok := slices.BinarySearchFunc(s.byName, cl.name, byClientName); ok {
		s.byName = slices.Delete(s.byName, i, i+1)
	}
}

func byClientName(cl *Client, name string) int { return cmp.Compare(cl.name, name) }

// Filter selects clients by name and status. Make it with NewFilter.
type Filter struct {
	glob  query.Glob
	any   bool // no glob: every name
	which Which
}

// NewFilter selects the clients of status w whose name matches glob (""
// matches every name).
func NewFilter(glob string, w Which) Filter {
	return Filter{glob: query.NewGlob(glob), any: glob == "", which: w}
}

// Has reports whether f selects cl.
func (f *Filter) Has(cl *Client) bool {
	return f.which.Has(cl) && (f.any || f.glob.Match(cl.name))
}

// Cursor is a scan's position between slices: the name it stopped after.
type Cursor struct {
	After string // resume after this name ("" at the start)
	Done  bool   // the scan has passed the last client
}

// Scan visits, in name order, the clients f selects whose name sorts after
// c.After, calling visit for each until it returns false or the budget of
// clients looked at runs out, and moves c past the last one visited. It
// costs O(log n + budget).
func (s *Store) Scan(c *Cursor, f *Filter, budget int, visit func(cl *Client) bool) {
	if c.Done {
		return
	}
	i := 0
	if c.After != "" {
		i, _ = slices.BinarySearchFunc(s.byName, c.After, byClientName)
		if i < len(s.byName) && s.byName[i].name == c.After {
			i++
		}
	}
	prefix := ""
	if !f.any {
		prefix = f.glob.Prefix()
	}
	if j, _ := slices.BinarySearchFunc(s.byName, prefix, byClientName); j > i {
		i = j
	}
	for ; i < len(s.byName) && budget > 0; i++ {
		cl := s.byName[i]
		if len(cl.name) < len(prefix) || cl.name[:len(prefix)] > prefix {
			break // past every name the glob's literal prefix allows
		}
		budget--
		c.After = cl.name
		if f.Has(cl) && !visit(cl) {
			return
		}
	}
	if budget > 0 || i == len(s.byName) {
		c.Done = true
	}
}

// Entries selects a client's entries: the newest Last (0: all) of those
// with Since <= ts <= Until whose message Match matches.
type Entries struct {
	Since, Until int64 // Unix ms, inclusive
	Match        query.Matcher
	Last         int
}

// EveryEntry selects every entry.
func EveryEntry() Entries { return Entries{Since: minTime, Until: maxTime} }

const (
	minTime = -1 << 63
	maxTime = 1<<63 - 1
)

// LogOf copies the entries q selects, oldest first. It costs one pass over
// the ring (at most buffer entries and buffer-bytes bytes).
func (cl *Client) LogOf(q *Entries) query.Log {
	if q.Since == minTime && q.Until == maxTime && q.Match.Regexp() == nil {
		n := q.Last
		if n <= 0 {
			n = -1
		}
		return cl.Log(n)
	}
	// Offsets of the selected entries, then the newest Last of them.
	var picked []int
	k := 0
	cl.ring.Range(0, func(ts int64, msg []byte) bool {
		if ts >= q.Since && ts <= q.Until && q.Match.Match(msg) {
			picked = append(picked, k)
		}
		k++
		return true
	})
	if q.Last > 0 && len(picked) > q.Last {
		picked = picked[len(picked)-q.Last:]
	}
	var l query.Log
	k, j := 0, 0
	cl.ring.Range(0, func(ts int64, msg []byte) bool {
		if j < len(picked) && picked[j] == k {
			l.Append(ts, msg)
			j++
		}
		k++
		return j < len(picked)
	})
	return l
}

// Grep is a GREP in progress: the hits so far, at most about twice the
// limit, with their messages copied into one buffer.
type Grep struct {
	Q     Entries
	Limit int
	hits  []query.Hit
	// msgs holds the hits' messages; a Hit's Msg is set from its span
	// only by Result, since msgs grows.
	msgs  []byte
	spans []int // hit i's message is msgs[spans[i]:spans[i+1]]
}

// Scan greps cl's entries into g; it returns how many entries it read.
func (g *Grep) Scan(cl *Client) int {
	n := 0
	cl.ring.Range(0, func(ts int64, msg []byte) bool {
		n++
		if ts >= g.Q.Since && ts <= g.Q.Until && g.Q.Match.Match(msg) {
			g.add(ts, cl.name, msg)
		}
		return true
	})
	return n
}

func (g *Grep) add(ts int64, name string, msg []byte) {
	if len(g.spans) == 0 {
		g.spans = append(g.spans, 0)
	}
	g.hits = append(g.hits, query.Hit{TS: ts, Name: name})
	g.msgs = append(g.msgs, msg...)
	g.spans = append(g.spans, len(g.msgs))
	if len(g.hits) >= 2*g.Limit+1024 {
		g.trim()
	}
}

// trim keeps the newest Limit hits.
func (g *Grep) trim() {
	for i := range g.hits {
		g.hits[i].Msg = g.msgs[g.spans[i]:g.spans[i+1]]
	}
	query.SortHits(g.hits)
	if drop := len(g.hits) - g.Limit; drop > 0 {
		g.hits = g.hits[drop:]
	}
	var msgs []byte
	spans := make([]int, 1, len(g.hits)+1)
	for i := range g.hits {
		msgs = append(msgs, g.hits[i].Msg...)
		spans = append(spans, len(msgs))
	}
	g.hits = slices.Clip(g.hits)
	g.msgs, g.spans = msgs, spans
}

// Result is the newest Limit hits in GREP order (oldest first; ties by
// name, then ring order).
func (g *Grep) Result() []query.Hit {
	if g.Limit <= 0 {
		return nil
	}
	g.trim()
	for i := range g.hits {
		g.hits[i].Msg = g.msgs[g.spans[i]:g.spans[i+1]]
	}
	return g.hits
}
