// Package client sends logs and state to a Logatron server's data port
// (../shared/SPEC.md §1 and §9): Dial, then Log, Logf, Cont and Set; an
// io.Writer (NewWriter) for line-writing loggers; a log/slog Handler
// (NewHandler); Close to flush.
//
// # Never blocking, bounded
//
// Log, Logf, Cont, Set, Writer.Write and the Handler only queue: they take a
// mutex for a moment and never wait for the network. The queue is bounded
// by entries (WithQueueSize) and bytes (WithQueueBytes); when it is full the
// oldest entry is dropped and counted (Dropped). One sender goroutine takes
// queued entries in batches of up to 64 KiB and writes them, with a write
// deadline (WithWriteTimeout), so at most one batch is held outside the
// queue; one more goroutine per connection reads it, to notice at once
// when the server closes it or refuses the client. WithBackpressure makes
// the caller wait for room instead, while connected.
//
// # Reconnecting
//
// When the connection fails (the server closed it, refused the client with
// an `ERR` line, a write failed or timed out, keepalive found the server
// dead), the client reports it to the error handler (WithErrorHandler),
// waits (exponential backoff with jitter, WithBackoff) and connects again,
// sending `IAM <name> [<token>]` and a `SET` for every key set so far, so a
// server that kept the client resumes it, and a restarted server gets the
// state back.
//
// # What is guaranteed
//
// The protocol has no acknowledgements: the server says nothing while all
// is well. So:
//
//   - Order: entries arrive in the order they were queued, on every
//     connection.
//   - Entries still queued when a connection fails are sent on the next
//     one, and so is any entry a failed write did not take in full (the
//     server ignores a partial line that a connection ended in the middle
//     of). In particular every entry queued after the error handler was told
//     of the failure is delivered once the server is back, as long as the
//     queue had room for it (Dropped did not grow).
//   - An entry written to a connection that then fails may be lost: the
//     kernel took it, but the server may not have read it (it sat in socket
//     buffers when the server stopped). That is at most what the socket
//     buffers hold, in practice the last moments before the failure was
//     noticed. Such an entry is never sent twice.
//   - Except when the server refused the client: it does that only in answer
//     to IAM (name in use, too many clients, not authorized), so it stored
//     nothing from that connection, and the entries written on it (in its
//     first second, up to 65536 entries or 16 MiB) are sent again on the
//     next one.
//   - Close returns nil only after the server closed the connection in
//     answer to the client's end of stream, which a Logatron server does
//     once it has read everything before it: then every entry queued before
//     Close has been read by the server.
//
// # What the server does to text
//
// A message's lines are sent as they are, control characters included (the
// server escapes them on output); a line break ("\n" or "\r\n") always starts
// a new protocol line, so no message can inject a command. A '\r' that is
// not part of "\r\n" is kept, a final one included. The server trims each
// line's leading and trailing spaces and tabs (indentation is lost),
// replaces invalid UTF-8 with U+FFFD, and truncates an entry longer than its
// -max-line (default 64 KiB; the client cuts at WithMaxLine first). A `SET`
// line longer than -max-line is rejected by the server.
package client
