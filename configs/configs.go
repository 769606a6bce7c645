// Package configs holds Riskwatch's built-in configuration files: the
// default rule set that riskd loads when no --rules is given, and examples
// for operators to copy. Keeping them as files, embedded at build time, lets
// the same text be read, diffed and tested as YAML.
package configs

import _ "embed"

// DefaultRules is configs/rules.yaml: the rule set riskd uses unless
// --rules names another file. Parse it with rules.Parse("rules.yaml", ...).
//
//go:embed rules.yaml
var DefaultRules []byte
