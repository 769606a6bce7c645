// Package api is Riskwatch's contract with the programs around riskd: the
// names on NATS (streams, subjects, headers and the "riskwatch" micro
// service), the customer view and lists that riskd serves over HTTP and
// NATS, the commands that change a customer's alert state (acknowledge,
// snooze), the requests of both APIs and the errors they answer with.
//
// It holds plain types and pure functions only: riskctl, the HTTP API, the
// micro service and the web page share one definition of each, and a
// client needs nothing of riskd's runtime. The subjects of signals and
// profiles are the signals package's (signals.Subject); those of alerts
// and digests are the alerting package's (alerting.Subject).
package api
