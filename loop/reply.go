package loop

import (
	"io"
	"slices"
	"sync"

	"github.com/logatron/logatron/codec"
	"github.com/logatron/logatron/query"
)

// reply answers one admin request that reads the store or the connection's
// format (all but QUIT and WATCH). direct means we are on the loop and may
// read the store ourselves; otherwise the copy runs through onLoop. The
// answer is either out, a whole reply, or job, which renders a reply the
// loop has already copied: CLIENTS, NAMES, LOG and DUMP can be megabytes,
// and only their copy belongs on the loop.
// replyBufs holds render buffers between large replies, so that a CLIENTS
// over 10,000 clients (1.2 MB) does not allocate its buffer each time. The
// pool empties itself over two garbage collections when replies stop.
var replyBufs = sync.Pool{New: func() any { return new([]byte) }}

// maxPooledReply is the largest buffer kept: a DUMP of many megabytes is
// not worth holding on to.
const maxPooledReply = 4 << 20

func (r *responder) reply(req *codec.Request, direct bool) (out []byte, job func(io.Writer) error) {
	s := r.s
	f := query.Format(r.format.Load())
	fail := func(err error) ([]byte, func(io.Writer) error) {
		return query.AppendError(nil, f, err.Error()), nil
	}
	// render turns a reply built later, off the loop, into a job.
	render := func(build func(dst []byte) []byte) func(io.Writer) error {
		return func(w io.Writer) error {
			bp := replyBufs.Get().(*[]byte)
			b := build((*bp)[:0])
			_, err := w.Write(b)
			if cap(b) <= maxPooledReply {
				*bp = b[:0]
				replyBufs.Put(bp)
			}
			return err
		}
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
		st, err := s.stats(direct)
		if err != nil {
			return fail(err)
		}
		return query.AppendStats(nil, f, &st), nil
	case codec.AdminCLIENT:
		c, err := s.clientInfo(req.Name, direct)
		if err != nil {
			return fail(err)
		}
		return query.AppendClient(nil, f, &c), nil
	case codec.AdminSTATE:
		kvs, err := s.state(req.Name, direct)
		if err != nil {
			return fail(err)
		}
		return query.AppendState(nil, f, kvs), nil
	case codec.AdminLOG:
		l, err := s.logOf(req.Name, req.N, direct)
		if err != nil {
			return fail(err)
		}
		return nil, render(func(dst []byte) []byte { return query.AppendLog(dst, f, &l) })
	case codec.AdminNAMES:
		names, err := s.names(direct)
		if err != nil {
			return fail(err)
		}
		return nil, render(func(dst []byte) []byte {
			slices.SortFunc(names, byName)
			return query.AppendStrings(dst, f, names)
		})
	case codec.AdminCLIENTS:
		cs, peers, err := s.infos(direct)
		if err != nil {
			return fail(err)
		}
		return nil, render(func(dst []byte) []byte {
			fillAddrs(cs, peers)
			return query.AppendClients(dst, f, sortInfos(cs))
		})
	case codec.AdminDUMP:
		ds, err := s.dump(direct)
		if err != nil {
			return fail(err)
		}
		return nil, func(w io.Writer) error { return query.WriteDump(w, f, sortDump(ds)) }
	}
	return query.AppendError(nil, f, "unknown command "+quoteWord([]byte(req.Word))), nil
}
