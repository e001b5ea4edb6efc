// Package setting lets a Config's validation name a field the way its
// user set it. A library names the Go field (Error.Field, "BatchMaxBytes");
// a front end that knows which flag and variable filled each field (the
// aegis CLI: "--batch-max-bytes (AEGIS_BATCH_MAX_BYTES)") renames every
// such error with Rename, so that a message never asks an operator for a
// Go field they cannot set.
//
// Invariant: Rename changes only how an error reads; errors.Is and
// errors.As see the same tree.
package setting

import (
	"errors"
	"fmt"
	"strings"
)

// Error is a problem with one Config field's value.
type Error struct {
	// Field is the Go field ("BatchMaxBytes").
	Field string
	// Problem says what is wrong, without the field's name ("999999999
	// is over 33554432: ...").
	Problem string
}

func (e *Error) Error() string { return e.Field + " " + e.Problem }

// Errorf returns an *Error for field.
func Errorf(field, format string, args ...any) *Error {
	return &Error{Field: field, Problem: fmt.Sprintf(format, args...)}
}

// Fields returns every *Error in err's tree (wrapped or joined), in order.
func Fields(err error) []*Error {
	var out []*Error
	var walk func(error)
	walk = func(err error) {
		switch e := err.(type) {
		case nil:
		case *Error:
			out = append(out, e)
		case interface{ Unwrap() []error }:
			for _, x := range e.Unwrap() {
				walk(x)
			}
		case interface{ Unwrap() error }:
			walk(e.Unwrap())
		}
	}
	walk(err)
	return out
}

// Rename returns err reading each *Error's field as name gives it (a
// field name returns unchanged when name returns ""). It is err itself
// when there is nothing to rename.
func Rename(err error, name func(field string) string) error {
	msg, changed := err.Error(), false
	for _, e := range Fields(err) {
		if n := name(e.Field); n != "" {
			msg, changed = strings.Replace(msg, e.Error(), n+" "+e.Problem, 1), true
		}
	}
	if !changed {
		return err
	}
	return &renamed{msg: msg, err: err}
}

type renamed struct {
	msg string
	err error
}

func (r *renamed) Error() string { return r.msg }
func (r *renamed) Unwrap() error { return r.err }

// Problems returns the problems a Config's validation error joins (looking
// through one layer of context, "sealer config: %w"), for a front end that
// lists them with problems of its own.
func Problems(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	if j, ok := errors.Unwrap(err).(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}
