//go:build unix

package handoff

import (
	"errors"
	"os"
	"os/exec"
	"sync"
	"syscall"
)

// procGroup is the process group of one filter program: the program leads
// it (its pid is the group's id), and everything it starts joins it unless
// it leaves on purpose.
//
// A group id is safe to signal only while the leader's pid is reserved: the
// leader is alive or a zombie not yet reaped, or another member lives.
// Otherwise the id could by now belong to an unrelated group. So the group
// is signalled only until the leader is reaped (cmd.Wait); where the
// system can wait for the leader without reaping it (waitLeader), what is
// left of the group is killed in that window.
type procGroup struct {
	mu   sync.Mutex // guards pid
	pid  int        // the leader; 0 before it starts and once it is reaped
	gone bool       // set by reaped: never signal again
}

// setup makes cmd lead a new process group that its Cancel kills whole.
func (g *procGroup) setup(cmd *exec.Cmd) error {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	cmd.Cancel = func() error { return g.kill(cmd.Process.Pid) }
	return nil
}

// kill sends SIGKILL to every process of the group led by pid, unless the
// leader was reaped.
func (g *procGroup) kill(pid int) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.gone || pid <= 0 {
		return os.ErrProcessDone
	}
	g.pid = pid
	err := syscall.Kill(-pid, syscall.SIGKILL)
	if errors.Is(err, syscall.ESRCH) {
		return os.ErrProcessDone
	}
	return err
}

// waitLeader blocks until the leader pid has exited and then kills the rest
// of its group (grandchildren that would hold the output pipes open), while
// the leader is still a zombie. Where that wait is not possible it returns
// at once and reaped does the killing.
func (g *procGroup) waitLeader(pid int) {
	g.mu.Lock()
	g.pid = pid
	g.mu.Unlock()
	if waitExit(pid) == nil {
		g.kill(pid)
	}
}

// reaped is called after cmd.Wait: the group id may now be reused.
func (g *procGroup) reaped() {
	if !waitExitWorks {
		// Best effort: the id is free again, but it is very unlikely to
		// have been reused in the microseconds since Wait.
		g.mu.Lock()
		pid := g.pid
		g.mu.Unlock()
		g.kill(pid)
	}
	g.mu.Lock()
	g.gone = true
	g.mu.Unlock()
}
