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
package scorer
