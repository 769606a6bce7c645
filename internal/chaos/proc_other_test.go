//go:build !linux

package chaos

import "os/exec"

// dieWithTest has no portable equivalent off Linux; t.Cleanup still kills
// riskd when the test ends normally.
func dieWithTest(*exec.Cmd) {}
