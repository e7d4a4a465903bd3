// Package logkey declares the slog attribute keys every service uses, so logs from different
// processes can be joined on the same names. Values go in attributes, never in messages.
package logkey

// Attribute keys.
const (
	Svc       = "svc"
	OpID      = "op_id"
	Seat      = "seat"
	Subject   = "subject"
	StreamSeq = "stream_seq"
	Ref       = "ref"
	OID       = "oid"
	Err       = "err"
	Tool      = "tool"
	Class     = "class"
	Delivered = "delivered"
	Addr      = "addr"
	RequestID = "request_id"
)
