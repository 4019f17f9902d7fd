//go:build unix

package hooks

import (
	"os/exec"
	"syscall"
)

// killGroup runs the command in its own process group and kills the whole
// group when the run is cancelled, so that what a shell started (a player,
// a curl) ends with it.
func killGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
}
