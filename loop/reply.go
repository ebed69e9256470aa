package loop

import (
	"io"
	"net"
	"slices"
	"time"

	"github.com/logatron/logatron/codec"
	"github.com/logatron/logatron/query"
)

// reply answers one admin request that reads the store or the connection's
// format (all but QUIT and WATCH). direct means we are on the loop and may
// read the store ourselves; otherwise the copy runs through onLoop. The
// answer is either out, a whole reply, or job, which renders a reply the
// loop has already copied: CLIENTS, NAMES, LOG and DUMP can be megabytes,
// and only their copy belongs on the loop.
func (r *responder) reply(req *codec.Request, direct bool) (out []byte, job func(io.Writer) error) {
	s := r.s
	f := query.Format(r.format.Load())
	run := func(fn func()) error {
		if direct {
			fn()
			return nil
		}
		return s.onLoop(fn)
	}
	fail := func(err error) ([]byte, func(io.Writer) error) {
		return query.AppendError(nil, f, err.Error()), nil
	}
	client := func(fn func(d *dataConn)) error {
		found := false
		err := run(func() {
			if d, ok := s.st.clients[req.Name]; ok {
				found = true
				fn(d)
			}
		})
		if err == nil && !found {
			err = &NoSuchClientError{Name: req.Name}
		}
		return err
	}
	write := func(b []byte) func(io.Writer) error {
		return func(w io.Writer) error { _, err := w.Write(b); return err }
	}

	switch req.Cmd {
	case codec.AdminPING:
		return query.AppendPong(nil, f), nil
	case codec.AdminHELP:
		return query.AppendStrings(nil, f, codec.AdminHelp), nil
	case codec.AdminFORMAT:
		f = query.Text
		if req.JSON {
			f = query.JSON
		}
		r.format.Store(uint32(f))
		return query.AppendDone(nil, f), nil
	case codec.AdminSTATS:
		var st query.Stats
		if err := run(func() { st = s.st.stats() }); err != nil {
			return fail(err)
		}
		st.UptimeS = int64(time.Since(s.started).Seconds())
		st.HeapBytes, st.GCCPUFraction = RuntimeFigures()
		return query.AppendStats(nil, f, &st), nil
	case codec.AdminCLIENT:
		var c query.ClientInfo
		var peer net.Addr
		if err := client(func(d *dataConn) { c, peer = d.info(), d.c.RemoteAddr() }); err != nil {
			return fail(err)
		}
		c.Addr = addrString(peer)
		return query.AppendClient(nil, f, &c), nil
	case codec.AdminSTATE:
		var kvs []query.KV
		if err := client(func(d *dataConn) { kvs = d.copyState() }); err != nil {
			return fail(err)
		}
		slices.SortFunc(kvs, func(a, b query.KV) int { return byName(a.Key, b.Key) })
		return query.AppendState(nil, f, kvs), nil
	case codec.AdminLOG:
		var l query.Log
		if err := client(func(d *dataConn) { l = d.copyLog(req.N) }); err != nil {
			return fail(err)
		}
		return nil, func(w io.Writer) error { return write(query.AppendLog(nil, f, &l))(w) }
	case codec.AdminNAMES:
		var names []string
		if err := run(func() { names = s.st.names() }); err != nil {
			return fail(err)
		}
		return nil, func(w io.Writer) error {
			slices.SortFunc(names, byName)
			return write(query.AppendStrings(nil, f, names))(w)
		}
	case codec.AdminCLIENTS:
		var cs []query.ClientInfo
		var peers []net.Addr
		if err := run(func() { cs, peers = s.st.infos() }); err != nil {
			return fail(err)
		}
		return nil, func(w io.Writer) error {
			fillAddrs(cs, peers)
			return write(query.AppendClients(nil, f, sortInfos(cs)))(w)
		}
	case codec.AdminDUMP:
		var ds []query.Dump
		if err := run(func() { ds = s.st.dump() }); err != nil {
			return fail(err)
		}
		return nil, func(w io.Writer) error { return query.WriteDump(w, f, sortDump(ds)) }
	}
	return query.AppendError(nil, f, "unknown command "+quoteWord([]byte(req.Word))), nil
}
