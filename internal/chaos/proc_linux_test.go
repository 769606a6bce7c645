package chaos

import (
	"os/exec"
	"syscall"
)

// dieWithTest makes the kernel kill riskd if the test binary itself dies
// (a timeout, a fatal error), so no orphan keeps reconnecting to a server
// that is gone.
func dieWithTest(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
