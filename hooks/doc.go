// Package hooks turns the webhooks of the tools customer-success teams
// already use into Riskwatch signals: Segment (track, identify, group),
// Zendesk (ticket triggers), Stripe (invoices, subscriptions, disputes),
// Typeform and Delighted (NPS answers), and a generic JSON webhook mapped
// by configuration.
//
// Each Source verifies a request's signature in constant time (refusing
// stale timestamps where the vendor signs one) and maps its body to one
// signals.Signal that already passed the wire contract's validation, or
// to an error: ErrIgnored for an event Riskwatch does not score, or a
// *signals.Error saying why the payload cannot be a signal (it belongs in
// the DLQ). The package does no I/O; riskd's HTTP glue is
// internal/hookserver.
package hooks
