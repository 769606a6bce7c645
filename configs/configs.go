// Package configs holds Riskwatch's built-in configuration files: the
// default rule set that riskd loads when no --rules is given, and examples
// for operators to copy. Keeping them as files, embedded at build time, lets
// the same text be read, diffed and tested as YAML.
package configs

import (
	_ "embed"

	"github.com/riskwatch/riskwatch/rules"
)

// DefaultRules is configs/rules.yaml: the rule set riskd uses unless
// --rules names another file. Parse it with rules.Parse("rules.yaml", ...).
//
//go:embed rules.yaml
var DefaultRules []byte

// LoadRules reads the rule file at path, or the built-in DefaultRules when
// path is empty: what riskd and riskctl load for --rules.
func LoadRules(path string) (*rules.Set, error) {
	if path == "" {
		return rules.Parse("configs/rules.yaml (built in)", DefaultRules)
	}
	return rules.Load(path)
}
