// Package scorer is the pure, deterministic risk model: per-customer
// detectors over event time (usage baselines and drops, ticket spikes,
// survey answers, commercial requests near renewal, mentions, billing,
// contact and champion changes), rule evaluation turned into a decayed,
// explained 0–100 score, and tiers.
//
// It reads no clock and does no I/O: the caller passes every time, so live
// scoring, replay and backtests share this code.
//
// Order independence. Signals may arrive out of order within the lateness
// window. Detectors keep sums by absolute day and "latest" values chosen by
// event time, so they depend only on the set of signals received. Which
// rules fired, and so how far their contributions have decayed, is
// committed once a day of event time is closed (older than the customer's
// watermark minus the lateness window), when no further signal for it can
// be accepted. The score at any moment is then a function of the signals
// alone, whatever their order and batching.
//
// Three things keep that true while memory stays bounded:
//
//   - The day rings hold their windows plus the lateness: a closed day is
//     evaluated while the days after it, up to the watermark, already fill.
//   - The sparse events (tickets, answers, requests, payments, ...) live in
//     one list, sorted by time, that drops only what no later evaluation can
//     see: events past 90 days before the lateness horizon, or beyond the
//     newest 48 before it. Features read the newest 48 events of the 90 days
//     up to the moment evaluated, never "whatever is still in the list";
//     the latest NPS answers, rating, contact, champion change and renewal
//     that leave the list are kept aside (State.Before).
//   - After a long silence the closed days are caught up over eleven
//     half-lives of the slowest rule, past which a firing rounds to nothing.
//
// The sweep: Evaluate at a time later than the last signal scores the
// silences (no usage, no contact, an unanswered quote) without any new
// signal. It does not commit days; the next signal does.
package scorer
