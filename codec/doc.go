// Package codec holds Logatron's wire-level rules: splitting a TCP byte
// stream into lines, parsing data-port commands and admin requests, and
// keeping stored text valid UTF-8.
//
// Everything on the data path (Framer.Next, ParseData, ValidName,
// AppendValidUTF8, TruncateUTF8) is written for a single event loop that
// serves every connection: it does not allocate in steady state, it never
// retains more than a configured number of bytes per connection, and its
// cost is linear in the bytes received, so a hostile client can spend only
// CPU proportional to what it sends. Nothing in this package is safe for
// concurrent use of one value; distinct values are independent.
//
// The admin parser (ParseAdmin) is off the hot path and allocates freely.
package codec
