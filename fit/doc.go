// Package fit learns a rule set's weights, tier cut points and churn
// calibration from a customer base's own history, and validates them on a
// later period than it learned from.
//
// It reads what a backtest sees (backtest.Observe): every customer at a
// series of dates, with each rule's activation (1 while it fires, fading
// with its half-life) and whether the customer churned within the horizon.
// It fits an L2-regularised logistic regression of churn on the
// activations, shrunk toward the input's weights; turns the coefficients
// into points (weight = k·β to a tenth); fits a Platt calibration of the raw
// score; picks the tiers by alert volume and lift over the base rate; and
// scores both the input and the fitted rule set on the validation dates.
// Result.File is the fitted rule file, which keeps the input's
// conditions, texts and comments.
//
// The package is pure like backtest: history in, values out. The
// regression is a dozen lines of Newton's method (IRLS) on a system the
// size of the rule count, solved by Cholesky: a rule file has tens of
// rules, so a linear-algebra dependency (gonum) would buy nothing.
package fit
