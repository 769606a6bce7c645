package api

import (
	"errors"
	"fmt"
	"net/http"
)

// Error is a failure of a request, with the HTTP status it answers with.
// The micro service answers with the same status as its error code and
// the same ErrorBody, so a client sees one kind of error from either.
type Error struct {
	Status int
	Msg    string
}

func (e *Error) Error() string { return e.Msg }

// Errorf makes an *Error with status.
func Errorf(status int, format string, args ...any) error {
	return &Error{Status: status, Msg: fmt.Sprintf(format, args...)}
}

// StatusOf is the HTTP status of err: an *Error's own, 500 for anything
// else (a fault of the server, not of the request).
func StatusOf(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Status
	}
	return http.StatusInternalServerError
}

// ErrRefused is wrapped by a refusal of a command that was valid but does
// not apply to the customer's state: no open alert, an ack for an older
// alert, an unsnooze without a snooze. It answers 409.
var ErrRefused = errors.New("refused")

// ErrorBody is the JSON every failure carries, over HTTP and NATS.
type ErrorBody struct {
	Error string `json:"error"`
}
