// Package fault is Stasima's one error vocabulary. A *Error names the gate that refused (Op),
// the wire class of tools.md T-common-6 (Class) and a message that names the values involved.
// Classes cross the wire as their string form; the list is append-only.
package fault

import (
	"errors"
	"fmt"
	"net/http"
)

// Class is the wire error class of tools.md T-common-6.
type Class string

// The classes of T-common-6, plus Internal for faults that are not a refusal.
const (
	ArgumentError      Class = "ArgumentError"
	Denied             Class = "Denied"
	RefNotFound        Class = "RefNotFound"
	PathNotFound       Class = "PathNotFound"
	StaleRef           Class = "StaleRef"
	ProtectedRef       Class = "ProtectedRef"
	MergeConflict      Class = "MergeConflict"
	CanonAppendOnly    Class = "CanonAppendOnly"
	MergeNotApproved   Class = "MergeNotApproved"
	ValidationError    Class = "ValidationError"
	AirlockError       Class = "AirlockError"
	BackendUnavailable Class = "BackendUnavailable"
	Internal           Class = "Internal"
	// RateLimited refuses a caller past its rate (the airlock relay, the OAuth door).
	RateLimited Class = "RateLimited"
)

// Kind is the transport-neutral family of a class (STYLE.md "Errors").
type Kind string

// Kinds, append only.
const (
	KindInvalid            Kind = "Invalid"
	KindNotFound           Kind = "NotFound"
	KindConflict           Kind = "Conflict"
	KindPermissionDenied   Kind = "PermissionDenied"
	KindUnauthenticated    Kind = "Unauthenticated"
	KindFailedPrecondition Kind = "FailedPrecondition"
	KindRateLimited        Kind = "RateLimited"
	KindUnavailable        Kind = "Unavailable"
	KindInternal           Kind = "Internal"
)

// Kind maps a class to its family.
func (c Class) Kind() Kind {
	switch c {
	case ArgumentError:
		return KindInvalid
	case Denied, ProtectedRef, MergeNotApproved:
		return KindPermissionDenied
	case RefNotFound, PathNotFound:
		return KindNotFound
	case StaleRef, MergeConflict, CanonAppendOnly, AirlockError:
		return KindConflict
	case ValidationError:
		return KindFailedPrecondition
	case BackendUnavailable:
		return KindUnavailable
	case RateLimited:
		return KindRateLimited
	}
	return KindInternal
}

// HTTPStatus is the REST status of a class (T-common-6).
func (c Class) HTTPStatus() int {
	switch c {
	case ArgumentError:
		return http.StatusBadRequest
	case Denied, ProtectedRef, MergeNotApproved:
		return http.StatusForbidden
	case RefNotFound, PathNotFound:
		return http.StatusNotFound
	case StaleRef, MergeConflict, CanonAppendOnly, AirlockError:
		return http.StatusConflict
	case ValidationError:
		return http.StatusUnprocessableEntity
	case BackendUnavailable:
		return http.StatusServiceUnavailable
	case RateLimited:
		return http.StatusTooManyRequests
	}
	return http.StatusInternalServerError
}

// IsStoreError reports whether c belongs to the store-error family of T-common-6
// (audit outcomes name them as error:<Class>).
func (c Class) IsStoreError() bool {
	switch c {
	case RefNotFound, PathNotFound, StaleRef, ProtectedRef, MergeConflict, CanonAppendOnly,
		MergeNotApproved, BackendUnavailable:
		return true
	}
	return false
}

// Error is a refusal or failure with the gate that raised it.
type Error struct {
	Op    string // the gate: "kip_commit.immutability", "names.seat", …
	Class Class
	Msg   string // names the values: `path "../x" escapes …`
	Err   error  // optional cause
}

func (e *Error) Error() string {
	if e.Msg == "" && e.Err != nil {
		return e.Err.Error()
	}
	if e.Err != nil {
		return e.Msg + ": " + e.Err.Error()
	}
	return e.Msg
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// E builds an *Error with a formatted message.
func E(op string, class Class, format string, args ...any) *Error {
	return &Error{Op: op, Class: class, Msg: fmt.Sprintf(format, args...)}
}

// Wrap builds an *Error around a cause.
func Wrap(op string, class Class, err error, format string, args ...any) *Error {
	return &Error{Op: op, Class: class, Msg: fmt.Sprintf(format, args...), Err: err}
}

// ClassOf returns the class of the first *Error in err's chain, or Internal.
func ClassOf(err error) Class {
	var fe *Error
	if errors.As(err, &fe) {
		return fe.Class
	}
	return Internal
}

// Is reports whether err carries class c.
func Is(err error, c Class) bool { return err != nil && ClassOf(err) == c }
