package cluster

import (
	"context"
	"errors"
	"io"

	"github.com/logatron/logatron/codec"
	"github.com/logatron/logatron/query"
)

// errNotStarted: CLUSTER before Start.
var errNotStarted = errors.New("cluster not started yet")

// Admin answers the admin request CLUSTER <inner>: it is what
// loop.Config.Cluster is set to. It writes the whole reply to w in format
// f; a CLUSTER WATCH streams until ctx ends. Its error is w's, or
// ErrSlowWatcher: either way the connection should end.
func (n *Node) Admin(ctx context.Context, f query.Format, inner string, w io.Writer) error {
	fail := func(err error) error {
		_, werr := w.Write(query.AppendError(nil, f, err.Error()))
		return werr
	}
	if !n.ready.Load() {
		return fail(errNotStarted)
	}
	req, err := parse(inner)
	if err != nil {
		return fail(err)
	}
	if req.Cmd == codec.AdminWATCH {
		if req.Backlog > 0 {
			return fail(errWatchBacklog)
		}
		// A write still blocked ends when the admin port closes the connection.
		_, err := n.watch(ctx, f, &req, w, func(missing []string) error {
			_, err := w.Write(query.Frame{Format: f, Cluster: true, Missing: missing}.OpenStream(nil))
			return err
		})
		var se *subscribeError
		if errors.As(err, &se) {
			return fail(err)
		}
		return err
	}
	m, err := n.query(ctx, &req, inner)
	if err != nil {
		return fail(err)
	}
	return m.render(w, f)
}

// errWatchBacklog: CLUSTER WATCH does not take backlog=.
var errWatchBacklog = errors.New("usage: CLUSTER WATCH takes no backlog= (stored entries: CLUSTER GREP or CLUSTER LOG)")
