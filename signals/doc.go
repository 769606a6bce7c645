// Package signals is the wire contract for what producers send Riskwatch:
// the JSON envelope, the kinds and their payloads, customer profiles, the
// validation rules, and the encoding of customer IDs into NATS subject
// tokens. It is plain types and pure functions so that the scorer, the
// daemon and the tools share one definition; it never touches NATS.
package signals
